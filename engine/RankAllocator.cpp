// Sensitivity rank allocation (see RankAllocator.h).
#include "engine/RankAllocator.h"

#include "common/Error.h"

#include <algorithm>
#include <numeric>

namespace rslora::engine {

std::vector<RankAllocationRow> allocateRanks(const std::vector<ModulePlan>& plans, const std::vector<double>& scores,
                                             int64_t budget, int uniformRank, std::vector<int> candidates)
{
    if (plans.size() != scores.size())
        throw Error("rank allocation: " + std::to_string(scores.size()) + " scores for " + std::to_string(plans.size()) + " modules");
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    if (candidates.empty() || candidates.front() < 1)
        throw Error("rank allocation needs positive candidate ranks");
    std::vector<RankAllocationRow> rows(plans.size());
    std::vector<int64_t> width(plans.size());
    std::vector<size_t> level(plans.size(), 0);
    int64_t used = 0;
    if (budget <= 0)
        budget = 0;
    for (size_t i = 0; i < plans.size(); ++i) {
        width[i] = plans[i].module.inFeatures + plans[i].module.outFeatures;
        rows[i].module = plans[i].module.name;
        rows[i].score = scores[i];
    }
    if (budget == 0)
        for (size_t i = 0; i < plans.size(); ++i)
            budget += int64_t(uniformRank) * width[i];
    auto maxRank = [&](size_t i) { return std::min(plans[i].module.inFeatures, plans[i].module.outFeatures); };
    for (size_t i = 0; i < plans.size(); ++i) {
        rows[i].rank = int(std::min<int64_t>(candidates.front(), maxRank(i)));
        used += rows[i].rank * width[i];
    }
    // Water-filling: repeatedly give the next candidate rank to the module whose score per rank
    // already held is highest (so a score twice as high ends with about twice the rank), as long
    // as the upgrade fits the budget.
    while (true) {
        size_t best = plans.size();
        double bestValue = -1.0;
        for (size_t i = 0; i < plans.size(); ++i) {
            if (level[i] + 1 >= candidates.size() || candidates[level[i] + 1] > maxRank(i))
                continue;
            const int64_t cost = int64_t(candidates[level[i] + 1] - rows[i].rank) * width[i];
            if (used + cost > budget)
                continue;
            const double value = scores[i] / double(rows[i].rank);
            if (value > bestValue) {
                bestValue = value;
                best = i;
            }
        }
        if (best == plans.size())
            break;
        used += int64_t(candidates[level[best] + 1] - rows[best].rank) * width[best];
        ++level[best];
        rows[best].rank = candidates[level[best]];
    }
    for (size_t i = 0; i < plans.size(); ++i)
        rows[i].parameters = int64_t(rows[i].rank) * width[i];
    return rows;
}

void applyAllocation(std::vector<ModulePlan>& plans, const std::vector<RankAllocationRow>& table, ScalingMode scaling)
{
    for (auto& p : plans)
        for (const auto& row : table)
            if (row.module == p.module.name) {
                p.rank = row.rank;
                p.scale = adapterScale(scaling, p.rank, p.alpha);
            }
}

} // namespace rslora::engine
