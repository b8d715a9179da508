// PEFT folders: the shared PEFT fixtures load and reproduce their logits; our own folders round-trip
// (plain, rsLoRA, random subspace); a spectral adapter exported as rank 2r gives the same model on
// the original base; adapters switch without reloading the base.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/LoraAdapter.h"
#include "engine/PeftAdapterIO.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

namespace {

fs::path fixtures()
{
    const char* d = std::getenv("RSLORA_SHARED_DIR");
    return d ? fs::path(d) / "fixtures" : fs::path();
}

struct Inputs {
    torch::Tensor ids, mask, positions;
};

Inputs inputs()
{
    auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "llama.safetensors");
    return {ref.at("input_ids"), ref.at("attention_mask"), ref.at("position_ids_masked")};
}

torch::Tensor logitsNoMask(models::CausalLM& m, const Inputs& in)
{
    torch::NoGradGuard ng;
    return m.forward(in.ids, torch::ones_like(in.mask)).logits;
}

torch::Tensor logitsMasked(models::CausalLM& m, const Inputs& in)
{
    torch::NoGradGuard ng;
    return m.forward(in.ids, in.mask, in.positions).logits;
}

// Max |a - b| over the positions that the fixture README says to compare (row 1, 0..2 are padding).
double maskedDiff(const torch::Tensor& a, const torch::Tensor& b)
{
    const double row0 = (a[0] - b[0]).abs().max().item<double>();
    const double row1 = (a[1].slice(0, 3) - b[1].slice(0, 3)).abs().max().item<double>();
    return std::max(row0, row1);
}

} // namespace

class PeftFixtureTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        torch::set_num_threads(1);
        if (fixtures().empty() || !fs::exists(fixtures() / "peft"))
            QSKIP("RSLORA_SHARED_DIR/fixtures/peft not found");
    }

    void fixturesReproduceLogits_data()
    {
        QTest::addColumn<QString>("adapter");
        QTest::addColumn<QString>("folder");
        QTest::addColumn<QString>("base");
        QTest::newRow("lora") << "lora" << "peft/lora" << "llama";
        QTest::newRow("rslora") << "rslora" << "peft/rslora" << "llama";
        QTest::newRow("lora2") << "lora2" << "peft/lora2" << "llama";
        QTest::newRow("pissa_ft on residual") << "pissa_ft" << "peft/pissa/pissa_ft" << "peft/pissa/residual_model";
        QTest::newRow("pissa_ft_as_lora") << "pissa_ft_as_lora" << "peft/pissa/pissa_ft_as_lora" << "llama";
        QTest::newRow("comb_cat") << "comb_cat" << "peft/combined/comb_cat" << "llama";
    }
    void fixturesReproduceLogits()
    {
        QFETCH(QString, adapter);
        QFETCH(QString, folder);
        QFETCH(QString, base);
        auto model = models::loadCausalLM(fixtures() / base.toStdString());
        AdapterSet set(*model);
        const AdapterConfig cfg = loadPeftAdapter(set, fixtures() / folder.toStdString());
        QCOMPARE(set.modules().size(), size_t(4));
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        const Inputs in = inputs();
        const double d1 = (logitsNoMask(*model, in) - ref.at(adapter.toStdString() + ".logits_nomask")).abs().max().item<double>();
        const double d2 = maskedDiff(logitsMasked(*model, in), ref.at(adapter.toStdString() + ".logits_masked"));
        QVERIFY2(d1 < 1e-4 && d2 < 1e-4, qPrintable(QString("max diff %1 / %2").arg(d1).arg(d2)));
        if (adapter == "rslora")
            QVERIFY(cfg.scaling == ScalingMode::AlphaOverSqrtR);
    }

    void switchAdaptersWithoutReload()
    {
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        loadPeftAdapter(set, fixtures() / "peft/lora", "a");
        loadPeftAdapter(set, fixtures() / "peft/lora2", "b");
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        auto base = models::loadSafeTensorsMap(fixtures() / "reference" / "llama.safetensors");
        const Inputs in = inputs();
        set.setActive({{"a", 1.0}});
        QVERIFY((logitsNoMask(*model, in) - ref.at("lora.logits_nomask")).abs().max().item<double>() < 1e-4);
        set.setActive({{"b", 1.0}});
        QVERIFY((logitsNoMask(*model, in) - ref.at("lora2.logits_nomask")).abs().max().item<double>() < 1e-4);
        set.setActive({});
        QVERIFY((logitsNoMask(*model, in) - base.at("logits_nomask")).abs().max().item<double>() < 1e-4);
        // The weighted sum of both equals comb_cat's exact 0.3/0.7 combination.
        set.setActive({{"a", 0.3}, {"b", 0.7}});
        QVERIFY((logitsNoMask(*model, in) - ref.at("comb_cat.logits_nomask")).abs().max().item<double>() < 1e-4);
    }

    void saveRoundTrip_data()
    {
        QTest::addColumn<int>("scaling");
        QTest::addColumn<int>("parameterization");
        QTest::newRow("lora alpha/r") << int(ScalingMode::AlphaOverR) << int(Parameterization::Full);
        QTest::newRow("rslora") << int(ScalingMode::AlphaOverSqrtR) << int(Parameterization::Full);
        QTest::newRow("random subspace") << int(ScalingMode::AlphaOverSqrtR) << int(Parameterization::RandomSubspace);
    }
    void saveRoundTrip()
    {
        QFETCH(int, scaling);
        QFETCH(int, parameterization);
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        AdapterConfig cfg;
        cfg.targetModules = {"q_proj", "v_proj", "down_proj"};
        cfg.rank = 4;
        cfg.alpha = 8;
        cfg.rankPattern = {{"down_proj", 2}};
        cfg.scaling = ScalingMode(scaling);
        cfg.parameterization = Parameterization(parameterization);
        cfg.subspaceDim = 5;
        cfg.projectionSeed = 77;
        set.addAdapter(cfg, 1);
        {
            torch::NoGradGuard ng;
            torch::manual_seed(3);
            for (auto& t : set.trainableTensors("default"))
                t.tensor.add_(torch::randn_like(t.tensor) * 0.05); // "training"
        }
        const Inputs in = inputs();
        const auto expected = logitsNoMask(*model, in);
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "adapter";
        savePeftAdapter(set, "default", cfg, dir, {"llama"});
        const auto pc = nlohmann::json::parse(readFile(dir / kPeftConfigFile));
        QCOMPARE(pc["use_rslora"].get<bool>(), cfg.scaling == ScalingMode::AlphaOverSqrtR);
        QCOMPARE(pc["r"].get<int>(), 4);
        QCOMPARE(pc["rank_pattern"]["model.layers.0.mlp.down_proj"].get<int>(), 2);
        const auto file = models::loadSafeTensorsMap(dir / kPeftWeightsFile);
        QCOMPARE(file.at("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight").sizes(), (c10::IntArrayRef{32, 4}));

        auto fresh = models::loadCausalLM(fixtures() / "llama");
        AdapterSet again(*fresh);
        const AdapterConfig back = loadPeftAdapter(again, dir);
        QVERIFY(back.parameterization == cfg.parameterization);
        QVERIFY((logitsNoMask(*fresh, in) - expected).abs().max().item<double>() < 1e-5);
        if (cfg.parameterization == Parameterization::RandomSubspace) {
            auto& ad = again.find("model.layers.1.self_attn.q_proj")->module->adapter("default");
            QCOMPARE(ad.factorA().numel(), int64_t(5)); // only the coefficients came back, bases regenerated
        }
    }

    void spectralExportsRank2rForOriginalBase_data()
    {
        QTest::addColumn<int>("scaling");
        QTest::newRow("alpha/r") << int(ScalingMode::AlphaOverR);
        QTest::newRow("alpha/sqrt(r)") << int(ScalingMode::AlphaOverSqrtR);
    }
    void spectralExportsRank2rForOriginalBase()
    {
        QFETCH(int, scaling);
        auto model = models::loadCausalLM(fixtures() / "llama");
        const Inputs in = inputs();
        const auto original = logitsNoMask(*model, in);
        AdapterSet set(*model);
        AdapterConfig cfg;
        cfg.targetModules = {"q_proj", "v_proj"};
        cfg.rank = 4;
        cfg.alpha = 8;
        cfg.init = InitMode::Spectral;
        cfg.scaling = ScalingMode(scaling);
        set.addAdapter(cfg, 1);
        QVERIFY((logitsNoMask(*model, in) - original).abs().max().item<double>() < 1e-4); // unchanged at step 0
        {
            torch::NoGradGuard ng;
            torch::manual_seed(4);
            for (auto& t : set.trainableTensors("default"))
                t.tensor.add_(torch::randn_like(t.tensor) * 0.02);
        }
        const auto tuned = logitsNoMask(*model, in);
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "spectral";
        savePeftAdapter(set, "default", cfg, dir);
        const auto pc = nlohmann::json::parse(readFile(dir / kPeftConfigFile));
        QCOMPARE(pc["r"].get<int>(), 8);
        const double expectAlpha = cfg.scaling == ScalingMode::AlphaOverSqrtR ? 8 * std::sqrt(2.0) : 16.0;
        QVERIFY(std::abs(pc["lora_alpha"].get<double>() - expectAlpha) < 1e-12);

        auto fresh = models::loadCausalLM(fixtures() / "llama"); // the ORIGINAL base
        AdapterSet again(*fresh);
        const AdapterConfig back = loadPeftAdapter(again, dir);
        const double d = (logitsNoMask(*fresh, in) - tuned).abs().max().item<double>();
        QVERIFY2(d < 1e-4, qPrintable(QString::number(d)));
        // Reported as trained with spectral init, but held as the plain rank-2r factors it was saved as.
        QVERIFY(back.init == InitMode::Spectral);
        auto& ad = again.find("model.layers.0.self_attn.q_proj")->module->adapter("default");
        QVERIFY(ad.spec().init != InitMode::Spectral);
        QVERIFY(!ad.initialA().defined());
    }

    // A loaded adapter keeps the init its factors were drawn with (diagnostics compare std(A) with
    // it), and loading draws no init of its own: a spec with drawInit off starts from zeros.
    void loadKeepsTheInitItWasDrawnWith()
    {
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        AdapterConfig cfg;
        cfg.targetModules = {"q_proj"};
        cfg.rank = 4;
        cfg.init = InitMode::Rescaled;
        cfg.initSigma = 0.05;
        set.addAdapter(cfg, 1);
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "rescaled";
        savePeftAdapter(set, "default", cfg, dir);
        auto fresh = models::loadCausalLM(fixtures() / "llama");
        AdapterSet again(*fresh);
        const AdapterConfig back = loadPeftAdapter(again, dir);
        QVERIFY(back.init == InitMode::Rescaled);
        auto& loaded = again.find("model.layers.0.self_attn.q_proj")->module->adapter("default");
        QVERIFY(loaded.spec().init == InitMode::Rescaled);
        QCOMPARE(loaded.spec().initSigma, 0.05);
        auto& saved = set.find("model.layers.0.self_attn.q_proj")->module->adapter("default");
        QVERIFY(torch::equal(loaded.A(), saved.A()));

        AdapterSpec spec;
        spec.rank = 3;
        spec.drawInit = false;
        LoraAdapterImpl blank("m", "x", spec, torch::ones({6, 5}));
        QVERIFY(torch::equal(blank.A(), torch::zeros({3, 5})));
        QVERIFY(torch::equal(blank.B(), torch::zeros({6, 3})));
    }

    void badFolderErrors()
    {
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        QTemporaryDir tmp;
        bool threw = false;
        try {
            loadPeftAdapter(set, tmp.path().toStdString());
        } catch (const Error& e) {
            threw = std::string(e.what()).find("adapter_config.json is missing") != std::string::npos;
        }
        QVERIFY(threw);
    }
};

QTEST_GUILESS_MAIN(PeftFixtureTest)
#include "PeftFixtureTest.moc"
