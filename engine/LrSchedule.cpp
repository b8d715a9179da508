// Learning-rate schedules (see LrSchedule.h); the same formulas as transformers' schedulers, with
// an optional floor (min_lr_ratio).
#include "engine/LrSchedule.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine {

double scheduledLearningRate(LrSchedule schedule, double baseLr, int step, int totalSteps, int warmupSteps,
                             double minLrRatio)
{
    if (warmupSteps > 0 && step < warmupSteps)
        return baseLr * double(step + 1) / double(warmupSteps);
    if (schedule == LrSchedule::Constant)
        return baseLr;
    const int decaySteps = std::max(1, totalSteps - warmupSteps);
    const double progress = std::clamp(double(step - warmupSteps) / double(decaySteps), 0.0, 1.0);
    double factor = 1.0;
    if (schedule == LrSchedule::Linear)
        factor = 1.0 - progress;
    else
        factor = 0.5 * (1.0 + std::cos(M_PI * progress));
    return baseLr * (minLrRatio + (1.0 - minLrRatio) * factor);
}

} // namespace rslora::engine
