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

// The DPO stage's config with paths relative to the resources folder's parent of `demoFolder`
// ("demo/model", ...), as `rslora make-demo` writes it to demo-dpo-config.json.
TrainConfig dpoDemoConfig(const std::string& demoFolder);
// <resources>/demo/demo-dpo-config.json resolved against `resourcesDir`, stacked on `sftAdapterDir`.
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
