// The training entry point (see TrainingRun.h).
#include "engine/TrainingRun.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Log.h"
#include "engine/ChatTemplateCheck.h"
#include "engine/RunFolder.h"
#include "engine/Runtime.h"
#include "engine/distributed/GradientReducer.h"
#include "engine/distributed/ProcessGroup.h"
#include "engine/distributed/RunConsistency.h"
#include "engine/objectives/DpoObjective.h"
#include "engine/objectives/SftObjective.h"
#include "models/ModelLoader.h"
#include "models/ModelTokenizer.h"
#include "models/ModuleShapes.h"
#include "models/quant/BaseQuantizer.h"
#include "models/data/SampleBuilder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

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

namespace {

// The model folder's tokenizer, refused when its ids do not fit config.json's vocab_size.
models::SampleBuilder sampleBuilder(const TrainConfig& config)
{
    models::SampleBuilderOptions opts;
    opts.maxLength = size_t(config.maxSeqLen);
    if (!config.chatTemplate.empty())
        opts.templateName = config.chatTemplate;
    return models::SampleBuilder(models::loadModelTokenizer(config.modelPath), opts);
}

// What the data is checked against from config.json, read once per data file: vocab_size (token
// ids must fit it) and max_position_embeddings (longer samples are warned about). 0 where unknown:
// a folder without config.json is reported by name by validation and loading.
struct ModelLimits {
    int64_t vocabSize = 0;
    int64_t contextLength = 0;
};

ModelLimits modelLimits(const std::string& modelPath)
{
    if (modelPath.empty())
        return {};
    const fs::path cfg = fs::path(modelPath) / "config.json";
    if (!fs::exists(cfg))
        return {};
    const models::ModelConfig c = models::ModelConfig::fromFile(cfg);
    return {c.vocabSize, c.maxPositionEmbeddings};
}

// Samples longer than the model's context train positions it never learned: allowed (as in
// transformers), but said once per file, with how to cut them. Only max_seq_len above the context
// lets such samples through.
void warnBeyondContext(const std::string& path, const std::vector<size_t>& lengths, const TrainConfig& config, int64_t context)
{
    if (context <= 0 || config.maxSeqLen <= context)
        return;
    size_t longer = 0, longest = 0;
    for (size_t n : lengths) {
        longer += n > size_t(context) ? 1 : 0;
        longest = std::max(longest, n);
    }
    if (longer > 0)
        logWarning(path + ": " + std::to_string(longer) + " of " + std::to_string(lengths.size()) + " samples are longer than the model's "
                   "context (max_position_embeddings " + std::to_string(context) + " in config.json; the longest has " +
                   std::to_string(longest) + " tokens, data.max_seq_len is " + std::to_string(config.maxSeqLen) +
                   "): they train positions the model was not trained for; set data.max_seq_len to " + std::to_string(context) +
                   " to cut them");
}

// How a data file's records are counted in messages: " element " in a JSON array, " line " in JSONL.
std::string recordUnit(const std::string& path)
{
    std::ifstream in(path);
    char c = 0;
    while (in.get(c) && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
    }
    return in && c == '[' ? " element " : " line ";
}

// A sample whose text encodes to an added token past the embedding rows (a tokenizer whose added
// tokens were never given rows) is refused here, on the CPU, before a batch can reach the device;
// the message names the file and the line of the record.
void checkIdsFit(const std::string& where, const std::vector<int64_t>& ids, int64_t vocabSize)
{
    if (vocabSize <= 0)
        return;
    for (int64_t id : ids)
        if (id < 0 || id >= vocabSize)
            throw Error(where + ": the record encodes to token id " + std::to_string(id) + ", outside config.json's vocab_size " +
                            std::to_string(vocabSize),
                        "the tokenizer has tokens the model has no embedding rows for; remove them from the data "
                        "or use a model whose embeddings were resized");
}

// A data path that names a folder reads as no samples at all: refused by name instead.
void requireDataFile(const std::string& path)
{
    if (!fs::exists(path))
        throw Error("dataset '" + path + "' does not exist");
    if (fs::is_directory(path))
        throw Error(path + " is a folder, expected a data file (JSONL or a JSON array)");
}

// The dataset summary as information; as a warning (which the CLI prints) when samples were cut to
// max_seq_len, dropped or skipped, since that changes what is trained.
void reportData(const std::string& path, const std::string& summary, size_t truncatedSamples, size_t truncatedTokens,
                size_t dropped, size_t skipped, int maxSeqLen)
{
    if (truncatedSamples == 0 && dropped == 0 && skipped == 0) {
        logInfo(path + ": " + summary);
        return;
    }
    std::string what;
    auto add = [&what](const std::string& part) { what += (what.empty() ? "" : ", ") + part; };
    if (truncatedSamples > 0)
        add(std::to_string(truncatedSamples) + " samples truncated to max_seq_len " + std::to_string(maxSeqLen) + " (" +
            std::to_string(truncatedTokens) + " tokens cut)");
    if (dropped > 0)
        add(std::to_string(dropped) + " samples dropped without supervised tokens");
    if (skipped > 0)
        add(std::to_string(skipped) + " malformed lines skipped");
    logWarning(path + ": " + what + " (" + summary + ")");
}

// Pre-tokenized examples cut to max_seq_len here (the batches would cut them anyway, silently), and
// those left without a supervised token dropped (their batches would train on nothing and log loss 0).
std::vector<TrainExample> fitPretokenized(const std::string& path, std::vector<TrainExample> loaded, int maxSeqLen)
{
    const size_t records = loaded.size();
    size_t truncatedSamples = 0, truncatedTokens = 0, dropped = 0;
    int64_t tokens = 0, supervised = 0;
    std::vector<TrainExample> out;
    out.reserve(loaded.size());
    for (auto& e : loaded) {
        if (maxSeqLen > 0 && e.ids.size() > size_t(maxSeqLen)) {
            ++truncatedSamples;
            truncatedTokens += e.ids.size() - size_t(maxSeqLen);
            e.ids.resize(size_t(maxSeqLen));
            e.labels.resize(size_t(maxSeqLen));
        }
        const int64_t n = supervisedTokens(e, std::numeric_limits<int>::max());
        if (n == 0) {
            ++dropped;
            continue;
        }
        tokens += int64_t(e.ids.size());
        supervised += n;
        out.push_back(std::move(e));
    }
    const std::string summary = std::to_string(records) + " records -> " + std::to_string(out.size()) +
                                " samples (pre-tokenized); " + std::to_string(truncatedSamples) + " truncated (" +
                                std::to_string(truncatedTokens) + " tokens cut); " + std::to_string(dropped) +
                                " without supervised tokens dropped; " + std::to_string(tokens) + " tokens, " +
                                std::to_string(supervised) + " supervised";
    if (out.empty() && records > 0)
        throw Error(path + ": no usable samples (" + summary + ")");
    reportData(path, summary, truncatedSamples, truncatedTokens, dropped, 0, maxSeqLen);
    return out;
}

} // namespace

std::vector<TrainExample> loadExamples(const std::string& path, const TrainConfig& config)
{
    requireDataFile(path);
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
    if (first.empty())
        return {};
    const ModelLimits limits = modelLimits(config.modelPath);
    auto lengthsOf = [](const std::vector<TrainExample>& examples) {
        std::vector<size_t> n;
        for (const auto& e : examples)
            n.push_back(e.ids.size());
        return n;
    };
    if (pretokenized) {
        std::vector<TrainExample> fitted =
            fitPretokenized(path, loadTokenizedJsonl(path, limits.vocabSize), config.maxSeqLen);
        warnBeyondContext(path, lengthsOf(fitted), config, limits.contextLength);
        return fitted;
    }
    auto ds = sampleBuilder(config).loadSft(path);
    reportData(path, ds.stats.summary(), ds.stats.truncatedSamples, ds.stats.truncatedTokens, ds.stats.droppedWithoutTargets,
               ds.stats.skipped, config.maxSeqLen);
    const int64_t vocab = limits.vocabSize;
    const std::string unit = recordUnit(path);
    std::vector<TrainExample> out;
    out.reserve(ds.samples.size());
    for (auto& s : ds.samples) {
        checkIdsFit(path + unit + std::to_string(ds.lines[out.size()]), s.ids, vocab);
        out.push_back({std::move(s.ids), std::move(s.labels)});
    }
    warnBeyondContext(path, lengthsOf(out), config, limits.contextLength);
    return out;
}


std::vector<models::PreferenceSample> loadPreferencePairs(const std::string& path, const TrainConfig& config)
{
    requireDataFile(path);
    auto ds = sampleBuilder(config).loadPreferences(path);
    reportData(path, ds.stats.summary(), ds.stats.truncatedSamples, ds.stats.truncatedTokens, ds.stats.droppedWithoutTargets,
               ds.stats.skipped, config.maxSeqLen);
    const ModelLimits limits = modelLimits(config.modelPath);
    const int64_t vocab = limits.vocabSize;
    const std::string unit = recordUnit(path);
    for (size_t i = 0; i < ds.samples.size(); ++i)
        for (const auto* ids : {&ds.samples[i].prompt, &ds.samples[i].chosen, &ds.samples[i].rejected})
            checkIdsFit(path + unit + std::to_string(ds.lines[i]), *ids, vocab);
    std::vector<size_t> lengths; // each pair's longer sequence: the prompt and its longer answer
    for (const auto& p : ds.samples)
        lengths.push_back(p.prompt.size() + std::max(p.chosen.size(), p.rejected.size()));
    warnBeyondContext(path, lengths, config, limits.contextLength);
    return std::move(ds.samples);
}

DatasetFacts preferenceFacts(const std::string& path, const std::vector<models::PreferenceSample>& pairs, int maxSeqLen)
{
    DatasetFacts f;
    f.path = path;
    f.samples = int64_t(pairs.size());
    for (const auto& p : pairs)
        for (const auto* response : {&p.chosen, &p.rejected})
            f.supervisedTokens += std::max<int64_t>(0, std::min<int64_t>(int64_t(p.prompt.size() + response->size()), maxSeqLen)
                                                           - int64_t(p.prompt.size()));
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
    validateOrThrow(config);
    ValidationFacts facts = modelFacts(config.modelPath);
    if (!facts.haveModel)
        throw Error("model.path '" + config.modelPath + "' is not a Hugging Face model folder (config.json is missing)");
    // A template name the tokenizer lacks, before the output folder is touched.
    if (const std::string problem = chatTemplateProblem(config); !problem.empty())
        throw Error(problem);

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

    if (config.threads > 0)
        applyThreadSettings({config.threads, config.threads});
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
