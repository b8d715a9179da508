// LoRA over a 4-bit base (model.quantization nf4/fp4): the QuantizedLinear forward and backward
// against the dequantized weight, AdaptedLinear over it (gradients reach A and B only, merging
// uses the dequantized base, spectral init refused), training a tiny model against the same model
// unquantized, the parameter counts, and the config key.
#include "common/Error.h"
#include "engine/AdaptedLinear.h"
#include "engine/TrainConfig.h"
#include "engine/fusion/ModelExport.h"
#include "models/TensorIO.h"
#include "models/quant/BnbCheckpoint.h"
#include "engine/Trainer.h"
#include "models/ModelLoader.h"
#include "models/quant/BaseQuantizer.h"
#include "models/quant/QuantizedLinear.h"
#include "ReverseTask.h"

#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace rslora;
using namespace rslora::engine;
using rslora::engine::testing::reverseTask;
using models::quant::QuantizedLinear;
using models::quant::QuantizedWeight;
using models::quant::QuantOptions;
using models::quant::QuantType;

namespace {

models::ModelConfig tinyConfig()
{
    models::ModelConfig c;
    c.vocabSize = 48;
    c.hiddenSize = 64;
    c.intermediateSize = 128;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 16;
    c.maxPositionEmbeddings = 64;
    c.rmsNormEps = 1e-5;
    c.initializerRange = 0.1;
    return c;
}

TrainConfig trainConfig(const QString& outDir)
{
    TrainConfig c;
    c.modelPath = "tiny";
    c.trainData = "synthetic";
    c.outputDir = outDir.toStdString();
    c.adapter.targetModules = {"all-linear"};
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.learningRate = 1e-2;
    c.batchSize = 4;
    c.maxSteps = 80;
    c.seed = 7;
    return c;
}

struct LossObserver : TrainObserver {
    std::vector<double> losses;
    void onStep(const StepStats& s) override { losses.push_back(s.loss); }
};

std::unique_ptr<models::CausalLM> createCausalLM99() { return models::createCausalLM(tinyConfig(), 99); }

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

} // namespace

class QuantizedBaseTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void layerMatchesDequantizedWeight()
    {
        torch::manual_seed(1);
        const torch::Tensor w = torch::randn({96, 64}) * 0.05, b = torch::randn({96});
        const auto q = QuantizedWeight::quantize(w, {}, "w");
        const torch::Tensor dense = q.dequantize(torch::kFloat32);
        QuantizedLinear layer(q, b, torch::kFloat32);
        QVERIFY(!layer.weight.defined());
        QCOMPARE(layer.inFeatures(), int64_t(64));
        QCOMPARE(layer.outFeatures(), int64_t(96));
        QVERIFY(torch::equal(layer.denseWeight(), dense));

        const torch::Tensor x = torch::randn({3, 5, 64}).requires_grad_(true);
        const torch::Tensor y = layer.forward(x);
        QVERIFY(maxAbsDiff(y, torch::linear(x, dense, b)) < 1e-5);
        const torch::Tensor g = torch::randn({3, 5, 96});
        y.backward(g);
        QVERIFY(maxAbsDiff(x.grad(), torch::matmul(g, dense)) < 1e-5);
        // The layer keeps no dense copy: its tensors are the codes, scales and maps and the bias.
        int64_t bytes = 0;
        for (const auto& t : layer.buffers())
            bytes += t.numel() * int64_t(t.element_size());
        QCOMPARE(bytes, q.storageBytes());
        // bfloat16 inputs compute in bfloat16.
        const torch::Tensor yb = layer.forward(x.detach().to(torch::kBFloat16));
        QCOMPARE(yb.scalar_type(), torch::kBFloat16);
        QVERIFY(maxAbsDiff(yb.to(torch::kFloat32), y.detach()) < 0.1);
        // Two layers of different sizes share the buffer without disturbing each other.
        QuantizedLinear other(QuantizedWeight::quantize(torch::randn({32, 96}), {}, "o"), {}, torch::kFloat32);
        const torch::Tensor z = other.forward(layer.forward(x.detach()));
        QVERIFY(maxAbsDiff(z, torch::linear(torch::linear(x.detach(), dense, b), other.denseWeight())) < 1e-4);
    }

    void adapterOverQuantizedBase()
    {
        torch::manual_seed(2);
        const torch::Tensor w = torch::randn({48, 64}) * 0.05, b = torch::randn({48});
        const auto q = QuantizedWeight::quantize(w, {QuantType::Fp4, 64, true, 256}, "w");
        auto quantized = std::make_shared<AdaptedLinear>(std::make_shared<QuantizedLinear>(q, b, torch::kFloat32), "proj");
        auto dense = std::make_shared<AdaptedLinear>(
            std::make_shared<models::LinearLayer>(q.dequantize(torch::kFloat32), b.clone()), "proj");
        AdapterSpec spec;
        spec.rank = 4;
        spec.alpha = 8;
        spec.init = InitMode::Gaussian;
        for (auto* m : {quantized.get(), dense.get()}) {
            auto& ad = m->addAdapter("a", spec);
            torch::NoGradGuard ng;
            ad.factorB().copy_(torch::randn({48, 4}, torch::Generator(at::detail::createCPUGenerator(5))) * 0.1);
        }
        const torch::Tensor x = torch::randn({2, 7, 64});
        const torch::Tensor yq = quantized->forward(x), yd = dense->forward(x);
        QVERIFY(maxAbsDiff(yq, yd) < 1e-5);
        yq.pow(2).sum().backward();
        yd.pow(2).sum().backward();
        QVERIFY(maxAbsDiff(quantized->adapter("a").factorA().grad(), dense->adapter("a").factorA().grad()) < 1e-4);
        QVERIFY(maxAbsDiff(quantized->adapter("a").factorB().grad(), dense->adapter("a").factorB().grad()) < 1e-4);
        // Nothing of the base asks for a gradient: the trainable tensors are the adapter's.
        for (const auto& p : quantized->named_parameters())
            QVERIFY2(!p.value().requires_grad() || p.key().find("lora_a") == 0, p.key().c_str());
        for (const auto& t : quantized->buffers())
            QVERIFY(!t.requires_grad());
        QVERIFY(maxAbsDiff(quantized->mergedWeight(), dense->mergedWeight()) < 1e-6);

        AdapterSpec spectral = spec;
        spectral.init = InitMode::Spectral;
        try {
            quantized->addAdapter("s", spectral);
            QFAIL("spectral init over a 4-bit base was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("proj: spectral init needs the full-precision base weight") != std::string::npos, e.what());
        }
    }

    void trainingCloseToUnquantized()
    {
        // The same random model twice (same seed, so the same weights before quantization).
        models::LoadOptions lo;
        lo.quantization = QuantOptions{};
        auto full = models::createCausalLM(tinyConfig(), 99);
        auto quantized = models::createCausalLM(tinyConfig(), 99, lo);
        const auto summary = models::quant::BaseQuantizer::summarize(*quantized);
        QCOMPARE(summary.layers, 14);
        QVERIFY(summary.quantizedBytes * 4 < summary.denseBytes); // fp32 → 4.1 bits plus the maps (large at this size)
        QVERIFY(models::quant::BaseQuantizer::summarize(*full).layers == 0);
        QVERIFY(torch::equal(quantized->embedTokens(), full->embedTokens()));
        const torch::Tensor codesBefore = quantized->named_buffers()["model.layers.0.self_attn.q_proj.weight_codes"].clone();

        std::vector<double> finalLoss;
        for (auto* model : {full.get(), quantized.get()}) {
            QTemporaryDir tmp;
            Trainer t(trainConfig(tmp.path()), *model, reverseTask(16, 1), reverseTask(8, 2));
            LossObserver obs;
            t.setObserver(&obs);
            const TrainResult r = t.run();
            QCOMPARE(int(r.status), int(TrainStatus::Completed));
            // The mean training loss of the last 10 steps (one step's batch is noisy).
            double last = 0;
            for (size_t i = obs.losses.size() - 10; i < obs.losses.size(); ++i)
                last += obs.losses[i] / 10;
            QVERIFY2(last < 0.8 * obs.losses.front(), qPrintable(QString("%1 -> %2").arg(obs.losses.front()).arg(last)));
            finalLoss.push_back(last);
            for (const auto& nt : t.adapters().trainableTensors("default"))
                QVERIFY2(nt.name.find("lora") != std::string::npos, nt.name.c_str());
        }
        qInfo("training loss over the last 10 of 80 steps: float32 base %.4f, nf4 base %.4f", finalLoss[0], finalLoss[1]);
        QVERIFY(std::fabs(finalLoss[1] - finalLoss[0]) < 0.1 * finalLoss[0]);
        QVERIFY(finalLoss[1] != finalLoss[0]); // the base really differs
        // Training left the codes alone.
        QVERIFY(torch::equal(quantized->named_buffers()["model.layers.0.self_attn.q_proj.base_layer.weight_codes"], codesBefore));
    }

    void parameterCountsIncludeTheFourBitWeights()
    {
        // The 4-bit projections keep their weights as buffers, not parameters; a run's counts (the
        // CLI's "trainable N / M parameters", the stored ratio) still give the dense model's total.
        models::LoadOptions lo;
        lo.quantization = QuantOptions{};
        auto full = models::createCausalLM(tinyConfig(), 99);
        auto quantized = models::createCausalLM(tinyConfig(), 99, lo);
        std::vector<ParameterCounts> counts;
        for (auto* model : {full.get(), quantized.get()}) {
            QTemporaryDir tmp;
            TrainConfig c = trainConfig(tmp.path());
            c.maxSteps = 1;
            Trainer t(c, *model, reverseTask(16, 1), reverseTask(8, 2));
            const TrainResult r = t.run();
            QCOMPARE(int(r.status), int(TrainStatus::Completed));
            counts.push_back(r.parameters);
        }
        QVERIFY(counts[0].trainable > 0 && counts[0].trainable < counts[0].total);
        QCOMPARE(counts[1].trainable, counts[0].trainable);
        QCOMPARE(counts[1].total, counts[0].total);
    }

    void mergeOntoUnquantizedBase()
    {
        // An adapter trained over the nf4 base of a float folder, merged into that folder: the
        // merge reads the float weights (W + ΔW on the unquantized base).
        QTemporaryDir tmp;
        const std::filesystem::path root = tmp.path().toStdString();
        createCausalLM99()->saveModelFolder(root / "float");
        models::LoadOptions lo;
        lo.quantization = QuantOptions{};
        auto quantized = models::loadCausalLM(root / "float", lo);
        TrainConfig cfg = trainConfig(QString::fromStdString((root / "run").string()));
        cfg.maxSteps = 5;
        Trainer t(cfg, *quantized, reverseTask(8, 1), reverseTask(4, 2));
        const TrainResult r = t.run();
        const auto factors = fusion::readAdapterFactors(r.adapterDir);
        const auto* q = factors.find("model.layers.0.self_attn.q_proj");
        QVERIFY(q);
        QVERIFY(q->B.abs().sum().item<double>() > 0); // trained: ΔW is not zero

        const auto baseTensors = models::loadSafeTensorsMap(root / "float" / "model.safetensors");
        fusion::MergeRequest req;
        req.modelDir = root / "float";
        req.adapters = {{factors, 1.0, {}}};
        req.outDir = root / "merged";
        const auto report = fusion::exportMergedModel(req);
        QVERIFY(report.baseQuantization.empty());
        auto merged = models::loadSafeTensorsMap(root / "merged" / "model.safetensors");
        const std::string name = "model.layers.0.self_attn.q_proj.weight";
        QVERIFY(maxAbsDiff(merged.at(name), baseTensors.at(name) + q->delta().to(torch::kFloat32)) < 1e-6);

        // The same adapter onto a folder saved by bitsandbytes: dequantized, merged, written dense.
        const auto dequantized = models::quant::saveBnbModelFolder(*createCausalLM99(), root / "bnb", {});
        req.modelDir = root / "bnb";
        req.outDir = root / "merged-bnb";
        const auto bnbReport = fusion::exportMergedModel(req);
        QCOMPARE(bnbReport.baseQuantization, std::string("nf4"));
        QCOMPARE(bnbReport.dequantized4bit, int64_t(14));
        merged = models::loadSafeTensorsMap(root / "merged-bnb" / "model.safetensors");
        QCOMPARE(merged.at(name).sizes(), (std::vector<int64_t>{64, 64}));
        QVERIFY(maxAbsDiff(merged.at(name), dequantized.at(name) + q->delta().to(torch::kFloat32)) < 1e-6);
        for (const auto& [n, tensor] : merged)
            QVERIFY2(!models::quant::isBnbStateTensor(n), n.c_str());
        auto dense = models::loadCausalLM(root / "merged-bnb");
        QCOMPARE(models::quant::BaseQuantizer::summarize(*dense).layers, 0);
    }

    void configKey()
    {
        TrainConfig c = trainConfig("/tmp/out");
        c.trainData = "d.jsonl";
        QCOMPARE(c.quantization, std::string("none"));
        c.quantization = "nf4";
        QCOMPARE(TrainConfig::fromJson(c.toJson()).quantization, std::string("nf4"));
        const ValidationFacts facts;
        QVERIFY(validate(c, facts).empty());
        c.quantization = "int8";
        QVERIFY(!validate(c, facts).empty());
        QCOMPARE(QString::fromStdString(validate(c, facts).front()), QString("model.quantization must be 'none', 'nf4' or 'fp4', found 'int8'"));
        c.quantization = "fp4";
        c.adapter.init = InitMode::Spectral;
        QVERIFY(QString::fromStdString(validate(c, facts).front()).contains("adapter.init 'spectral' needs the full-precision base weight"));
        c.adapter.init = InitMode::Lora;
        c.mode = TrainMode::Full;
        QVERIFY(QString::fromStdString(validate(c, facts).front()).contains("training.mode 'full' needs model.quantization 'none'"));
    }
};

QTEST_GUILESS_MAIN(QuantizedBaseTest)
#include "QuantizedBaseTest.moc"
