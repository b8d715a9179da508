// Device self-test (see SelfTest.h).
#include "engine/SelfTest.h"

#include "engine/AdapterSet.h"
#include "engine/Trainer.h"
#include "engine/objectives/Objective.h"
#include "models/CausalLmLoss.h"
#include "models/ModelLoader.h"
#include "models/quant/QuantizedWeight.h"

#include <cstdio>

namespace rslora::engine {

namespace {

models::ModelConfig tinyLlama()
{
    models::ModelConfig c;
    c.vocabSize = 96;
    c.hiddenSize = 64;
    c.intermediateSize = 128;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 16;
    c.maxPositionEmbeddings = 128;
    c.rmsNormEps = 1e-5;
    return c;
}

std::string format(const char* fmt, double a, double b)
{
    char buf[128];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

// Largest absolute difference relative to the largest reference magnitude.
double relativeDifference(const torch::Tensor& got, const torch::Tensor& ref)
{
    const auto r = ref.detach().to(torch::kCPU, torch::kFloat64);
    const auto g = got.detach().to(torch::kCPU, torch::kFloat64);
    return (g - r).abs().max().item<double>() / std::max(1e-30, r.abs().max().item<double>());
}

struct LossTrace : TrainObserver {
    std::vector<double> losses;
    void onStep(const StepStats& s) override { losses.push_back(s.loss); }
};

// Logits and adapter gradients on `device` against the CPU, same weights and inputs, float32.
void compareWithCpu(const torch::Device& device, std::vector<SelfTestCheck>& out)
{
    auto model = models::createCausalLM(tinyLlama(), 11);
    AdapterSet set(*model);
    AdapterConfig ac;
    ac.targetModules = {"all-linear"};
    ac.rank = 4;
    ac.alpha = 8.0;
    set.addAdapter(ac, 3);
    {
        torch::NoGradGuard ng;
        torch::manual_seed(5);
        for (auto& t : set.trainableTensors(ac.name))
            t.tensor.normal_(0.0, 0.05); // B = 0 would hide A's gradient
    }
    torch::manual_seed(6);
    const auto ids = torch::randint(0, 96, {2, 24}, torch::kInt64);
    auto pass = [&](const torch::Device& d) {
        for (auto& t : set.trainableTensors(ac.name))
            if (t.tensor.grad().defined())
                t.tensor.mutable_grad().zero_();
        const auto logits = model->forward(ids.to(d)).logits;
        models::causalLmLoss(logits, ids.to(d)).backward();
        std::vector<torch::Tensor> grads;
        for (auto& t : set.trainableTensors(ac.name))
            grads.push_back(t.tensor.grad().detach().to(torch::kCPU).clone());
        return std::make_pair(logits.detach().to(torch::kCPU), grads);
    };
    const auto cpu = pass(torch::kCPU);
    for (auto& p : model->parameters())
        p.mutable_grad() = torch::Tensor(); // gradients stay behind when a module moves
    model->to(device);
    const auto dev = pass(device);
    const double logitDiff = relativeDifference(dev.first, cpu.first);
    out.push_back({"logits on " + device.str() + " = CPU (float32)", logitDiff <= 1e-4, format("%.2e (bound %.0e)", logitDiff, 1e-4)});
    double gradDiff = 0.0;
    for (size_t i = 0; i < cpu.second.size(); ++i)
        gradDiff = std::max(gradDiff, relativeDifference(dev.second[i], cpu.second[i]));
    out.push_back({"adapter gradients on " + device.str() + " = CPU (float32)", gradDiff <= 1e-3,
                   format("%.2e (bound %.0e)", gradDiff, 1e-3)});
}

// 64 rows of a learnable arithmetic sequence over the tiny vocabulary.
std::vector<TrainExample> learnableRows()
{
    std::vector<TrainExample> data;
    for (int i = 0; i < 64; ++i) {
        TrainExample e;
        for (int t = 0; t < 32; ++t)
            e.ids.push_back(int64_t((i + 3 * t) % 90 + 3));
        e.labels = e.ids;
        data.push_back(std::move(e));
    }
    return data;
}

// What a run adds to the plain float32/bfloat16 one: a 4-bit base, activation checkpointing.
struct RunVariant {
    bool nf4 = false;
    bool checkpointing = false;
    std::string label() const
    {
        std::string l;
        if (nf4)
            l += ", nf4 base";
        if (checkpointing)
            l += ", gradient checkpointing";
        return l;
    }
};

std::unique_ptr<models::CausalLM> tinyModelOn(const torch::Device& device, const std::string& dtype, bool nf4, uint64_t seed)
{
    models::LoadOptions lo;
    lo.device = device;
    lo.dtype = models::parseDtype(dtype);
    if (nf4)
        lo.quantization = models::quant::QuantOptions{};
    return models::createCausalLM(tinyLlama(), seed, lo);
}

// A short LoRA run on the device must lower its loss on a learnable sequence by more than 15 %
// (100 steps take 4.61 -> 3.49 on the CPU; no progress, NaN or a crash fails).
void trainOn(const torch::Device& device, const std::string& dtype, std::vector<SelfTestCheck>& out, RunVariant variant = {})
{
    auto model = tinyModelOn(device, dtype, variant.nf4, 12);
    std::vector<TrainExample> data = learnableRows();
    TrainConfig tc;
    tc.adapter.targetModules = {"all-linear"};
    tc.adapter.rank = 8;
    tc.adapter.alpha = 16.0;
    tc.learningRate = 1e-2;
    tc.batchSize = 8;
    tc.maxSeqLen = 32;
    tc.maxSteps = 100;
    tc.logEvery = 1;
    tc.device = device.str();
    tc.dtype = dtype;
    tc.gradientCheckpointing = variant.checkpointing;
    LossTrace trace;
    Trainer trainer(tc, *model, std::move(data));
    trainer.setObserver(&trace);
    const TrainResult r = trainer.run();
    const std::string name = "LoRA training on " + device.str() + " (" + dtype + variant.label() + ")";
    if (r.status != TrainStatus::Completed || trace.losses.size() < 2) {
        out.push_back({name, false, std::string("did not complete: ") + trainStatusName(r.status) + " " + r.message});
        return;
    }
    const double first = trace.losses.front(), last = trace.losses.back();
    out.push_back({name, std::isfinite(last) && last < 0.85 * first, format("loss %.3f -> %.3f (must fall by 15 %%)", first, last)});
}

// Activation checkpointing recomputes each decoder layer in backward: one step's adapter gradients
// (dropout on, two micro-batches) must equal those of the same step without it. Bit for bit on the
// CPU; within rounding where the device's kernels may reduce in another order.
void checkpointingMatches(const torch::Device& device, const std::string& dtype, std::vector<SelfTestCheck>& out)
{
    auto gradients = [&](bool checkpointing) {
        auto model = tinyModelOn(device, dtype, false, 13);
        TrainConfig tc;
        tc.adapter.targetModules = {"all-linear"};
        tc.adapter.rank = 4;
        tc.adapter.alpha = 8.0;
        tc.adapter.dropout = 0.1;
        tc.batchSize = 4;
        tc.maxSeqLen = 32;
        tc.maxSteps = 1;
        tc.device = device.str();
        tc.dtype = dtype;
        tc.gradientCheckpointing = checkpointing;
        Trainer trainer(tc, *model, learnableRows());
        {
            torch::NoGradGuard noGrad;
            torch::manual_seed(5);
            for (auto& nt : trainer.adapters().trainableTensors(tc.adapter.name))
                nt.tensor.normal_(0.0, 0.05); // B = 0 would leave A's gradients zero
        }
        model->train();
        torch::manual_seed(3);
        trainer.objective().step({{0, 1}, {2, 3}});
        std::vector<torch::Tensor> grads;
        for (auto& nt : trainer.adapters().trainableTensors(tc.adapter.name))
            grads.push_back(nt.tensor.grad().defined() ? nt.tensor.grad().detach().to(torch::kCPU).clone() : torch::zeros({1}));
        return grads;
    };
    const auto plain = gradients(false), recomputed = gradients(true);
    double diff = plain.size() == recomputed.size() && !plain.empty() ? 0.0 : 1.0;
    int zero = 0; // an all-zero gradient would compare equal without proving anything
    for (size_t i = 0; i < plain.size() && i < recomputed.size(); ++i) {
        diff = std::max(diff, relativeDifference(recomputed[i], plain[i]));
        zero += plain[i].abs().max().item<double>() > 0 ? 0 : 1;
    }
    const double bound = device.is_cpu() ? 0.0 : (dtype == "float32" ? 1e-4 : 2e-2);
    std::string detail = format("%.2e (bound %.0e)", diff, bound);
    if (zero > 0)
        detail += ", but " + std::to_string(zero) + " of " + std::to_string(plain.size()) + " gradients are zero";
    out.push_back({"gradient checkpointing on " + device.str() + " = without (" + dtype + ")",
                   std::isfinite(diff) && diff <= bound && zero == 0, detail});
}

// The device's 4-bit dequantization (the CUDA kernel) against the CPU path, bit for bit: NF4 with
// double-quantized scales and FP4, in every compute dtype.
void fourBitMatchesCpu(const torch::Device& device, std::vector<SelfTestCheck>& out)
{
    using namespace models::quant;
    torch::manual_seed(7);
    int mismatches = 0, compared = 0;
    for (const QuantOptions& options : {QuantOptions{QuantType::Nf4, 64, true, 256}, QuantOptions{QuantType::Fp4, 64, false, 256}}) {
        const auto q = QuantizedWeight::quantize(torch::randn({300, 200}) * 0.02, options, "w");
        const auto onDevice = q.to(device);
        for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
            ++compared;
            mismatches += torch::equal(onDevice.dequantize(dtype).cpu(), q.dequantize(dtype)) ? 0 : 1;
        }
    }
    out.push_back({"4-bit dequantization on " + device.str() + " = CPU (nf4, fp4)", mismatches == 0,
                   std::to_string(compared - mismatches) + " of " + std::to_string(compared) + " weights bit-identical"});
}

} // namespace

std::vector<SelfTestCheck> runSelfTest(const std::string& deviceName)
{
    std::vector<SelfTestCheck> out;
    torch::Device device(torch::kCPU);
    try {
        device = models::parseDevice(deviceName);
    } catch (const std::exception& e) {
        out.push_back({"device " + deviceName, false, e.what()});
        return out;
    }
    const auto guarded = [&](const std::string& name, const std::function<void()>& check) {
        try {
            check();
        } catch (const std::exception& e) {
            // LibTorch's messages carry a backtrace after the first line.
            const std::string what = e.what();
            out.push_back({name, false, what.substr(0, what.find('\n'))});
        }
    };
    guarded("logits and gradients on " + device.str(), [&] { compareWithCpu(device, out); });
    guarded("LoRA training on " + device.str(), [&] { trainOn(device, "float32", out); });
    const std::string lowPrecision = device.is_cuda() ? "bfloat16" : "float32";
    if (device.is_cuda()) {
        guarded("LoRA training on " + device.str() + " (bfloat16)", [&] { trainOn(device, "bfloat16", out); });
        guarded("LoRA training on " + device.str() + " (float16)", [&] { trainOn(device, "float16", out); });
        guarded("4-bit dequantization on " + device.str(), [&] { fourBitMatchesCpu(device, out); });
    }
    guarded("gradient checkpointing on " + device.str(), [&] { checkpointingMatches(device, lowPrecision, out); });
    guarded("QLoRA training on " + device.str(), [&] { trainOn(device, lowPrecision, out, {true, true}); });
    return out;
}

} // namespace rslora::engine
