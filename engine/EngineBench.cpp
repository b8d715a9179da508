// Training-step benchmarks (see EngineBench.h).
#include "engine/EngineBench.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/Runtime.h"
#include "engine/Trainer.h"
#include "engine/objectives/DpoObjective.h"
#include "engine/objectives/SftObjective.h"
#include "models/ModelLoader.h"
#include "models/quant/BaseQuantizer.h"

#include <nlohmann/json.hpp>

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

namespace rslora::engine {

using nlohmann::json;

namespace {

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct CaseResult {
    std::string name;
    double stepSeconds = 0, tokensPerSecond = 0, flopsPerToken = 0, achievedGflops = 0;
    int64_t frozen = 0, adapter = 0, peakRss = 0;
    std::string quantization; // what 4-bit storage did to the base, when asked for
};

class Timer : public TrainObserver {
public:
    std::vector<double> stamps;
    void onStep(const StepStats&) override { stamps.push_back(now()); }
};

// Self time per operator (time inside an op minus time in the ops it called), from the legacy
// profiler's push/pop ranges, as a table of the operators taking the most time.
std::string operatorTable(const torch::autograd::profiler::thread_event_lists& lists, int top)
{
    using torch::autograd::profiler::EventKind;
    using torch::autograd::profiler::LegacyEvent;
    std::map<std::string, std::pair<double, int64_t>> self; // name -> (us, calls)
    double total = 0;
    for (const auto& events : lists) {
        struct Open { const LegacyEvent* e; double children; };
        std::vector<Open> stack;
        for (const auto& e : events) {
            if (e.kind() == EventKind::PushRange) {
                stack.push_back({&e, 0.0});
            } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
                const Open open = stack.back();
                stack.pop_back();
                const double us = open.e->cpuElapsedUs(e);
                auto& slot = self[open.e->name()];
                slot.first += us - open.children;
                slot.second += 1;
                if (stack.empty())
                    total += us;
                else
                    stack.back().children += us;
            }
        }
    }
    std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(self.begin(), self.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    std::ostringstream out;
    char line[256];
    std::snprintf(line, sizeof line, "  %-44s %10s %7s %8s\n", "operator (self time)", "ms", "share", "calls");
    out << line;
    for (size_t i = 0; i < rows.size() && int(i) < top; ++i) {
        std::snprintf(line, sizeof line, "  %-44s %10.1f %6.1f%% %8lld\n", rows[i].first.substr(0, 44).c_str(), rows[i].second.first / 1000.0,
                      total > 0 ? 100.0 * rows[i].second.first / total : 0.0, static_cast<long long>(rows[i].second.second));
        out << line;
    }
    return out.str();
}

CaseResult runCase(const std::string& shape, const std::string& label, const BenchOptions& o, const std::function<void(TrainConfig&)>& tweak,
                   std::string* profile = nullptr)
{
    const auto cfg = benchShape(shape);
    models::LoadOptions lo;
    lo.quantization = models::quant::parseQuantization(o.quantization, "bench --quantization");
    auto model = models::createCausalLM(cfg, 1, lo);
    // Counted before the trainer wraps the projections with adapters.
    const auto quantized = models::quant::BaseQuantizer::summarize(*model);
    std::mt19937_64 rng(5);
    auto tokens = [&](int n) {
        std::vector<int64_t> ids;
        for (int t = 0; t < n; ++t)
            ids.push_back(int64_t(rng() % uint64_t(cfg.vocabSize)));
        return ids;
    };
    TrainConfig tc;
    tc.adapter.targetModules = {"all-linear"};
    tc.adapter.rank = o.rank;
    tc.adapter.alpha = 2.0 * o.rank;
    tc.batchSize = o.batch;
    tc.maxSeqLen = o.seq;
    tc.maxSteps = o.steps + o.warmup;
    tc.shuffle = false;
    tc.lossChunkTokens = 1024;
    tweak(tc);
    std::unique_ptr<objectives::Objective> objective;
    if (tc.objective == TrainObjective::Dpo) {
        // The same tokens as the SFT step: batch/2 pairs, each a prompt of seq/2 tokens and two
        // responses of seq/2, so the step holds `batch` sequences of `seq` tokens.
        tc.batchSize = std::max(1, o.batch / 2);
        std::vector<models::PreferenceSample> pairs;
        for (int i = 0; i < tc.batchSize * (o.steps + o.warmup); ++i)
            pairs.push_back({tokens(o.seq / 2), tokens(o.seq - o.seq / 2), tokens(o.seq - o.seq / 2)});
        objective = std::make_unique<objectives::DpoObjective>(tc, *model, std::move(pairs));
    } else {
        std::vector<TrainExample> data;
        for (int i = 0; i < o.batch * (o.steps + o.warmup); ++i) {
            TrainExample e;
            e.ids = tokens(o.seq);
            e.labels = e.ids;
            data.push_back(std::move(e));
        }
        objective = std::make_unique<objectives::SftObjective>(tc, *model, std::move(data), std::vector<TrainExample>{});
    }
    Trainer trainer(tc, *model, std::move(objective));
    Timer timer;
    trainer.setObserver(&timer);
    const double t0 = now();
    if (profile) {
        torch::autograd::profiler::thread_event_lists lists;
        {
            torch::autograd::profiler::TLSLegacyProfilerGuard guard(
                torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU),
                [&](const torch::autograd::profiler::thread_event_lists& l) { lists = l; });
            trainer.run();
        }
        *profile = operatorTable(lists, 25);
    } else {
        trainer.run();
    }
    CaseResult r;
    r.name = label;
    const double start = o.warmup > 0 ? timer.stamps[size_t(o.warmup - 1)] : t0;
    r.stepSeconds = (timer.stamps.back() - start) / double(o.steps);
    r.tokensPerSecond = double(o.batch) * o.seq / r.stepSeconds;
    const auto counts = trainer.adapters().parameterCounts();
    r.adapter = counts.trainable;
    r.frozen = counts.total - counts.trainable;
    if (lo.quantization) {
        // 4-bit weights are buffers, not parameters: count them as the frozen weights they are.
        r.frozen += quantized.parameters;
        r.quantization = models::quant::summaryText(quantized);
    }
    r.flopsPerToken = 4.0 * double(r.frozen) + 6.0 * double(r.adapter)
        + 12.0 * double(cfg.numLayers) * double(cfg.numHeads) * double(cfg.headDim) * double(o.seq);
    r.achievedGflops = r.flopsPerToken * r.tokensPerSecond / 1e9;
    r.peakRss = peakResidentBytes();
    return r;
}

double sgemmGflops()
{
    torch::NoGradGuard ng;
    const auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
    torch::mm(a, b); // warm the pool
    const double t0 = now();
    const int reps = 3;
    for (int i = 0; i < reps; ++i)
        torch::mm(a, b);
    return 2.0 * 2048.0 * 2048.0 * 2048.0 * reps / (now() - t0) / 1e9;
}

} // namespace

// The benchmark shapes, named in one place (the Python script uses the same numbers).
models::ModelConfig benchShape(const std::string& name)
{
    models::ModelConfig c;
    c.rmsNormEps = 1e-5;
    c.maxPositionEmbeddings = 2048;
    if (name == "5m") {
        c.vocabSize = 4096; c.hiddenSize = 256; c.intermediateSize = 688; c.numLayers = 4; c.numHeads = 4; c.numKvHeads = 4;
    } else if (name == "30m") {
        c.vocabSize = 8192; c.hiddenSize = 512; c.intermediateSize = 1376; c.numLayers = 6; c.numHeads = 8; c.numKvHeads = 8;
    } else if (name == "135m") {
        c.vocabSize = 49152; c.hiddenSize = 576; c.intermediateSize = 1536; c.numLayers = 30; c.numHeads = 9; c.numKvHeads = 3;
        c.tieWordEmbeddings = true;
    } else {
        throw Error("unknown benchmark shape '" + name + "' (expected 5m, 30m or 135m)");
    }
    c.headDim = c.hiddenSize / c.numHeads;
    return c;
}


std::string runBenchmarks(const BenchOptions& o)
{
    if (o.threads > 0)
        applyThreadSettings({o.threads, o.threads});
    else
        applyThreadSettings({});
    const RuntimeInfo info = runtimeInfo();
    json python;
    if (!o.pythonResults.empty())
        python = json::parse(readFile(o.pythonResults));
    const double sgemm = sgemmGflops();
    std::vector<std::string> shapes = o.shapes.empty() ? std::vector<std::string>{"5m", "30m", "135m"} : o.shapes;
    json report = {{"threads", info.intraOpThreads}, {"blas", info.blasName}, {"sgemm_gflops", sgemm}, {"batch", o.batch}, {"seq", o.seq}, {"rank", o.rank}};
    std::ostringstream text;
    char line[512];
    std::snprintf(line, sizeof line, "threads %d (BLAS %s), sgemm 2048^3: %.1f GFLOP/s; LoRA r%d on all 7 projections, batch %d, seq %d, fp32\n",
                  info.intraOpThreads, info.blasName.c_str(), sgemm, o.rank, o.batch, o.seq);
    text << line;
    text << "shape  case              step s   tok/s    GFLOP/s  %sgemm  peak RSS MB   python tok/s  speed-up  py RSS MB\n";
    for (const auto& shape : shapes) {
        std::vector<std::pair<std::string, std::function<void(TrainConfig&)>>> cases{{"lora", [](TrainConfig&) {}}};
        if (o.options) {
            cases.push_back({"rslora scaling", [](TrainConfig& c) { c.adapter.scaling = ScalingMode::AlphaOverSqrtR; }});
            if (o.quantization == "none") // a 4-bit base has no dense weight to decompose
                cases.push_back({"spectral init", [](TrainConfig& c) { c.adapter.init = InitMode::Spectral; c.adapter.randomizedSvd = true; }});
            cases.push_back({"balancing", [](TrainConfig& c) { c.adapter.balancing.enabled = true; }});
            cases.push_back({"lora+ 16", [](TrainConfig& c) { c.adapter.loraPlusRatio = 16; }});
            cases.push_back({"random subspace", [](TrainConfig& c) { c.adapter.parameterization = Parameterization::RandomSubspace; }});
            cases.push_back({"dropout 0.1", [](TrainConfig& c) { c.adapter.dropout = 0.1; }});
            // Preference training on the same tokens per step (DPO against the base).
            cases.push_back({"dpo cached ref", [](TrainConfig& c) { c.objective = TrainObjective::Dpo; c.dpo.cacheReference = true; }});
            cases.push_back({"dpo uncached ref", [](TrainConfig& c) { c.objective = TrainObjective::Dpo; c.dpo.cacheReference = false; }});
        }
        double base = 0;
        for (const auto& [label, tweak] : cases) {
            auto tw = tweak;
            const CaseResult r = runCase(shape, label, o, [&](TrainConfig& c) {
                c.adapter.scaling = ScalingMode::AlphaOverR;
                tw(c);
            });
            if (label == "lora")
                base = r.stepSeconds;
            json row = {{"shape", shape}, {"case", label}, {"step_seconds", r.stepSeconds}, {"tokens_per_second", r.tokensPerSecond},
                        {"gflops", r.achievedGflops}, {"fraction_of_sgemm", r.achievedGflops / sgemm}, {"peak_rss_mb", double(r.peakRss) / 1048576.0},
                        {"frozen_params", r.frozen}, {"adapter_params", r.adapter}, {"overhead", base > 0 ? r.stepSeconds / base - 1.0 : 0.0}};
            double pyTok = 0, pyRss = 0;
            if (label == "lora" && python.is_object() && python.contains(shape)) {
                pyTok = python[shape].value("tokens_per_second", 0.0);
                pyRss = python[shape].value("peak_rss_mb", 0.0);
                row["python_tokens_per_second"] = pyTok;
                row["speedup_vs_python"] = pyTok > 0 ? r.tokensPerSecond / pyTok : 0.0;
                row["python_peak_rss_mb"] = pyRss;
            }
            if (!r.quantization.empty())
                row["quantization"] = r.quantization;
            report["cases"].push_back(row);
            std::snprintf(line, sizeof line, "%-6s %-16s %7.3f %8.0f %9.1f %6.0f%% %11.0f", shape.c_str(), label.c_str(), r.stepSeconds,
                          r.tokensPerSecond, r.achievedGflops, 100.0 * r.achievedGflops / sgemm, double(r.peakRss) / 1048576.0);
            text << line;
            if (pyTok > 0) {
                std::snprintf(line, sizeof line, "   %12.0f  %7.2fx  %9.0f", pyTok, r.tokensPerSecond / pyTok, pyRss);
                text << line;
            } else if (label != "lora") {
                std::snprintf(line, sizeof line, "   overhead %+.1f%% (%.2fx the lora step)", 100.0 * (r.stepSeconds / base - 1.0),
                              r.stepSeconds / base);
                text << line;
            }
            text << "\n";
            if (label == "lora" && !r.quantization.empty())
                text << "       " << o.quantization << " base: " << r.quantization << "\n";
        }
        if (o.profile) {
            std::string table;
            runCase(shape, "lora", o, [](TrainConfig& c) { c.adapter.scaling = ScalingMode::AlphaOverR; }, &table);
            text << "operators of the " << shape << " lora step (separate profiled run, all steps):\n" << table;
            report["profile"][shape] = table;
        }
    }
    text << "(peak RSS is the process high-water mark, so it only grows across rows; run one shape per process to compare memory)\n";
    return o.json ? report.dump(2) : text.str();
}

} // namespace rslora::engine
