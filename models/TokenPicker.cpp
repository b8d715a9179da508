// Logit processing and token choice (see TokenPicker.h).
#include "models/TokenPicker.h"

#include "common/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace rslora::models {

namespace {
std::string shown(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}
} // namespace

void checkSampling(double temperature, double topP, int64_t topK, double repetitionPenalty) {
    if (!(std::isfinite(temperature) && temperature >= 0))
        throw Error("temperature must be a finite number >= 0 (0 = greedy), found " + shown(temperature));
    if (!(topP > 0 && topP <= 1))
        throw Error("top_p must be in (0, 1] (1 = off), found " + shown(topP));
    if (topK < 0)
        throw Error("top_k must be >= 0 (0 = off), found " + std::to_string(topK));
    if (!(std::isfinite(repetitionPenalty) && repetitionPenalty > 0))
        throw Error("repetition_penalty must be a finite number > 0 (1 = off), found " + shown(repetitionPenalty));
}

std::vector<int64_t> pickTokens(torch::Tensor logits, const std::vector<std::vector<int64_t>>& seen,
                                const GenerationOptions& o, at::Generator& gen, const TokenRules& rules) {
    const int64_t B = logits.size(0), V = logits.size(1);
    const float top = std::numeric_limits<float>::max(), bottom = std::numeric_limits<float>::lowest();
    const float negInf = -std::numeric_limits<float>::infinity();
    if (const auto nanRows = logits.isnan().any(-1); nanRows.any().item<bool>()) {
        const int64_t b = nanRows.nonzero()[0][0].item<int64_t>();
        throw Error("the model's logits" + (B > 1 ? " for row " + std::to_string(b) : std::string()) +
                    " hold NaN: its output is not a number (weights or an adapter whose values overflow float32?)");
    }
    // +inf is no score but an overflow (weights or an adapter beyond float's range): picking among
    // the overflowed tokens gives text with no meaning, so it is refused like NaN.
    const float posInf = std::numeric_limits<float>::infinity();
    if (const auto overflowed = logits == posInf; overflowed.any().item<bool>()) {
        const auto at = overflowed.nonzero();
        const int64_t b = at[0][0].item<int64_t>(), id = at[0][1].item<int64_t>();
        const int64_t count = overflowed.select(0, b).sum().item<int64_t>();
        throw Error("the model's logits" + (B > 1 ? " for row " + std::to_string(b) : std::string()) + " hold +inf (token id " +
                    std::to_string(id) + (count > 1 ? " and " + std::to_string(count - 1) + " more" : std::string()) +
                    " of " + std::to_string(V) + "): its output overflowed float32 (weights or an adapter whose values are too large?)");
    }
    // -inf marks a token that can never be picked (a mask); a row masked everywhere has nothing left.
    const auto maskedTokens = logits == negInf;
    const bool anyMasked = maskedTokens.any().item<bool>();
    if (const auto masked = maskedTokens.all(-1); anyMasked && masked.any().item<bool>()) {
        const int64_t b = masked.nonzero()[0][0].item<int64_t>();
        throw Error("the model's logits" + (B > 1 ? " for row " + std::to_string(b) : std::string()) +
                    " are -inf for every token of the vocabulary (" + std::to_string(V) +
                    "): nothing can be picked (weights or an adapter whose values overflow float32?)");
    }
    // From here every logit is finite (the masked ones are set back to -inf below), and a penalty or
    // bias that overflows is held at float32's extremes, order kept.
    logits.clamp_(bottom, top);
    if (o.repetitionPenalty != 1.0) {
        // Float32 math, as transformers does; a penalty beyond float's range would be 0 or inf there
        // (0 / 0 = NaN), and one past 1e30 already sends every penalized logit to an extreme.
        const double penalty = std::clamp(o.repetitionPenalty, 1e-30, 1e30);
        for (int64_t b = 0; b < B; ++b) {
            if (seen[b].empty())
                continue;
            auto idx = torch::tensor(seen[b], torch::kInt64);
            auto row = logits[b];
            auto s = row.index_select(0, idx);
            s = torch::where(s < 0, s * penalty, s / penalty).clamp_(bottom, top);
            row.index_copy_(0, idx, s);
        }
    }
    if (!rules.bias.empty()) {
        std::vector<int64_t> ids;
        std::vector<float> values;
        for (const auto& [id, value] : rules.bias) {
            ids.push_back(id);
            values.push_back(static_cast<float>(value));
        }
        const auto idx = torch::tensor(ids, torch::kInt64);
        logits.index_add_(1, idx, torch::tensor(values).unsqueeze(0).expand({B, idx.size(0)}).contiguous());
        logits.clamp_(bottom, top);
    }
    if (anyMasked)
        logits.masked_fill_(maskedTokens, negInf);
    // The largest magnitude, before bans: whether dividing by the temperature stays finite. Greedy
    // picks never divide; max and min need no [B, V] temporary as abs() would.
    const bool sampling = o.temperature >= kGreedyTemperature;
    const double peak = sampling ? std::max(logits.max().item<double>(), -logits.min().item<double>()) : 0.0;
    if (!rules.banned.empty()) {
        logits.index_fill_(1, torch::tensor(rules.banned, torch::kInt64), negInf);
        if ((logits.amax(-1) == negInf).any().item<bool>())
            throw Error("every token of the vocabulary (" + std::to_string(V) + ") is banned: nothing can be picked");
    }
    std::vector<int64_t> out(static_cast<size_t>(B));
    if (!sampling) {
        auto best = logits.argmax(-1);
        for (int64_t b = 0; b < B; ++b)
            out[b] = best[b].item<int64_t>();
        return out;
    }
    // Shifted to a row maximum of 0 only where dividing would overflow, so that ordinary logits are
    // drawn from exactly as before; the shifted best token stays 0 and the others fall to -inf at worst.
    if (peak / o.temperature >= top / 2)
        logits.sub_(logits.amax(-1, /*keepdim=*/true));
    logits.div_(o.temperature);
    if (o.topK > 0 && o.topK < V) {
        auto kth = std::get<0>(logits.topk(o.topK, -1)).narrow(1, o.topK - 1, 1);
        logits.masked_fill_(logits < kth, negInf);
    }
    if (o.topP < 1.0) {
        auto sorted = logits.sort(-1, /*descending=*/true);
        auto probs = torch::softmax(std::get<0>(sorted), -1);
        auto cum = probs.cumsum(-1);
        // Drop a token when the tokens ranked above it already reach top_p; the best always stays,
        // also when top_p rounds to 0 in float32 (below about 1.4e-45), where 0 >= 0 would drop it.
        auto drop = (cum - probs) >= o.topP;
        drop.select(1, 0).fill_(false);
        auto removeSorted = torch::zeros_like(drop).scatter_(1, std::get<1>(sorted), drop);
        logits.masked_fill_(removeSorted, negInf);
    }
    auto probs = torch::softmax(logits, -1);
    auto picked = torch::multinomial(probs, 1, false, gen);
    for (int64_t b = 0; b < B; ++b)
        out[b] = picked[b][0].item<int64_t>();
    return out;
}

} // namespace rslora::models
