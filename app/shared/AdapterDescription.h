// What a training run's saved adapter is, as the store and run bundles record it: task, method
// summary, rank, alpha, targets, trainable parameters, content hash, and its final evaluation.
#pragma once

#include "engine/TrainConfig.h"
#include "storage/AdapterRepository.h"
#include "storage/Records.h"

#include <optional>
#include <string>

namespace rslora::engine {
struct TrainResult;
}

namespace rslora::app {

class AdapterDescription {
public:
    // The version to record for `result.adapterDir` (sha256 left to whoever copies the files). `task` empty:
    // the training file's name. Throws when the run saved no adapter (check hasAdapter first).
    static storage::NewAdapter fromTraining(const engine::TrainConfig& config, const engine::TrainResult& result,
                                            const std::string& task = {}, bool trainedFromParent = false);
    // Whether the run saved an adapter folder (full fine-tuning saves a model, not an adapter).
    static bool hasAdapter(const engine::TrainConfig& config, const engine::TrainResult& result);
    // The final evaluation as an evaluation record (adapter and run ids left for the caller).
    static std::optional<storage::EvaluationRecord> finalEvaluation(const engine::TrainConfig& config,
                                                                    const engine::TrainResult& result);
};

} // namespace rslora::app
