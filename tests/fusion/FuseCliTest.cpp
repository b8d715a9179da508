// `rslora fuse` end to end: stored versions (task@v1:WEIGHT) and folders fused into a folder that
// holds the weighted sum, registered as a new version with merged-from edges carrying weights and
// method; every refusal exits non-zero with its message and leaves neither a folder nor a version
// (an --out inside a source adapter or the store's adapter root too).
#include "common/AtomicFile.h"
#include "common/Sha256.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "models/TensorIO.h"
#include "storage/Store.h"
#include "FusionTestSupport.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

using fusiontest::fixtures;

struct Outcome {
    int code = -1;
    QString out, err;
};

} // namespace

class FuseCliTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path m_root, m_db;

    Outcome run(QStringList args)
    {
        args << "--db" << QString::fromStdString(m_db.string());
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
        p.waitForFinished(120000);
        return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
                QString::fromUtf8(p.readAllStandardError())};
    }
    QString path(const std::string& name) const { return QString::fromStdString((m_root / name).string()); }
    size_t versions()
    {
        storage::Store store(m_db);
        return store.adapters().list().size();
    }
    void expectRefused(const QStringList& args, const QString& needle)
    {
        const size_t before = versions();
        const Outcome o = run(args);
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY2(o.err.contains(needle), qPrintable(o.err));
        QVERIFY(!fs::exists(m_root / "refused"));
        QCOMPARE(versions(), before);
    }

private slots:
    void initTestCase()
    {
        QVERIFY2(fs::exists(fixtures() / "peft" / "lora2"), "RSLORA_SHARED_DIR must point at the shared fixtures");
        QVERIFY2(QFileInfo::exists(QString::fromLocal8Bit(qgetenv("RSLORA_CLI"))), "RSLORA_CLI must name the rslora executable");
        m_root = m_tmp.path().toStdString();
        m_db = m_root / "store.sqlite";
        for (const auto& [folder, task] : {std::pair<std::string, std::string>{"lora", "ta"}, {"lora2", "tb"}}) {
            const Outcome o = run({"adapters", "add", QString::fromStdString((fixtures() / "peft" / folder).string()), "--task",
                                   QString::fromStdString(task)});
            QVERIFY2(o.code == 0, qPrintable(o.err));
        }
    }

    void fusesStoredVersionsWithLineage()
    {
        const Outcome o = run({"fuse", "--adapter", "ta@v1:0.3", "--adapter", "tb@v1:0.7", "--method", "exact", "--out",
                               path("exact"), "--json"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const auto j = nlohmann::json::parse(o.out.toStdString());
        QCOMPARE(j["rank"].get<int>(), 16);
        QCOMPARE(j["relative_error"].get<double>(), 0.0);
        const int64_t id = j["version"]["id"].get<int64_t>();

        // The folder holds the weighted sum and records its sources.
        const auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        const auto fused = engine::fusion::readAdapterFactors(m_root / "exact");
        const std::string q = "model.layers.0.self_attn.q_proj";
        QVERIFY((fused.find(q)->delta() - ref.at("weighted_sum_0.3_0.7.delta_weight." + q + ".weight")).abs().max().item<double>() < 1e-6);
        const auto rec = nlohmann::json::parse(readFile(m_root / "exact" / engine::fusion::kFusionRecordFile));
        QCOMPARE(rec["sources"][0]["label"].get<std::string>(), std::string("ta@v1"));
        QVERIFY(rec["sources"][0].contains("version_id"));
        QCOMPARE(rec["sources"][1]["sha256"].get<std::string>().size(), size_t(64));

        storage::Store store(m_db);
        const storage::AdapterRecord v = store.adapters().require(id);
        QCOMPARE(v.task, std::string("fused"));
        QCOMPARE(v.stage, std::string("merged"));
        QVERIFY(fs::exists(fs::path(v.path) / engine::fusion::kFusionRecordFile));
        QVERIFY(fs::path(v.path) != m_root / "exact"); // the store keeps its own copy
        const auto parents = store.lineage().parents(id);
        QCOMPARE(parents.size(), size_t(2));
        std::map<int64_t, double> weights;
        for (const auto& e : parents) {
            QVERIFY(e.kind == storage::LineageKind::MergedFrom);
            QCOMPARE(e.method, std::string("exact"));
            weights[e.parentId] = *e.weight;
        }
        QCOMPARE(weights[store.adapters().resolve("ta@v1").id], 0.3);
        QCOMPARE(weights[store.adapters().resolve("tb@v1").id], 0.7);
    }

    void fusesAFolderAndAVersionBySvd()
    {
        const Outcome o = run({"fuse", "--adapter", QString::fromStdString((fixtures() / "peft" / "lora").string()) + ":-1",
                               "--adapter", "tb@v1", "--method", "svd", "--rank", "4", "--out", path("svd"), "--task", "mix"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(o.out.contains("stored       mix_svd_v1_") && o.out.contains("(mix v1)"), qPrintable(o.out));
        QVERIFY(o.out.contains("rank 4"));
        storage::Store store(m_db);
        const auto v = store.adapters().resolve("mix@v1");
        const auto parents = store.lineage().parents(v.id);
        QCOMPARE(parents.size(), size_t(1)); // the folder is no stored version
        QCOMPARE(*parents[0].weight, 1.0);
        QCOMPARE(parents[0].method, std::string("svd"));
        QVERIFY(parents[0].detailsJson.find("relative_error") != std::string::npos);
    }

    void modulesThatCancelAreSaidAndStored()
    {
        // lora without its layer-1 modules, subtracted from lora: layer 0 cancels, layer 1 stays.
        auto half = engine::fusion::readAdapterFactors(fixtures() / "peft" / "lora");
        half.modules.erase(std::remove_if(half.modules.begin(), half.modules.end(),
                                          [](const auto& m) { return m.module.find("layers.1.") != std::string::npos; }),
                           half.modules.end());
        QCOMPARE(half.modules.size(), size_t(2));
        engine::fusion::writeAdapterFactors(half, m_root / "half", half.baseModelNameOrPath);
        const Outcome o = run({"fuse", "--adapter", "ta@v1", "--adapter", path("half") + ":-1", "--method", "svd", "--out",
                               path("partial"), "--task", "partial"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(o.out.contains("cancelled    2 of 4 modules: the weighted adapters sum to zero there; written as zeros, they change "
                                "nothing (first model.layers.0.self_attn.q_proj)"),
                 qPrintable(o.out));
        QVERIFY2(o.out.contains("error        0 relative Frobenius"), qPrintable(o.out)); // layer 1 alone: rank 8 of 8
        const auto rec = nlohmann::json::parse(readFile(m_root / "partial" / engine::fusion::kFusionRecordFile));
        QCOMPARE(rec["cancelled_modules"].get<int>(), 2);
        QCOMPARE(rec["modules"][0]["zero"].get<bool>(), true);
        QCOMPARE(rec["modules"][2]["zero"].get<bool>(), false);
        const auto fused = engine::fusion::readAdapterFactors(m_root / "partial");
        QCOMPARE(fused.find("model.layers.0.self_attn.v_proj")->delta().abs().max().item<double>(), 0.0);
        storage::Store store(m_db);
        const auto v = store.adapters().resolve("partial@v1");
        QVERIFY2(v.method.find("2 of 4 modules zero") != std::string::npos, v.method.c_str());
    }

    void exactRankAboveTheModuleShapeIsNoted()
    {
        // Five r8 copies: rank 40 on v_proj (32×64) is above min(out, in) = 32; q_proj (64×64) is not.
        QStringList args = {"fuse", "--no-store", "--method", "exact", "--out", path("wide-exact")};
        for (int i = 0; i < 5; ++i)
            args << "--adapter" << QString::fromStdString((fixtures() / "peft" / "lora").string()) + ":0.2";
        const Outcome o = run(args);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(o.out.contains("note         2 of 4 modules have a rank above min(out, in) (first model.layers.0.self_attn.v_proj: "
                                "rank 40, 32×64)"),
                 qPrintable(o.out));
        const Outcome narrow = run({"fuse", "--no-store", "--method", "exact", "--out", path("narrow-exact"), "--adapter",
                                    QString::fromStdString((fixtures() / "peft" / "lora").string())});
        QVERIFY2(narrow.code == 0 && !narrow.out.contains("note "), qPrintable(narrow.out + narrow.err));
    }

    void refusalsLeaveNothing()
    {
        const QStringList two = {"fuse", "--adapter", "ta@v1", "--adapter", "tb@v1", "--out", path("refused")};
        expectRefused(two + QStringList{"--method", "linear"}, "exact|svd|ties|dare_linear|dare_ties|magnitude_prune");
        expectRefused(two + QStringList{"--method", "svd", "--rank", "99"}, "above the exact rank 16");
        expectRefused(two + QStringList{"--method", "svd", "--rank", "0"}, "--rank: Value 0 not in range 1 to 65536");
        expectRefused(two + QStringList{"--method", "svd", "--energy", "1.5"}, "--energy: must be a finite number in (0, 1], found 1.5");
        expectRefused(two + QStringList{"--method", "ties", "--density", "0"}, "--density: must be a finite number in (0, 1], found 0");
        expectRefused(two + QStringList{"--method", "dare_linear", "--drop", "1"}, "--drop: must be a finite number in [0, 1), found 1");
        expectRefused(two + QStringList{"--method", "exact", "--density", "0.5"}, "--density applies to ties and magnitude_prune");
        // A seed past 2^64 - 1 was read as 2^64 - 1 (two different seeds, one mask).
        expectRefused(two + QStringList{"--method", "dare_ties", "--seed", "18446744073709551616"},
                      "--seed: must be at most 18446744073709551615 (2^64 - 1), found 18446744073709551616");
        expectRefused(two + QStringList{"--method", "exact", "--rank", "4"}, "--method exact keeps every direction");
        expectRefused({"fuse", "--adapter", "ta@v9", "--method", "exact", "--out", path("refused")}, "ta@v9");
        expectRefused({"fuse", "--adapter", "ta@v1", "--method", "exact", "--out", path("exact")}, "already exists");
        // A --name another version has is refused before fusing (it was refused only when the result was
        // recorded, after the work), naming the version that holds it.
        std::string taken;
        {
            storage::Store store(m_db);
            taken = store.adapters().resolve("tb@v1").name;
        }
        expectRefused(two + QStringList{"--method", "exact", "--name", QString::fromStdString(taken)},
                      "(tb v1) has that name; choose another (nothing was done)");

        // An adapter with its negation cancels: said, for svd as for exact, and nothing written or stored.
        for (const char* method : {"svd", "exact"})
            expectRefused({"fuse", "--adapter", "ta@v1", "--adapter", "ta@v1:-1", "--method", method, "--out", path("refused")},
                          "the adapters cancel: adapter 1 (ta@v1) weighted 1 and adapter 2 (ta@v1) weighted -1 sum to zero");
        expectRefused({"fuse", "--adapter", "ta@v1", "--adapter", "tb@v1", "--method", "dare_linear", "--drop", "0.9999999",
                       "--out", path("refused")},
                      "dare_linear left nothing");

        // Another base model, named in the folder's config: the message names the adapter that differs.
        const fs::path other = m_root / "other-base";
        fs::create_directories(other);
        fs::copy(fixtures() / "peft" / "lora2", other, fs::copy_options::recursive);
        auto config = nlohmann::json::parse(readFile(other / "adapter_config.json"));
        config["base_model_name_or_path"] = "/models/qwen2";
        writeFileAtomic(other / "adapter_config.json", config.dump());
        expectRefused({"fuse", "--adapter", "ta@v1", "--adapter", QString::fromStdString(other.string()), "--method", "exact",
                       "--out", path("refused")},
                      "adapter 2 (" + QString::fromStdString(other.string()) + ") was trained on base model '/models/qwen2'");
    }

    // Adapters that trained biases (bias "lora_only"): refused without --model, naming the option; with
    // it the fused folder holds b + Σ λᵢ (bᵢ − b) and the output counts the biases.
    void trainedBiasesAreFusedAgainstTheModel()
    {
        const std::string q = "model.layers.0.self_attn.q_proj";
        const fs::path dir = m_root / "bias-only";
        fs::create_directories(dir);
        const torch::Tensor base = models::loadSafeTensorsMap(fixtures() / "qwen2" / "model.safetensors").at(q + ".bias");
        torch::manual_seed(4);
        const torch::Tensor trained = base + torch::randn({64}) * 0.5;
        models::saveSafeTensors(dir / "adapter_model.safetensors",
                                std::vector<std::pair<std::string, torch::Tensor>>{
                                    {"base_model.model." + q + ".lora_A.weight", torch::randn({2, 64}) * 0.1},
                                    {"base_model.model." + q + ".lora_B.weight", torch::randn({64, 2}) * 0.1},
                                    {"base_model.model." + q + ".bias", trained}});
        writeFileAtomic(dir / "adapter_config.json",
                        R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "lora_only", "target_modules": ["q_proj"]})");
        const QString a = QString::fromStdString(dir.string());
        const QStringList args = {"fuse", "--adapter", a, "--adapter", a + ":0.5", "--method", "exact", "--no-store"};
        expectRefused(args + QStringList{"--out", path("refused")}, "rslora fuse --model DIR");
        const Outcome o = run(args + QStringList{"--out", path("bias-fused"), "--model",
                                                 QString::fromStdString((fixtures() / "qwen2").string())});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(o.out.contains("biases       1 trained (bias lora_only), fused against"), qPrintable(o.out));
        const auto fused = models::loadSafeTensorsMap(m_root / "bias-fused" / "adapter_model.safetensors");
        const double diff = (fused.at("base_model.model." + q + ".bias") - (base + 1.5 * (trained - base))).abs().max().item<double>();
        QVERIFY2(diff < 1e-5, std::to_string(diff).c_str());
    }

    // A folder written into an adapter would change its files, and a stored version whose files
    // changed is refused from then on (its hash no longer matches).
    void outInsideAnAdapterIsRefused()
    {
        const fs::path own = m_root / "own-adapter";
        fs::copy(fixtures() / "peft" / "lora", own, fs::copy_options::recursive);
        const QString ownArg = QString::fromStdString(own.string());
        expectRefused({"fuse", "--adapter", ownArg, "--adapter", "tb@v1", "--method", "exact", "--out", ownArg + "/fused"},
                      "lies inside the folder of adapter " + ownArg);
        QVERIFY(!fs::exists(own / "fused"));

        fs::path stored, root;
        {
            storage::Store store(m_db);
            stored = store.adapters().resolve("ta@v1").path;
            root = store.adapterRoot();
        }
        const std::string hash = Sha256::directoryHex(stored);
        expectRefused({"fuse", "--adapter", "ta@v1", "--adapter", "tb@v1", "--method", "exact", "--out",
                       QString::fromStdString((stored / "fused").string())},
                      "lies inside the folder of adapter ta@v1");
        QCOMPARE(Sha256::directoryHex(stored), hash);
        // Anywhere under the store's adapter root, even beside the versions it names.
        expectRefused({"fuse", "--adapter", ownArg, "--adapter", "tb@v1", "--method", "exact", "--out",
                       QString::fromStdString((root / "elsewhere" / "fused").string())},
                      "lies inside the store's adapter folder");
        QVERIFY(!fs::exists(root / "elsewhere" / "fused"));
    }
};

QTEST_GUILESS_MAIN(FuseCliTest)
#include "FuseCliTest.moc"
