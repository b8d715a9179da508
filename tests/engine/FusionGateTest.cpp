// Per-row adapter weights and the learned fusion gate: a batch with per-row weights gives each row
// what running it alone with scalar weights gives; on a synthetic mix where adapter A helps rows of
// one kind and B the other, the gate learns to route them (weights per example separate the kinds,
// loss below either adapter alone); the gate folder saves and reloads to identical weights.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/AdamW.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/FusionGate.h"
#include "models/CausalLmLoss.h"
#include "models/ModelLoader.h"

#include "FusionTestSupport.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <random>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;
using fusiontest::errorOf;
using fusiontest::tinyConfig;

namespace {

AdapterConfig adapterConfig(const std::string& name)
{
    AdapterConfig a;
    a.name = name;
    a.targetModules = {"q_proj", "v_proj", "up_proj", "down_proj"};
    a.rank = 4;
    a.alpha = 8;
    return a;
}

// Rows of one kind: a marker token, then a walk with a fixed stride (kind 0: +3, kind 1: +7).
std::vector<TrainExample> kindRows(int kind, int n, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<TrainExample> out;
    for (int i = 0; i < n; ++i) {
        TrainExample e;
        e.ids.push_back(kind == 0 ? 1 : 2);
        int64_t t = 4 + int64_t(rng() % 28);
        const int len = 8 + int(rng() % 5);
        for (int k = 0; k < len; ++k) {
            e.ids.push_back(t);
            t = 4 + (t - 4 + (kind == 0 ? 3 : 7)) % 28;
        }
        e.labels = e.ids;
        e.labels[0] = -100;
        out.push_back(e);
    }
    return out;
}

// Trains adapter `name` alone on `rows` (a few AdamW steps on full batches).
void trainAdapter(AdapterSet& set, const std::string& name, const std::vector<TrainExample>& rows, int steps)
{
    set.setTrainable(name);
    std::vector<AdamWParam> params;
    for (const auto& t : set.trainableTensors(name))
        params.push_back({t.name, t.tensor});
    AdamW opt(params, {});
    auto& model = set.model();
    set.setActive({{name, 1.0}});
    for (int s = 0; s < steps; ++s) {
        int64_t T = 0;
        for (const auto& e : rows)
            T = std::max<int64_t>(T, int64_t(e.ids.size()));
        auto ids = torch::zeros({int64_t(rows.size()), T}, torch::kLong), mask = torch::zeros_like(ids);
        auto labels = torch::full_like(ids, -100);
        for (size_t r = 0; r < rows.size(); ++r)
            for (size_t t = 0; t < rows[r].ids.size(); ++t) {
                ids[int64_t(r)][int64_t(t)] = rows[r].ids[t];
                mask[int64_t(r)][int64_t(t)] = 1;
                labels[int64_t(r)][int64_t(t)] = rows[r].labels[t];
            }
        const auto ls = models::causalLmLossSum(model.hiddenStates(ids, mask), *model.lmHead(), labels);
        opt.zeroGrad();
        (ls.sum / double(ls.tokens)).backward();
        opt.step(0.02);
    }
    for (auto& p : model.parameters())
        p.set_requires_grad(false);
    set.setActive({});
}

} // namespace

class FusionGateTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    // Row r of a padded batch with per-row weights equals row r run alone with scalar weights.
    void perRowWeightsEqualRowsAlone()
    {
        auto model = models::createCausalLM(tinyConfig(), 5);
        AdapterSet set(*model);
        for (const char* n : {"a", "b"}) {
            set.addAdapter(adapterConfig(n), n[0] == 'a' ? 1 : 2);
            torch::NoGradGuard ng;
            for (auto& m : set.modules())
                if (m.module->hasAdapter(n))
                    m.module->adapter(n).factorB().normal_(0.0, 0.5);
        }
        torch::NoGradGuard ng;
        const std::vector<std::vector<int64_t>> rows{{3, 9, 4, 17, 8, 30}, {5, 6}, {11, 2, 19, 7}};
        const std::vector<double> wa{0.2, 1.5, -0.7}, wb{1.0, 0.0, 0.3};
        auto ids = torch::zeros({3, 6}, torch::kLong), mask = torch::zeros({3, 6}, torch::kLong);
        for (int64_t r = 0; r < 3; ++r)
            for (size_t t = 0; t < rows[size_t(r)].size(); ++t) {
                ids[r][int64_t(t)] = rows[size_t(r)][t];
                mask[r][int64_t(t)] = 1;
            }
        set.setActive({{"a", 1.0, torch::tensor(wa, torch::kFloat64)}, {"b", 2.0, torch::tensor(wb, torch::kFloat64)}});
        const auto batched = model->forward(ids, mask).logits;
        double worst = 0.0;
        for (int64_t r = 0; r < 3; ++r) {
            set.setActive({{"a", wa[size_t(r)]}, {"b", 2.0 * wb[size_t(r)]}}); // the scalar (hand-written) path
            const auto n = int64_t(rows[size_t(r)].size());
            const auto alone = model->forward(torch::tensor(rows[size_t(r)], torch::kLong).unsqueeze(0)).logits[0];
            worst = std::max(worst, (batched[r].narrow(0, 0, n) - alone).abs().max().item<double>());
        }
        QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
        // The per-row weights matter: all rows at the first row's weights differ.
        set.setActive({{"a", 0.2}, {"b", 2.0}});
        const auto uniform = model->forward(ids, mask).logits;
        QVERIFY((uniform[1].narrow(0, 0, 2) - batched[1].narrow(0, 0, 2)).abs().max().item<double>() > 1e-3);
        // A weight count that does not match the batch is refused naming the module.
        set.setActive({{"a", 1.0, torch::ones({2})}});
        const std::string err = errorOf([&] { model->forward(ids, mask); });
        QVERIFY2(err.find("q_proj") != std::string::npos && err.find("3 rows") != std::string::npos, err.c_str());
        set.setActive({{"a", 1.0, torch::ones({3})}});
        QVERIFY(errorOf([&] { set.modules()[0].module->mergedWeight(); }).find("cannot be merged") != std::string::npos);
    }

    // The gate routes rows of kind 0 to adapter A and kind 1 to B, beating both adapters alone on
    // the mix; it saves, reloads (with its adapters from their folders) and gives identical weights.
    void gateLearnsRoutingAndReloads()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        auto model = models::createCausalLM(tinyConfig(), 5);
        model->saveModelFolder(root / "model");
        const auto rowsX = kindRows(0, 12, 1), rowsY = kindRows(1, 12, 2);
        std::vector<GateAdapter> adapters;
        {
            AdapterSet set(*model);
            set.addAdapter(adapterConfig("a"), 1);
            set.addAdapter(adapterConfig("b"), 2);
            trainAdapter(set, "a", rowsX, 60);
            trainAdapter(set, "b", rowsY, 60);
            savePeftAdapter(set, "a", adapterConfig("a"), root / "A");
            savePeftAdapter(set, "b", adapterConfig("b"), root / "B");
        }
        for (const char* n : {"A", "B"})
            adapters.push_back({std::string("gate_") + n, n, (root / n).string(), Sha256::directoryHex(root / n)});

        // A fresh base with the adapters loaded from their folders, as the CLI does.
        auto base = models::loadCausalLM(root / "model");
        AdapterSet set(*base);
        FusionGate gate(adapters, tinyConfig().hiddenSize, 0, 3);
        loadGateAdapters(gate, set);
        std::vector<TrainExample> mix;
        for (size_t i = 0; i < rowsX.size(); ++i) {
            mix.push_back(rowsX[i]);
            mix.push_back(rowsY[i]);
        }
        GateTrainOptions o;
        o.steps = 80;
        o.lr = 0.1;
        o.seed = 4;
        const auto stats = trainGate(gate, set, mix, o);
        QCOMPARE(stats.steps, 80);
        QVERIFY2(stats.finalLoss < stats.firstLoss, qPrintable(QString("%1 -> %2").arg(stats.firstLoss).arg(stats.finalLoss)));
        for (const auto& m : set.modules())
            QVERIFY(m.module->activeAdapters().empty());

        // Held-out rows of both kinds.
        const auto testX = kindRows(0, 6, 11), testY = kindRows(1, 6, 12);
        std::vector<TrainExample> test(testX);
        test.insert(test.end(), testY.begin(), testY.end());
        const auto ev = evaluateGate(gate, set, test, 4, 64);
        QCOMPARE(ev.examples.size(), size_t(12));
        double xa = 0.0, ya = 0.0;
        for (size_t k = 0; k < 12; ++k) {
            QVERIFY(std::abs(ev.examples[k].weights[0] + ev.examples[k].weights[1] - 1.0) < 1e-6);
            (k < 6 ? xa : ya) += ev.examples[k].weights[0] / 6.0;
        }
        QVERIFY2(xa > 0.8 && ya < 0.2, qPrintable(QString("weight of A: kind X %1, kind Y %2").arg(xa).arg(ya)));
        QVERIFY2(ev.loss < ev.singleLoss[0] && ev.loss < ev.singleLoss[1] && ev.loss < ev.uniformLoss,
                 qPrintable(QString("gate %1, A %2, B %3, equal %4").arg(ev.loss).arg(ev.singleLoss[0]).arg(ev.singleLoss[1]).arg(ev.uniformLoss)));
        // The per-example losses add up to the overall loss.
        double sum = 0.0;
        for (const auto& e : ev.examples)
            sum += e.loss * double(e.tokens);
        QVERIFY(std::abs(sum / double(ev.tokens) - ev.loss) < 1e-5);

        // Save, reload into another base: identical weights and losses.
        gate.info()["base_model"] = (root / "model").string();
        gate.save(root / "gate");
        QVERIFY(fs::exists(root / "gate" / kGateWeightsFile) && fs::exists(root / "gate" / kGateConfigFile));
        const FusionGate back = FusionGate::load(root / "gate");
        QCOMPARE(back.adapters().size(), size_t(2));
        QCOMPARE(back.adapters()[1].path, (root / "B").string());
        QCOMPARE(back.adapters()[1].sha256, adapters[1].sha256);
        QCOMPARE(back.stats().steps, 80);
        QCOMPARE(back.info()["base_model"].get<std::string>(), (root / "model").string());
        const auto probe = torch::randn({5, tinyConfig().hiddenSize});
        QVERIFY(torch::equal(gate.weights(probe), back.weights(probe)));
        auto base2 = models::loadCausalLM(root / "model");
        AdapterSet set2(*base2);
        loadGateAdapters(back, set2);
        const auto ev2 = evaluateGate(back, set2, test, 4, 64);
        QVERIFY2(std::abs(ev2.loss - ev.loss) < 1e-6 * ev.loss, qPrintable(QString("%1 vs %2").arg(ev2.loss).arg(ev.loss)));
        for (size_t k = 0; k < ev.examples.size(); ++k)
            for (size_t i = 0; i < 2; ++i)
                QVERIFY(std::abs(ev2.examples[k].weights[i] - ev.examples[k].weights[i]) < 1e-6);

        // A changed adapter folder and a damaged gate folder are refused by name.
        nlohmann::json cfg = nlohmann::json::parse(readFile(root / "A" / "adapter_config.json"));
        cfg["lora_dropout"] = 0.5;
        writeFileAtomic(root / "A" / "adapter_config.json", cfg.dump());
        auto base3 = models::loadCausalLM(root / "model");
        AdapterSet set3(*base3);
        QVERIFY(errorOf([&] { loadGateAdapters(back, set3); }).find("changed since the gate was trained") != std::string::npos);
        fs::remove(root / "gate" / kGateWeightsFile);
        QVERIFY(errorOf([&] { FusionGate::load(root / "gate"); }).find("gate.safetensors is missing") != std::string::npos);
        QVERIFY(errorOf([&] { FusionGate::load(root / "nothing"); }).find("not a gate folder") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(FusionGateTest)
#include "FusionGateTest.moc"
