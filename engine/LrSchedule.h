// Learning-rate schedules: constant, linear or cosine decay after a linear warmup. No LibTorch.
#pragma once

#include "engine/TrainConfig.h"

namespace rslora::engine {

// The learning rate of optimizer step `step` (0-based) of `totalSteps`.
double scheduledLearningRate(LrSchedule schedule, double baseLr, int step, int totalSteps, int warmupSteps,
                             double minLrRatio);

} // namespace rslora::engine
