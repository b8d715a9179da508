// `rslora fuse --grid` and `rslora gate train/eval` end to end on a tiny saved model and two saved
// adapters: the grid's table has every point with the loss `evaluateLoss` gives in process, the
// best point, refusals with exit code 1 (stored versions of another base model than each other or
// than --model too, with nothing stored), the grid stored as evaluations of stored versions; a gate
// trains, saves, and reports weights per example; a gate is stored as a version of stage "gate" with
// lineage to the adapters it weighs, evaluates the same by reference as by folder, and is refused
// where an adapter is expected.
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/PeftAdapterIO.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include "FusionTestSupport.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;
using fusiontest::tinyConfig;

namespace {

struct Outcome {
    int code = -1;
    std::string out, err;
};

Outcome runCli(const QStringList& args)
{
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(120000);
    return {p.exitCode(), p.readAllStandardOutput().toStdString(), p.readAllStandardError().toStdString()};
}

QString q(const fs::path& p)
{
    return QString::fromStdString(p.string());
}

AdapterConfig adapterConfig(const std::string& name)
{
    AdapterConfig a;
    a.name = name;
    a.targetModules = {"q_proj", "v_proj"};
    a.rank = 4;
    a.alpha = 8;
    return a;
}

} // namespace

class FusionCliTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_root;
    std::vector<TrainExample> m_rows;

    // Stores adapters A and B as <prefix>A@v1 and <prefix>B@v1 in `db`: the error, "" when both were stored.
    std::string storeBothAdapters(const QString& db, const QString& prefix)
    {
        for (const char* n : {"A", "B"}) {
            const auto add = runCli({"adapters", "add", q(m_root / n), "--task", prefix + n, "--base-model", q(m_root / "model"), "--db", db});
            if (add.code != 0)
                return add.err;
        }
        return {};
    }

private slots:
    void initTestCase()
    {
        if (qgetenv("RSLORA_CLI").isEmpty() || !QFileInfo::exists(QString::fromLocal8Bit(qgetenv("RSLORA_CLI"))))
            QSKIP("RSLORA_CLI (the rslora executable) is not available");
        torch::set_num_threads(1);
        m_root = m_dir.path().toStdString();
        auto model = models::createCausalLM(tinyConfig(), 5);
        model->saveModelFolder(m_root / "model");
        AdapterSet set(*model);
        for (const char* n : {"a", "b"}) {
            set.addAdapter(adapterConfig(n), n[0] == 'a' ? 1 : 2);
            torch::NoGradGuard ng;
            for (auto& m : set.modules())
                if (m.module->hasAdapter(n))
                    m.module->adapter(n).factorB().normal_(0.0, 0.5);
            savePeftAdapter(set, n, adapterConfig(n), m_root / (n[0] == 'a' ? "A" : "B"));
        }
        std::mt19937_64 rng(3);
        std::ofstream val(m_root / "val.jsonl");
        for (int i = 0; i < 6; ++i) {
            TrainExample e;
            e.ids.push_back(i % 2 ? 1 : 2);
            for (int t = 0; t < 8; ++t)
                e.ids.push_back(int64_t(3 + rng() % 29));
            e.labels = e.ids;
            m_rows.push_back(e);
            val << nlohmann::json{{"input_ids", e.ids}}.dump() << "\n";
        }
    }

    void fuseGridPrintsEveryPoint()
    {
        const auto r = runCli({"fuse", "--grid", "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--model", q(m_root / "model"),
                               "--data", q(m_root / "val.jsonl"), "--metric", "loss", "--weights=-1:1:1", "--weights", "0,0.5",
                               "--no-store", "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto j = nlohmann::json::parse(r.out);
        QCOMPARE(j["points"].size(), size_t(6));
        QCOMPARE(j["axes"][0].get<std::vector<double>>(), (std::vector<double>{-1.0, 0.0, 1.0}));
        // Every point as the Evaluator gives it in process with the same weights.
        auto model = models::loadCausalLM(m_root / "model");
        AdapterSet set(*model);
        loadPeftAdapter(set, m_root / "A", "a");
        loadPeftAdapter(set, m_root / "B", "b");
        double best = 1e9;
        for (const auto& p : j["points"]) {
            const auto w = p["weights"].get<std::vector<double>>();
            set.setActive({{"a", w[0]}, {"b", w[1]}});
            const double loss = evaluateLoss(*model, m_rows, 8, 512).loss;
            QVERIFY2(std::abs(p["score"].get<double>() - loss) < 1e-5, p.dump().c_str());
            best = std::min(best, loss);
        }
        QVERIFY(std::abs(j["best"]["score"].get<double>() - best) < 1e-5);

        const auto text = runCli({"fuse", "--grid", "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--model",
                                  q(m_root / "model"), "--data", q(m_root / "val.jsonl"), "--weights", "0,1", "--no-store"});
        QVERIFY2(text.code == 0, text.err.c_str());
        QVERIFY2(text.out.find("<- best") != std::string::npos && text.out.find("best (lowest loss)") != std::string::npos, text.out.c_str());
    }

    void fuseGridRefusals()
    {
        const QStringList common{"fuse", "--grid", "--model", q(m_root / "model"), "--data", q(m_root / "val.jsonl"), "--no-store"};
        auto r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--weights", "0:1:0"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("step must be greater than 0") != std::string::npos, r.err.c_str());
        r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--weights", "0,1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("2 or 3 --adapter, found 1") != std::string::npos, r.err.c_str());
        r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--weights", "0:4:0.1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("1681 points (41 x 41)") != std::string::npos, r.err.c_str());
        r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--weights", "0,1", "--metric", "bleu"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("unknown metric 'bleu'") != std::string::npos, r.err.c_str());
        r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--weights", "0,1", "--metric",
                                        "multiple_choice"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("val.jsonl:1") != std::string::npos, r.err.c_str());
        r = runCli(common + QStringList{"--adapter", q(m_root / "A") + ":0.5", "--adapter", q(m_root / "B"), "--weights", "0,1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("takes none") != std::string::npos, r.err.c_str());
        // One folder twice, also by another spelling of its path, is refused before the model loads.
        for (const QString& again : {q(m_root / "A"), q(m_root / "B" / ".." / "A")}) {
            r = runCli(common + QStringList{"--adapter", q(m_root / "A"), "--adapter", again, "--weights", "0,1"});
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.find("is given twice in the grid (the folder ") != std::string::npos, r.err.c_str());
            QVERIFY2(r.err.find("is also adapter 1") != std::string::npos, r.err.c_str());
        }
    }

    // With a store: the grid becomes an evaluation of each stored version, with the table.
    void fuseGridStoresEvaluations()
    {
        const QString db = q(m_root / "store.sqlite");
        const std::string added = storeBothAdapters(db, "task");
        QVERIFY2(added.empty(), added.c_str());
        const auto r = runCli({"fuse", "--grid", "--adapter", "taskA@v1", "--adapter", "taskB@v1", "--model", q(m_root / "model"),
                               "--data", q(m_root / "val.jsonl"), "--weights", "0,1", "--db", db, "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        QCOMPARE(nlohmann::json::parse(r.out)["stored_evaluations"].get<int>(), 2);
        const auto show = runCli({"adapters", "show", "taskA:v1", "--db", db, "--json"});
        QVERIFY2(show.code == 0, show.err.c_str());
        const auto evals = nlohmann::json::parse(show.out)["evaluations"];
        QCOMPARE(evals.size(), size_t(1));
        QCOMPARE(evals[0]["metric"].get<std::string>(), std::string("fusion_grid/loss with taskB@v1"));
        QVERIFY(evals[0].dump().find("points") != std::string::npos);
    }

    // The grid is stored as evaluations of the versions: versions trained on another base (the same
    // shapes, other weights: only the fingerprints tell) are refused before anything is scored.
    void fuseGridRefusesAnotherBaseModel()
    {
        auto other = models::createCausalLM(tinyConfig(), 6);
        other->saveModelFolder(m_root / "model2");
        const std::string fp1 = models::modelFingerprint(m_root / "model");
        const std::string fp2 = models::modelFingerprint(m_root / "model2");
        QVERIFY(fp1 != fp2);
        const QString db = q(m_root / "bases.sqlite");
        struct Version {
            const char *folder, *task, *model;
        };
        for (const Version& v : {Version{"A", "onModel", "model"}, Version{"B", "onOther", "model2"}, Version{"A", "alsoOther", "model2"}}) {
            const auto add = runCli({"adapters", "add", q(m_root / v.folder), "--task", QString(v.task), "--base-model",
                                     q(m_root / v.model), "--db", db});
            QVERIFY2(add.code == 0, add.err.c_str());
        }
        const QStringList common{"fuse", "--grid", "--model", q(m_root / "model"), "--data", q(m_root / "val.jsonl"),
                                 "--weights", "0,1", "--db", db};
        // Two versions of different bases.
        auto r = runCli(common + QStringList{"--adapter", "onModel@v1", "--adapter", "onOther@v1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("onOther@v1") != std::string::npos && r.err.find("different base models") != std::string::npos
                     && r.err.find(fp2.substr(0, 12)) != std::string::npos && r.err.find(fp1.substr(0, 12)) != std::string::npos,
                 r.err.c_str());
        // Two versions of one base, but not the --model one.
        r = runCli(common + QStringList{"--adapter", "alsoOther@v1", "--adapter", "onOther@v1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("trained on another base model") != std::string::npos && r.err.find(fp2.substr(0, 12)) != std::string::npos
                     && r.err.find(fp1.substr(0, 12)) != std::string::npos,
                 r.err.c_str());
        for (const char* version : {"onModel:v1", "onOther:v1", "alsoOther:v1"}) {
            const auto show = runCli({"adapters", "show", version, "--db", db, "--json"});
            QVERIFY2(show.code == 0, show.err.c_str());
            QVERIFY2(nlohmann::json::parse(show.out)["evaluations"].empty(), show.out.c_str());
        }
    }

    void gateTrainAndEval()
    {
        auto r = runCli({"gate", "train", "--model", q(m_root / "model"), "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"),
                         "--data", q(m_root / "val.jsonl"), "--steps", "20", "--seed", "1", "--out", q(m_root / "gate"), "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        QCOMPARE(nlohmann::json::parse(r.out)["steps"].get<int>(), 20);
        QVERIFY(fs::exists(m_root / "gate" / "gate.safetensors"));
        r = runCli({"gate", "train", "--model", q(m_root / "model"), "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--data",
                    q(m_root / "val.jsonl"), "--out", q(m_root / "gate")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("already exists") != std::string::npos, r.err.c_str());
        // One adapter twice, by its folder or as a copy elsewhere, is refused before anything loads.
        fs::copy(m_root / "A", m_root / "A-copy", fs::copy_options::recursive);
        for (const fs::path& again : {m_root / "A", m_root / "A-copy"}) {
            r = runCli({"gate", "train", "--model", q(m_root / "model"), "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"),
                        "--adapter", q(again), "--data", q(m_root / "val.jsonl"), "--out", q(m_root / "gate-dup")});
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.find("is the same adapter as --adapter " + m_root.string() + "/A") != std::string::npos, r.err.c_str());
            QVERIFY2(r.err.find(again == m_root / "A" ? "(the folder " : "(identical files)") != std::string::npos, r.err.c_str());
            QVERIFY(!fs::exists(m_root / "gate-dup"));
        }
        fs::remove_all(m_root / "A-copy");
        r = runCli({"gate", "eval", "--gate", q(m_root / "gate"), "--data", q(m_root / "val.jsonl"), "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto j = nlohmann::json::parse(r.out);
        QCOMPARE(j["examples"].size(), size_t(6));
        const auto w = j["examples"][3]["weights"].get<std::vector<double>>();
        QCOMPARE(w.size(), size_t(2));
        QVERIFY(std::abs(w[0] + w[1] - 1.0) < 1e-6);
        QCOMPARE(j["single_adapter_loss"].size(), size_t(2));
        r = runCli({"gate", "eval", "--gate", q(m_root / "gate"), "--data", q(m_root / "val.jsonl")});
        QVERIFY2(r.code == 0 && r.out.find("gate loss") != std::string::npos, (r.out + r.err).c_str());
    }

    void gateStoredAsVersion()
    {
        const QString db = q(m_root / "gates.sqlite");
        const std::string added = storeBothAdapters(db, "route");
        QVERIFY2(added.empty(), added.c_str());
        auto r = runCli({"gate", "train", "--model", q(m_root / "model"), "--adapter", "routeA@v1", "--adapter", "routeB@v1", "--data",
                         q(m_root / "val.jsonl"), "--steps", "10", "--seed", "2", "--out", q(m_root / "stored-gate"), "--task", "router",
                         "--notes", "two tasks", "--db", db, "--json"});
        QVERIFY2(r.code == 0, r.err.c_str());
        const auto version = nlohmann::json::parse(r.out)["version"];
        QCOMPARE(version["stage"].get<std::string>(), std::string("gate"));
        QCOMPARE(version["task"].get<std::string>(), std::string("router"));
        QCOMPARE(version["version"].get<int>(), 1);
        QCOMPARE(version["notes"].get<std::string>(), std::string("two tasks"));
        QVERIFY2(version["method"].get<std::string>().find("learned gate over 2 adapters (routeA@v1, routeB@v1)") == 0,
                 version.dump().c_str());
        // The stored copy is a whole gate folder, and --out is there too.
        const fs::path stored = version["path"].get<std::string>();
        QVERIFY(fs::exists(stored / "gate.json") && fs::exists(stored / "gate.safetensors"));
        QVERIFY(fs::exists(m_root / "stored-gate" / "gate.json"));
        // Lineage: one merged-from edge per adapter, method "gate", no weight.
        const auto show = runCli({"adapters", "show", "router:v1", "--db", db, "--json"});
        QVERIFY2(show.code == 0, show.err.c_str());
        const auto parents = nlohmann::json::parse(show.out)["parents"];
        QCOMPARE(parents.size(), size_t(2));
        for (const auto& e : parents) {
            QCOMPARE(e["method"].get<std::string>(), std::string("gate"));
            QCOMPARE(e["kind"].get<std::string>(), std::string("merged-from"));
            QVERIFY(e["weight"].is_null());
        }
        // The stored gate evaluates exactly as its folder does.
        const auto byRef = runCli({"gate", "eval", "--gate", "router@v1", "--data", q(m_root / "val.jsonl"), "--db", db, "--json"});
        const auto byDir = runCli({"gate", "eval", "--gate", q(m_root / "stored-gate"), "--data", q(m_root / "val.jsonl"), "--json"});
        QVERIFY2(byRef.code == 0 && byDir.code == 0, (byRef.err + byDir.err).c_str());
        QCOMPARE(nlohmann::json::parse(byRef.out)["loss"].get<double>(), nlohmann::json::parse(byDir.out)["loss"].get<double>());
        QCOMPARE(nlohmann::json::parse(byRef.out)["examples"].dump(), nlohmann::json::parse(byDir.out)["examples"].dump());

        // A gate is no adapter, and an adapter is no gate.
        r = runCli({"fuse", "--method", "exact", "--adapter", "router@v1", "--adapter", "routeA@v1", "--out", q(m_root / "never"), "--db", db});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("--adapter router@v1: router@v1 is a learned gate, not an adapter") != std::string::npos, r.err.c_str());
        QVERIFY(!fs::exists(m_root / "never"));
        r = runCli({"gate", "eval", "--gate", "routeA@v1", "--data", q(m_root / "val.jsonl"), "--db", db});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("routeA@v1 is an adapter") != std::string::npos, r.err.c_str());
        r = runCli({"gate", "eval", "--gate", "nothing@v9", "--data", q(m_root / "val.jsonl"), "--db", db});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("--gate nothing@v9: no such folder") != std::string::npos, r.err.c_str());
        // --no-store takes no store description, and a refused gate leaves no folder and no version.
        r = runCli({"gate", "train", "--model", q(m_root / "model"), "--adapter", q(m_root / "A"), "--adapter", q(m_root / "B"), "--data",
                    q(m_root / "val.jsonl"), "--out", q(m_root / "never"), "--no-store", "--task", "x"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.find("leave them out with --no-store") != std::string::npos, r.err.c_str());
        QVERIFY(!fs::exists(m_root / "never"));
        const auto list = runCli({"adapters", "list", "--task", "router", "--db", db, "--json"});
        QVERIFY2(list.code == 0, list.err.c_str());
        QCOMPARE(nlohmann::json::parse(list.out).size(), size_t(1));
    }
};

QTEST_GUILESS_MAIN(FusionCliTest)
#include "FusionCliTest.moc"
