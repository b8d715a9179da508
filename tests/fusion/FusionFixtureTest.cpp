// Fusion on the PEFT fixtures: lora + lora2 at 0.3 / 0.7 by exact reproduces comb_cat's delta (the true
// weighted sum); PEFT's svd applies each scale twice while ours keeps the true sum's best rank-8
// approximation; rsLoRA adapters are not over-scaled; the fused folder loads through our loader and
// gives the logits of the sources active with those weights.
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"
#include "FusionTestSupport.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

using fusiontest::fixtures;
using fusiontest::maxDiff;

double relDiff(const torch::Tensor& a, const torch::Tensor& b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).norm().item<double>() / b.to(torch::kFloat64).norm().item<double>();
}

AdapterFactors peft(const std::string& name)
{
    return readAdapterFactors(fixtures() / "peft" / name);
}

FusionPlan plan(FusionMethod method, std::vector<double> weights)
{
    FusionPlan p;
    p.method = method;
    p.weights = std::move(weights);
    return p;
}

const std::vector<std::string> kLayer0 = {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"};

torch::Tensor logits(models::CausalLM& m)
{
    torch::NoGradGuard ng;
    const auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "llama.safetensors");
    return m.forward(ref.at("input_ids"), torch::ones_like(ref.at("attention_mask"))).logits;
}

} // namespace

class FusionFixtureTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY2(fs::exists(fixtures() / "peft" / "combined" / "comb_cat"), "RSLORA_SHARED_DIR must point at the shared fixtures");
    }

    void exactReproducesCombCat()
    {
        const FusionResult r = fuse(plan(FusionMethod::Exact, {0.3, 0.7}), {peft("lora"), peft("lora2")});
        const auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        const AdapterFactors cat = peft("combined/comb_cat");
        QCOMPARE(r.report.rank, int64_t(16));
        for (const auto& name : kLayer0) {
            const torch::Tensor ours = r.adapter.find(name)->delta();
            const torch::Tensor sum = ref.at("weighted_sum_0.3_0.7.delta_weight." + name + ".weight");
            QVERIFY2(maxDiff(ours, sum) < 1e-6, name.c_str());
            QVERIFY(maxDiff(ours, ref.at("comb_cat.delta_weight." + name + ".weight")) < 1e-6);
        }
        for (const auto& m : r.adapter.modules)
            QVERIFY(maxDiff(m.delta(), cat.find(m.module)->delta()) < 1e-6);
    }

    void svdKeepsTheTrueSumWherePeftScalesTwice()
    {
        FusionPlan p = plan(FusionMethod::Svd, {0.3, 0.7});
        p.rank = 8;
        const FusionResult r = fuse(p, {peft("lora"), peft("lora2")});
        const auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        for (const auto& name : kLayer0) {
            const torch::Tensor ours = r.adapter.find(name)->delta();
            const torch::Tensor sum = ref.at("weighted_sum_0.3_0.7.delta_weight." + name + ".weight").to(torch::kFloat64);
            const torch::Tensor peftSvd = ref.at("comb_svd.delta_weight." + name + ".weight");
            // Ours: the best rank-8 approximation of the true sum, with the error it reports.
            const torch::Tensor s = torch::linalg_svdvals(sum);
            const double optimum = std::sqrt(s.slice(0, 8).square().sum().item<double>()) / sum.norm().item<double>();
            const double ours_err = relDiff(ours, sum);
            const auto it = std::find_if(r.report.modules.begin(), r.report.modules.end(),
                                         [&](const ModuleReport& m) { return m.module == name; });
            QVERIFY2(std::abs(ours_err - optimum) < 1e-5, (std::to_string(ours_err) + " vs " + std::to_string(optimum)).c_str());
            QVERIFY(std::abs(ours_err - it->relativeError) < 1e-5);
            // PEFT's: twice ours, since both sources have scale 2 (Σ wᵢ sᵢ² Bᵢ Aᵢ = 2 Σ wᵢ sᵢ Bᵢ Aᵢ) ...
            QVERIFY2(relDiff(peftSvd, 2.0 * ours) < 1e-4, std::to_string(relDiff(peftSvd, 2.0 * ours)).c_str());
            // ... so far from the sum it should approximate.
            QVERIFY(relDiff(peftSvd, sum) > 0.9);
        }
    }

    void rsLoraIsNotOverScaled()
    {
        QTemporaryDir tmp;
        const AdapterFactors rs = peft("rslora"), lora = peft("lora");
        for (FusionMethod m : {FusionMethod::Exact, FusionMethod::Svd}) {
            const FusionResult r = fuse(plan(m, {1.0}), {rs});
            const fs::path dir = fs::path(tmp.path().toStdString()) / fusionMethodName(m);
            writeFusedAdapter(r, plan(m, {1.0}), {FusionSource{"rslora", fixtures() / "peft" / "rslora", 1.0, {}, {}, {}}}, dir);
            const auto config = nlohmann::json::parse(std::ifstream(dir / "adapter_config.json"));
            QCOMPARE(config["use_rslora"].get<bool>(), false);
            const AdapterFactors back = readAdapterFactors(dir);
            for (const auto& mod : rs.modules) {
                QCOMPARE(back.find(mod.module)->scale, 1.0);
                // The fused delta is the rsLoRA delta (scale 16/√8), not √r times it.
                QVERIFY(relDiff(back.find(mod.module)->delta(), mod.delta()) < 1e-5);
            }
        }
        // Mixed scalings: 0.5 · 2 · BA + 0.5 · (16/√8) · BA (both fixtures share A and B).
        const FusionResult mixed = fuse(plan(FusionMethod::Exact, {0.5, 0.5}), {lora, rs});
        for (const auto& mod : lora.modules) {
            const torch::Tensor expect = torch::mm(mod.B, mod.A).to(torch::kFloat64) * (0.5 * 2.0 + 0.5 * 16.0 / std::sqrt(8.0));
            QVERIFY(relDiff(mixed.adapter.find(mod.module)->delta(), expect) < 1e-6);
        }
    }

    void fusedFolderGivesTheWeightedLogits_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<double>("w1");
        QTest::addColumn<double>("w2");
        QTest::newRow("exact 0.3/0.7") << "exact" << 0.3 << 0.7;
        QTest::newRow("exact negation") << "exact" << 1.0 << -0.5;
        QTest::newRow("svd at the exact rank") << "svd" << 0.3 << 0.7;
    }
    void fusedFolderGivesTheWeightedLogits()
    {
        QFETCH(QString, method);
        QFETCH(double, w1);
        QFETCH(double, w2);
        QTemporaryDir tmp;
        FusionPlan p = plan(parseFusionMethod(method.toStdString()), {w1, w2});
        if (p.method == FusionMethod::Svd)
            p.rank = 16; // lossless: Σ rᵢ
        const FusionResult r = fuse(p, {peft("lora"), peft("rslora")});
        const fs::path dir = fs::path(tmp.path().toStdString()) / "fused";
        writeFusedAdapter(r, p,
                          {FusionSource{"lora", fixtures() / "peft" / "lora", w1, {}, {}, {}},
                           FusionSource{"rslora", fixtures() / "peft" / "rslora", w2, {}, {}, {}}},
                          dir);
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        loadPeftAdapter(set, fixtures() / "peft" / "lora", "a");
        loadPeftAdapter(set, fixtures() / "peft" / "rslora", "b");
        loadPeftAdapter(set, dir, "fused");
        set.setActive({{"a", w1}, {"b", w2}});
        const torch::Tensor sources = logits(*model);
        set.setActive({{"fused", 1.0}});
        const torch::Tensor fused = logits(*model);
        set.setActive({});
        const torch::Tensor base = logits(*model);
        QVERIFY(maxDiff(sources, base) > 1e-2); // the adapters do change the logits
        QVERIFY2(maxDiff(fused, sources) < 1e-4, std::to_string(maxDiff(fused, sources)).c_str());
    }
};

QTEST_GUILESS_MAIN(FusionFixtureTest)
#include "FusionFixtureTest.moc"
