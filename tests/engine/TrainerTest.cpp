// The trainer on a tiny random Llama: loss goes down, same seed → bitwise the same adapter, resume
// is bitwise, accumulation equals a large batch, NaN stops with a diagnostic and keeps the last
// checkpoint, balancing keeps ρ in its band, LoRA+ scales B's step, sensitivity allocation,
// stop requests, full-parameter mode.
#include "common/Error.h"
#include "engine/RankAllocator.h"
#include "engine/SensitivityProbe.h"
#include "engine/Trainer.h"
#include "engine/objectives/SftObjective.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "ReverseTask.h"

#include <ATen/record_function.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <functional>

using namespace rslora;
using namespace rslora::engine;
using rslora::engine::testing::reverseTask;
namespace fs = std::filesystem;

namespace {

models::ModelConfig tinyConfig()
{
    models::ModelConfig c;
    c.vocabSize = 48;
    c.hiddenSize = 32;
    c.intermediateSize = 64;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 8;
    c.maxPositionEmbeddings = 64;
    c.rmsNormEps = 1e-5;
    c.initializerRange = 0.1;
    return c;
}

std::unique_ptr<models::CausalLM> tinyModel() { return models::createCausalLM(tinyConfig(), 1234); }

TrainConfig baseConfig(const QString& outDir)
{
    TrainConfig c;
    c.modelPath = "tiny";
    c.trainData = "synthetic";
    c.outputDir = outDir.toStdString();
    c.adapter.targetModules = {"all-linear"};
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.learningRate = 5e-3;
    c.batchSize = 4;
    c.maxSteps = 6;
    c.schedule = LrSchedule::Cosine;
    c.warmupSteps = 1;
    c.seed = 7;
    return c;
}

std::vector<torch::Tensor> adapterTensors(Trainer& t, const std::string& name = "default")
{
    std::vector<torch::Tensor> out;
    for (auto& nt : t.adapters().trainableTensors(name))
        out.push_back(nt.tensor.detach().clone());
    return out;
}

bool bitwiseEqual(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!torch::equal(a[i], b[i]))
            return false;
    return true;
}

class LambdaObserver : public TrainObserver {
public:
    std::function<void(const StepStats&)> step;
    std::vector<StepStats> steps;
    void onStep(const StepStats& s) override
    {
        steps.push_back(s);
        if (step)
            step(s);
    }
};

} // namespace

class TrainerTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void lossDecreasesAndAdapterIsSaved()
    {
        QTemporaryDir tmp;
        auto model = tinyModel();
        auto cfg = baseConfig(tmp.path());
        cfg.maxSteps = 40;
        cfg.learningRate = 1e-2;
        Trainer t(cfg, *model, reverseTask(16, 1), reverseTask(4, 2));
        LambdaObserver obs;
        t.setObserver(&obs);
        const TrainResult r = t.run();
        QCOMPARE(int(r.status), int(TrainStatus::Completed));
        QCOMPARE(r.steps, int64_t(40));
        QVERIFY2(obs.steps.back().loss < 0.7 * obs.steps.front().loss,
                 qPrintable(QString("%1 -> %2").arg(obs.steps.front().loss).arg(obs.steps.back().loss)));
        QVERIFY(r.finalEval.has_value());
        QVERIFY(fs::exists(fs::path(r.adapterDir) / "adapter_model.safetensors"));
        QVERIFY(r.parameters.trainable > 0 && r.parameters.ratio() < 0.5);
        QVERIFY(!obs.steps.back().modules.empty());
        QVERIFY(obs.steps.back().tokensSeen > 0);
    }

    void sameSeedSameAdapter()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path());
        cfg.adapter.dropout = 0.1; // exercises the global generator too
        cfg.outputDir.clear();
        auto m1 = tinyModel();
        Trainer t1(cfg, *m1, reverseTask(12, 1));
        t1.run();
        auto m2 = tinyModel();
        Trainer t2(cfg, *m2, reverseTask(12, 1));
        t2.run();
        QVERIFY(bitwiseEqual(adapterTensors(t1), adapterTensors(t2)));
        cfg.seed = 8;
        auto m3 = tinyModel();
        Trainer t3(cfg, *m3, reverseTask(12, 1));
        t3.run();
        QVERIFY(!bitwiseEqual(adapterTensors(t1), adapterTensors(t3)));
    }

    void resumeIsBitwise_data()
    {
        QTest::addColumn<int>("init");
        QTest::addColumn<bool>("balance");
        QTest::newRow("lora + dropout") << int(InitMode::Lora) << false;
        QTest::newRow("spectral + balancing") << int(InitMode::Spectral) << true;
    }
    void resumeIsBitwise()
    {
        QFETCH(int, init);
        QFETCH(bool, balance);
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path() + "/a");
        cfg.adapter.dropout = 0.1;
        cfg.adapter.init = InitMode(init);
        cfg.adapter.balancing.enabled = balance;
        cfg.gradAccumulation = 2;
        cfg.maxSteps = 7; // crosses an epoch boundary (12 examples, 8 per step)
        cfg.saveEvery = 3;
        auto m1 = tinyModel();
        Trainer straight(cfg, *m1, reverseTask(12, 1));
        straight.run();
        const auto expected = adapterTensors(straight);

        auto m2 = tinyModel();
        Trainer resumed(cfg, *m2, reverseTask(12, 1));
        resumed.resumeFrom(fs::path(cfg.outputDir) / "checkpoints" / "step-6");
        const TrainResult r = resumed.run();
        QCOMPARE(r.steps, int64_t(7));
        QVERIFY2(bitwiseEqual(adapterTensors(resumed), expected), "resumed run differs from the straight run");
    }

    // The generator states in a checkpoint: a CPU run stores the CPU generator's and no GPU one; a
    // checkpoint that also carries a GPU generator's state (as a CUDA run writes it) still resumes
    // bitwise on the CPU.
    void checkpointGeneratorStates()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path() + "/a");
        cfg.adapter.dropout = 0.1;
        cfg.maxSteps = 5;
        cfg.saveEvery = 3;
        auto m1 = tinyModel();
        Trainer straight(cfg, *m1, reverseTask(12, 1));
        straight.run();
        const auto expected = adapterTensors(straight);
        const fs::path checkpoint = fs::path(cfg.outputDir) / "checkpoints" / "step-3";
        const auto state = models::loadSafeTensorsMap(checkpoint / kCheckpointStateFile);
        QVERIFY(state.count(kCpuRngTensor));
        QVERIFY(!state.count(kCudaRngTensor));
        std::vector<std::pair<std::string, torch::Tensor>> tensors(state.begin(), state.end());
        tensors.emplace_back(kCudaRngTensor, torch::arange(16, torch::kUInt8));
        models::saveSafeTensors(checkpoint / kCheckpointStateFile, tensors);
        QVERIFY(models::loadSafeTensorsMap(checkpoint / kCheckpointStateFile).count(kCudaRngTensor));

        auto m2 = tinyModel();
        Trainer resumed(cfg, *m2, reverseTask(12, 1));
        resumed.resumeFrom(checkpoint);
        QCOMPARE(resumed.run().steps, int64_t(5));
        QVERIFY2(bitwiseEqual(adapterTensors(resumed), expected), "resumed run differs from the straight run");
    }

    void accumulationMatchesLargeBatch()
    {
        auto cfg = baseConfig("");
        cfg.shuffle = false;
        cfg.maxSteps = 1;
        cfg.warmupSteps = 0;
        cfg.schedule = LrSchedule::Constant;
        cfg.clipNorm = 0;
        cfg.batchSize = 4;
        LambdaObserver o1, o2;
        auto m1 = tinyModel();
        Trainer t1(cfg, *m1, reverseTask(8, 3));
        t1.setObserver(&o1);
        t1.run();
        cfg.batchSize = 2;
        cfg.gradAccumulation = 2;
        auto m2 = tinyModel();
        Trainer t2(cfg, *m2, reverseTask(8, 3));
        t2.setObserver(&o2);
        t2.run();
        QVERIFY(std::abs(o1.steps[0].loss - o2.steps[0].loss) < 1e-5);
        QVERIFY(std::abs(o1.steps[0].gradNorm - o2.steps[0].gradNorm) < 1e-5 * o1.steps[0].gradNorm);
    }

    void nanStopsWithDiagnosticAndKeepsCheckpoint()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path());
        cfg.saveEvery = 1;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(12, 1));
        LambdaObserver obs;
        obs.step = [&](const StepStats& s) {
            if (s.step == 2) {
                torch::NoGradGuard ng;
                auto& ad = t.adapters().find("model.layers.1.mlp.up_proj")->module->adapter("default");
                ad.factorB()[0][0] = std::numeric_limits<float>::quiet_NaN();
            }
        };
        t.setObserver(&obs);
        const TrainResult r = t.run();
        QCOMPARE(int(r.status), int(TrainStatus::Failed));
        QVERIFY2(r.message.find("at step 3") != std::string::npos, r.message.c_str());
        QVERIFY2(r.message.find("model.layers.") != std::string::npos, r.message.c_str());
        QVERIFY2(r.message.find("parameter holding non-finite values: model.layers.1.mlp.up_proj.lora_B") != std::string::npos, r.message.c_str());
        QVERIFY(r.lastCheckpoint.find("step-2") != std::string::npos);
        QVERIFY(fs::exists(fs::path(r.lastCheckpoint) / kCheckpointStateFile));
        QVERIFY(!fs::exists(fs::path(cfg.outputDir) / "checkpoints" / "step-3"));
    }

    // The finite check happens on the device: a NaN injected at step 5 of a run logging every 5 steps
    // is read at step 10, yet the failure names step 6, the run reports 5 steps, and the adapters
    // are exactly those of step 5 (the updates of steps 6-10 were masked on the device).
    void nanBetweenLogStepsIsNamedAndMasked()
    {
        auto cfg = baseConfig("");
        cfg.maxSteps = 20;
        cfg.logEvery = 5;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(12, 1));
        std::vector<torch::Tensor> atStep5;
        std::vector<int64_t> logged;
        LambdaObserver obs;
        obs.step = [&](const StepStats& s) {
            logged.push_back(s.step);
            if (s.step == 5) {
                torch::NoGradGuard ng;
                auto& ad = t.adapters().find("model.layers.1.mlp.up_proj")->module->adapter("default");
                ad.factorB()[0][0] = std::numeric_limits<float>::quiet_NaN();
                atStep5 = adapterTensors(t);
            }
        };
        t.setObserver(&obs);
        const TrainResult r = t.run();
        QCOMPARE(int(r.status), int(TrainStatus::Failed));
        QVERIFY2(r.message.find("non-finite loss (nan) at step 6;") != std::string::npos, r.message.c_str());
        QVERIFY2(r.message.find("first module with a non-finite gradient: model.layers.") != std::string::npos, r.message.c_str());
        // No checkpoint was written (baseConfig saves none here): the message says so, and its hint
        // (on its own line, as every hint) knows that clipping is on already.
        QVERIFY2(r.message.find("no checkpoint was written before it, so the run cannot be resumed") != std::string::npos, r.message.c_str());
        const std::string clip = cfg.clipNorm > 0 ? "\nhint: lower training.learning_rate (gradients are already clipped to norm "
                                                  : "\nhint: lower training.learning_rate or set training.clip_norm";
        QVERIFY2(r.message.find(clip) != std::string::npos, r.message.c_str());
        QCOMPARE(r.steps, int64_t(5));
        QCOMPARE(logged, (std::vector<int64_t>{5})); // step 10's log was the read that found it
        const auto now = adapterTensors(t);
        QCOMPARE(now.size(), atStep5.size());
        for (size_t i = 0; i < now.size(); ++i)
            QVERIFY(torch::equal(now[i].nan_to_num(), atStep5[i].nan_to_num()));
    }

    // A step does not read its results from the device: a run of 20 steps logging once reads as
    // often as a run of 10 steps logging once (LibTorch's item() on floating and bool values counted
    // through a RecordFunction callback; the forward's check of CPU token ids reads int64 values of
    // the input, which never waits for a device).
    void stepsDoNotReadTheDevice()
    {
        auto reads = [](int steps) {
            auto cfg = baseConfig("");
            cfg.maxSteps = steps;
            cfg.logEvery = steps;
            cfg.clipNorm = 1.0;
            auto model = tinyModel();
            Trainer t(cfg, *model, reverseTask(12, 1));
            static std::atomic<int> items{0};
            items = 0;
            const auto handle = at::addGlobalCallback(
                at::RecordFunctionCallback([](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
                    if (std::string(fn.name()) == "aten::item" && !fn.inputs().empty() && fn.inputs()[0].isTensor()
                        && fn.inputs()[0].toTensor().scalar_type() != torch::kInt64)
                        ++items;
                    return nullptr;
                }).needsInputs(true));
            (void)torch::ones({}).item<double>(); // the callback sees item() (counted once per run)
            const TrainResult r = t.run();
            at::removeCallback(handle);
            return std::make_pair(int(items), r.status);
        };
        const auto [ten, s10] = reads(10);
        const auto [twenty, s20] = reads(20);
        QCOMPARE(int(s10), int(TrainStatus::Completed));
        QCOMPARE(int(s20), int(TrainStatus::Completed));
        qInfo("item() calls: %d in 10 steps, %d in 20 steps (one log each)", ten, twenty);
        QVERIFY(ten >= 1);
        QCOMPARE(twenty, ten);
    }

    void balancingKeepsRatioInBand()
    {
        auto cfg = baseConfig("");
        cfg.maxSteps = 5;
        cfg.adapter.balancing.enabled = true;
        cfg.adapter.balancing.beta = 0.0; // ρ̄ = ρ: the balanced ratio lands exactly on the band
        cfg.adapter.balancing.band = 1.5;
        cfg.adapter.balancing.target = 1.0;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(12, 1));
        LambdaObserver obs;
        t.setObserver(&obs);
        t.run();
        int measured = 0, outside = 0;
        for (const auto& s : obs.steps)
            for (const auto& m : s.modules) {
                if (m.ratio == 0.0)
                    continue;
                ++measured;
                outside += (m.ratio < 1 / 1.5 || m.ratio > 1.5);
                QVERIFY2(m.balancedRatio >= 1 / 1.5 - 1e-9 && m.balancedRatio <= 1.5 + 1e-9, qPrintable(QString::number(m.balancedRatio)));
            }
        QVERIFY(measured > 0);
        QVERIFY2(outside > 0, "raw ratios were all inside the band: the test would not notice a broken balancer");
    }

    void loraPlusScalesBStep()
    {
        auto cfg = baseConfig("");
        cfg.maxSteps = 1;
        cfg.warmupSteps = 0;
        cfg.schedule = LrSchedule::Constant;
        cfg.learningRate = 1e-3;
        cfg.adapter.loraPlusRatio = 16.0;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(8, 1));
        const auto before = adapterTensors(t);
        t.run();
        const auto after = adapterTensors(t);
        // Adam's first step moves each entry by ~lr·ratio (m̂/√v̂ = ±1 where the gradient is nonzero).
        const double stepB = (after[1] - before[1]).abs().max().item<double>();
        QVERIFY2(std::abs(stepB - 16e-3) < 1e-4, qPrintable(QString::number(stepB)));
        QCOMPARE((after[0] - before[0]).abs().max().item<double>(), 0.0); // ∇A = 0 while B = 0
    }

    void sensitivityAllocation()
    {
        std::vector<ModulePlan> plans(3);
        for (int i = 0; i < 3; ++i)
            plans[i].module = {"m" + std::to_string(i), "q_proj", 0, 64, 64};
        const auto rows = allocateRanks(plans, {1.0, 4.0, 0.5}, 0, 8, {2, 4, 8, 16, 32});
        int64_t total = 0;
        for (const auto& r : rows)
            total += r.parameters;
        QVERIFY(total <= 3 * 8 * 128);
        QVERIFY(rows[1].rank > rows[0].rank);
        QVERIFY(rows[0].rank >= rows[2].rank);
        // Through the trainer: probe batches, a table, ranks applied.
        auto cfg = baseConfig("");
        cfg.maxSteps = 1;
        cfg.adapter.allocation = RankAllocation::Sensitivity;
        cfg.adapter.sensitivity.candidateRanks = {2, 4, 8};
        cfg.adapter.sensitivity.probeBatches = 2;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(8, 1));
        const auto& table = t.rankTable();
        QCOMPARE(table.size(), size_t(14));
        int64_t used = 0, budget = 0;
        for (const auto& row : table) {
            used += row.parameters;
            auto* m = t.adapters().find(row.module);
            QVERIFY(m);
            budget += 4 * (m->module->inFeatures() + m->module->outFeatures());
            QCOMPARE(m->module->adapter("default").rank(), row.rank);
        }
        QVERIFY(used <= budget);
    }

    // The probe's per-batch scores are smoothed in probe order, whichever rank scored which batch; a
    // batch without scores is skipped; a score list of the wrong length is refused.
    void sensitivityScoresSmoothInProbeOrder()
    {
        const std::vector<ProbeBatchScores> batches{std::vector<double>{2.0, 4.0}, std::nullopt, std::vector<double>{6.0, 0.0}};
        const auto ema = smoothSensitivity(batches, 2, 0.5);
        QCOMPARE(ema, (std::vector<double>{4.0, 2.0}));
        // A first batch without scores leaves the average at zero for the next one to enter with 1 - beta.
        QCOMPARE(smoothSensitivity({std::nullopt, std::vector<double>{2.0}}, 1, 0.75), (std::vector<double>{0.5}));
        QVERIFY_THROWS_EXCEPTION(Error, smoothSensitivity({std::vector<double>{1.0}}, 2, 0.5));
        // Through the model: probing twice gives the same scores, and leaves no base weight trainable.
        auto cfg = baseConfig("");
        cfg.adapter.sensitivity.probeBatches = 3;
        auto model = tinyModel();
        objectives::SftObjective objective(cfg, *model, reverseTask(8, 1), {});
        const auto plans = planModules(cfg.adapter, linearModuleFacts(*model));
        const auto first = probeSensitivity(*model, objective, cfg, plans, nullptr);
        QCOMPARE(first.size(), plans.size());
        for (double s : first)
            QVERIFY(s > 0.0 && std::isfinite(s));
        QCOMPARE(probeSensitivity(*model, objective, cfg, plans, nullptr), first);
        for (const auto& p : model->parameters())
            QVERIFY(!p.requires_grad());
    }

    void stopRequestSavesAndStops()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path());
        cfg.maxSteps = 50;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(8, 1));
        LambdaObserver obs;
        obs.step = [&](const StepStats& s) {
            if (s.step == 2)
                obs.requestStop(true);
        };
        t.setObserver(&obs);
        const TrainResult r = t.run();
        QCOMPARE(int(r.status), int(TrainStatus::Stopped));
        QCOMPARE(r.steps, int64_t(2));
        QVERIFY(fs::exists(fs::path(cfg.outputDir) / "adapter" / "adapter_config.json"));
        QCOMPARE(r.message, std::string("stopped at step 2"));
    }

    // Stop & discard says what it left: no checkpoint (a resume starts again), or the last one.
    void stopWithoutSavingSaysWhatIsLeft()
    {
        for (const int saveEvery : {0, 2}) {
            QTemporaryDir tmp;
            auto cfg = baseConfig(tmp.path());
            cfg.maxSteps = 50;
            cfg.saveEvery = saveEvery;
            auto model = tinyModel();
            Trainer t(cfg, *model, reverseTask(8, 1));
            LambdaObserver obs;
            obs.step = [&](const StepStats& s) {
                if (s.step == 3)
                    obs.requestStop(false);
            };
            t.setObserver(&obs);
            const TrainResult r = t.run();
            QCOMPARE(int(r.status), int(TrainStatus::Stopped));
            QVERIFY(!fs::exists(fs::path(cfg.outputDir) / "adapter" / "adapter_config.json"));
            const std::string expected = saveEvery ? "resuming continues from the last checkpoint, " : "there is no checkpoint, so resuming starts again from step 0";
            QVERIFY2(r.message.find("stopped at step 3 without saving; " + expected) != std::string::npos, r.message.c_str());
        }
    }

    void stagesStackFrozen()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path() + "/stage1");
        cfg.maxSteps = 3;
        auto m1 = tinyModel();
        Trainer first(cfg, *m1, reverseTask(8, 1));
        const TrainResult r1 = first.run();
        auto cfg2 = baseConfig(tmp.path() + "/stage2");
        cfg2.maxSteps = 3;
        cfg2.adapter.name = "domain";
        cfg2.adapter.stackOn = {r1.adapterDir};
        QVERIFY(validate(cfg2).empty());
        auto m2 = tinyModel();
        Trainer second(cfg2, *m2, reverseTask(8, 2));
        auto* q = second.adapters().find("model.layers.0.self_attn.q_proj");
        const auto stage1B = q->module->adapter("stage1").B().detach().clone();
        QCOMPARE(q->module->activeAdapters().size(), size_t(2));
        const TrainResult r2 = second.run();
        QVERIFY(torch::equal(q->module->adapter("stage1").B(), stage1B)); // the earlier stage stayed frozen
        QVERIFY(!q->module->adapter("stage1").factorB().requires_grad());
        QCOMPARE(r2.parameters.trainable, r1.parameters.trainable);       // only the new adapter trains
        cfg2.adapter.stackOn = {tmp.path().toStdString() + "/missing"};
        QVERIFY(!validate(cfg2).empty());
    }

    void fullParameterMode()
    {
        QTemporaryDir tmp;
        auto cfg = baseConfig(tmp.path());
        cfg.mode = TrainMode::Full;
        cfg.maxSteps = 15;
        cfg.learningRate = 3e-3;
        auto model = tinyModel();
        Trainer t(cfg, *model, reverseTask(8, 1));
        LambdaObserver obs;
        t.setObserver(&obs);
        const TrainResult r = t.run();
        QCOMPARE(r.parameters.trainable, r.parameters.total);
        QVERIFY(obs.steps.back().loss < obs.steps.front().loss);
        QVERIFY(fs::exists(fs::path(r.adapterDir) / "config.json"));
        auto reloaded = models::loadCausalLM(r.adapterDir);
        QVERIFY(reloaded);
    }
};

QTEST_GUILESS_MAIN(TrainerTest)
#include "TrainerTest.moc"
