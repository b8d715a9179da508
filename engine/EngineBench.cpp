// Training-step benchmarks (see EngineBench.h).
#include "engine/EngineBench.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/DeviceMemory.h"
#include "engine/ErrorText.h"
#include "engine/MemoryEstimate.h"
#include "engine/CpuAllocationMeter.h"
#include "engine/Runtime.h"
#include "engine/Trainer.h"
#include "engine/distributed/DistributedContext.h"
#include "engine/distributed/GradientReducer.h"
#include "engine/distributed/ProcessGroup.h"
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
    int64_t cudaPeakAllocated = 0, cudaPeakReserved = 0; // this case's peaks on a CUDA device
    int64_t estimatedPeak = 0; // the form's memory model for the same case
    double reduceSeconds = 0;  // data-parallel: the all-reduce time per step backward did not hide
    int overlappedBuckets = 0; // data-parallel: buckets of the last step started during backward
    int64_t buckets = 0;
    int64_t peakTensorBytes = 0; // CPU tensors alive at once, base weights included (CpuAllocationMeter)
    std::string quantization; // what 4-bit storage did to the base, when asked for
};

class Timer : public TrainObserver {
public:
    explicit Timer(const distributed::GradientReducer* reducer) : m_reducer(reducer) {}
    std::vector<double> stamps;
    std::vector<double> reduceStamps; // the reducer's cumulative all-reduce seconds at each step
    void onStep(const StepStats&) override
    {
        stamps.push_back(now());
        reduceStamps.push_back(m_reducer ? m_reducer->reduceSeconds() : 0.0);
    }

private:
    const distributed::GradientReducer* m_reducer;
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
                   distributed::GradientReducer* reducer, std::string* profile = nullptr)
{
    const auto cfg = benchShape(shape);
    const torch::Device device = models::parseDevice(o.device);
    CpuAllocationMeter meter;
    models::LoadOptions lo;
    lo.device = device;
    lo.dtype = models::parseDtype(o.dtype);
    lo.quantization = models::quant::parseQuantization(o.quantization, "bench --quantization");
    resetCudaMemoryPeak(device);
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
    tc.device = o.device;
    tc.dtype = o.dtype;
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
    Trainer trainer(tc, *model, std::move(objective), reducer);
    Timer timer(reducer);
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
    const double reduceStart = o.warmup > 0 ? timer.reduceStamps[size_t(o.warmup - 1)] : 0.0;
    r.reduceSeconds = (timer.reduceStamps.back() - reduceStart) / double(o.steps);
    if (reducer) {
        r.overlappedBuckets = reducer->overlappedBuckets();
        r.buckets = reducer->bucketCount();
    }
    r.tokensPerSecond = double(o.batch) * o.seq / r.stepSeconds;
    const auto counts = trainer.adapters().parameterCounts();
    r.adapter = counts.trainable;
    r.frozen = counts.total - counts.trainable; // 4-bit weights included (AdapterSet counts them by shape)
    if (lo.quantization)
        r.quantization = models::quant::summaryText(quantized);
    r.flopsPerToken = 4.0 * double(r.frozen) + 6.0 * double(r.adapter)
        + 12.0 * double(cfg.numLayers) * double(cfg.numHeads) * double(cfg.headDim) * double(o.seq);
    r.achievedGflops = r.flopsPerToken * r.tokensPerSecond / 1e9;
    r.peakRss = peakResidentBytes();
    MemoryEstimateInput est;
    est.trainableParams = r.adapter;
    est.adapterRank = tc.adapter.rank;
    est.batch = tc.batchSize;
    est.seqLen = tc.maxSeqLen;
    est.dtype = tc.dtype;
    est.gradientCheckpointing = tc.gradientCheckpointing;
    est.quantization = o.quantization;
    est.lossChunkTokens = tc.lossChunkTokens;
    est.fusedAttention = fusedAttentionOn(o.device);
    r.estimatedPeak = estimateTrainingMemory(cfg, est).total();
    if (const auto cuda = cudaMemoryPeak(device)) {
        r.cudaPeakAllocated = cuda->allocatedBytes;
        r.cudaPeakReserved = cuda->reservedBytes;
    }
    r.peakTensorBytes = meter.peakBytes();
    return r;
}

// The device's measured dense matmul rate in the model's dtype: the MFU denominator (2048³ on the
// CPU, 8192³ on a GPU, where smaller products do not fill it).
double matmulGflops(const torch::Device& device, torch::ScalarType dtype)
{
    torch::NoGradGuard ng;
    const int64_t n = device.is_cuda() ? 8192 : 2048;
    const auto opts = torch::TensorOptions().device(device).dtype(device.is_cuda() ? dtype : torch::kFloat32);
    const auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
    auto sync = [&] {
        if (device.is_cuda())
            torch::cuda::synchronize(device.has_index() ? device.index() : -1);
    };
    torch::mm(a, b); // warm the pool (and the GPU's clocks)
    sync();
    const double t0 = now();
    const int reps = device.is_cuda() ? 20 : 3;
    for (int i = 0; i < reps; ++i)
        torch::mm(a, b);
    sync();
    return 2.0 * double(n) * double(n) * double(n) * reps / (now() - t0) / 1e9;
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
    } else if (name == "qwen2.5-0.5b") {
        c.architecture = "Qwen2ForCausalLM"; c.modelType = "qwen2"; c.attentionBias = true; c.ropeTheta = 1e6; c.rmsNormEps = 1e-6;
        c.vocabSize = 151936; c.hiddenSize = 896; c.intermediateSize = 4864; c.numLayers = 24; c.numHeads = 14; c.numKvHeads = 2;
        c.tieWordEmbeddings = true; c.maxPositionEmbeddings = 32768;
    } else if (name == "qwen2.5-1.5b") {
        c.architecture = "Qwen2ForCausalLM"; c.modelType = "qwen2"; c.attentionBias = true; c.ropeTheta = 1e6; c.rmsNormEps = 1e-6;
        c.vocabSize = 151936; c.hiddenSize = 1536; c.intermediateSize = 8960; c.numLayers = 28; c.numHeads = 12; c.numKvHeads = 2;
        c.tieWordEmbeddings = true; c.maxPositionEmbeddings = 32768;
    } else if (name == "llama-3.1-8b") {
        c.ropeTheta = 500000.0;
        c.vocabSize = 128256; c.hiddenSize = 4096; c.intermediateSize = 14336; c.numLayers = 32; c.numHeads = 32; c.numKvHeads = 8;
        c.maxPositionEmbeddings = 131072;
    } else {
        throw Error("unknown benchmark shape '" + name + "' (expected 5m, 30m, 135m, qwen2.5-0.5b, qwen2.5-1.5b or llama-3.1-8b)");
    }
    c.headDim = c.hiddenSize / c.numHeads;
    return c;
}


// The label of the checkpointed LoRA case (--gradient-checkpointing).
constexpr const char* kCheckpointCase = "lora + ckpt";

using BenchCase = std::pair<std::string, std::function<void(TrainConfig&)>>;

// Every case the benchmark knows, in the order they run.
std::vector<BenchCase> allBenchCases(const BenchOptions& o)
{
    std::vector<BenchCase> cases{{"lora", [](TrainConfig&) {}}};
    cases.push_back({kCheckpointCase, [](TrainConfig& c) { c.gradientCheckpointing = true; }});
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
    return cases;
}

// The cases to run: those named by --cases, else lora, then the checkpointed case with
// --gradient-checkpointing, then every option's case with --options.
std::vector<BenchCase> benchCases(const BenchOptions& o)
{
    const std::vector<BenchCase> all = allBenchCases(o);
    std::vector<BenchCase> chosen;
    if (o.cases.empty()) {
        for (const auto& c : all)
            if (c.first == "lora" || (c.first == kCheckpointCase ? o.gradientCheckpointing : o.options))
                chosen.push_back(c);
        return chosen;
    }
    for (const auto& name : o.cases) {
        const auto it = std::find_if(all.begin(), all.end(), [&](const BenchCase& c) { return c.first == name; });
        if (it == all.end()) {
            std::string known;
            for (const auto& c : all)
                known += (known.empty() ? "'" : ", '") + c.first + "'";
            throw Error("--cases: unknown case '" + name + "' (the cases are " + known + ")");
        }
        if (std::none_of(chosen.begin(), chosen.end(), [&](const BenchCase& c) { return c.first == name; }))
            chosen.push_back(*it);
    }
    return chosen;
}

std::string runBenchmarks(const BenchOptions& options)
{
    // Under `rslora launch` every rank trains its shard of each global batch of `batch` rows and the
    // adapter gradients are all-reduced; rank 0 reports the job's tokens/s and the all-reduce time.
    const auto dist = distributed::DistributedContext::fromEnvironment();
    BenchOptions o = options;
    o.device = dist.rankDevice(o.device);
    if (o.threads > 0)
        applyThreadSettings({o.threads, o.threads});
    else
        applyThreadSettings({});
    const RuntimeInfo info = runtimeInfo();
    json python;
    if (!o.pythonResults.empty())
        python = json::parse(readFile(o.pythonResults));
    const torch::Device device = models::parseDevice(o.device);
    if (device.is_cuda() && !torch::cuda::is_available())
        throw Error("--device " + o.device + ": this LibTorch has no usable CUDA device");
    const torch::ScalarType dtype = models::parseDtype(o.dtype);
    const std::vector<std::string> defaults = device.is_cuda() ? std::vector<std::string>{"qwen2.5-0.5b", "qwen2.5-1.5b", "llama-3.1-8b"}
                                                               : std::vector<std::string>{"5m", "30m", "135m"};
    std::vector<std::string> shapes = o.shapes.empty() ? defaults : o.shapes;
    for (const auto& shape : shapes)
        benchShape(shape); // an unknown name fails before any case runs
    benchCases(o);         // so does an unknown case
    std::unique_ptr<distributed::ProcessGroup> group;
    std::unique_ptr<distributed::GradientReducer> reducer;
    if (dist.distributed()) {
        if (o.batch < dist.worldSize)
            throw Error("--batch " + std::to_string(o.batch) + " is below the " + std::to_string(dist.worldSize)
                        + " processes: every rank needs at least one row of each global batch");
        group = std::make_unique<distributed::ProcessGroup>(dist, device);
        reducer = std::make_unique<distributed::GradientReducer>(*group);
    }
    // The job's matmul rate: every rank measures its own at once, so the ranks' rates add up.
    const double sgemm = matmulGflops(device, dtype) * double(dist.worldSize);
    json report = {{"threads", info.intraOpThreads}, {"blas", info.blasName}, {"sgemm_gflops", sgemm}, {"matmul_gflops", sgemm},
                   {"device", o.device}, {"dtype", o.dtype}, {"batch", o.batch}, {"seq", o.seq}, {"rank", o.rank}};
    std::ostringstream text;
    char line[512];
    if (device.is_cuda())
        std::snprintf(line, sizeof line, "%s, %s matmul 8192^3: %.1f GFLOP/s; LoRA r%d on all 7 projections, batch %d, seq %d, %s\n",
                      o.device.c_str(), o.dtype.c_str(), sgemm, o.rank, o.batch, o.seq, o.dtype.c_str());
    else
        std::snprintf(line, sizeof line, "threads %d (BLAS %s), sgemm 2048^3: %.1f GFLOP/s; LoRA r%d on all 7 projections, batch %d, seq %d, %s\n",
                      info.intraOpThreads, info.blasName.c_str(), sgemm, o.rank, o.batch, o.seq, o.dtype.c_str());
    text << line;
    if (reducer) {
        report["processes"] = dist.worldSize;
        std::snprintf(line, sizeof line, "data-parallel: %d processes (%s, %s), global batch %d\n", dist.worldSize,
                      group->backendName(), dist.describe().c_str(), o.batch);
        text << line;
    }
    text << (device.is_cuda() ? "shape  case              step s   tok/s    GFLOP/s    MFU  peak alloc MB   python tok/s  speed-up  py RSS MB\n"
                              : "shape  case              step s   tok/s    GFLOP/s  %sgemm  peak RSS MB  tensors MB   python tok/s  speed-up  py RSS MB\n");
    for (const auto& shape : shapes) {
        const auto cases = benchCases(o);
        double base = 0;
        int64_t baseTensors = 0;
        for (const auto& [label, tweak] : cases) {
            auto tw = tweak;
            CaseResult r;
            try {
                r = runCase(shape, label, o, [&](TrainConfig& c) {
                    c.adapter.scaling = ScalingMode::AlphaOverR;
                    tw(c);
                }, reducer.get());
            } catch (const std::exception& e) {
                // A case that does not fit is a result (the next, smaller case may fit); anything
                // else ends the benchmark.
                if (!isOutOfMemory(e))
                    throw;
                releaseCachedCudaMemory(device);
                const std::string what = e.what();
                report["cases"].push_back({{"shape", shape}, {"case", label}, {"error", "out of memory"},
                                           {"message", what.substr(0, what.find('\n'))}});
                std::snprintf(line, sizeof line, "%-6s %-16s out of memory: %s\n", shape.c_str(), label.c_str(),
                              what.substr(0, std::min<size_t>(what.find('\n'), 160)).c_str());
                text << line;
                continue;
            }
            if (label == "lora") {
                base = r.stepSeconds;
                baseTensors = r.peakTensorBytes;
            }
            json row = {{"shape", shape}, {"case", label}, {"step_seconds", r.stepSeconds}, {"tokens_per_second", r.tokensPerSecond},
                        {"gflops", r.achievedGflops}, {"fraction_of_sgemm", r.achievedGflops / sgemm}, {"mfu", r.achievedGflops / sgemm},
                        {"peak_rss_mb", double(r.peakRss) / 1048576.0},
                        {"cuda_peak_allocated_mb", double(r.cudaPeakAllocated) / 1048576.0},
                        {"cuda_peak_reserved_mb", double(r.cudaPeakReserved) / 1048576.0},
                        {"estimated_peak_mb", double(r.estimatedPeak) / 1048576.0},
                        {"allreduce_seconds", r.reduceSeconds}, {"allreduce_share", r.stepSeconds > 0 ? r.reduceSeconds / r.stepSeconds : 0.0},
                        {"allreduce_buckets", r.buckets}, {"buckets_started_in_backward", r.overlappedBuckets},
                        {"peak_tensor_mb", double(r.peakTensorBytes) / 1048576.0},
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
            if (device.is_cuda())
                std::snprintf(line, sizeof line, "%-6s %-16s %7.3f %8.0f %9.1f %6.0f%% %11.0f", shape.c_str(), label.c_str(), r.stepSeconds,
                              r.tokensPerSecond, r.achievedGflops, 100.0 * r.achievedGflops / sgemm, double(r.cudaPeakAllocated) / 1048576.0);
            else
                std::snprintf(line, sizeof line, "%-6s %-16s %7.3f %8.0f %9.1f %6.0f%% %11.0f %11.1f", shape.c_str(), label.c_str(), r.stepSeconds,
                              r.tokensPerSecond, r.achievedGflops, 100.0 * r.achievedGflops / sgemm, double(r.peakRss) / 1048576.0,
                              double(r.peakTensorBytes) / 1048576.0);
            text << line;
            if (pyTok > 0) {
                std::snprintf(line, sizeof line, "   %12.0f  %7.2fx  %9.0f", pyTok, r.tokensPerSecond / pyTok, pyRss);
                text << line;
            } else if (reducer) {
                std::snprintf(line, sizeof line, "   all-reduce wait %.1f ms/step (%.1f%% of the step), %d of %lld buckets started in backward",
                              r.reduceSeconds * 1000.0, r.stepSeconds > 0 ? 100.0 * r.reduceSeconds / r.stepSeconds : 0.0,
                              r.overlappedBuckets, (long long)r.buckets);
                text << line;
            } else if (label != "lora" && base > 0) {
                std::snprintf(line, sizeof line, "   overhead %+.1f%% (%.2fx the lora step)", 100.0 * (r.stepSeconds / base - 1.0),
                              r.stepSeconds / base);
                text << line;
                if (label == kCheckpointCase && baseTensors > 0) {
                    const double saved = double(baseTensors - r.peakTensorBytes);
                    std::snprintf(line, sizeof line, "; saves %.1f MB of tensor memory (%.0f%% of the lora peak)", saved / 1048576.0,
                                  100.0 * saved / double(baseTensors));
                    text << line;
                    report["checkpointing_saved_mb"][shape] = saved / 1048576.0;
                }
            }
            text << "\n";
            if (label == "lora" && !r.quantization.empty())
                text << "       " << o.quantization << " base: " << r.quantization << "\n";
        }
        if (o.profile) {
            std::string table;
            runCase(shape, "lora", o, [](TrainConfig& c) { c.adapter.scaling = ScalingMode::AlphaOverR; }, reducer.get(), &table);
            text << "operators of the " << shape << " lora step (separate profiled run, all steps):\n" << table;
            report["profile"][shape] = table;
        }
    }
    text << (device.is_cuda() ? "(peak alloc is the CUDA allocator's peak of each case)\n"
                              : "(peak RSS is the process high-water mark, so it only grows across rows; tensors MB is each case's own peak of CPU tensor\n"
                                " memory, base weights included, measured through a counting allocator)\n");
    if (reducer && dist.rank != 0)
        return {}; // rank 0 speaks for the job
    return o.json ? report.dump(2) : text.str();
}

} // namespace rslora::engine
