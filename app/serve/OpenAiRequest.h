// Reading the body of POST /v1/completions and /v1/chat/completions (OpenAI's fields, plus vLLM's
// top_k and repetition_penalty) into prompts and sampling settings. Every problem is an ApiError
// naming the field.
#pragma once

#include "app/serve/PromptEncoder.h"
#include "engine/generation/GenerationTypes.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::serve {

struct RequestLimits {
    int64_t maxPromptTokens = 2048;
    int64_t maxTokens = 1024;  // the largest max_tokens a request may ask for
    // Prompt plus new tokens may not exceed it (the model's max_position_embeddings, or
    // --max-model-len); a request without max_tokens gets what room is left. 0: no limit.
    int64_t contextLength = 0;
};

// The deepest nesting of arrays and objects a request body may have.
inline constexpr int kMaxJsonDepth = 64;

struct GenerationCall {
    bool chat = false;
    std::string model;
    std::vector<std::vector<int64_t>> prompts;  // one choice each
    // The new tokens each prompt may generate: max_tokens, or without it the default shortened to the
    // room that prompt leaves in the context.
    std::vector<int64_t> maxNewTokens;
    engine::SamplingSettings sampling;  // maxNewTokens and seed: those of the first prompt
    // The seed of each prompt's generation: the request's `seed` for every one, else a separate draw
    // for each (so that the choices of an unseeded request are independent samples).
    std::vector<uint64_t> seeds;
    bool stream = false;
    bool includeUsage = false;  // stream_options.include_usage
};

// Parses `body` (throws ApiError 400 naming the field for malformed JSON, missing or wrong-typed
// fields, values out of range, prompts the tokenizer or chat template refuse, prompts over the
// limit). The model field is read, not resolved.
GenerationCall parseGenerationCall(const std::string& body, bool chat, const PromptEncoder& encoder,
                                   const RequestLimits& limits);

// Parses a JSON object body (ApiError 400 otherwise, also when nested deeper than kMaxJsonDepth).
nlohmann::json parseJsonObject(const std::string& body);
// A required string field of `object` (ApiError 400 naming it when missing, not a string or empty).
std::string requiredString(const nlohmann::json& object, const char* field);

} // namespace rslora::serve
