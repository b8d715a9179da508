// Log-probability of each sequence's labelled tokens under the model: Σₜ log p(labels[t] | ids[<t]),
// the quantity DPO compares between policy and reference.
#pragma once

#include <torch/torch.h>

namespace rslora::models {
class LinearLayer;
}

namespace rslora::engine::objectives {

struct SequenceLogProbs {
    torch::Tensor sum;    // [N] float32 (float64 for float64 hidden states), differentiable
    torch::Tensor tokens; // [N] int64: labelled tokens per row
};

// hidden [N, T, H] (final-norm output), labels [N, T] unshifted (position t−1 predicts labels[t]),
// kIgnoreIndex where not scored. Logits are computed only for scored positions, `chunkTokens` of
// them at a time.
SequenceLogProbs sequenceLogProbs(const torch::Tensor& hidden, models::LinearLayer& lmHead, const torch::Tensor& labels,
                                  int64_t chunkTokens = 512);

} // namespace rslora::engine::objectives
