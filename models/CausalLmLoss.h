// Causal-LM cross-entropy with transformers' semantics: shift by one, ignore -100, mean.
#pragma once

#include "models/data/SftSample.h" // kIgnoreIndex

#include <torch/torch.h>

namespace rslora::models {

class LinearLayer;

// logits [B, T, V] (any float dtype; computed in float32) against labels [B, T].
torch::Tensor causalLmLoss(const torch::Tensor& logits, const torch::Tensor& labels);

struct LossSum {
    torch::Tensor sum;   // summed token losses (float32 scalar)
    int64_t tokens = 0;  // labels that counted
};

// The same loss from final hidden states [B, T, H] and the lm_head, computing full-vocabulary
// logits only for labelled tokens and only `chunkTokens` of them at a time. Returns the sum and
// the count, so gradient accumulation can divide by the total over micro-batches.
LossSum causalLmLossSum(const torch::Tensor& hidden, LinearLayer& lmHead, const torch::Tensor& labels,
                        int64_t chunkTokens = 1024);

} // namespace rslora::models
