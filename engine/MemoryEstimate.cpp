// The training-memory model (see MemoryEstimate.h). Per token and decoder layer, the tensors kept
// for backward are (elements): the layer input and the residual after attention (each saved by its
// RMSNorm: 2h), the two normed inputs shared by q/k/v and by gate/up (2h), q, the attention output
// and o_proj's input (3·q width), k and v (2·kv width), the MLP's gate, silu(gate), up and down's
// input (4·intermediate), the low-rank products x·Aᵀ of the seven projections (7r), and, unless the
// attention is fused, the softmax probabilities of every head over the keys (heads·T).
#include "engine/MemoryEstimate.h"

#include "models/ModuleShapes.h"

#include <torch/version.h>

#include <algorithm>

namespace rslora::engine {

int64_t dtypeBytes(const std::string& dtype)
{
    return dtype == "bfloat16" || dtype == "float16" || dtype == "bf16" || dtype == "fp16" ? 2 : 4;
}

bool fusedAttentionOn(const std::string& device)
{
    return device.rfind("cuda", 0) == 0 && TORCH_VERSION_MAJOR >= 2;
}

MemoryEstimate estimateTrainingMemory(const models::ModelConfig& c, const MemoryEstimateInput& in)
{
    MemoryEstimate e;
    const int64_t d = dtypeBytes(in.dtype);
    const int64_t h = c.hiddenSize, inter = c.intermediateSize, L = c.numLayers;
    const int64_t headDim = c.headDim > 0 ? c.headDim : (c.numHeads > 0 ? h / c.numHeads : 0);
    const int64_t qWidth = c.numHeads * headDim, kvWidth = c.numKvHeads * headDim;
    const int64_t tokens = std::max<int64_t>(1, in.batch) * std::max<int64_t>(1, in.seqLen);

    // Frozen weights: the adapted projections in their dtype or as 4-bit codes (half a byte each,
    // plus an 8-bit absmax per block of 64 and an fp32 scale per 256 absmax, and one reused buffer
    // the largest projection dequantizes into); everything else in the dtype.
    int64_t projection = 0, largest = 0;
    for (const auto& m : models::linearModuleShapes(c)) {
        projection += m.inFeatures * m.outFeatures + (m.hasBias ? m.outFeatures : 0);
        largest = std::max(largest, m.inFeatures * m.outFeatures);
    }
    const int64_t rest = std::max<int64_t>(0, c.parameterCount() - projection);
    const bool quantized = in.quantization == "nf4" || in.quantization == "fp4";
    e.weights = rest * d + (quantized ? projection / 2 + projection / 64 + projection / (64 * 256) * 4 + largest * d : projection * d);

    // Adapter state: fp32 master weights, gradients and two AdamW moments; a low-precision base
    // computes with copies in its dtype.
    e.adapterState = in.trainableParams * (4 + 4 + 8) + (d < 4 ? in.trainableParams * d : 0);

    const int64_t attention = in.fusedAttention ? 0 : c.numHeads * std::max<int64_t>(1, in.seqLen);
    const int64_t perLayer = 4 * h + 3 * qWidth + 2 * kvWidth + 4 * inter + 7 * in.adapterRank + attention;
    // The final norm's input and the gradient of the hidden states the loss keeps.
    const int64_t head = 2 * h;
    if (in.gradientCheckpointing)
        // Only each layer's input is kept; backward recomputes one layer at a time.
        e.activations = tokens * (L * h + perLayer + head) * d;
    else
        e.activations = tokens * (L * perLayer + head) * d;

    // One chunk of fp32 logits and the softmax computed from it.
    e.logits = std::min(tokens, std::max<int64_t>(1, in.lossChunkTokens)) * c.vocabSize * 4 * 2;
    return e;
}

} // namespace rslora::engine
