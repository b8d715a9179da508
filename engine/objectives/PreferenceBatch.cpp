// Preference batches (see PreferenceBatch.h).
#include "engine/objectives/PreferenceBatch.h"

#include "common/Error.h"

#include <algorithm>

namespace rslora::engine::objectives {

PreferenceBatch collatePreferences(const std::vector<models::PreferenceSample>& samples, const std::vector<size_t>& indices,
                                   int64_t maxSeqLen, int64_t padId, torch::Device device)
{
    if (indices.empty())
        throw Error("a preference batch needs at least one pair");
    const int64_t B = int64_t(indices.size());
    auto length = [&](const models::PreferenceSample& s, bool chosen) {
        return std::min<int64_t>(int64_t(s.prompt.size() + (chosen ? s.chosen.size() : s.rejected.size())), maxSeqLen);
    };
    int64_t T = 1;
    for (size_t i : indices)
        T = std::max({T, length(samples[i], true), length(samples[i], false)});
    auto ids = torch::full({2 * B, T}, padId, torch::kLong);
    auto mask = torch::zeros({2 * B, T}, torch::kLong);
    auto labels = torch::full({2 * B, T}, models::kIgnoreIndex, torch::kLong);
    auto* pi = ids.data_ptr<int64_t>();
    auto* pm = mask.data_ptr<int64_t>();
    auto* pl = labels.data_ptr<int64_t>();
    PreferenceBatch b;
    for (int64_t r = 0; r < 2 * B; ++r) {
        const auto& s = samples[indices[size_t(r % B)]];
        const auto& response = r < B ? s.chosen : s.rejected;
        const int64_t n = length(s, r < B);
        for (int64_t t = 0; t < n; ++t) {
            const bool inPrompt = size_t(t) < s.prompt.size();
            const int64_t id = inPrompt ? s.prompt[size_t(t)] : response[size_t(t) - s.prompt.size()];
            pi[r * T + t] = id;
            pm[r * T + t] = 1;
            if (!inPrompt)
                pl[r * T + t] = id;
        }
        b.tokens += n;
    }
    b.ids = ids.to(device);
    b.mask = mask.to(device);
    b.labels = labels.to(device);
    b.pairs = B;
    return b;
}

std::vector<size_t> pairsWithoutPreference(const std::vector<models::PreferenceSample>& samples, int64_t maxSeqLen)
{
    std::vector<size_t> out;
    for (size_t i = 0; i < samples.size(); ++i) {
        const auto& s = samples[i];
        // The response tokens collatePreferences keeps: what is left of maxSeqLen after the prompt.
        const size_t room = size_t(std::max<int64_t>(0, maxSeqLen - int64_t(s.prompt.size())));
        const size_t c = std::min(s.chosen.size(), room), r = std::min(s.rejected.size(), room);
        if (c == r && std::equal(s.chosen.begin(), s.chosen.begin() + std::ptrdiff_t(c), s.rejected.begin()))
            out.push_back(i);
    }
    return out;
}

void refusePairsWithoutPreference(const std::vector<models::PreferenceSample>& samples, int64_t maxSeqLen, const std::string& what)
{
    const std::vector<size_t> same = pairsWithoutPreference(samples, maxSeqLen);
    if (same.empty())
        return;
    std::string list;
    for (size_t k = 0; k < same.size() && k < 5; ++k)
        list += (k ? ", " : "") + std::to_string(same[k] + 1);
    if (same.size() > 5)
        list += ", …";
    throw Error(what + ": " + std::to_string(same.size()) + " of " + std::to_string(samples.size())
                + " preference pairs have the same chosen and rejected response as scored (pair " + list
                + ", counting the records used), identical or cut to the same tokens by max_seq_len " + std::to_string(maxSeqLen)
                + "; such a pair has a margin of 0 whatever is trained and teaches no preference: fix or remove them"
                  " (or raise data.max_seq_len when the responses differ only after the cut)");
}

} // namespace rslora::engine::objectives
