// The training entry point (see TrainingRun.h).
#include "engine/TrainingRun.h"

#include "common/Error.h"
#include "common/Log.h"
#include "engine/RunDataCheck.h"
#include "engine/RunFolder.h"
#include "engine/Runtime.h"
#include "engine/distributed/GradientReducer.h"
#include "engine/distributed/ProcessGroup.h"
#include "engine/distributed/RunConsistency.h"
#include "engine/objectives/DpoObjective.h"
#include "engine/objectives/SftObjective.h"
#include "models/ModelLoader.h"
#include "models/ModuleShapes.h"
#include "models/quant/BaseQuantizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <thread>

namespace rslora::engine {

namespace fs = std::filesystem;

ValidationFacts modelFacts(const std::string& modelPath)
{
    ValidationFacts f;
    const fs::path cfg = fs::path(modelPath) / "config.json";
    if (!fs::exists(cfg))
        return f; // validate() then reports the path; loading names the missing file
    const auto config = models::ModelConfig::fromFile(cfg);
    f.haveModel = true;
    f.numLayers = int(config.numLayers);
    for (const auto& m : models::linearModuleShapes(config))
        f.modules.push_back({m.name, m.shortName, m.layer, m.inFeatures, m.outFeatures});
    return f;
}

TrainResult runTraining(const TrainConfig& requested, TrainObserver* observer, MetricsSink* sink, const std::string& resumeFrom,
                        const RunIdentity& run, const StackWeights& stack, distributed::ProcessGroup* group)
{
    const bool writer = !group || group->rank() == 0;
    TrainConfig config = requested;
    if (group) // rank 0 writes, so its output folder is the run's (the store may have chosen it)
        config.outputDir = group->broadcastFromRoot(config.outputDir, "sharing rank 0's output folder");
    // Cheap checks first, then facts from config.json and the data, all before loading weights.
    ValidationFacts facts = RunDataCheck::checkConfigAndModel(config);

    // The output folder is this process's for the run (rank 0's in a data-parallel job); its
    // checkpoints decide what may resume.
    std::optional<RunFolder> folder;
    fs::path resumeDir;
    std::exception_ptr refused;
    if (writer) {
        try {
            folder.emplace(config.outputDir, run);
            if (const uint64_t freed = folder->removeStaleStaging())
                logInfo("removed " + std::to_string(freed / 1024) + " KiB of staging files that an interrupted save left in "
                        + config.outputDir);
            folder->checkConfigFile(config);
            if (resumeFrom == "latest")
                resumeDir = folder->latestCheckpoint(config);
            else if (!resumeFrom.empty()) {
                resumeDir = resumeFrom;
                folder->checkResumable(resumeDir, config);
            } else
                folder->checkFreshStart(config.mode);
        } catch (const std::exception&) {
            if (!group)
                throw;
            refused = std::current_exception();
        }
    }
    if (group) {
        // Every rank resumes rank 0's choice, or stops with rank 0's reason rather than waiting.
        std::string why;
        if (refused)
            try {
                std::rethrow_exception(refused);
            } catch (const std::exception& e) {
                why = e.what();
            }
        const std::string shared = group->broadcastFromRoot(refused ? "refused\n" + why : "resume\n" + resumeDir.string(),
                                                            "sharing the checkpoint to resume");
        if (refused)
            std::rethrow_exception(refused);
        const size_t nl = shared.find('\n');
        if (shared.compare(0, nl, "refused") == 0)
            throw Error("rank 0 could not start the run: " + shared.substr(nl + 1));
        resumeDir = shared.substr(nl + 1);
    }

    if (observer)
        observer->onStatus("reading data");
    std::vector<TrainExample> train, validation;
    std::vector<models::PreferenceSample> trainPairs, validationPairs;
    const bool dpo = config.objective == TrainObjective::Dpo;
    if (dpo) {
        trainPairs = loadPreferencePairs(config.trainData, config);
        if (!config.validationData.empty())
            validationPairs = loadPreferencePairs(config.validationData, config);
        else
            splitValidation(trainPairs, validationPairs, config.validationSplit, config.seed);
        facts.train = preferenceFacts(config.trainData, trainPairs, config.maxSeqLen);
        facts.validation = preferenceFacts(config.validationData, validationPairs, config.maxSeqLen);
    } else {
        train = loadExamples(config.trainData, config);
        if (!config.validationData.empty())
            validation = loadExamples(config.validationData, config);
        else
            splitValidation(train, validation, config.validationSplit, config.seed);
        facts.train = datasetFacts(config.trainData, train, config.maxSeqLen);
        facts.validation = datasetFacts(config.validationData, validation, config.maxSeqLen);
    }
    facts.haveData = true;
    facts.haveValidation = !config.validationData.empty();
    validateOrThrow(config, facts);
    if (group)
        distributed::checkSameRun(*group, config);

    if (config.threads > 0) {
        // Per machine (the ranks of a job may differ here): more threads than cores take turns.
        if (const unsigned cores = std::thread::hardware_concurrency(); cores > 0 && unsigned(config.threads) > cores)
            logWarning("model.threads " + std::to_string(config.threads) + " is more than the " + std::to_string(cores) +
                       " CPU cores of this machine: the threads take turns on the cores and slow each step; set model.threads "
                       "to at most " + std::to_string(cores) + ", or to 0 to choose from the machine");
        applyThreadSettings({config.threads, config.threads});
    }
    if (observer)
        observer->onStatus("loading " + config.modelPath);
    models::LoadOptions lo;
    lo.device = models::parseDevice(config.device);
    // The frozen base in its training dtype (never an fp32 copy beside it); the adapters' master
    // weights are chosen by the trainer's precision policy.
    lo.dtype = models::parseDtype(config.dtype);
    lo.quantization = models::quant::parseQuantization(config.quantization, "model.quantization");
    auto model = models::loadCausalLM(config.modelPath, lo);
    if (const auto q = models::quant::BaseQuantizer::summarize(*model); observer && q.layers > 0)
        observer->onStatus(config.quantization + " base: " + models::quant::summaryText(q));

    std::unique_ptr<objectives::Objective> objective;
    if (dpo)
        objective = std::make_unique<objectives::DpoObjective>(config, *model, std::move(trainPairs), std::move(validationPairs));
    else
        objective = std::make_unique<objectives::SftObjective>(config, *model, std::move(train), std::move(validation));
    std::unique_ptr<distributed::GradientReducer> reducer;
    if (group && group->size() > 1)
        reducer = std::make_unique<distributed::GradientReducer>(
            *group, int64_t(config.allreduceBucketMb) * (int64_t(1) << 20) / 4, // megabytes of float32
            config.allreduceDtype == "float32" ? std::nullopt : std::optional<torch::ScalarType>(models::parseDtype(config.allreduceDtype)));
    Trainer trainer(config, *model, std::move(objective), reducer.get());
    trainer.setObserver(observer);
    trainer.setMetricsSink(writer ? sink : nullptr);
    trainer.setRunIdentity(run);
    if (!stack.empty())
        trainer.setStackWeights(stack);
    if (!resumeDir.empty()) {
        if (observer)
            observer->onStatus("resuming from " + resumeDir.string());
        trainer.resumeFrom(resumeDir);
    }
    // The config used is stored with the outputs; from here on the folder holds this run.
    if (folder)
        folder->markStarted();
    if (writer)
        config.save((fs::path(config.outputDir) / "train_config.json").string());
    const auto started = std::chrono::steady_clock::now();
    TrainResult result = trainer.run();
    if (reducer && observer && result.steps > 0) {
        // What data parallelism cost this session: the all-reduce time per step and its share.
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const double steps = double(result.steps);
        char line[160];
        std::snprintf(line, sizeof line, "data-parallel: %d processes (%s), all-reduce %.2f ms per step, %.1f%% of the training time",
                      group->size(), group->backendName(), 1000.0 * reducer->reduceSeconds() / steps,
                      seconds > 0 ? 100.0 * reducer->reduceSeconds() / seconds : 0.0);
        observer->onStatus(line);
    }
    return result;
}

} // namespace rslora::engine
