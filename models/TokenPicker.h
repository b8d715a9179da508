// Logit processing and token choice for decoding, shared by models::generate and the resident
// generation session: repetition penalty, temperature, top-k, top-p, then argmax or a seeded draw.
#pragma once

#include "models/Generator.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace rslora::models {

// Processes float32 CPU logits [B, V] in place (transformers' order: repetition penalty,
// temperature, top-k, top-p) and picks one token per row; `seen[b]` are the ids row b has
// already (for the repetition penalty). Only the sampling fields of `options` are read.
std::vector<int64_t> pickTokens(torch::Tensor logits, const std::vector<std::vector<int64_t>>& seen,
                                const GenerationOptions& options, at::Generator& generator);

// Throws rslora::Error naming the first sampling value out of its range, with the value found:
// temperature finite and >= 0, top_p in (0, 1], top_k >= 0, repetition_penalty finite and > 0.
// NaN and infinities are refused here rather than turning into a sampling error or noise later.
void checkSampling(double temperature, double topP, int64_t topK, double repetitionPenalty);

} // namespace rslora::models
