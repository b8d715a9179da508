// Reading a run's data as the trainer reads it, with or without the reports (the dataset summary,
// samples cut or dropped, samples beyond the model's context): a check made before a run is
// recorded reads silently, and the run itself then reports once. loadExamples and
// loadPreferencePairs (TrainingRun.h) are these with the reports.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/TrainData.h"
#include "models/data/SftSample.h"

#include <string>
#include <vector>

namespace rslora::engine {

enum class DataReport { Log, Silent };

std::vector<TrainExample> readExamples(const std::string& path, const TrainConfig& config, DataReport report);
std::vector<models::PreferenceSample> readPreferencePairs(const std::string& path, const TrainConfig& config, DataReport report);

} // namespace rslora::engine
