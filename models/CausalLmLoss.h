// Causal-LM cross-entropy with transformers' semantics: shift by one, ignore -100, mean.
#pragma once

#include "models/data/SftSample.h" // kIgnoreIndex

#include <torch/torch.h>

namespace rslora::models {

class LinearLayer;

// logits [B, T, V] (any float dtype; computed in float32) against labels [B, T].
torch::Tensor causalLmLoss(const torch::Tensor& logits, const torch::Tensor& labels);

struct LossSum {
    torch::Tensor sum;   // summed token losses (float32 scalar; float64 for float64 hidden states on the hand-written path)
    int64_t tokens = 0;  // labels that counted
};

// The same loss from final hidden states [B, T, H] and the lm_head, computing full-vocabulary
// logits only for labelled tokens and only `chunkTokens` of them at a time. Returns the sum and
// the count, so gradient accumulation can divide by the total over micro-batches.
// When the head is a plain frozen linear layer (the LoRA case) in a dtype PrecisionPolicy lets the
// hand-written nodes take (float32/float64, bfloat16/float16 with float32 softmax and sum; never
// under autocast), one hand-written node does it: per chunk of at most ~32 MB of logits it computes the
// loss and, at once, the gradient with respect to the hidden states (softmax − one-hot, times W),
// so no logits outlive their chunk and backward only scales that gradient.
LossSum causalLmLossSum(const torch::Tensor& hidden, LinearLayer& lmHead, const torch::Tensor& labels,
                        int64_t chunkTokens = 1024);

} // namespace rslora::models
