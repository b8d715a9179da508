// The causal language model as the engine sees it: forward, hidden states for chunked losses,
// the projection slots where adapters are injected, HF-named parameters, saving a folder.
#pragma once

#include "models/KVCache.h"
#include "models/LinearLayer.h"
#include "models/ModelConfig.h"

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rslora::models {

struct ForwardOutput {
    torch::Tensor logits;                     // [B, T, V], model dtype
    std::vector<torch::Tensor> hiddenStates;  // with returnHidden: embeddings, each layer's output; the
                                              // last entry has the final norm applied (as transformers)
};

// One projection of the model. `get` returns what is in the slot now; `set` replaces it and
// re-registers the submodule, so named_parameters() sees the new module's parameters.
struct LinearSlot {
    std::string name;       // HF module path, e.g. "model.layers.0.self_attn.q_proj"
    std::string shortName;  // "q_proj"
    int layer = -1;         // -1 for lm_head
    std::function<std::shared_ptr<LinearLayer>()> get;
    std::function<void(std::shared_ptr<LinearLayer>)> set;
};

class CausalLM : public torch::nn::Module {
public:
    explicit CausalLM(ModelConfig config) : m_config(std::move(config)) {}
    ~CausalLM() override = default;

    const ModelConfig& config() const { return m_config; }

    // inputIds [B, T] int64. attentionMask [B, S] with S = cached + T (1 = attend, 0 = padding) or
    // undefined (attend to all). positionIds [B, T] or undefined (cached .. cached+T-1). With a
    // cache, the new keys/values are appended to it.
    virtual ForwardOutput forward(const torch::Tensor& inputIds, const torch::Tensor& attentionMask = {},
                                  const torch::Tensor& positionIds = {}, KVCache* cache = nullptr,
                                  bool returnHidden = false) = 0;
    // Final-norm output [B, T, H] without the lm_head, for losses computed in chunks.
    virtual torch::Tensor hiddenStates(const torch::Tensor& inputIds, const torch::Tensor& attentionMask = {},
                                       const torch::Tensor& positionIds = {}, KVCache* cache = nullptr) = 0;
    // The output projection (the embedding matrix when tied).
    virtual std::shared_ptr<LinearLayer> lmHead() = 0;
    virtual std::vector<LinearSlot> linearSlots() = 0;
    // The input embedding matrix [V, H].
    virtual torch::Tensor embedTokens() = 0;
    // A cache sized for this model.
    KVCache makeCache() const { return KVCache(m_config.numLayers); }

    // Parameters under their HF names ("model.layers.0.self_attn.q_proj.weight"); a tensor shared
    // by two names (tied embeddings) is listed once, under its first name.
    std::vector<std::pair<std::string, torch::Tensor>> namedParameters() const;
    // The checkpoint tensors under HF names, taken from the structure: each projection slot's
    // LinearLayer::weight / bias (so a wrapped layer saves its base), norms, embeddings; lm_head
    // only when untied.
    virtual std::vector<std::pair<std::string, torch::Tensor>> checkpointTensors() const = 0;
    // Writes config.json and model.safetensors into `dir` (created if needed), each atomically.
    void saveModelFolder(const std::filesystem::path& dir) const;

    torch::Device device() const;
    torch::Dtype dtype() const;

    // Activation checkpointing per decoder layer (models/ActivationCheckpoint.h): while on, a
    // training forward that records gradients keeps only each layer's input and recomputes the layer
    // in backward. Forwards without gradients (evaluation, generation, frozen references) and cached
    // decoding never use it.
    void setGradientCheckpointing(bool on) { m_gradientCheckpointing = on; }
    bool gradientCheckpointing() const { return m_gradientCheckpointing; }

protected:
    ModelConfig m_config;
    bool m_gradientCheckpointing = false;
};

} // namespace rslora::models
