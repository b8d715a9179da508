// The requests and results of the resident generation session (GenerationSession): which adapters a
// request runs with, its sampling settings, its streaming callback, and what it produced.
#pragma once

#include "models/Generator.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

// One adapter of a request's set, with its weight (several: a weighted mix, as fusion previews).
struct AdapterChoice {
    std::string name;
    double weight = 1.0;
    bool operator==(const AdapterChoice& o) const { return name == o.name && weight == o.weight; }
};
// A request's adapters; empty: the base model alone.
using AdapterMix = std::vector<AdapterChoice>;

// The sampling options of `rslora generate`, per request.
struct SamplingSettings {
    int64_t maxNewTokens = 64;
    double temperature = 0.0;  // 0: greedy
    int64_t topK = 0;          // 0: off
    double topP = 1.0;         // 1: off
    double repetitionPenalty = 1.0;
    uint64_t seed = 0;         // each request draws from its own generator seeded with this
    std::vector<std::string> stopStrings;
    bool ignoreEos = false;    // run to maxNewTokens (benchmarks)
    // No end token is picked and no stop string ends the request before this many new tokens.
    int64_t minNewTokens = 0;
    // Added to a token's logit before sampling (OpenAI's logit_bias): (token id, bias).
    std::vector<std::pair<int64_t, double>> logitBias;
};

// One new token of a streaming request.
struct TokenEvent {
    int64_t token = 0;
    int64_t index = 0;   // 0 for the first generated token
    // Text that became final with this token; empty while a character is incomplete or while the
    // tail could still begin a stop string. The events' texts joined equal GenerationOutput::text.
    std::string text;
};

struct GenerationRequest {
    std::vector<int64_t> promptIds;
    AdapterMix adapters;
    SamplingSettings sampling;
    // Called on the generating thread once per new token; return false to cancel the request.
    std::function<bool(const TokenEvent&)> onToken;
    // Optional: set from any thread to cancel the request before its next token.
    std::shared_ptr<std::atomic<bool>> cancel;
};

struct GenerationOutput {
    std::vector<int64_t> tokens;   // new tokens (with the EOS or stop-string token that ended it)
    std::string text;              // decoded without special tokens, cut before a stop string
    models::FinishReason reason = models::FinishReason::Length;
    std::string stopString;
    int64_t promptTokens = 0;
    double firstTokenSeconds = 0;  // from joining a batch to the first token
    double seconds = 0;            // from joining a batch to the end
};

} // namespace rslora::engine
