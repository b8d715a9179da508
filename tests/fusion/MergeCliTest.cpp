// `rslora merge` end to end: folders with weights merged into a loadable folder with a JSON report;
// stored versions named as task@vN merged and recorded as "merged" artifacts; a version recorded
// against another base model and a non-empty --out refused with nothing written.
#include "common/AtomicFile.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "models/WeightFiles.h"
#include "storage/Store.h"
#include "storage/VersionFiles.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

fs::path fixtures()
{
    const char* d = std::getenv("RSLORA_SHARED_DIR");
    return d ? fs::path(d) / "fixtures" : fs::path();
}

struct Outcome {
    int code = -1;
    QString out, err;
};

Outcome runCli(const QStringList& args)
{
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(120000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

} // namespace

class MergeCliTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path root() const { return fs::path(m_dir.path().toStdString()); }

private slots:
    void initTestCase()
    {
        QVERIFY2(fs::exists(fixtures() / "peft" / "lora"), "RSLORA_SHARED_DIR must point at the shared fixtures");
        QVERIFY2(QFileInfo::exists(QString::fromLocal8Bit(qgetenv("RSLORA_CLI"))), "RSLORA_CLI must name the rslora executable");
    }

    void mergesFoldersWithWeights()
    {
        const fs::path out = root() / "merged";
        const Outcome o = runCli({"merge", "--model", q(fixtures() / "llama"), "--adapter", q(fixtures() / "peft" / "lora") + ":0.3",
                                  "--adapter", q(fixtures() / "peft" / "lora2") + ":0.7", "--max-shard-size", "100KB",
                                  "--out", q(out), "--json", "--no-store"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const auto report = nlohmann::json::parse(o.out.toStdString());
        QCOMPARE(report.at("tensors").get<int>(), 21);
        QCOMPARE(report.at("merged_tensors").get<int>(), 4);
        QCOMPARE(report.at("dtype").get<std::string>(), std::string("float32"));
        QVERIFY(report.at("shards").size() > 1);
        QVERIFY(report.at("peak_rss_bytes").get<uint64_t>() > 0);
        QCOMPARE(report.at("adapters")[1].at("weight").get<double>(), 0.7);
        QVERIFY(models::WeightFiles(out).sharded());
        auto model = models::loadCausalLM(out);
        auto ref = models::loadSafeTensorsMap(fixtures() / "reference" / "peft_llama.safetensors");
        const torch::Tensor ids = ref.at("input_ids");
        torch::NoGradGuard ng;
        const torch::Tensor logits = model->forward(ids, torch::ones_like(ids)).logits;
        QVERIFY((logits - ref.at("comb_cat.logits_nomask")).abs().max().item<double>() < 1e-4);

        // Running again into the same folder is refused and leaves it as it was.
        const std::string before = readFile(out / "config.json");
        const Outcome again = runCli({"merge", "--model", q(fixtures() / "llama"), "--adapter", q(fixtures() / "peft" / "lora"),
                                      "--out", q(out), "--no-store"});
        QVERIFY(again.code != 0);
        QVERIFY2(again.err.contains("is not empty"), qPrintable(again.err));
        QCOMPARE(readFile(out / "config.json"), before);
        const Outcome badDtype = runCli({"merge", "--model", q(fixtures() / "llama"), "--adapter", q(fixtures() / "peft" / "lora"),
                                         "--dtype", "int4", "--out", q(root() / "never"), "--no-store"});
        QVERIFY(badDtype.code != 0);
        QVERIFY2(badDtype.err.contains("int4"), qPrintable(badDtype.err));
        QVERIFY(!fs::exists(root() / "never"));
    }

    void storedVersionsAreRecorded()
    {
        const fs::path db = root() / "store.sqlite";
        int64_t id = 0;
        {
            storage::Store store(db);
            storage::NewAdapter n;
            n.task = "summaries";
            n.variant = "lora";
            n.baseModel.ref = (fixtures() / "llama").string();
            n.baseModel.sha256 = models::modelFingerprint(fixtures() / "llama");
            id = storage::registerAdapterVersion(store, n, fixtures() / "peft" / "lora").record.id;
            storage::NewAdapter other = n;
            other.task = "elsewhere";
            other.baseModel.sha256 = std::string(64, 'a');
            storage::registerAdapterVersion(store, other, fixtures() / "peft" / "lora2");
        }
        const fs::path out = root() / "from-store";
        const Outcome o = runCli({"merge", "--db", q(db), "--model", q(fixtures() / "llama"), "--adapter", "summaries@v1",
                                  "--dtype", "bfloat16", "--out", q(out), "--json"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const auto report = nlohmann::json::parse(o.out.toStdString());
        QCOMPARE(report.at("artifact_ids").size(), size_t(1));
        QCOMPARE(report.at("adapters")[0].at("adapter_id").get<int64_t>(), id);
        QCOMPARE(nlohmann::json::parse(readFile(out / "config.json")).at("torch_dtype").get<std::string>(), std::string("bfloat16"));
        {
            storage::Store store(db);
            const auto artifacts = store.artifacts().forAdapter(id);
            QCOMPARE(artifacts.size(), size_t(1));
            QCOMPARE(artifacts[0].kind, std::string("merged"));
            QCOMPARE(fs::path(artifacts[0].path), fs::absolute(out));
            QVERIFY(artifacts[0].sizeBytes && *artifacts[0].sizeBytes > 200000);
            const auto details = nlohmann::json::parse(artifacts[0].detailsJson);
            QCOMPARE(details.at("dtype").get<std::string>(), std::string("bfloat16"));
            QCOMPARE(details.at("weight").get<double>(), 1.0);
        }

        const Outcome refused = runCli({"merge", "--db", q(db), "--model", q(fixtures() / "llama"), "--adapter", "elsewhere@v1",
                                        "--out", q(root() / "refused")});
        QVERIFY(refused.code != 0);
        QVERIFY2(refused.err.contains("trained on another base model"), qPrintable(refused.err));
        QVERIFY(!fs::exists(root() / "refused"));
    }

    // An --adapter that is there but is no folder was called "no such folder": a file, a FIFO and a
    // symbolic link loop are named for what they are (the loop gave the library's own
    // "filesystem error: status: ..."), and nothing is written.
    void nonFolderAdaptersAreNamed()
    {
        const fs::path file = root() / "adapter.txt", fifo = root() / "fifo", loop = root() / "loop-a";
        std::ofstream(file) << "not an adapter";
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        fs::create_symlink(root() / "loop-b", loop);
        fs::create_symlink(loop, root() / "loop-b");
        const std::vector<std::pair<fs::path, QString>> cases{
            {file, "adapter.txt is a file, not an adapter folder (a PEFT adapter folder holds adapter_config.json"},
            {fifo, "fifo is a FIFO, socket or device, not an adapter folder"},
            {loop, "loop-a cannot be read (Too many levels of symbolic links), expected an adapter folder"},
        };
        for (const auto& [path, expected] : cases) {
            const Outcome o = runCli({"merge", "--model", q(fixtures() / "llama"), "--adapter", q(path) + ":0.5", "--out",
                                      q(root() / "not-written")});
            QVERIFY(o.code != 0);
            QVERIFY2(o.err.contains("--adapter " + q(path) + ":0.5: " + q(path)) && o.err.contains(expected), qPrintable(o.err));
            QVERIFY(!fs::exists(root() / "not-written"));
        }
    }
};

QTEST_GUILESS_MAIN(MergeCliTest)
#include "MergeCliTest.moc"
