// Weights of the frozen earlier stages a new adapter trains on top of (adapter.stack_on, in order):
// the weight each carries from the stages before, times a factor of the optimizer step (curriculum
// fusion). No LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace rslora::engine {

struct StackWeights {
    // One per stacked adapter; empty: 1 each.
    std::vector<double> carried;
    // factor(step, totalSteps) for the step about to be taken (0-based); unset: 1 throughout.
    std::function<double(int64_t step, int64_t totalSteps)> factor;

    bool empty() const { return carried.empty() && !factor; }
    double factorAt(int64_t step, int64_t totalSteps) const { return factor ? factor(step, totalSteps) : 1.0; }
    double carriedAt(size_t i) const { return i < carried.size() ? carried[i] : 1.0; }
};

} // namespace rslora::engine
