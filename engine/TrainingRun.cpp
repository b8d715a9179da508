// The training entry point (see TrainingRun.h).
#include "engine/TrainingRun.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Log.h"
#include "engine/RunFolder.h"
#include "engine/Runtime.h"
#include "models/ModelLoader.h"
#include "models/ModuleShapes.h"
#include "models/data/SampleBuilder.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

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

std::vector<TrainExample> loadExamples(const std::string& path, const TrainConfig& config)
{
    if (!fs::exists(path))
        throw Error("dataset '" + path + "' does not exist");
    std::string first;
    {
        std::ifstream in(path);
        while (std::getline(in, first) && first.find_first_not_of(" \t\r") == std::string::npos) {
        }
    }
    bool pretokenized = false;
    try {
        const auto j = nlohmann::json::parse(first);
        pretokenized = j.is_object() && j.contains("input_ids");
    } catch (const nlohmann::json::exception&) {
        // the sample builder names the line
    }
    if (first.empty() || pretokenized)
        return first.empty() ? std::vector<TrainExample>{} : loadTokenizedJsonl(path);
    models::SampleBuilderOptions opts;
    opts.maxLength = size_t(config.maxSeqLen);
    if (!config.chatTemplate.empty())
        opts.templateName = config.chatTemplate;
    models::SampleBuilder builder(models::Tokenizer::load(config.modelPath), opts);
    auto ds = builder.loadSft(path);
    logInfo(path + ": " + ds.stats.summary());
    std::vector<TrainExample> out;
    out.reserve(ds.samples.size());
    for (auto& s : ds.samples)
        out.push_back({std::move(s.ids), std::move(s.labels)});
    return out;
}

TrainResult runTraining(const TrainConfig& config, TrainObserver* observer, MetricsSink* sink, const std::string& resumeFrom,
                        const RunIdentity& run, const StackWeights& stack)
{
    // Cheap checks first, then facts from config.json and the data, all before loading weights.
    validateOrThrow(config);
    ValidationFacts facts = modelFacts(config.modelPath);
    if (!facts.haveModel)
        throw Error("model.path '" + config.modelPath + "' is not a Hugging Face model folder (config.json is missing)");

    // The output folder is this process's for the run; its checkpoints decide what may resume.
    RunFolder folder(config.outputDir, run);
    if (const uint64_t freed = folder.removeStaleStaging())
        logInfo("removed " + std::to_string(freed / 1024) + " KiB of staging files that an interrupted save left in "
                + config.outputDir);
    fs::path resumeDir;
    if (resumeFrom == "latest")
        resumeDir = folder.latestCheckpoint(config);
    else if (!resumeFrom.empty()) {
        resumeDir = resumeFrom;
        folder.checkResumable(resumeDir, config);
    } else
        folder.checkFreshStart();

    if (observer)
        observer->onStatus("reading data");
    std::vector<TrainExample> train = loadExamples(config.trainData, config);
    std::vector<TrainExample> validation;
    if (!config.validationData.empty())
        validation = loadExamples(config.validationData, config);
    else
        splitValidation(train, validation, config.validationSplit, config.seed);
    facts.haveData = true;
    facts.train = datasetFacts(config.trainData, train, config.maxSeqLen);
    if (!config.validationData.empty()) {
        facts.haveValidation = true;
        facts.validation = datasetFacts(config.validationData, validation, config.maxSeqLen);
    }
    validateOrThrow(config, facts);

    if (config.threads > 0)
        applyThreadSettings({config.threads, config.threads});
    if (observer)
        observer->onStatus("loading " + config.modelPath);
    models::LoadOptions lo;
    lo.device = models::parseDevice(config.device);
    lo.dtype = torch::kFloat32; // master weights in fp32; bf16 comes from autocast on CUDA
    auto model = models::loadCausalLM(config.modelPath, lo);

    Trainer trainer(config, *model, std::move(train), std::move(validation));
    trainer.setObserver(observer);
    trainer.setMetricsSink(sink);
    trainer.setRunIdentity(run);
    if (!stack.empty())
        trainer.setStackWeights(stack);
    if (!resumeDir.empty()) {
        if (observer)
            observer->onStatus("resuming from " + resumeDir.string());
        trainer.resumeFrom(resumeDir);
    }
    // The config used is stored with the outputs.
    config.save((fs::path(config.outputDir) / "train_config.json").string());
    return trainer.run();
}

} // namespace rslora::engine
