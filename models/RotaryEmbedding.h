// Rotary position embedding tables (default, linear, dynamic NTK, llama3) as transformers computes them.
#pragma once

#include "models/ModelConfig.h"

#include <torch/torch.h>

#include <utility>

namespace rslora::models {

class RotaryEmbedding {
public:
    explicit RotaryEmbedding(const ModelConfig& config);

    // cos and sin for positions [B, T], shaped [B, T, 1, D] in `dtype` (computed in float32).
    std::pair<torch::Tensor, torch::Tensor> cosSin(const torch::Tensor& positions, torch::ScalarType dtype) const;
    // Inverse frequencies [D/2] before any dynamic rescaling (float32, CPU).
    const torch::Tensor& invFreq() const { return m_invFreq; }

private:
    torch::Tensor invFreqFor(double theta) const;

    ModelConfig m_config;
    torch::Tensor m_invFreq;
};

// q or k [B, T, heads, D] rotated with rotate_half pairing (i, i + D/2), as HF checkpoints expect.
torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

} // namespace rslora::models
