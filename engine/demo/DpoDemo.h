// The demo's preference stage: DPO on the built-in preference pairs (the right answer to a fact
// question against a wrong answer of the same kind), stacked on the SFT demo adapter, with the
// held-out preference accuracy (share of pairs whose reward margin against the base is > 0) of
// the SFT adapter alone and of SFT + DPO.
#pragma once

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

struct DpoDemoOutcome {
    objectives::DpoMetrics before, after; // held-out pairs: the SFT adapter, then SFT + DPO, each against the base
    TrainResult train;
    double trainSeconds = 0.0;
    double totalSeconds = 0.0;
};

// Measures the stacked adapters on config.validationData, trains (runTraining), measures again.
DpoDemoOutcome runDpoDemo(const TrainConfig& config, TrainObserver* observer = nullptr, MetricsSink* sink = nullptr);

} // namespace rslora::engine
