// The default demo run (see DemoRun.h).
#include "engine/demo/DemoRun.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/TrainingRun.h"
#include "models/ModelLoader.h"
#include "models/quant/BaseQuantizer.h"
#include "models/data/SampleBuilder.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <sstream>

namespace rslora::engine {

namespace fs = std::filesystem;

namespace {

double seconds(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

AccuracyResult demoExactMatch(const TrainConfig& config, const std::vector<ExactMatchItem>& items, const std::string& adapterDir)
{
    models::LoadOptions lo;
    lo.device = models::parseDevice(config.device);
    // The adapter is measured on the base it was trained over.
    lo.quantization = models::quant::parseQuantization(config.quantization, "model.quantization");
    auto model = models::loadCausalLM(config.modelPath, lo);
    AdapterSet set(*model);
    if (!adapterDir.empty()) {
        loadPeftAdapter(set, adapterDir, "demo");
        set.setActive({{"demo", 1.0}});
    }
    const auto tokenizer = models::Tokenizer::load(config.modelPath);
    return exactMatch(*model, tokenizer, items, 24, 32);
}

TrainConfig loadDemoConfig(const fs::path& resourcesDir) { return loadDemoConfigFile(resourcesDir, "demo-config.json"); }

TrainConfig loadDemoConfigFile(const fs::path& resourcesDir, const std::string& fileName)
{
    const fs::path file = resourcesDir / "demo" / fileName;
    if (!fs::exists(file))
        throw Error("the demo config '" + file.string() + "' is missing; regenerate the demo with `rslora make-demo --out " +
                    (resourcesDir / "demo").string() + "`");
    // Its relative paths are taken from its own folder, as for every config file.
    return TrainConfig::load(file.string());
}

std::vector<ExactMatchItem> templatedExactMatchItems(const TrainConfig& config, const std::string& jsonlPath)
{
    models::SampleBuilderOptions opts;
    opts.maxLength = size_t(config.maxSeqLen);
    if (!config.chatTemplate.empty())
        opts.templateName = config.chatTemplate;
    const models::SampleBuilder builder(models::Tokenizer::load(config.modelPath), opts);
    return loadExactMatchItems(jsonlPath, &builder);
}

DemoOutcome runDemo(const TrainConfig& config, TrainObserver* observer, MetricsSink* sink)
{
    const auto start = std::chrono::steady_clock::now();
    if (config.validationData.empty())
        throw Error("the demo config names no validation data to measure exact match on");
    DemoOutcome out;
    const auto items = templatedExactMatchItems(config, config.validationData);
    if (observer)
        observer->onStatus("exact match of the base model on " + std::to_string(items.size()) + " held-out questions");
    out.before = demoExactMatch(config, items, {});
    const auto t0 = std::chrono::steady_clock::now();
    out.train = runTraining(config, observer, sink);
    out.trainSeconds = seconds(t0);
    if (out.train.status == TrainStatus::Completed && !out.train.adapterDir.empty()) {
        if (observer)
            observer->onStatus("exact match of base + adapter");
        out.after = demoExactMatch(config, items, out.train.adapterDir);
    }
    out.totalSeconds = seconds(start);
    return out;
}

} // namespace rslora::engine
