// AdapterDescription: one description of a trained adapter for the store and for run bundles.
#include "app/shared/AdapterDescription.h"

#include "app/shared/RunRecorder.h"
#include "common/Error.h"
#include "engine/Trainer.h"
#include "models/ModelFingerprint.h"

#include <filesystem>

namespace rslora::app {

bool AdapterDescription::hasAdapter(const engine::TrainConfig& config, const engine::TrainResult& result) {
    return !result.adapterDir.empty() && config.mode != engine::TrainMode::Full;
}

storage::NewAdapter AdapterDescription::fromTraining(const engine::TrainConfig& config,
                                                     const engine::TrainResult& r, const std::string& task,
                                                     bool trainedFromParent) {
    if (!hasAdapter(config, r))
        throw rslora::Error("the run saved no adapter folder to record");
    storage::NewAdapter n;
    n.task = task.empty() ? std::filesystem::path(config.trainData).stem().string() : task;
    if (n.task.empty())
        n.task = "adapter";
    n.variant = RunRecorder::methodVariant(config);
    n.path = r.adapterDir;
    // No hash here: the store and the bundle each hash their own copy of the folder.
    const auto& a = config.adapter;
    n.method = std::string(engine::scalingModeName(a.scaling)) + ", " + engine::initModeName(a.init) + " init";
    if (a.parameterization == engine::Parameterization::RandomSubspace)
        n.method += ", random subspace k=" + std::to_string(a.subspaceDim);
    if (a.balancing.enabled)
        n.method += ", balanced";
    if (a.loraPlusRatio != 1.0)
        n.method += ", LoRA+";
    n.rank = a.rank;
    n.alpha = a.alpha;
    n.targets = a.targetModules;
    n.trainableParams = r.parameters.trainable;
    n.stage = trainedFromParent ? "stage" : "sft";
    n.sourceStep = r.steps;
    n.baseModel.ref = config.modelPath;
    try {
        n.baseModel.sha256 = models::modelFingerprint(config.modelPath);
    } catch (const std::exception&) {
        // The model folder went away after training: the version keeps its path only.
    }
    return n;
}

std::optional<storage::EvaluationRecord> AdapterDescription::finalEvaluation(const engine::TrainConfig& config,
                                                                              const engine::TrainResult& r) {
    if (!r.finalEval)
        return std::nullopt;
    storage::EvaluationRecord ev;
    ev.dataset = config.validationData.empty() ? config.trainData + " (held out)" : config.validationData;
    ev.metric = "eval/loss";
    ev.value = r.finalEval->loss;
    return ev;
}

} // namespace rslora::app
