// The demo's preference stage: DPO (with RPO's NLL term) on the built-in preference pairs (a warm
// "Sure! ..." answer against the plain sentence the SFT stage learned), stacked on the SFT demo
// adapter. Measured on held-out pairs for the SFT adapter alone and for SFT + DPO: the preference
// accuracy (share of pairs whose reward margin against the base is > 0) and the greedy answers
// against the chosen responses.
#pragma once

#include "engine/Evaluator.h"
#include "engine/MetricsSink.h"
#include "engine/TrainConfig.h"
#include "engine/TrainObserver.h"
#include "engine/Trainer.h"
#include "engine/objectives/DpoLoss.h"

#include <filesystem>
#include <string>

namespace rslora::engine {

// The DPO stage's config with paths relative to the demo folder ("model", "data/prefs_train.jsonl"),
// as `rslora make-demo` writes it to demo-dpo-config.json beside them.
TrainConfig dpoDemoConfig();
// <resources>/demo/demo-dpo-config.json (paths resolved against its folder), stacked on `sftAdapterDir`.
TrainConfig loadDpoDemoConfig(const std::filesystem::path& resourcesDir, const std::string& sftAdapterDir);

struct DpoDemoMeasure {
    objectives::DpoMetrics preference; // rewards against the base alone
    AccuracyResult chosenAnswers;      // greedy answers equal to the chosen response
};

struct DpoDemoOutcome {
    DpoDemoMeasure before, after; // held-out pairs: the SFT adapter, then SFT + DPO
    TrainResult train;
    double trainSeconds = 0.0;
    double totalSeconds = 0.0;
};

// The preference metrics of the base plus `adapters` (all active) on config.validationData against the
// base alone, and the greedy answers to those pairs' prompts checked against their chosen responses.
DpoDemoMeasure measurePreferenceStage(const TrainConfig& config, const std::vector<std::string>& adapters);

// Measures the stacked adapters on config.validationData, trains (runTraining), measures again.
DpoDemoOutcome runDpoDemo(const TrainConfig& config, TrainObserver* observer = nullptr, MetricsSink* sink = nullptr);

} // namespace rslora::engine
