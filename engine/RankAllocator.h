// Sensitivity rank allocation (DESIGN.md §4): a parameter budget split into ranks from a candidate
// set, more rank where the AdaLoRA sensitivity |W ⊙ ∇W| is higher. Pure arithmetic, no LibTorch.
#pragma once

#include "engine/ModuleSelection.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

struct RankAllocationRow {
    std::string module;
    double score = 0.0;
    int rank = 0;
    int64_t parameters = 0; // rank · (in + out)
};

// `plans` are the targeted modules (their rank fields are ignored), `scores` one per plan.
// budget <= 0 means the parameter count of `uniformRank` on every module. Every module gets at
// least the smallest candidate; the rest of the budget goes, in order of score per parameter,
// to upgrades along the candidate list. The total never exceeds the budget unless even the
// smallest candidates do (then the smallest candidates are used and the overrun reported by the caller).
std::vector<RankAllocationRow> allocateRanks(const std::vector<ModulePlan>& plans, const std::vector<double>& scores,
                                             int64_t budget, int uniformRank, std::vector<int> candidates);

// Applies a table to plans (rank per module; scale recomputed with `scaling`).
void applyAllocation(std::vector<ModulePlan>& plans, const std::vector<RankAllocationRow>& table, ScalingMode scaling);

} // namespace rslora::engine
