// What a pipeline stage's result depends on, as one hash, so that a resume never reuses a stage
// whose inputs changed since it ran: its resolved training config (model, data paths, the stacked
// folders, every option), the size and modification time of its data files, the weights the stack
// trains under, and the fingerprints of the stages below it (a stage retrained below makes every
// stage above it stale, even though its folder keeps its name).
#pragma once

#include "engine/StackWeights.h"
#include "engine/TrainConfig.h"
#include "engine/pipeline/Curriculum.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::pipeline {

// A trained stage: `below` holds the fingerprints (or adoptedAdapterFingerprint) of the stages under it,
// in order.
std::string stageFingerprint(const TrainConfig& config, const StackWeights& weights, const Curriculum& curriculum,
                             const std::vector<std::string>& below);

// A stage that takes an existing adapter (`from`): its folder, its stored version, and the hash of
// its weights file, so that a folder whose weights were replaced counts as changed.
std::string adoptedAdapterFingerprint(const std::filesystem::path& dir, std::optional<int64_t> adapterId);

// A merged base folder: the stages merged into it (their fingerprints) with their weights, and the
// model they were merged into.
std::string mergedBaseFingerprint(const std::string& modelPath, const std::vector<std::string>& merged,
                                  const std::vector<double>& weights);

} // namespace rslora::engine::pipeline
