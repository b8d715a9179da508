// Builds a model whose decoder projections (q/k/v/o, gate/up/down) are 4-bit layers: the tensor
// source is wrapped so that each projection weight is quantized as it arrives and never kept
// dense, then the slots get QuantizedLinear layers. Embeddings, norms and lm_head stay dense.
#pragma once

#include "models/LlamaFamilyModel.h"
#include "models/quant/QuantizedWeight.h"

#include <map>
#include <optional>
#include <string>

namespace rslora::models::quant {

// What quantization did to a model's projections.
struct QuantSummary {
    int layers = 0;              // projections held as 4-bit codes
    int64_t parameters = 0;      // their weights' element count
    int64_t denseBytes = 0;      // those weights in the model dtype
    int64_t quantizedBytes = 0;  // codes, scales and maps
};

class BaseQuantizer {
public:
    explicit BaseQuantizer(QuantOptions options) : m_options(options) {}

    // True for the weights this quantizes: linear weights inside the decoder layers.
    static bool quantizes(const std::string& name, TensorRole role);
    // A source that quantizes what `quantizes` names (the dense tensor from `inner` is dropped at
    // once) and hands the model constructor a meta-device tensor of the right shape (no storage), which
    // install() then replaces by the QuantizedLinear.
    TensorSource wrap(TensorSource inner);
    // An already quantized weight under its checkpoint name ("...q_proj.weight").
    void add(const std::string& weightName, QuantizedWeight weight);
    bool empty() const { return m_weights.empty(); }
    // Puts a QuantizedLinear (keeping the slot's bias) into every decoder projection that has a
    // quantized weight; one without keeps its dense layer (a checkpoint that left it unquantized).
    // Throws rslora::Error naming a projection that has neither.
    void install(CausalLM& model, torch::ScalarType dtype, torch::Device device);

    // Counts the QuantizedLinear layers now in the model's slots.
    static QuantSummary summarize(CausalLM& model);

private:
    QuantOptions m_options;
    std::map<std::string, QuantizedWeight> m_weights;
};

// "none" → nothing; "nf4" / "fp4" → those types with block 64 and double quantization (QLoRA's
// defaults). Throws naming `where` and the accepted values otherwise.
std::optional<QuantOptions> parseQuantization(const std::string& name, const std::string& where);
std::string summaryText(const QuantSummary& s);

} // namespace rslora::models::quant
