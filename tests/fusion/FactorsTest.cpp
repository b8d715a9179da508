// Adapters as factors: PEFT fixtures read with the right scales and deltas, mixed-rank folders written
// so that PEFT's and vLLM's scale is 1 and read back identically, every malformed folder refused by
// name with nothing written, and `--adapter` arguments resolved to folders, weights and stored versions.
#include "app/shared/AdapterReference.h"
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/AdapterFactors.h"
#include "FusionTestSupport.h"
#include "models/TensorIO.h"
#include "storage/Store.h"
#include "storage/VersionFiles.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdlib>
#include <filesystem>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

using fusiontest::fixtures;
using fusiontest::maxDiff;

// Copies a fixture adapter folder into `dir` and lets `edit` change its config JSON / tensors.
fs::path editedCopy(const fs::path& from, const fs::path& dir, const std::function<void(nlohmann::json&)>& editConfig,
                    const std::function<void(std::map<std::string, torch::Tensor>&)>& editTensors = {})
{
    fs::create_directories(dir);
    auto config = nlohmann::json::parse(readFile(from / "adapter_config.json"));
    if (editConfig)
        editConfig(config);
    writeFileAtomic(dir / "adapter_config.json", config.dump());
    auto tensors = models::loadSafeTensorsMap(from / "adapter_model.safetensors");
    if (editTensors)
        editTensors(tensors);
    std::vector<std::pair<std::string, torch::Tensor>> list(tensors.begin(), tensors.end());
    models::saveSafeTensors(dir / "adapter_model.safetensors", list);
    return dir;
}

} // namespace

class FactorsTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY2(fs::exists(fixtures() / "peft" / "lora"), "RSLORA_SHARED_DIR must point at the shared fixtures");
    }

    void readsFixtureScalesAndDeltas()
    {
        const AdapterFactors lora = readAdapterFactors(fixtures() / "peft" / "lora");
        const AdapterFactors rs = readAdapterFactors(fixtures() / "peft" / "rslora");
        QCOMPARE(lora.modules.size(), size_t(4));
        QCOMPARE(lora.modules.front().module, std::string("model.layers.0.self_attn.q_proj"));
        QCOMPARE(lora.maxRank(), int64_t(8));
        QCOMPARE(lora.baseModelNameOrPath, std::string("llama"));
        for (const auto& m : lora.modules)
            QCOMPARE(m.scale, 2.0);
        for (const auto& m : rs.modules)
            QVERIFY(std::abs(m.scale - 16.0 / std::sqrt(8.0)) < 1e-12);
        const ModuleFactors* v = lora.find("model.layers.1.self_attn.v_proj");
        QVERIFY(v && v->outFeatures() == 32 && v->inFeatures() == 64);
        QVERIFY(lora.find("model.layers.1.self_attn.k_proj") == nullptr);

        // base + delta equals PEFT's merge_and_unload weights.
        const auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        const auto base = models::loadSafeTensorsMap(fixtures() / "llama" / "model.safetensors");
        for (const auto& m : lora.modules) {
            const std::string w = m.module + ".weight";
            QVERIFY2(maxDiff(base.at(w) + m.delta(), ref.at("lora.merged." + w)) < 1e-6, w.c_str());
        }
        // The PiSSA adapter converted by PEFT has rank 16 and scale 2 against the original base.
        const AdapterFactors pissa = readAdapterFactors(fixtures() / "peft" / "pissa" / "pissa_ft_as_lora");
        QCOMPARE(pissa.maxRank(), int64_t(16));
        QCOMPARE(pissa.modules.front().scale, 2.0);
    }

    void writesMixedRanksWithScaleOne()
    {
        QTemporaryDir tmp;
        torch::manual_seed(3);
        AdapterFactors a;
        for (int i = 0; i < 3; ++i) {
            ModuleFactors m;
            m.module = "model.layers." + std::to_string(i) + ".mlp.down_proj";
            const int r = 2 + 2 * i;
            m.A = torch::randn({r, 12});
            m.B = torch::randn({6, r});
            m.scale = 0.5 + i;
            a.modules.push_back(m);
        }
        const fs::path dir = fs::path(tmp.path().toStdString()) / "out";
        writeAdapterFactors(a, dir, "base-model", {{"rslora_fusion.json", "{}\n"}});
        QVERIFY(fs::exists(dir / "rslora_fusion.json"));
        const auto config = nlohmann::json::parse(readFile(dir / "adapter_config.json"));
        QCOMPARE(config["r"].get<int>(), 6);
        QCOMPARE(config["lora_alpha"].get<double>(), 6.0);
        QCOMPARE(config["use_rslora"].get<bool>(), false);
        QCOMPARE(config["rank_pattern"].size(), size_t(2));
        QCOMPARE(config["alpha_pattern"]["model.layers.0.mlp.down_proj"].get<double>(), 2.0);
        QCOMPARE(config["target_modules"], nlohmann::json({"down_proj"}));
        QCOMPARE(config["base_model_name_or_path"].get<std::string>(), std::string("base-model"));

        const AdapterFactors back = readAdapterFactors(dir);
        QCOMPARE(back.modules.size(), size_t(3));
        for (size_t i = 0; i < 3; ++i) {
            QCOMPARE(back.modules[i].scale, 1.0); // the scale now lives in B
            QVERIFY(maxDiff(back.modules[i].delta(), a.modules[i].delta()) < 1e-5);
        }
        // Our own loader agrees on every module's scale.
        const engine::AdapterConfig c = engine::readPeftAdapterConfig(dir);
        QCOMPARE(c.scaling, engine::ScalingMode::AlphaOverR);

        // A bad extra file name leaves nothing behind.
        const fs::path bad = fs::path(tmp.path().toStdString()) / "bad";
        QVERIFY_THROWS_EXCEPTION(Error, writeAdapterFactors(a, bad, "m", {{"sub/x.json", "{}"}}));
        QVERIFY(!fs::exists(bad));
        QVERIFY_THROWS_EXCEPTION(Error, writeAdapterFactors(AdapterFactors{}, bad, "m"));
        QVERIFY(!fs::exists(bad));
    }

    void refusesMalformedFolders()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path lora = fixtures() / "peft" / "lora";
        auto expectError = [](const fs::path& dir, const std::string& needle) {
            try {
                readAdapterFactors(dir);
                QFAIL(("no error for " + needle).c_str());
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find(needle) != std::string::npos, e.what());
            }
        };
        expectError(root / "missing", "adapter_config.json is missing");
        // Only PEFT's pickle weights: named, with the way to convert them (fuse and merge read this way).
        const fs::path pickle = editedCopy(lora, root / "pickle", [](auto&) {});
        fs::rename(pickle / "adapter_model.safetensors", pickle / "adapter_model.bin");
        expectError(pickle, "adapter_model.bin, PEFT's PyTorch pickle format");
        expectError(editedCopy(lora, root / "dora", [](auto& c) { c["use_dora"] = true; }), "DoRA");
        // bias "lora_only" without bias tensors (the adapted modules have none) trains nothing more:
        // read like any LoRA folder. (Trained bias tensors: ModelExportTest.)
        QVERIFY(readAdapterFactors(editedCopy(lora, root / "bias", [](auto& c) { c["bias"] = "lora_only"; })).biases.empty());
        expectError(editedCopy(lora, root / "rank", [](auto& c) { c["r"] = 4; }), "says r = 4");
        const std::string qA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
        expectError(editedCopy(lora, root / "nan", {}, [&](auto& t) { t[qA][0][0] = std::nan(""); }),
                    qA + "' holds NaN");
        expectError(editedCopy(lora, root / "inf", {}, [&](auto& t) { t[qA][1][2] = INFINITY; }), "infinite");
        expectError(editedCopy(lora, root / "half", {}, [&](auto& t) { t.erase(qA); }), "only one of lora_A and lora_B");
        expectError(editedCopy(lora, root / "shape", {}, [&](auto& t) { t[qA] = torch::zeros({7, 64}); }), "do not pair up");
        expectError(editedCopy(lora, root / "other", {}, [&](auto& t) { t["base_model.model.lm_head.weight"] = torch::zeros({2, 2}); }),
                    "not a lora_A / lora_B weight");
    }

    void resolvesAdapterArguments()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path lora = fixtures() / "peft" / "lora";
        auto r = app::resolveAdapterArgument(lora.string(), nullptr);
        QCOMPARE(r.path, fs::absolute(lora));
        QCOMPARE(r.weight, 1.0);
        QVERIFY(!r.record);
        r = app::resolveAdapterArgument(lora.string() + ":-0.25", nullptr);
        QCOMPARE(r.weight, -0.25);
        QCOMPARE(r.label, lora.string());
        QVERIFY_THROWS_EXCEPTION(Error, app::resolveAdapterArgument(lora.string() + ":nan", nullptr));
        // Weights are applied in float32: one beyond it, or beyond it times the adapter's largest scale
        // (16 / 8 = 2 here), failed every later use with a message naming nothing.
        auto refusal = [](const std::string& argument) {
            try {
                (void)app::resolveAdapterArgument(argument, nullptr);
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        const std::string tooLarge = refusal(lora.string() + ":1e39");
        QVERIFY2(tooLarge.find(":1e39: the weight does not fit float32 (at most 3.40282e+38)") != std::string::npos, tooLarge.c_str());
        const std::string product = refusal(lora.string() + ":-2e38");
        QVERIFY2(product.find("the weight -2e+38 times the adapter's largest scale 2 (lora_alpha / r in ") != std::string::npos
                     && product.find("which does not fit float32") != std::string::npos,
                 product.c_str());
        QCOMPARE(app::resolveAdapterArgument(lora.string() + ":-1e38", nullptr).weight, -1e38);
        QVERIFY_THROWS_EXCEPTION(Error, app::resolveAdapterArgument((root / "nope").string(), nullptr));

        storage::Store store(root / "store.sqlite");
        storage::NewAdapter n;
        n.task = "summaries";
        n.variant = "lora";
        storage::registerAdapterVersion(store, n, lora);
        storage::registerAdapterVersion(store, n, fixtures() / "peft" / "lora2");
        for (const std::string ref : {"summaries@v2", "summaries@2", "summaries:v2"}) {
            r = app::resolveAdapterArgument(ref + ":0.7", &store);
            QVERIFY(r.record);
            QCOMPARE(r.record->version, int64_t(2));
            QCOMPARE(r.weight, 0.7);
            QCOMPARE(r.label, ref);
            QVERIFY(fs::exists(r.path / "adapter_model.safetensors"));
        }
        r = app::resolveAdapterArgument("summaries@v1", &store);
        QCOMPARE(r.record->version, int64_t(1));
        QCOMPARE(r.weight, 1.0);
        try {
            app::resolveAdapterArgument("summaries@v9", &store);
            QFAIL("no error for a missing version");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("task \"summaries\" has no version v9 (its versions: summaries@v1, summaries@v2)") != std::string::npos, e.what());
        }
        // Changed files of a stored version are refused, naming the folder.
        writeFileAtomic(r.path / "adapter_config.json", "{}");
        try {
            app::resolveAdapterArgument("summaries@v1", &store);
            QFAIL("no error for changed files");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("changed since it was recorded") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(FactorsTest)
#include "FactorsTest.moc"
