// RMSNorm, y = w ⊙ x / sqrt(mean(x²) + eps) over the last dimension, with a hand-written backward
// for float32/float64 (one autograd node instead of six: pow, mean, add, rsqrt and two products,
// each keeping its own [N, H] tensor for backward). Other dtypes normalise in float32 through
// autograd's generic nodes, as transformers does.
#pragma once

#include <torch/torch.h>

namespace rslora::models {

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

} // namespace rslora::models
