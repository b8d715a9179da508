// The demo's preference stage (see DpoDemo.h).
#include "engine/demo/DpoDemo.h"

#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/TrainingRun.h"
#include "engine/demo/DemoRun.h"
#include "engine/objectives/DpoObjective.h"
#include "engine/objectives/PreferenceScoring.h"
#include "models/ModelLoader.h"

#include <chrono>

namespace rslora::engine {

namespace fs = std::filesystem;

namespace {

constexpr int kAnswerTokens = 40; // longer than every chosen answer of the demo pairs

double seconds(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

DpoDemoMeasure measure(const TrainConfig& config, const std::vector<models::PreferenceSample>& pairs,
                       const std::vector<ExactMatchItem>& prompts, const std::vector<std::string>& adapters)
{
    models::LoadOptions lo;
    lo.device = models::parseDevice(config.device);
    auto model = models::loadCausalLM(config.modelPath, lo);
    AdapterSet set(*model);
    objectives::PreferenceEvalRequest request;
    for (size_t i = 0; i < adapters.size(); ++i) {
        const std::string name = "demo" + std::to_string(i + 1);
        loadPeftAdapter(set, adapters[i], name);
        request.policy.push_back({name, 1.0});
    }
    request.options = objectives::dpoOptionsFrom(config.dpo);
    request.batchSize = config.batchSize;
    request.maxSeqLen = config.maxSeqLen;
    DpoDemoMeasure m;
    m.preference = objectives::evaluatePreferences(*model, set, pairs, request);
    set.setActive(request.policy);
    m.chosenAnswers = exactMatch(*model, models::Tokenizer::load(config.modelPath), prompts, kAnswerTokens, config.batchSize);
    return m;
}

} // namespace

DpoDemoMeasure measurePreferenceStage(const TrainConfig& config, const std::vector<std::string>& adapters)
{
    const auto pairs = loadPreferencePairs(config.validationData, config);
    return measure(config, pairs, templatedExactMatchItems(config, config.validationData), adapters);
}

TrainConfig dpoDemoConfig()
{
    TrainConfig c;
    c.modelPath = "model";
    c.trainData = "data/prefs_train.jsonl";
    c.validationData = "data/prefs_val.jsonl";
    c.maxSeqLen = 64;
    c.objective = TrainObjective::Dpo;
    c.dpo.beta = 0.1;
    c.dpo.reference = DpoReference::Stack;
    c.dpo.cacheReference = true;
    c.adapter.name = "dpo";
    c.adapter.targetModules = {"q_proj", "k_proj", "v_proj"};
    c.adapter.rank = 8;
    c.adapter.alpha = 16.0;
    c.adapter.scaling = ScalingMode::AlphaOverSqrtR;
    c.dpo.rpoAlpha = 1.0;
    c.learningRate = 2e-3;
    c.schedule = LrSchedule::Cosine;
    c.warmupSteps = 5;
    c.batchSize = 16;
    c.maxSteps = 120;
    c.logEvery = 5;
    c.evalEvery = 40;
    c.seed = 42;
    return c;
}

TrainConfig loadDpoDemoConfig(const fs::path& resourcesDir, const std::string& sftAdapterDir)
{
    TrainConfig c = loadDemoConfigFile(resourcesDir, "demo-dpo-config.json");
    c.adapter.stackOn = {sftAdapterDir};
    return c;
}

DpoDemoOutcome runDpoDemo(const TrainConfig& config, TrainObserver* observer, MetricsSink* sink)
{
    const auto start = std::chrono::steady_clock::now();
    if (config.validationData.empty())
        throw Error("the DPO demo config names no validation pairs to measure preference accuracy on");
    DpoDemoOutcome out;
    const auto pairs = loadPreferencePairs(config.validationData, config);
    const auto prompts = templatedExactMatchItems(config, config.validationData);
    if (observer)
        observer->onStatus("preference accuracy of the earlier stages on " + std::to_string(pairs.size()) + " held-out pairs");
    out.before = measure(config, pairs, prompts, config.adapter.stackOn);
    const auto t0 = std::chrono::steady_clock::now();
    out.train = runTraining(config, observer, sink);
    out.trainSeconds = seconds(t0);
    if (out.train.status == TrainStatus::Completed && !out.train.adapterDir.empty()) {
        if (observer)
            observer->onStatus("preference accuracy with the DPO adapter");
        std::vector<std::string> adapters = config.adapter.stackOn;
        adapters.push_back(out.train.adapterDir);
        out.after = measure(config, pairs, prompts, adapters);
    }
    out.totalSeconds = seconds(start);
    return out;
}

} // namespace rslora::engine
