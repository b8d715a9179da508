// Per-sequence log-probabilities (see SequenceLogProbs.h).
#include "engine/objectives/SequenceLogProbs.h"

#include "models/LinearLayer.h"
#include "models/data/SftSample.h"

#include <algorithm>

namespace rslora::engine::objectives {

SequenceLogProbs sequenceLogProbs(const torch::Tensor& hidden, models::LinearLayer& lmHead, const torch::Tensor& labels,
                                  int64_t chunkTokens)
{
    const int64_t N = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
    const auto accType = hidden.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    SequenceLogProbs out;
    out.sum = torch::zeros({N}, hidden.options().dtype(accType));
    if (T < 2) {
        out.tokens = torch::zeros({N}, torch::kLong);
        return out;
    }
    const auto target = labels.slice(1, 1).reshape({-1});                 // [N(T-1)]
    const auto scored = (target != models::kIgnoreIndex).nonzero().reshape({-1});
    const auto rowOf = torch::div(scored, T - 1, "floor");
    out.tokens = torch::zeros({N}, torch::kLong).index_add_(0, rowOf.cpu(), torch::ones_like(rowOf.cpu()));
    const auto flatHidden = hidden.slice(1, 0, T - 1).reshape({-1, H});
    const int64_t count = scored.size(0);
    chunkTokens = std::max<int64_t>(1, chunkTokens);
    for (int64_t start = 0; start < count; start += chunkTokens) {
        const auto idx = scored.slice(0, start, std::min(count, start + chunkTokens));
        const auto logits = lmHead.forward(flatHidden.index_select(0, idx)).to(accType);
        const auto logp = torch::log_softmax(logits, -1).gather(1, target.index_select(0, idx).unsqueeze(1)).squeeze(1);
        out.sum = out.sum.index_add(0, rowOf.slice(0, start, std::min(count, start + chunkTokens)), logp);
    }
    return out;
}

} // namespace rslora::engine::objectives
