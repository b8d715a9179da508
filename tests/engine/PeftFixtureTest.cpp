// PEFT folders: the shared PEFT fixtures load and reproduce their logits; our own folders round-trip
// (plain, rsLoRA, random subspace); a spectral adapter exported as rank 2r gives the same model on
// the original base; adapters switch without reloading the base. Keys with PEFT's ".default." load
// under any name, a minimal config takes PEFT's defaults, trained biases become the adapter's change,
// and what cannot be applied (whole modules, NaN, ...) is refused by name before the model changes,
// leaving the base untouched.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/LoraAdapter.h"
#include "engine/PeftAdapterIO.h"
#include "engine/PeftFolderCheck.h"
#include "engine/fusion/AdapterFactors.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

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

const std::string kQ0 = "base_model.model.model.layers.0.self_attn.q_proj";

// A copy of the fixture adapter `from` in `dir`: its config merge-patched with `patch` (null removes a
// key), its tensors edited.
fs::path editedAdapter(const fs::path& from, const fs::path& dir, const nlohmann::json& patch,
                       const std::function<void(std::map<std::string, torch::Tensor>&)>& edit = {})
{
    fs::create_directories(dir);
    auto config = nlohmann::json::parse(readFile(from / kPeftConfigFile));
    config.merge_patch(patch);
    writeFileAtomic(dir / kPeftConfigFile, config.dump(2));
    auto tensors = models::loadSafeTensorsMap(from / kPeftWeightsFile);
    for (auto& [key, t] : tensors)
        t = t.clone(); // edits never reach the mapped fixture
    if (edit)
        edit(tensors);
    const std::vector<std::pair<std::string, torch::Tensor>> list(tensors.begin(), tensors.end());
    models::saveSafeTensors(dir / kPeftWeightsFile, list);
    return dir;
}

template <typename F>
std::string errorOf(F&& f)
{
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

// The fixture adapter with its config merge-patched by `patch`: the loader's refusal, which must hold
// `expected` and leave no adapter attached; fusion and merge (readAdapterFactors) and the registration
// check (checkPeftFolder) must refuse it with the same message.
std::string readersRefusal(const std::string& patch, const std::string& expected)
{
    QTemporaryDir tmp;
    const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "edited",
                                       nlohmann::json::parse(patch));
    auto model = models::loadCausalLM(fixtures() / "llama");
    AdapterSet set(*model);
    const std::string loaded = errorOf([&] { loadPeftAdapter(set, dir, "x"); });
    if (loaded.find(expected) == std::string::npos || !set.adapterNames().empty())
        return "unexpected: " + loaded;
    const std::string factors = errorOf([&] { (void)fusion::readAdapterFactors(dir); });
    const std::string folder = errorOf([&] { (void)checkPeftFolder(dir, std::nullopt); });
    if (factors != loaded || folder != loaded)
        return "readers differ: " + loaded + " / " + factors + " / " + folder;
    return loaded;
}

torch::Tensor slotBias(models::CausalLM& model, const std::string& name)
{
    for (const auto& slot : model.linearSlots())
        if (slot.name == name)
            return slot.get()->bias;
    return {};
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

        // A training run's output folder picked instead of its adapter folder is told where the adapter is.
        const fs::path runOut = fs::path(tmp.path().toStdString()) / "out";
        fs::create_directories(runOut / "adapter");
        fs::copy_file(fixtures() / "peft/lora" / kPeftConfigFile, runOut / "adapter" / kPeftConfigFile);
        const std::string wrongFolder = errorOf([&] { loadPeftAdapter(set, runOut, "x"); });
        QVERIFY2(wrongFolder.find("adapter_config.json is missing; it looks like a training run's output folder, whose "
                                  "adapter is '" + (runOut / "adapter").string() + "'") != std::string::npos, wrongFolder.c_str());
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(runOut, std::nullopt); }), wrongFolder);

        // A folder PEFT saved with safe_serialization=False: the loader said only that it could not open
        // adapter_model.safetensors; every reader now names the pickle it found and how to convert it.
        const fs::path pickled = fs::path(tmp.path().toStdString()) / "pickled";
        fs::create_directories(pickled);
        fs::copy_file(fixtures() / "peft/lora" / kPeftConfigFile, pickled / kPeftConfigFile);
        writeFileAtomic(pickled / "adapter_model.bin", "PK\x03\x04 a torch.save zip archive");
        const std::string expected = "'" + pickled.string() + "' is not a PEFT adapter folder: adapter_model.safetensors is "
                                     "missing; the folder holds adapter_model.bin, PEFT's PyTorch pickle format, which is not read here";
        const std::string loaded = errorOf([&] { loadPeftAdapter(set, pickled, "x"); });
        QVERIFY2(loaded.rfind(expected, 0) == 0, loaded.c_str());
        QVERIFY(set.adapterNames().empty());
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(pickled, std::nullopt); }), loaded);
        fs::remove(pickled / "adapter_model.bin");
        QCOMPARE(errorOf([&] { loadPeftAdapter(set, pickled, "x"); }),
                 "'" + pickled.string() + "' is not a PEFT adapter folder: adapter_model.safetensors is missing");
    }

    // PEFT's state-dict keys carry the saving session's adapter name (".default."); they load under
    // any name here, to the same numbers as the plain keys. A second A for one module is refused.
    void defaultNamedKeysLoadUnderAnyName()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path lora = fixtures() / "peft/lora";
        const fs::path named = editedAdapter(lora, root / "named", nlohmann::json::object(), [](auto& t) {
            std::map<std::string, torch::Tensor> renamed;
            for (const auto& [key, v] : t)
                renamed[key.substr(0, key.rfind(".weight")) + ".default.weight"] = v;
            t = std::move(renamed);
        });
        QVERIFY(models::loadSafeTensorsMap(named / kPeftWeightsFile).count(kQ0 + ".lora_A.default.weight") == 1);
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        loadPeftAdapter(set, lora, "plain");
        loadPeftAdapter(set, named, "stage1");
        int compared = 0;
        for (const auto& m : set.modules()) {
            if (!m.module->hasAdapter("plain"))
                continue;
            QVERIFY(m.module->hasAdapter("stage1"));
            auto& plain = m.module->adapter("plain");
            auto& stage = m.module->adapter("stage1");
            QVERIFY(torch::equal(plain.A(), stage.A()));
            QVERIFY(torch::equal(plain.B(), stage.B()));
            QCOMPARE(stage.scale(), plain.scale());
            ++compared;
        }
        QCOMPARE(compared, 4);
        const Inputs in = inputs();
        set.setActive({{"plain", 1.0}});
        const auto expected = logitsNoMask(*model, in);
        set.setActive({{"stage1", 1.0}});
        QVERIFY(torch::equal(logitsNoMask(*model, in), expected));

        const fs::path twice = editedAdapter(lora, root / "twice", nlohmann::json::object(), [](auto& t) {
            t[kQ0 + ".lora_A.default.weight"] = t.at(kQ0 + ".lora_A.weight").clone();
        });
        const std::string message = errorOf([&] { loadPeftAdapter(set, twice, "x"); });
        QVERIFY2(message.find("tensors '" + kQ0 + ".lora_A.default.weight' and '" + kQ0 + ".lora_A.weight' are both lora_A")
                     != std::string::npos,
                 message.c_str());
        auto names = set.adapterNames();
        QVERIFY(std::find(names.begin(), names.end(), "x") == names.end());

        // Another name in the keys: PeftModel.from_pretrained leaves those weights out (it loads into
        // 'default'), so the folder is refused by the loader and by the check before registration.
        const fs::path other = editedAdapter(lora, root / "other", nlohmann::json::object(), [](auto& t) {
            std::map<std::string, torch::Tensor> renamed;
            for (const auto& [key, v] : t)
                renamed[key.substr(0, key.rfind(".weight")) + ".myname.weight"] = v;
            t = std::move(renamed);
        });
        const std::string otherName = errorOf([&] { loadPeftAdapter(set, other, "y"); });
        QVERIFY2(otherName.find(".myname.weight' carries the adapter name 'myname'") != std::string::npos, otherName.c_str());
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(other, std::nullopt); }), otherName);
        names = set.adapterNames();
        QVERIFY(std::find(names.begin(), names.end(), "y") == names.end());
    }

    // PEFT's minimal config names neither r nor lora_alpha: r = 8 and lora_alpha = 8, scale 1.
    void minimalConfigTakesPeftDefaults()
    {
        QTemporaryDir tmp;
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "minimal",
                                           nlohmann::json::object());
        writeFileAtomic(dir / kPeftConfigFile, R"({"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"]})");
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        const AdapterConfig cfg = loadPeftAdapter(set, dir, "minimal");
        QCOMPARE(cfg.rank, 8);
        QCOMPARE(cfg.alpha, 8.0);
        QVERIFY(cfg.scaling == ScalingMode::AlphaOverR);
        QCOMPARE(set.modules().size(), size_t(4));
        for (const auto& m : set.modules()) {
            const auto& ad = m.module->adapter("minimal");
            QCOMPARE(ad.spec().rank, 8);
            QCOMPARE(ad.spec().alpha, 8.0);
            QCOMPARE(ad.scale(), 1.0);
        }
    }

    // Tensors the loader cannot apply are refused by name before anything is attached.
    void refusesTensorsItCannotApply_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("expected");
        QTest::newRow("lora_B bias") << "lora_B bias"
                                     << QString::fromStdString(kQ0 + ".lora_B.bias' is not a lora_A / lora_B weight: it is a bias of lora_B");
        QTest::newRow("embedding") << "embedding"
                                   << "embed_tokens.lora_embedding_A' is not a lora_A / lora_B weight: it is part of an embedding LoRA";
        QTest::newRow("whole module") << "whole module" << "lm_head.weight' is not a lora_A / lora_B weight: it is a whole module's weight";
        QTest::newRow("module bias") << "module bias"
                                     << QString::fromStdString(kQ0 + ".bias' is not a lora_A / lora_B weight: it is a trained bias");
        QTest::newRow("nan") << "nan" << QString::fromStdString(kQ0 + ".lora_A.weight' holds NaN or infinite values");
        QTest::newRow("infinite") << "infinite" << QString::fromStdString(kQ0 + ".lora_B.weight' holds NaN or infinite values");
        QTest::newRow("integer") << "integer" << QString::fromStdString(kQ0 + ".lora_B.weight' is not floating point (dtype I64");
        QTest::newRow("second B") << "second B" << "are both lora_B of model.layers.0.self_attn.q_proj";
    }
    void refusesTensorsItCannotApply()
    {
        QFETCH(QString, edit);
        QFETCH(QString, expected);
        const std::string e = edit.toStdString();
        QTemporaryDir tmp;
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "edited",
                                           nlohmann::json::object(), [&](std::map<std::string, torch::Tensor>& t) {
            const std::string a = kQ0 + ".lora_A.weight", b = kQ0 + ".lora_B.weight";
            if (e == "lora_B bias")
                t[kQ0 + ".lora_B.bias"] = torch::zeros({64});
            else if (e == "embedding")
                t["base_model.model.model.embed_tokens.lora_embedding_A"] = torch::zeros({8, 256});
            else if (e == "whole module")
                t["base_model.model.lm_head.weight"] = torch::zeros({256, 64});
            else if (e == "module bias")
                t[kQ0 + ".bias"] = torch::zeros({64});
            else if (e == "nan")
                t[a][0][0] = std::nan("");
            else if (e == "infinite")
                t[b][3][1] = INFINITY;
            else if (e == "integer")
                t[b] = torch::ones({64, 8}, torch::kLong);
            else if (e == "second B")
                t[kQ0 + ".lora_B.default.weight"] = t.at(b).clone();
        });
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        const std::string message = errorOf([&] { loadPeftAdapter(set, dir, "x"); });
        QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
        QVERIFY(set.adapterNames().empty());
    }

    // An F64 factor holding a finite value beyond float32's range becomes infinite when it is applied
    // (in float32 or narrower): it loaded and gave NaN logits, and registration accepted it. Every
    // reader refuses it by name, as it refuses NaN; the largest float32 value itself is accepted.
    void valuesBeyondFloat32AreRefusedByEveryReader()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        auto edited = [&](const std::string& name, double value) {
            return editedAdapter(fixtures() / "peft/lora", root / name, nlohmann::json::object(), [&](auto& t) {
                auto& b = t.at(kQ0 + ".lora_B.weight");
                b = b.to(torch::kFloat64);
                b[5][7] = value;
            });
        };
        const fs::path beyond = edited("beyond", 4e38);
        const std::string expected = (beyond / kPeftWeightsFile).string() + ": tensor '" + kQ0
            + ".lora_B.weight' holds F64 values beyond float32's range (magnitude above 3.4e38), which become infinite "
              "when computed in float32 or narrower";
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        QCOMPARE(errorOf([&] { loadPeftAdapter(set, beyond, "x"); }), expected);
        QVERIFY(set.adapterNames().empty());
        QCOMPARE(errorOf([&] { (void)fusion::readAdapterFactors(beyond); }), expected);
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(beyond, std::nullopt); }), expected);

        const fs::path largest = edited("largest", double(std::numeric_limits<float>::max()));
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(largest, std::nullopt); }), std::string("no error"));
        QCOMPARE(errorOf([&] { (void)fusion::readAdapterFactors(largest); }), std::string("no error"));
        QCOMPARE(errorOf([&] { loadPeftAdapter(set, largest, "largest"); }), std::string("no error"));
    }

    // PEFT loads a rank above a layer's width (B A then has rank min(in, out)); the loader refused
    // it while the folder check, merge and fusion took it, so a registered adapter could not be
    // served. It loads now and gives the outputs of the weights it merges into.
    void ranksAboveTheLayerWidthLoad()
    {
        QTemporaryDir tmp;
        constexpr int64_t r = 80; // q_proj is 64 x 64, v_proj 32 x 64
        torch::manual_seed(11);
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "wide",
                                           nlohmann::json{{"r", r}, {"lora_alpha", 2 * r}}, [&](auto& t) {
            for (auto& [key, v] : t)
                v = key.find("lora_A") != std::string::npos ? torch::randn({r, v.size(1)}) * 0.05 : torch::randn({v.size(0), r}) * 0.05;
        });
        QCOMPARE(checkPeftFolder(dir, fixtures() / "llama").rank, int64_t(r));
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        loadPeftAdapter(set, dir, "wide");
        const Inputs in = inputs();
        const torch::Tensor adapted = logitsNoMask(*model, in);

        auto merged = models::loadCausalLM(fixtures() / "llama");
        const auto factors = fusion::readAdapterFactors(dir);
        QCOMPARE(factors.modules.size(), size_t(4));
        {
            torch::NoGradGuard ng;
            for (const auto& m : factors.modules)
                for (auto& slot : merged->linearSlots())
                    if (slot.name == m.module)
                        slot.get()->weight.add_(m.B.matmul(m.A) * m.scale);
        }
        const double diff = (logitsNoMask(*merged, in) - adapted).abs().max().item<double>();
        QVERIFY2(diff < 1e-4, qPrintable(QString("max diff %1").arg(diff)));
        const double changed = (adapted - logitsNoMask(*models::loadCausalLM(fixtures() / "llama"), in)).abs().max().item<double>();
        QVERIFY(changed > 1e-2);
    }

    // Tensors of modules the config does not target are what PEFT ignores (it wraps only targeted
    // modules and warns about the rest): every reader refuses them, naming the first such tensor and
    // the field that leaves it out, instead of applying them. The fixture holds q_proj and v_proj of
    // layers 0 and 1.
    void untargetedTensorsAreRefused_data()
    {
        QTest::addColumn<QString>("patch");
        QTest::addColumn<QString>("expected");
        const std::string q1 = "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight";
        QTest::newRow("layers_to_transform") << R"({"layers_to_transform": [0]})"
            << QString::fromStdString("tensor '" + q1 + "' adapts model.layers.1.self_attn.q_proj, which adapter_config.json does "
                                      "not target: \"layers_to_transform\" [0] leaves out its layer 1");
        QTest::newRow("layers_to_transform int") << R"({"layers_to_transform": 1})"
            << QString::fromStdString("tensor '" + kQ0 + ".lora_A.weight' adapts model.layers.0.self_attn.q_proj");
        QTest::newRow("layers_pattern") << R"({"layers_to_transform": [0, 1], "layers_pattern": "blocks"})"
            << "\"layers_to_transform\" [0, 1] is set, and its name has no layer index after \"layers_pattern\" [\"blocks\"]";
        QTest::newRow("regex") << R"({"target_modules": ".*\\.k_proj"})"
            << QString::fromStdString("tensor '" + kQ0 + ".lora_A.weight' adapts model.layers.0.self_attn.q_proj, which "
                                      "adapter_config.json does not target: \"target_modules\" is the regex");
        QTest::newRow("regex suffix only") << R"({"target_modules": "q_proj|v_proj"})" << "does not match the whole name";
        QTest::newRow("exclude list") << R"({"exclude_modules": ["model.layers.0.self_attn.q_proj"]})"
            << "\"exclude_modules\" [\"model.layers.0.self_attn.q_proj\"] names it";
        QTest::newRow("exclude suffix") << R"({"exclude_modules": ["v_proj"]})"
            << "adapts model.layers.0.self_attn.v_proj, which adapter_config.json does not target: \"exclude_modules\"";
        QTest::newRow("exclude regex") << R"({"exclude_modules": ".*layers\\.1\\..*"})" << "(a regex) matches it";
        QTest::newRow("list") << R"({"target_modules": ["q_proj"]})"
            << "adapts model.layers.0.self_attn.v_proj, which adapter_config.json does not target: \"target_modules\" [\"q_proj\"] does not name it";
        QTest::newRow("no partial names") << R"({"target_modules": ["_proj"]})" << "does not name it";
    }
    void untargetedTensorsAreRefused()
    {
        QFETCH(QString, patch);
        QFETCH(QString, expected);
        const std::string loaded = readersRefusal(patch.toStdString(), expected.toStdString());
        QVERIFY2(loaded.find("PEFT leaves such a module unchanged") != std::string::npos, loaded.c_str());
    }

    // Without target_modules PEFT targets its default for the model type (q_proj and v_proj for every
    // architecture here) and leaves other modules' tensors unused; they were applied here, so the
    // outputs differed from PEFT's. Every reader now refuses them like any untargeted tensor.
    void missingTargetModulesMeanPeftsDefaults()
    {
        QTemporaryDir tmp;
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "k",
                                           nlohmann::json::parse(R"({"target_modules": null})"), [](auto& t) {
            std::map<std::string, torch::Tensor> renamed;
            for (const auto& [key, v] : t) {
                std::string k = key;
                if (const size_t at = k.find("layers.1.self_attn.v_proj"); at != std::string::npos)
                    k.replace(at, std::string("layers.1.self_attn.v_proj").size(), "layers.1.self_attn.k_proj");
                renamed[k] = v;
            }
            t = std::move(renamed);
        });
        const std::string expected = (dir / kPeftWeightsFile).string()
            + ": tensor 'base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight' adapts model.layers.1.self_attn.k_proj, "
              "which adapter_config.json does not target: \"target_modules\" is not set, so PEFT adapts its default targets for "
              "the model type, [\"q_proj\", \"v_proj\"] (the same for Llama, Mistral, Qwen2 and Qwen3). PEFT leaves such a module "
              "unchanged";
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        const std::string loaded = errorOf([&] { loadPeftAdapter(set, dir, "x"); });
        QVERIFY2(loaded.rfind(expected, 0) == 0, loaded.c_str());
        QVERIFY(set.adapterNames().empty());
        QCOMPARE(errorOf([&] { (void)fusion::readAdapterFactors(dir); }), loaded);
        QCOMPARE(errorOf([&] { (void)checkPeftFolder(dir, std::nullopt); }), loaded);
    }

    // What PEFT applies in full loads: a target named in full overrides layers_to_transform, a
    // layers_pattern naming the list, a regex over whole names, exclusions of other modules, no
    // target_modules at all (PEFT's default q_proj and v_proj, which the fixture adapts).
    void targetedTensorsLoad_data()
    {
        QTest::addColumn<QString>("patch");
        QTest::newRow("as saved") << "{}";
        QTest::newRow("layers listed") << R"({"layers_to_transform": [1, 0]})";
        QTest::newRow("layers_pattern") << R"({"layers_to_transform": [0, 1], "layers_pattern": ["h", "layers"]})";
        QTest::newRow("full names beat layers") << R"({"layers_to_transform": [0], "target_modules": ["q_proj", "v_proj",
            "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]})";
        QTest::newRow("regex") << R"({"target_modules": "model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj"})";
        QTest::newRow("all-linear") << R"({"target_modules": "all-linear"})";
        QTest::newRow("exclude others") << R"({"exclude_modules": ["k_proj", "lm_head"]})";
        QTest::newRow("no target_modules") << R"({"target_modules": null})";
    }
    void targetedTensorsLoad()
    {
        QFETCH(QString, patch);
        QTemporaryDir tmp;
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "edited",
                                           nlohmann::json::parse(patch.toStdString()));
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        loadPeftAdapter(set, dir, "x");
        int adapted = 0;
        for (const auto& m : set.modules())
            adapted += m.module->hasAdapter("x") ? 1 : 0;
        QCOMPARE(adapted, 4);
        QCOMPARE(int(fusion::readAdapterFactors(dir).modules.size()), 4);
    }

    // A scale or weight beyond float32 used to pass the checks and fail later, in every forward pass,
    // as "value cannot be converted to type float without overflow" naming nothing.
    void scalesBeyondFloat32AreRefusedOnRead_data()
    {
        QTest::addColumn<QString>("patch");
        QTest::addColumn<QString>("expected");
        QTest::newRow("lora_alpha") << R"({"lora_alpha": 1e300})" << "\"lora_alpha\" must fit float32 (at most 3.40282e+38)";
        QTest::newRow("lora_alpha 1e39") << R"({"lora_alpha": 1e39})" << "found 1e+39";
        QTest::newRow("alpha_pattern") << R"({"alpha_pattern": {"v_proj": 1e39}})" << "\"alpha_pattern.v_proj\" must fit float32";
        QTest::newRow("lora_alpha 0") << R"({"lora_alpha": 0})" << "\"lora_alpha\" must be greater than 0";
        QTest::newRow("negative") << R"({"alpha_pattern": {"q_proj": -16}})" << "\"alpha_pattern.q_proj\" must be greater than 0";
        QTest::newRow("scale 0 in float32") << R"({"lora_alpha": 1e-45})"
            << "model.layers.0.self_attn.q_proj has scale 1.25e-46 (lora_alpha 1e-45 / r = 8, from adapter_config.json), which is 0 in float32";
    }
    void scalesBeyondFloat32AreRefusedOnRead()
    {
        QFETCH(QString, patch);
        QFETCH(QString, expected);
        const std::string loaded = readersRefusal(patch.toStdString(), expected.toStdString());
        QVERIFY2(loaded.find(kPeftConfigFile) != std::string::npos, loaded.c_str());
    }

    // A load that fails on a later module leaves no adapter on the earlier ones.
    void failedLoadLeavesNothingBehind()
    {
        QTemporaryDir tmp;
        const std::string v1 = "base_model.model.model.layers.1.self_attn.v_proj";
        const fs::path dir = editedAdapter(fixtures() / "peft/lora", fs::path(tmp.path().toStdString()) / "narrow",
                                           nlohmann::json::object(), [&](auto& t) { t[v1 + ".lora_A.weight"] = torch::zeros({8, 32}); });
        auto model = models::loadCausalLM(fixtures() / "llama");
        AdapterSet set(*model);
        const std::string message = errorOf([&] { loadPeftAdapter(set, dir, "x"); });
        QVERIFY2(message.find("tensor '" + v1 + ".lora_A.weight' has shape [8, 32], but model.layers.1.self_attn.v_proj has 64 inputs")
                     != std::string::npos,
                 message.c_str());
        for (const auto& m : set.modules())
            QVERIFY2(!m.module->hasAdapter("x"), m.name.c_str());
    }

    // A bias "lora_only" adapter's trained biases: PEFT writes them into the base layers; here the
    // adapter carries the change (trained − base) and the base keeps its bias. Alone it gives what
    // PEFT gives; beside others (a weight, per-row weights, a mixed batch) only where it is active;
    // unloaded, the model is as it was. What cannot be applied is refused before anything changes.
    void loraOnlyBiasIsTheAdaptersChange()
    {
        const std::string q = "model.layers.0.self_attn.q_proj";
        auto model = models::loadCausalLM(fixtures() / "qwen2");
        const torch::Tensor before = slotBias(*model, q).clone();
        QVERIFY(before.defined() && before.numel() == 64);
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "lora_only";
        const fs::path plainDir = fs::path(tmp.path().toStdString()) / "plain";
        fs::create_directories(dir);
        fs::create_directories(plainDir);
        torch::manual_seed(7);
        const torch::Tensor change = torch::randn({64}) * 0.5;
        std::vector<std::pair<std::string, torch::Tensor>> tensors = {
            {kPeftKeyPrefix + q + ".lora_A.weight", torch::randn({2, 64}) * 0.1},
            {kPeftKeyPrefix + q + ".lora_B.weight", torch::randn({64, 2}) * 0.1},
            {kPeftKeyPrefix + q + ".bias", before + change},
        };
        models::saveSafeTensors(dir / kPeftWeightsFile, tensors);
        const std::string config = R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "lora_only", "target_modules": ["q_proj"]})";
        writeFileAtomic(dir / kPeftConfigFile, config);
        // PEFT's way, to compare with: the same factors, and the trained bias written into the base.
        models::saveSafeTensors(dir.parent_path() / "plain" / kPeftWeightsFile,
                                std::vector<std::pair<std::string, torch::Tensor>>(tensors.begin(), tensors.end() - 1));
        writeFileAtomic(plainDir / kPeftConfigFile, R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})");
        auto peftModel = models::loadCausalLM(fixtures() / "qwen2");
        AdapterSet peftSet(*peftModel);
        loadPeftAdapter(peftSet, plainDir, "x");
        auto peftBias = [&](double w) {
            torch::NoGradGuard ng;
            slotBias(*peftModel, q).copy_(before + w * change);
        };

        const torch::Tensor ids = torch::tensor({1, 5, 9, 13, 17, 21, 40, 2, 7, 99, 3, 250}, torch::kLong).view({2, 6});
        auto logits = [&](models::CausalLM& m) {
            torch::NoGradGuard ng;
            return m.forward(ids, torch::ones_like(ids)).logits;
        };
        auto diff = [](const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); };
        const torch::Tensor baseLogits = logits(*model);

        AdapterSet set(*model);
        loadPeftAdapter(set, dir, "x");
        QVERIFY(torch::equal(slotBias(*model, q), before));
        const torch::Tensor& delta = set.find(q)->module->adapter("x").biasDelta();
        QVERIFY(delta.defined());
        QVERIFY(torch::allclose(delta, change, 0, 1e-6));
        peftBias(1.0);
        const torch::Tensor alone = logits(*model);
        QVERIFY2(diff(alone, logits(*peftModel)) < 1e-5, std::to_string(diff(alone, logits(*peftModel))).c_str());
        QVERIFY(diff(alone, baseLogits) > 1e-3); // the change is seen
        // Inactive: exactly the base.
        set.setActive({});
        QVERIFY(torch::equal(logits(*model), baseLogits));
        // At weight 0.5, half the change and half the update.
        set.setActive({{"x", 0.5}});
        peftSet.setActive({{"x", 0.5}});
        peftBias(0.5);
        QVERIFY2(diff(logits(*model), logits(*peftModel)) < 1e-5, std::to_string(diff(logits(*model), logits(*peftModel))).c_str());
        // Per-row weights (a gate's choice): row 0 takes the adapter, row 1 does not.
        set.setActive({ActiveAdapter("x", 1.0, torch::tensor({1.0f, 0.0f}))});
        torch::Tensor rows = logits(*model);
        QVERIFY2(diff(rows[0], alone[0]) < 1e-5, std::to_string(diff(rows[0], alone[0])).c_str());
        QVERIFY2(diff(rows[1], baseLogits[1]) < 1e-5, std::to_string(diff(rows[1], baseLogits[1])).c_str());
        // A mixed batch (serving): the same.
        set.setActive({});
        set.setRowAdapters({RowAdapterSet{{"x", 1.0}}, RowAdapterSet{}});
        rows = logits(*model);
        set.setRowAdapters({});
        QVERIFY2(diff(rows[0], alone[0]) < 1e-5, std::to_string(diff(rows[0], alone[0])).c_str());
        QVERIFY2(diff(rows[1], baseLogits[1]) < 1e-5, std::to_string(diff(rows[1], baseLogits[1])).c_str());
        // Unloaded: the model as it was.
        set.find(q)->module->removeAdapter("x");
        QVERIFY(torch::equal(logits(*model), baseLogits));
        QVERIFY(torch::equal(slotBias(*model, q), before));

        // Without lora_only in the config the bias is no tensor an adapter may hold.
        writeFileAtomic(dir / kPeftConfigFile, R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})");
        std::string message = errorOf([&] { loadPeftAdapter(set, dir, "y"); });
        QVERIFY2(message.find("it is a trained bias of " + q + ", which only an adapter with bias \"lora_only\"") != std::string::npos,
                 message.c_str());
        QVERIFY(torch::equal(slotBias(*model, q), before));

        // A bias that does not fit the layer is refused before anything is written.
        writeFileAtomic(dir / kPeftConfigFile, config);
        tensors.back().second = torch::zeros({63});
        models::saveSafeTensors(dir / kPeftWeightsFile, tensors);
        message = errorOf([&] { loadPeftAdapter(set, dir, "y"); });
        QVERIFY2(message.find(std::string("tensor '") + kPeftKeyPrefix + q + ".bias' has shape [63]") != std::string::npos, message.c_str());
        QVERIFY(!set.find(q)->module->hasAdapter("y"));
        QVERIFY(torch::equal(slotBias(*model, q), before));

        QVERIFY(torch::equal(logits(*model), baseLogits));
    }

    // Without bias tensors a lora_only adapter loads beside others and unloads leaving the base as it was.
    void loraOnlyWithoutBiasTensorsLeavesTheBase()
    {
        const std::string q = "model.layers.0.self_attn.q_proj";
        auto model = models::loadCausalLM(fixtures() / "qwen2");
        const torch::Tensor before = slotBias(*model, q).clone();
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "lora_only";
        fs::create_directories(dir);
        torch::manual_seed(7);
        models::saveSafeTensors(dir / kPeftWeightsFile, std::vector<std::pair<std::string, torch::Tensor>>{
                                                            {kPeftKeyPrefix + q + ".lora_A.weight", torch::randn({2, 64}) * 0.1},
                                                            {kPeftKeyPrefix + q + ".lora_B.weight", torch::randn({64, 2}) * 0.1}});
        writeFileAtomic(dir / kPeftConfigFile,
                        R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "lora_only", "target_modules": ["q_proj"]})");
        AdapterSet set(*model);
        loadPeftAdapter(set, dir, "x");
        QVERIFY(set.find(q) && set.find(q)->module->hasAdapter("x"));
        QVERIFY(torch::equal(slotBias(*model, q), before));
        set.find(q)->module->removeAdapter("x");
        QVERIFY(torch::equal(slotBias(*model, q), before));
    }
};

QTEST_GUILESS_MAIN(PeftFixtureTest)
#include "PeftFixtureTest.moc"
