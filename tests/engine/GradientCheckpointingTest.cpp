// Activation checkpointing per decoder layer (models/ActivationCheckpoint.h): the gradients equal
// those of the run without it, bit for bit, with dropout (the recompute draws the same masks), with
// rescaled and spectral init, on a bfloat16 base, on a 4-bit (NF4) base and for DPO; whole runs and resumes stay bitwise;
// forwards without gradients are untouched; and the peak tensor memory of a step goes down.
#include "engine/CpuAllocationMeter.h"
#include "engine/Trainer.h"
#include "engine/objectives/DpoObjective.h"
#include "models/quant/BaseQuantizer.h"

#include "PrecisionFixtures.h"

#include <c10/core/CPUAllocator.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::precisiontest;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Trainer> makeTrainer(const TrainConfig& cfg, models::CausalLM& model, bool dpo)
{
    if (dpo)
        return std::make_unique<Trainer>(cfg, model, std::make_unique<objectives::DpoObjective>(cfg, model, countingPairs(8)));
    return std::make_unique<Trainer>(cfg, model, countingTask(12));
}

// The gradients of every trained tensor after one step over two micro-batches.
std::vector<torch::Tensor> stepGradients(const TrainConfig& cfg, torch::ScalarType dtype, bool dpo, bool nf4)
{
    models::LoadOptions lo;
    lo.dtype = dtype;
    if (nf4) // the projections' base weights in 4 bits, dequantized per layer in forward and recompute
        lo.quantization = models::quant::QuantOptions{};
    auto model = models::createCausalLM(tinyShape(), 99, lo);
    if (nf4 && models::quant::BaseQuantizer::summarize(*model).layers != 14)
        return {}; // every projection of both layers must be 4-bit (the caller fails on no gradients)
    auto trainer = makeTrainer(cfg, *model, dpo);
    model->train();
    torch::manual_seed(3);
    trainer->objective().step({{0, 1, 2}, {3, 4}});
    std::vector<torch::Tensor> grads;
    for (auto& nt : trainer->adapters().trainableTensors("default"))
        grads.push_back(nt.tensor.grad().defined() ? nt.tensor.grad().clone() : torch::Tensor());
    return grads;
}

} // namespace

class GradientCheckpointingTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void gradientsIdentical_data()
    {
        QTest::addColumn<int>("init");
        QTest::addColumn<double>("dropout");
        QTest::addColumn<bool>("bf16");
        QTest::addColumn<bool>("dpo");
        QTest::addColumn<bool>("nf4");
        QTest::newRow("lora, dropout 0.1") << int(InitMode::Lora) << 0.1 << false << false << false;
        QTest::newRow("rescaled init, dropout 0.2") << int(InitMode::Rescaled) << 0.2 << false << false << false;
        QTest::newRow("spectral init") << int(InitMode::Spectral) << 0.0 << false << false << false;
        QTest::newRow("bfloat16 base, dropout 0.1") << int(InitMode::Lora) << 0.1 << true << false << false;
        QTest::newRow("dpo, dropout 0.1") << int(InitMode::Lora) << 0.1 << false << true << false;
        QTest::newRow("nf4 base, dropout 0.1") << int(InitMode::Lora) << 0.1 << false << false << true;
        QTest::newRow("nf4 bfloat16 base, rescaled init") << int(InitMode::Rescaled) << 0.0 << true << false << true;
    }
    void gradientsIdentical()
    {
        QFETCH(int, init);
        QFETCH(double, dropout);
        QFETCH(bool, bf16);
        QFETCH(bool, dpo);
        QFETCH(bool, nf4);
        QTemporaryDir tmp;
        TrainConfig cfg = tinyRun(tmp.path());
        cfg.adapter.init = InitMode(init);
        cfg.adapter.dropout = dropout;
        cfg.dtype = bf16 ? "bfloat16" : "float32";
        cfg.batchSize = 3;
        if (dpo)
            cfg.objective = TrainObjective::Dpo;
        const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
        if (nf4)
            cfg.quantization = "nf4";
        const auto plain = stepGradients(cfg, dtype, dpo, nf4);
        cfg.gradientCheckpointing = true;
        const auto recomputed = stepGradients(cfg, dtype, dpo, nf4);
        QVERIFY(!plain.empty());
        int nonZero = 0;
        for (const auto& g : plain)
            nonZero += g.defined() && g.abs().max().item<double>() > 0;
        QVERIFY(nonZero > int(plain.size()) / 3); // B gets gradients at once; A too once B ≠ 0 (spectral/rescaled)
        std::string why;
        QVERIFY2(identical(plain, recomputed, &why), why.c_str());
    }

    // Whole runs with dropout and gradient accumulation: the same adapters, and a resume from a
    // checkpointed run's checkpoint continues it bit for bit.
    void runsAndResumeUnchanged()
    {
        QTemporaryDir tmp;
        TrainConfig cfg = tinyRun(tmp.path() + "/plain");
        cfg.adapter.dropout = 0.1;
        cfg.gradAccumulation = 2;
        cfg.maxSteps = 5;
        auto m1 = tinyLm();
        Trainer plain(cfg, *m1, countingTask(12));
        plain.run();

        cfg.gradientCheckpointing = true;
        cfg.outputDir = (tmp.path() + "/ckpt").toStdString();
        cfg.saveEvery = 3;
        auto m2 = tinyLm();
        Trainer straight(cfg, *m2, countingTask(12));
        straight.run();
        std::string why;
        QVERIFY2(identical(trainedTensors(plain), trainedTensors(straight), &why), why.c_str());

        auto m3 = tinyLm();
        Trainer resumed(cfg, *m3, countingTask(12));
        resumed.resumeFrom(fs::path(cfg.outputDir) / "checkpoints" / "step-3");
        QCOMPARE(resumed.run().steps, int64_t(5));
        QVERIFY2(identical(trainedTensors(resumed), trainedTensors(straight), &why), why.c_str());
    }

    // Forwards without gradients (evaluation, generation) and cached decoding do not go through the
    // recompute node, and give the same logits.
    void forwardsWithoutGradientsUntouched()
    {
        auto model = tinyLm();
        const auto ids = torch::tensor({1, 5, 6, 7, 8}, torch::kInt64).unsqueeze(0);
        torch::Tensor expected, cached;
        {
            torch::NoGradGuard ng;
            expected = model->forward(ids).logits;
        }
        model->setGradientCheckpointing(true);
        model->train();
        {
            torch::NoGradGuard ng;
            QVERIFY(torch::equal(model->forward(ids).logits, expected));
            auto cache = model->makeCache();
            model->forward(ids.narrow(1, 0, 3), {}, {}, &cache);
            cached = model->forward(ids.narrow(1, 3, 2), {}, {}, &cache).logits;
        }
        QVERIFY(torch::allclose(cached, expected.narrow(1, 3, 2), 1e-5, 1e-5));
        // With gradients recorded but nothing trainable anywhere, no node is recorded.
        for (auto& p : model->parameters())
            p.set_requires_grad(false);
        const auto out = model->forward(ids).logits;
        QVERIFY(!out.requires_grad());
        QVERIFY(torch::equal(out, expected));
    }

    // The meter counts tensors and raw allocations (some bfloat16 kernels allocate raw), and forgets
    // what is freed.
    void allocationMeterCountsAndForgets()
    {
        CpuAllocationMeter meter;
        const int64_t before = meter.currentBytes();
        void* raw = c10::GetCPUAllocator()->raw_allocate(4096);
        QCOMPARE(meter.currentBytes() - before, int64_t(4096));
        {
            const auto t = torch::empty({1000}, torch::kFloat32);
            QCOMPARE(meter.currentBytes() - before, int64_t(4096 + 4000));
        }
        c10::GetCPUAllocator()->raw_deallocate(raw);
        QCOMPARE(meter.currentBytes(), before);
        QVERIFY(meter.peakBytes() >= before + 8096);
    }

    // The point of it: one step's peak tensor memory falls (4 layers, 6 rows of 60 tokens).
    void peakTensorMemoryFalls()
    {
        QTemporaryDir tmp;
        auto peak = [&](bool on) {
            TrainConfig cfg = tinyRun(tmp.path());
            cfg.batchSize = 6;
            cfg.gradientCheckpointing = on;
            auto model = tinyLm(torch::kFloat32, 4);
            Trainer t(cfg, *model, countingTask(6, 60));
            model->train();
            CpuAllocationMeter meter;
            t.objective().step({{0, 1, 2, 3, 4, 5}});
            return meter.peakBytes();
        };
        const int64_t without = peak(false), with = peak(true);
        qInfo("peak tensor bytes of a step: %lld without checkpointing, %lld with", (long long)without, (long long)with);
        QVERIFY2(with < without * 2 / 3, (std::to_string(with) + " vs " + std::to_string(without)).c_str());
    }
};

QTEST_GUILESS_MAIN(GradientCheckpointingTest)
#include "GradientCheckpointingTest.moc"
