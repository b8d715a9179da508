// Logit processing and token choice for decoding, shared by models::generate and the resident
// generation session: repetition penalty, per-token bias and bans, temperature, top-k, top-p, then
// argmax or a seeded draw.
#pragma once

#include "models/Generator.h"

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace rslora::models {

// Temperatures below this pick greedily (as vLLM does with its 1e-5): dividing logits by a smaller
// one only sharpens the distribution onto the argmax, and would overflow float32.
inline constexpr double kGreedyTemperature = 1e-5;

// What a request adds to the sampling options, the same for every row of the call.
struct TokenRules {
    std::vector<std::pair<int64_t, double>> bias;  // added to a token's logit (OpenAI's logit_bias)
    std::vector<int64_t> banned;                   // never picked (the end tokens before min_tokens)
};

// Processes float32 CPU logits [B, V] in place (transformers' order: repetition penalty, then the
// rules' bias and bans, temperature, top-k, top-p) and picks one token per row; `seen[b]` are the
// ids row b has already (for the repetition penalty). Only the sampling fields of `options` are read.
// Every valid setting gives a valid draw: -inf logits (masked tokens) and products that overflow are
// held at float32's extremes and the draw works on logits shifted to a maximum of 0. Throws
// rslora::Error when a row's logits hold NaN or +inf or are -inf everywhere (the model's output, not
// the sampling, is broken: an overflow), or when every token is banned.
std::vector<int64_t> pickTokens(torch::Tensor logits, const std::vector<std::vector<int64_t>>& seen,
                                const GenerationOptions& options, at::Generator& generator,
                                const TokenRules& rules = {});

// Throws rslora::Error naming the first sampling value out of its range, with the value found:
// temperature finite and >= 0, top_p in (0, 1], top_k >= 0, repetition_penalty finite and > 0.
// NaN and infinities are refused here rather than turning into a sampling error or noise later.
void checkSampling(double temperature, double topP, int64_t topK, double repetitionPenalty);

} // namespace rslora::models
