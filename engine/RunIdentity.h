// Which run a checkpoint belongs to, and whether two configs train the same thing: checkpoints record
// both, so `--resume latest` continues this run's own state and a mismatch is refused by name.
#pragma once

#include "engine/TrainConfig.h"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace rslora::engine {

struct RunIdentity {
    std::string uuid;  // the store's run uuid, or a bundle's; empty when unknown
    std::string label; // for messages: "run #3 \"facts_train\""
    bool known() const { return !uuid.empty(); }
};

// SHA-256 of the config without the keys that do not change what is trained: the output folder,
// device and threads, and the log/eval/save cadence.
std::string trainingConfigSha256(const TrainConfig& config);
std::string trainingConfigSha256(const nlohmann::json& configJson);

// "training.max_steps: 30 -> 100" for each trained-relevant key that differs (same keys as above).
std::vector<std::string> trainingConfigDifferences(const nlohmann::json& from, const nlohmann::json& to);
// The same for every key of two config documents.
std::vector<std::string> configDifferences(const nlohmann::json& from, const nlohmann::json& to);

} // namespace rslora::engine
