// RMSNorm, y = w ⊙ x / sqrt(mean(x²) + eps) over the last dimension, with a hand-written backward
// (one autograd node instead of six: pow, mean, add, rsqrt and two products, each keeping its own
// [N, H] tensor for backward). Float32/float64 compute in place; bfloat16/float16 normalise in
// float32 and round once, as transformers does, and their node keeps x in 16 bits and one float
// per row for backward. Under autocast the generic nodes take over.
#pragma once

#include <torch/torch.h>

namespace rslora::models {

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

} // namespace rslora::models
