// Dropout masks for the adapters' inputs: a tensor shaped like x holding 0 or 1/(1−p).
// LibTorch 1.13's CPU bernoulli draws one element at a time from a single generator (dropout 0.1
// on every adapter made a 5M LoRA step 39 % slower, now about 20 %); on CPU the mask here comes from a
// counter-based hash of (seed, element index) spread over LibTorch's threads, with the seed drawn
// from LibTorch's default generator, so runs stay seeded, bitwise repeatable and resumable.
// Elsewhere (CUDA) it is bernoulli_.
#pragma once

#include <torch/torch.h>

namespace rslora::engine {

// Draws the seed from LibTorch's default generator.
torch::Tensor dropoutMask(const torch::Tensor& like, double p);
// The mask of a given seed (CPU): the same seed gives the same mask again, so backward can
// regenerate it instead of keeping it.
torch::Tensor dropoutMask(const torch::Tensor& like, double p, uint64_t seed);
// A seed from LibTorch's default generator (one draw).
uint64_t drawDropoutSeed();

} // namespace rslora::engine
