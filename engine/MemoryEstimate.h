// What a training run will hold at its peak (end of the forward pass), from the model's config and
// the run's settings alone: frozen weights in their dtype or 4-bit codes, adapter state (fp32
// master weights, gradients, AdamW moments), activations kept for backward (per decoder layer, or
// only the layer inputs with gradient checkpointing plus one layer recomputed), and the loss's
// logits chunk. The form shows it before a run; `rslora bench` prints it beside the measured peak.
#pragma once

#include "models/ModelConfig.h"

#include <cstdint>
#include <string>

namespace rslora::engine {

struct MemoryEstimateInput {
    int64_t trainableParams = 0;   // adapter parameters
    int64_t adapterRank = 16;      // largest rank (the low-rank products kept for backward)
    int64_t batch = 1;
    int64_t seqLen = 1;
    std::string dtype = "float32"; // the base's dtype: float32, bfloat16, float16
    std::string quantization = "none"; // none, nf4, fp4: adapted projections held as 4-bit codes
    bool gradientCheckpointing = false;
    // Attention that keeps no [T, S] probabilities (fused scaled-dot-product attention: CUDA with
    // LibTorch ≥ 2); otherwise the probabilities of every head are kept for backward.
    bool fusedAttention = false;
    int64_t lossChunkTokens = 1024;
};

struct MemoryEstimate {
    int64_t weights = 0;      // frozen base (embeddings, projections, norms, lm_head)
    int64_t adapterState = 0; // master weights, gradients, optimizer moments, compute copies
    int64_t activations = 0;  // kept for backward at the end of the forward pass
    int64_t logits = 0;       // one chunk of vocabulary logits and its softmax
    int64_t total() const { return weights + adapterState + activations + logits; }
};

MemoryEstimate estimateTrainingMemory(const models::ModelConfig& model, const MemoryEstimateInput& input);

// Whether training on `device` ("cpu", "cuda", "cuda:1") runs fused attention in this build (CUDA
// with LibTorch ≥ 2, as the model's attention chooses): the value of MemoryEstimateInput::fusedAttention.
bool fusedAttentionOn(const std::string& device);

// Bytes per element of a dtype name (float32 4, bfloat16/float16 2); unknown names count as float32.
int64_t dtypeBytes(const std::string& dtype);

} // namespace rslora::engine
