// Scaled dot-product attention with grouped key/value heads, softmax(q kᵀ/√D + mask) v, for
// LibTorch builds without scaled_dot_product_attention (1.13) and for masks it does not take.
// While training in float32/float64 on the CPU one hand-written autograd node does it: the softmax
// runs in place on the scores, and backward uses dS = P ⊙ (dP − rowsum(dO ⊙ O)) without autograd's
// softmax-backward, mask-add and scale nodes (half of a 135M LoRA step went to attention before).
// It works one key/value group (batch row × key/value head) at a time, whole groups per thread.
#pragma once

#include <torch/torch.h>

namespace rslora::models {

// q [B, nH, T, D], k and v [B, nKV, S, D] with nH a multiple of nKV (query head j uses key/value
// head j / rep: the rep query heads of a key/value head are stacked into one matrix, so keys and
// values are never repeated), mask additive [B or 1, 1, 1, T, S] or undefined. Returns [B, T, nH·D].
torch::Tensor attendGrouped(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask);

} // namespace rslora::models
