// The default demo run (`rslora demo`): the demo config resolved against the resources folder,
// held-out exact match of the base model, an RS-LoRA run, and exact match of base + adapter.
// Prompts are rendered with the model's chat template exactly as in training.
#pragma once

#include "engine/Evaluator.h"
#include "engine/MetricsSink.h"
#include "engine/TrainConfig.h"
#include "engine/TrainObserver.h"
#include "engine/Trainer.h"

#include <filesystem>
#include <string>
#include <vector>

namespace rslora::engine {

// <resources>/demo/demo-config.json, its relative paths resolved against its folder.
TrainConfig loadDemoConfig(const std::filesystem::path& resourcesDir);
// Another config of <resources>/demo (e.g. "demo-dpo-config.json"), its paths resolved the same way.
TrainConfig loadDemoConfigFile(const std::filesystem::path& resourcesDir, const std::string& fileName);

// Exact-match items from SFT records (alpaca, prompt/completion, chat): the prompt is the record
// rendered with the model's chat template up to the first trained response, the reference that
// response's text. Preference pairs give their prompt and chosen response.
std::vector<ExactMatchItem> templatedExactMatchItems(const TrainConfig& config, const std::string& jsonlPath);
// Greedy exact match of config.modelPath plus the adapter folder (none when empty) on `items`.
AccuracyResult demoExactMatch(const TrainConfig& config, const std::vector<ExactMatchItem>& items, const std::string& adapterDir);

struct DemoOutcome {
    AccuracyResult before, after; // held-out exact match of the base, then of base + adapter
    TrainResult train;
    double trainSeconds = 0.0;
    double totalSeconds = 0.0;
};

// Measures, trains (runTraining with the observer and sink), measures again. Exact match is
// measured on config.validationData.
DemoOutcome runDemo(const TrainConfig& config, TrainObserver* observer = nullptr, MetricsSink* sink = nullptr);

} // namespace rslora::engine
