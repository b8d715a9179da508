// Text generation over a CausalLM: greedy or sampled (temperature, top-k, top-p, repetition
// penalty), EOS ids and stop strings, streaming, KV cache, left-padded batches. Token ids only:
// stop strings are checked through a decode callback, so no tokenizer type is needed here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

// Only declared here: this header is also read where LibTorch is not (the server's request parsing).
namespace at {
class Tensor;
}

namespace rslora::models {

class CausalLM;
class KVCache;

// Prompt tokens per forward of a prefill: a Stop waits for one chunk at most.
inline constexpr int64_t kPrefillChunk = 64;

struct GenerationOptions {
    int64_t maxNewTokens = 64;
    double temperature = 0.0;  // 0: greedy (argmax); > 0: sample
    int64_t topK = 0;          // 0: off
    double topP = 1.0;         // 1: off
    double repetitionPenalty = 1.0;  // 1: off; > 1 discourages tokens already in the row
    std::vector<int64_t> eosTokenIds;  // empty: the model config's eos ids
    std::vector<std::string> stopStrings;
    // Turns a row's generated ids into text; required when stopStrings is not empty.
    std::function<std::string(const std::vector<int64_t>&)> decode;
    uint64_t seed = 0;
    int64_t padTokenId = 0;
    bool useCache = true;  // false: recompute the whole sequence every step (for checks)
    // Streaming: called once per new token of each unfinished row; return false to stop all rows.
    std::function<bool(int64_t row, int64_t token)> onToken;
    // Asked before every prefill chunk and before every decoding step (a Stop, Ctrl-C): true ends
    // every unfinished row as Cancelled, with the tokens it has. The prompt is read prefillChunk
    // tokens per forward (with the cache), so a long prompt is cancelled after one chunk at most.
    std::function<bool()> cancelled;
    int64_t prefillChunk = kPrefillChunk;
};

enum class FinishReason { Length, Eos, StopString, Cancelled };
const char* finishReasonName(FinishReason reason);

struct GeneratedRow {
    std::vector<int64_t> tokens;  // new tokens only (including the EOS token that ended the row)
    FinishReason reason = FinishReason::Length;
    std::string stopString;       // the stop string that ended the row, if any
};

struct GenerationResult {
    std::vector<GeneratedRow> rows;
    int64_t promptTokens = 0;     // real (unpadded) prompt tokens over all rows
    int64_t generatedTokens = 0;  // new tokens over all rows
    int64_t steps = 0;            // decoding steps run
    int64_t decodeTokens = 0;     // rows × cached forward passes after the prefill
    double prefillSeconds = 0;
    double decodeSeconds = 0;
    double prefillTokensPerSecond() const { return prefillSeconds > 0 ? promptTokens / prefillSeconds : 0; }
    double decodeTokensPerSecond() const { return decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0; }
};

// Generates for each prompt (rows may differ in length: they are left-padded, with positions
// counted from each row's first real token as transformers does). Throws rslora::Error on empty
// prompts, ids outside the vocabulary or inconsistent options.
GenerationResult generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& options);

// The prompts' forward (prefill) into `cache`, `chunk` tokens at a time: ids, mask and positions
// [B, T] (left-padded, on the model's device); the cache must be empty. Each chunk attends to the
// cached chunks before it, so the logits equal one forward over the whole prompt's (to float
// rounding). `cancelled`, when given, is asked before every chunk. Returns the last position's
// logits [B, V] as float32 on the CPU, or an undefined tensor when `cancelled` answered true (the
// cache then holds part of the prompt and should be dropped).
at::Tensor prefill(CausalLM& model, const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& positions,
                   KVCache& cache, int64_t chunk = kPrefillChunk, const std::function<bool()>& cancelled = {});

} // namespace rslora::models
