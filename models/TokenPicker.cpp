// Logit processing and token choice (see TokenPicker.h).
#include "models/TokenPicker.h"

#include "common/Error.h"

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
                                const GenerationOptions& o, at::Generator& gen) {
    const int64_t B = logits.size(0), V = logits.size(1);
    if (o.repetitionPenalty != 1.0) {
        for (int64_t b = 0; b < B; ++b) {
            if (seen[b].empty())
                continue;
            auto idx = torch::tensor(seen[b], torch::kInt64);
            auto row = logits[b];
            auto s = row.index_select(0, idx);
            s = torch::where(s < 0, s * o.repetitionPenalty, s / o.repetitionPenalty);
            row.index_copy_(0, idx, s);
        }
    }
    std::vector<int64_t> out(static_cast<size_t>(B));
    if (o.temperature <= 0.0) {
        auto best = logits.argmax(-1);
        for (int64_t b = 0; b < B; ++b)
            out[b] = best[b].item<int64_t>();
        return out;
    }
    logits.div_(o.temperature);
    const float negInf = -std::numeric_limits<float>::infinity();
    if (o.topK > 0 && o.topK < V) {
        auto kth = std::get<0>(logits.topk(o.topK, -1)).narrow(1, o.topK - 1, 1);
        logits.masked_fill_(logits < kth, negInf);
    }
    if (o.topP < 1.0) {
        auto sorted = logits.sort(-1, /*descending=*/true);
        auto probs = torch::softmax(std::get<0>(sorted), -1);
        auto cum = probs.cumsum(-1);
        // Drop a token when the tokens ranked above it already reach top_p; the best always stays.
        auto drop = (cum - probs) >= o.topP;
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
