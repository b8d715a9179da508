// The Llama-family decoder (Llama, Qwen2, Qwen3, Mistral): one implementation, the differences
// come from ModelConfig/ArchitectureTable (biases, q/k norms, sliding windows, head_dim).
#pragma once

#include "models/CausalLM.h"
#include "models/RotaryEmbedding.h"

#include <functional>
#include <memory>

namespace rslora::models {

class LlamaDecoderLayer;
class LlamaBackbone;

// What a tensor is, so that a source can initialise it (random init) or check it (loading).
enum class TensorRole { Embedding, Linear, Bias, Norm };
// Supplies the tensor for an HF name and expected shape (already on the target device and dtype).
using TensorSource = std::function<torch::Tensor(const std::string& name, const std::vector<int64_t>& shape,
                                                 TensorRole role)>;

class LlamaFamilyModel : public CausalLM {
public:
    LlamaFamilyModel(const ModelConfig& config, const TensorSource& source);
    ~LlamaFamilyModel() override;

    ForwardOutput forward(const torch::Tensor& inputIds, const torch::Tensor& attentionMask = {},
                          const torch::Tensor& positionIds = {}, KVCache* cache = nullptr,
                          bool returnHidden = false) override;
    torch::Tensor hiddenStates(const torch::Tensor& inputIds, const torch::Tensor& attentionMask = {},
                               const torch::Tensor& positionIds = {}, KVCache* cache = nullptr) override;
    std::shared_ptr<LinearLayer> lmHead() override { return m_lmHead; }
    std::vector<LinearSlot> linearSlots() override;
    torch::Tensor embedTokens() override;
    std::vector<std::pair<std::string, torch::Tensor>> checkpointTensors() const override;

    // The HF tensor names and shapes this configuration needs, in a stable order.
    static std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors(const ModelConfig& config);

private:
    torch::Tensor run(const torch::Tensor& inputIds, const torch::Tensor& attentionMask,
                      const torch::Tensor& positionIds, KVCache* cache, std::vector<torch::Tensor>* hidden);
    void setLmHead(std::shared_ptr<LinearLayer> layer);

    std::shared_ptr<LlamaBackbone> m_model;
    std::shared_ptr<LinearLayer> m_lmHead;
    bool m_lmHeadRegistered = false;
    RotaryEmbedding m_rope;
};

} // namespace rslora::models
