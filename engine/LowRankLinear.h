// The adapted projection's forward and backward written out by hand:
//   y = x Wᵀ + b + Σ_i s_i · (x_i A_iᵀ) B_iᵀ,   x_i = x or dropout(x)
// One autograd node per projection instead of a chain of generic ones. Autograd's version of this
// sum, accumulating in place into a view of y, made every backward clone the [N, out] gradient
// (a tenth of a 5M-parameter LoRA step); this node keeps only x and the [N, r] products x_i A_iᵀ,
// and computes only the gradients that are asked for (frozen bases, frozen earlier stages).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace rslora::engine {

struct LowRankTerm {
    torch::Tensor input; // [N, in]: x itself, or an input dropped by the caller
    torch::Tensor a;     // [r, in]
    torch::Tensor b;     // [out, r]
    double scale = 1.0;  // s_i times the adapter's weight in the active set
    // Dropout done inside the node (input must be x, on the CPU): the seeded mask is made in forward
    // and made again in backward, so neither it nor the dropped input is kept.
    double dropout = 0.0;
};

// x [N, in], weight [out, in], bias [out] or undefined. Every tensor must share x's dtype and
// device (the caller falls back to the generic path otherwise, e.g. under autocast).
torch::Tensor lowRankLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                            const std::vector<LowRankTerm>& terms);

} // namespace rslora::engine
