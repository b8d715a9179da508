// The decoding loop: the prefill (in chunks), then one cached step per token. Logit processing follows
// transformers' order (repetition penalty, temperature, top-k, top-p) and samples on the CPU with
// a seeded generator, so a seed gives the same text on any device.
#include "models/Generator.h"

#include "common/Error.h"
#include "models/CausalLM.h"
#include "models/TokenPicker.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <limits>

namespace rslora::models {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

} // namespace

const char* finishReasonName(FinishReason r) {
    switch (r) {
    case FinishReason::Length: return "length";
    case FinishReason::Eos: return "eos";
    case FinishReason::StopString: return "stop_string";
    case FinishReason::Cancelled: return "cancelled";
    }
    return "?";
}

torch::Tensor prefill(CausalLM& model, const torch::Tensor& ids, const torch::Tensor& mask,
                      const torch::Tensor& positions, KVCache& cache, int64_t chunk,
                      const std::function<bool()>& cancelled) {
    if (chunk < 1)
        throw Error("prefill: the chunk must hold at least one token, found " + std::to_string(chunk));
    if (cache.length() != 0)
        throw Error("prefill: expected an empty cache, found " + std::to_string(cache.length()) + " cached tokens");
    const int64_t T = ids.size(1);
    for (int64_t from = 0; from < T; from += chunk) {
        if (cancelled && cancelled())
            return {};
        const int64_t n = std::min(chunk, T - from);
        const auto part = ids.narrow(1, from, n);
        const auto seen = mask.narrow(1, 0, from + n);  // the cached tokens and this chunk's
        const auto pos = positions.narrow(1, from, n);
        if (from + n < T) {
            // Only the keys and values matter before the last chunk: no output projection.
            (void)model.hiddenStates(part, seen, pos, &cache);
            continue;
        }
        return model.forward(part, seen, pos, &cache).logits.select(1, n - 1).to(torch::kCPU, torch::kFloat32).contiguous();
    }
    throw Error("prefill: expected at least one prompt token, found 0");
}

GenerationResult generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationOptions& o) {
    const auto& config = model.config();
    if (prompts.empty())
        throw Error("generate: expected at least one prompt");
    if (o.maxNewTokens < 0)
        throw Error("generate: max new tokens must be >= 0, found " + std::to_string(o.maxNewTokens));
    if (!o.stopStrings.empty() && !o.decode)
        throw Error("generate: stop strings need a decode function (a tokenizer)");
    checkSampling(o.temperature, o.topP, o.topK, o.repetitionPenalty);
    size_t maxLen = 0;
    for (size_t b = 0; b < prompts.size(); ++b) {
        if (prompts[b].empty())
            throw Error("generate: prompt " + std::to_string(b) + " is empty");
        for (int64_t id : prompts[b])
            if (id < 0 || id >= config.vocabSize)
                throw Error("generate: prompt " + std::to_string(b) + " holds token id " + std::to_string(id) +
                            ", outside the vocabulary [0, " + std::to_string(config.vocabSize) + ")");
        maxLen = std::max(maxLen, prompts[b].size());
    }
    if (o.padTokenId < 0 || o.padTokenId >= config.vocabSize)
        throw Error("generate: pad token id " + std::to_string(o.padTokenId) + " is outside the vocabulary");
    const std::vector<int64_t>& eos = o.eosTokenIds.empty() ? config.eosTokenIds : o.eosTokenIds;

    // NoGradGuard rather than InferenceMode: measured faster here (InferenceMode added ~1 s of
    // one-off cost per generate call with LibTorch 1.13 on CPU).
    torch::NoGradGuard inference;
    const torch::Device device = model.device();
    const int64_t B = static_cast<int64_t>(prompts.size()), T = static_cast<int64_t>(maxLen);

    // Left padding, positions from each row's first real token (HF generate).
    auto ids = torch::full({B, T}, o.padTokenId, torch::kInt64);
    auto mask = torch::zeros({B, T}, torch::kInt64);
    GenerationResult result;
    std::vector<std::vector<int64_t>> seen(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
        const auto& p = prompts[static_cast<size_t>(b)];
        const int64_t off = T - static_cast<int64_t>(p.size());
        for (size_t i = 0; i < p.size(); ++i)
            ids[b][off + static_cast<int64_t>(i)] = p[i];
        mask.narrow(1, off, static_cast<int64_t>(p.size())).select(0, b).fill_(1);
        result.promptTokens += static_cast<int64_t>(p.size());
        if (o.repetitionPenalty != 1.0)
            seen[static_cast<size_t>(b)] = p;
    }
    auto positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
    ids = ids.to(device);
    mask = mask.to(device);
    positions = positions.to(device);

    result.rows.resize(static_cast<size_t>(B));
    std::vector<bool> finished(static_cast<size_t>(B), false);
    auto gen = at::detail::createCPUGenerator(o.seed);
    KVCache cache = model.makeCache();
    auto t0 = Clock::now();
    auto t1 = t0;
    if (o.maxNewTokens == 0) {
        return result;
    }
    const auto endCancelled = [&] {
        for (int64_t b = 0; b < B; ++b)
            if (!finished[static_cast<size_t>(b)])
                result.rows[static_cast<size_t>(b)].reason = FinishReason::Cancelled;
    };
    // The prompt in chunks (with the cache), so that a cancel during a long prompt takes effect
    // after one chunk; without the cache (checks) in one forward.
    const auto lastLogits = [](const torch::Tensor& logits) {
        return logits.select(1, logits.size(1) - 1).to(torch::kCPU, torch::kFloat32).contiguous();
    };
    torch::Tensor last;
    if (o.useCache) {
        last = prefill(model, ids, mask, positions, cache, o.prefillChunk, o.cancelled);
        if (!last.defined()) {
            endCancelled();
            result.prefillSeconds = seconds(t0, Clock::now());
            return result;
        }
    } else {
        if (o.cancelled && o.cancelled()) {
            endCancelled();
            return result;
        }
        last = lastLogits(model.forward(ids, mask, positions).logits);
    }
    bool cancelled = false;
    for (int64_t step = 0; step < o.maxNewTokens; ++step) {
        if (step == 0)
            t1 = Clock::now();
        std::vector<int64_t> next;
        try {
            next = pickTokens(last, seen, o, gen);
        } catch (const Error& e) {
            // Which token failed: the step, and its position after the (longest) prompt.
            throw Error("generation step " + std::to_string(step + 1) + " (token position " + std::to_string(T + step) +
                        "): " + e.what(), e.hint());
        }
        ++result.steps;
        for (int64_t b = 0; b < B; ++b) {
            const size_t r = static_cast<size_t>(b);
            if (finished[r]) {
                next[r] = o.padTokenId;
                continue;
            }
            GeneratedRow& row = result.rows[r];
            row.tokens.push_back(next[r]);
            ++result.generatedTokens;
            if (o.repetitionPenalty != 1.0)
                seen[r].push_back(next[r]);
            if (o.onToken && !o.onToken(b, next[r]))
                cancelled = true;
            if (std::find(eos.begin(), eos.end(), next[r]) != eos.end()) {
                row.reason = FinishReason::Eos;
                finished[r] = true;
            } else if (!o.stopStrings.empty()) {
                const std::string text = o.decode(row.tokens);
                for (const auto& s : o.stopStrings)
                    if (!s.empty() && text.find(s) != std::string::npos) {
                        row.reason = FinishReason::StopString;
                        row.stopString = s;
                        finished[r] = true;
                        break;
                    }
            }
        }
        if (cancelled) {
            endCancelled();
            break;
        }
        if (std::all_of(finished.begin(), finished.end(), [](bool f) { return f; }) || step + 1 == o.maxNewTokens)
            break;
        if (o.cancelled && o.cancelled()) {
            endCancelled();
            break;
        }
        auto nextIds = torch::tensor(next, torch::kInt64).view({B, 1}).to(device);
        result.decodeTokens += B;
        mask = torch::cat({mask, torch::ones({B, 1}, mask.options())}, 1);
        auto nextPos = positions.narrow(1, positions.size(1) - 1, 1) + 1;
        if (o.useCache) {
            positions = nextPos;
            last = lastLogits(model.forward(nextIds, mask, positions, &cache).logits);
        } else {
            ids = torch::cat({ids, nextIds}, 1);
            positions = torch::cat({positions, nextPos}, 1);
            last = lastLogits(model.forward(ids, mask, positions).logits);
        }
    }
    auto t2 = Clock::now();
    result.prefillSeconds = seconds(t0, t1);
    result.decodeSeconds = seconds(t1, t2);
    return result;
}

} // namespace rslora::models
