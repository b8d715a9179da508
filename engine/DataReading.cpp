// Reading training data (see DataReading.h; loadExamples and loadPreferencePairs of TrainingRun.h).
#include "engine/DataReading.h"

#include "common/Error.h"
#include "common/Log.h"
#include "engine/TrainingRun.h"
#include "models/ModelConfig.h"
#include "models/ModelTokenizer.h"
#include "models/data/SampleBuilder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

namespace rslora::engine {

namespace fs = std::filesystem;

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
void warnBeyondContext(const std::string& path, const std::vector<size_t>& lengths, const TrainConfig& config, int64_t context,
                       DataReport report)
{
    if (report == DataReport::Silent || context <= 0 || config.maxSeqLen <= context)
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

// A data path that names a folder reads as no samples at all, a FIFO or device blocks or never ends,
// and a symlink loop threw the library's own text: each refused by name instead.
void requireDataFile(const std::string& path)
{
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found)
        throw Error("dataset '" + path + "' does not exist");
    if (ec)
        throw Error("dataset '" + path + "' cannot be read: " + ec.message());
    if (fs::is_directory(st))
        throw Error(path + " is a folder, expected a data file (JSONL or a JSON array)");
    if (!fs::is_regular_file(st)) {
        const char* kind = fs::is_fifo(st) ? "a FIFO (named pipe)" : fs::is_socket(st) ? "a socket" : "a device or other special file";
        throw Error(path + " is " + std::string(kind) + ", expected a regular data file (JSONL or a JSON array)",
                    "copy the data into a file and name that");
    }
}

// The dataset summary as information; as a warning (which the CLI prints) when samples were cut to
// max_seq_len, dropped or skipped, since that changes what is trained.
void reportData(const std::string& path, const std::string& summary, size_t truncatedSamples, size_t truncatedTokens,
                size_t dropped, size_t skipped, int maxSeqLen, DataReport report)
{
    if (report == DataReport::Silent)
        return;
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
std::vector<TrainExample> fitPretokenized(const std::string& path, std::vector<TrainExample> loaded, int maxSeqLen,
                                          DataReport report)
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
    reportData(path, summary, truncatedSamples, truncatedTokens, dropped, 0, maxSeqLen, report);
    return out;
}

} // namespace

std::vector<TrainExample> readExamples(const std::string& path, const TrainConfig& config, DataReport report)
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
            fitPretokenized(path, loadTokenizedJsonl(path, limits.vocabSize), config.maxSeqLen, report);
        warnBeyondContext(path, lengthsOf(fitted), config, limits.contextLength, report);
        return fitted;
    }
    auto ds = sampleBuilder(config).loadSft(path);
    reportData(path, ds.stats.summary(), ds.stats.truncatedSamples, ds.stats.truncatedTokens, ds.stats.droppedWithoutTargets,
               ds.stats.skipped, config.maxSeqLen, report);
    const int64_t vocab = limits.vocabSize;
    const std::string unit = recordUnit(path);
    std::vector<TrainExample> out;
    out.reserve(ds.samples.size());
    for (auto& s : ds.samples) {
        checkIdsFit(path + unit + std::to_string(ds.lines[out.size()]), s.ids, vocab);
        out.push_back({std::move(s.ids), std::move(s.labels)});
    }
    warnBeyondContext(path, lengthsOf(out), config, limits.contextLength, report);
    return out;
}


std::vector<models::PreferenceSample> readPreferencePairs(const std::string& path, const TrainConfig& config, DataReport report)
{
    requireDataFile(path);
    auto ds = sampleBuilder(config).loadPreferences(path);
    reportData(path, ds.stats.summary(), ds.stats.truncatedSamples, ds.stats.truncatedTokens, ds.stats.droppedWithoutTargets,
               ds.stats.skipped, config.maxSeqLen, report);
    const ModelLimits limits = modelLimits(config.modelPath);
    const int64_t vocab = limits.vocabSize;
    const std::string unit = recordUnit(path);
    for (size_t i = 0; i < ds.samples.size(); ++i)
        for (const auto* ids : {&ds.samples[i].prompt, &ds.samples[i].chosen, &ds.samples[i].rejected})
            checkIdsFit(path + unit + std::to_string(ds.lines[i]), *ids, vocab);
    std::vector<size_t> lengths; // each pair's longer sequence: the prompt and its longer answer
    for (const auto& p : ds.samples)
        lengths.push_back(p.prompt.size() + std::max(p.chosen.size(), p.rejected.size()));
    warnBeyondContext(path, lengths, config, limits.contextLength, report);
    return std::move(ds.samples);
}

std::vector<TrainExample> loadExamples(const std::string& path, const TrainConfig& config)
{
    return readExamples(path, config, DataReport::Log);
}

std::vector<models::PreferenceSample> loadPreferencePairs(const std::string& path, const TrainConfig& config)
{
    return readPreferencePairs(path, config, DataReport::Log);
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

} // namespace rslora::engine
