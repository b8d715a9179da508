// `rslora sweep` end to end on a tiny saved model: a grid × seeds runs as one group in the store with
// statistics over seeds matching the runs' own numbers; a run that fails leaves the group resumable
// and `--resume` runs only what is left; `sweeps show --csv`, `sweeps delete`.
#include "engine/TrainConfig.h"
#include "engine/sweep/SampleStatistics.h"
#include "models/ModelLoader.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/resource.h>

using namespace rslora;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Outcome {
    int code = -1;
    QString out, err;
};

// With `limitBytes` > 0 no file the process writes may grow past that size (RLIMIT_FSIZE, SIGXFSZ
// ignored, so writes fail with EFBIG as on a full disk).
Outcome runCli(const QStringList& args, rlim_t limitBytes = 0)
{
    QProcess p;
    p.setChildProcessModifier([limitBytes] {
        if (limitBytes > 0) {
            ::signal(SIGXFSZ, SIG_IGN);
            const rlimit limit{limitBytes, limitBytes};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
    });
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

void writeData(const fs::path& path, int rows, int offset)
{
    std::ofstream data(path);
    for (int i = 0; i < rows; ++i)
        data << "{\"input_ids\": [1, " << 4 + (i + offset) % 30 << ", " << 5 + (i + offset) % 29 << ", 3, "
             << 5 + (i + offset) % 29 << ", 2], "
             << "\"labels\": [-100, -100, -100, -100, " << 5 + (i + offset) % 29 << ", 2]}\n";
}

// A copy of `model` without its weights (config.json only): a run on it fails as it loads the model,
// once it has been recorded (inputs a run is refused by are refused before any run is recorded).
fs::path weightlessCopy(const fs::path& model, const fs::path& to)
{
    fs::create_directories(to);
    fs::copy_file(model / "config.json", to / "config.json");
    return to;
}

// Gives the copy the rest of the model's files.
void completeCopy(const fs::path& model, const fs::path& to)
{
    for (const auto& e : fs::directory_iterator(model))
        if (!fs::exists(to / e.path().filename()))
            fs::copy_file(e.path(), to / e.path().filename());
}

} // namespace

class CliSweepTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    std::string m_config;
    QString m_db;

private slots:
    void initTestCase()
    {
        if (qgetenv("RSLORA_CLI").isEmpty() || !QFileInfo::exists(QString::fromLocal8Bit(qgetenv("RSLORA_CLI"))))
            QSKIP("RSLORA_CLI (the rslora executable) is not available");
        models::ModelConfig c;
        c.vocabSize = 40;
        c.hiddenSize = 32;
        c.intermediateSize = 64;
        c.numLayers = 2;
        c.numHeads = 4;
        c.numKvHeads = 2;
        c.headDim = 8;
        c.maxPositionEmbeddings = 64;
        c.eosTokenIds = {2};
        c.bosTokenId = 1;
        const fs::path root = m_dir.path().toStdString();
        models::createCausalLM(c, 5)->saveModelFolder(root / "model");
        writeData(root / "train.jsonl", 16, 0);
        writeData(root / "val.jsonl", 8, 3);
        engine::TrainConfig t;
        t.modelPath = (root / "model").string();
        t.trainData = (root / "train.jsonl").string();
        t.validationData = (root / "val.jsonl").string();
        t.adapter.rank = 4;
        t.maxSteps = 3;
        t.batchSize = 4;
        t.learningRate = 0.01;
        t.threads = 1;
        m_config = (root / "sweep.json").string();
        t.save(m_config);
        m_db = m_dir.filePath("store.sqlite");
    }

    void gridTimesSeedsAsOneGroup()
    {
        const Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--vary",
                                  "adapter.init=lora,rescaled", "--seeds", "2", "--db", m_db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const json j = json::parse(o.out.toStdString());
        QCOMPARE(j["runs"].size(), size_t(8));
        for (const auto& r : j["runs"])
            QCOMPARE(r["status"].get<std::string>(), std::string("finished"));
        QCOMPARE(j["runs"][5]["seed"].get<int>(), 43);
        const json& st = j["statistics"];
        QCOMPARE(st["groups"].size(), size_t(4));
        QCOMPARE(st["groups"][3]["combination"]["adapter.r"].get<int>(), 4);
        QCOMPARE(st["groups"][3]["combination"]["adapter.init"].get<std::string>(), std::string("rescaled"));
        // The statistics of one group against its two runs' own eval/loss from the store.
        std::vector<double> losses;
        for (const auto& r : j["runs"]) {
            if (r["combination"][0][1].get<int>() != 4 || r["combination"][1][1].get<std::string>() != "rescaled")
                continue;
            const Outcome show = runCli({"runs", "show", QString::number(r["run_id"].get<int64_t>()), "--db", m_db, "--json"});
            const json run = json::parse(show.out.toStdString());
            losses.push_back(run["latest"]["eval/loss"]["value"].get<double>());
        }
        QCOMPARE(losses.size(), size_t(2));
        const double mean = (losses[0] + losses[1]) / 2, sd = std::fabs(losses[0] - losses[1]) / std::sqrt(2.0);
        const json& cell = st["groups"][3]["metrics"]["eval/loss"];
        QCOMPARE(cell["n"].get<int>(), 2);
        QVERIFY2(std::fabs(cell["mean"].get<double>() - mean) < 1e-9, cell.dump().c_str());
        QVERIFY2(std::fabs(cell["std"].get<double>() - sd) < 1e-9, cell.dump().c_str());
        // Exactly one best per metric; every other group has a p-value against it.
        int best = 0;
        for (const auto& g : st["groups"]) {
            best += g["metrics"]["eval/loss"]["best"].get<bool>();
            if (!g["metrics"]["eval/loss"]["best"].get<bool>())
                QVERIFY(g["metrics"]["eval/loss"]["p_vs_best"].is_number());
        }
        QCOMPARE(best, 1);

        const QString csv = m_dir.filePath("sweep.csv");
        const Outcome show = runCli({"sweeps", "show", QString::number(j["group_id"].get<int64_t>()), "--db", m_db, "--csv", csv});
        QVERIFY2(show.code == 0, qPrintable(show.err));
        QVERIFY(show.out.contains("(n=2)"));
        std::ifstream in(csv.toStdString());
        std::string header;
        std::getline(in, header);
        QVERIFY2(header.rfind("adapter.r,adapter.init,runs,finished,eval/loss mean", 0) == 0, header.c_str());
        // A folder for --csv is named as one, not as a failed rename of a temporary file.
        const Outcome folder = runCli({"sweeps", "show", QString::number(j["group_id"].get<int64_t>()), "--db", m_db, "--csv", m_dir.path()});
        QVERIFY2(folder.code != 0 && folder.err.contains("--csv " + m_dir.path() + ": is a folder") && !folder.err.contains("rename"),
                 qPrintable(folder.err));
    }

    void failedRunResumesAndGroupDeletes()
    {
        // The second model folder has no weights yet: its runs fail as they load the model (a failure
        // of training itself: inputs the runs can be refused by are refused before any is recorded),
        // the others finish.
        const fs::path root = m_dir.path().toStdString();
        const fs::path late = weightlessCopy(root / "model", root / "late-model");
        const Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary",
                                  QString::fromStdString("model.path=" + (root / "model").string() + "," + late.string()),
                                  "--seeds", "2", "--name", "late data", "--db", m_db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        json j = json::parse(o.out.toStdString());
        const int64_t group = j["group_id"].get<int64_t>();
        std::vector<std::string> statuses;
        for (const auto& r : j["runs"])
            statuses.push_back(r["status"].get<std::string>());
        QCOMPARE(statuses, (std::vector<std::string>{"finished", "failed", "finished", "failed"}));
        const int64_t finishedRun = j["runs"][0]["run_id"].get<int64_t>();
        // The table counts the failed runs apart, with their errors.
        const Outcome shown = runCli({"sweeps", "show", "late data", "--db", m_db});
        QVERIFY2(shown.code == 0 && shown.out.contains("0/2, 2 failed") && shown.out.contains("2/2  "), qPrintable(shown.out + shown.err));
        QVERIFY2(shown.out.count("failed: model.path=") == 2 && shown.out.contains("late-model"), qPrintable(shown.out));
        const json shownJson = json::parse(runCli({"sweeps", "show", "late data", "--db", m_db, "--json"}).out.toStdString());
        int failedRows = 0;
        for (const auto& row : shownJson.at("statistics").at("groups"))
            failedRows += row.at("failed").get<int>();
        QCOMPARE(failedRows, 2);

        completeCopy(root / "model", late);
        const Outcome again = runCli({"sweep", "--resume", "late data", "--db", m_db, "--json", "--quiet"});
        QVERIFY2(again.code == 0, qPrintable(again.err + again.out));
        j = json::parse(again.out.toStdString());
        QCOMPARE(j["group_id"].get<int64_t>(), group);
        for (const auto& r : j["runs"])
            QCOMPARE(r["status"].get<std::string>(), std::string("finished"));
        // Only the failed runs ran again.
        QVERIFY2(again.err.count("sweep #" + QString::number(group) + ": run #") == 2, qPrintable(again.err));
        QCOMPARE(j["runs"][0]["run_id"].get<int64_t>(), finishedRun);

        QVERIFY(runCli({"sweeps", "delete", "late data", "--db", m_db}).code != 0); // without --yes
        const Outcome del = runCli({"sweeps", "delete", "late data", "--db", m_db, "--yes"});
        QVERIFY2(del.code == 0 && del.out.contains("and 4 runs"), qPrintable(del.err + del.out));
        const Outcome runs = runCli({"runs", "show", QString::number(finishedRun), "--db", m_db});
        QVERIFY(runs.code != 0);
        const json left = json::parse(runCli({"sweeps", "list", "--db", m_db, "--json"}).out.toStdString());
        QCOMPARE(left.size(), size_t(1));
    }

    // evaluate: diagnostics stores std(A) against its init's promise and the output std change, per run.
    void diagnosticsPerRun()
    {
        const Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.init=rescaled,spectral",
                                  "--set", "adapter.init_sigma=0.05", "--set", "training.learning_rate=1e-9", "--diagnostics",
                                  "--name", "diagnostics", "--db", m_db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const json j = json::parse(o.out.toStdString());
        const json& groups = j["statistics"]["groups"];
        QCOMPARE(groups.size(), size_t(2));
        const json& rescaled = groups[0]["metrics"];
        const json& spectral = groups[1]["metrics"];
        // std(A) of N(0, 0.05²/4) draws against 0.025 (against 1/sqrt(3·32) = 0.102, the plain init's
        // value, the deviation would be 0.75): 2 layers × 3 modules × 128 draws each.
        QVERIFY2(rescaled.contains("diag/std_a_deviation"), rescaled.dump().c_str());
        QVERIFY2(rescaled["diag/std_a_deviation"]["mean"].get<double>() < 0.15, rescaled.dump().c_str());
        // Spectral factors are singular vectors: nothing to compare std(A) with.
        QVERIFY2(!spectral.contains("diag/std_a_deviation"), spectral.dump().c_str());
        for (const json* m : {&rescaled, &spectral}) {
            QVERIFY2(m->contains("diag/output_std_change"), m->dump().c_str());
            const double change = (*m)["diag/output_std_change"]["mean"].get<double>();
            QVERIFY2(change >= 0.0 && change < 0.01, m->dump().c_str()); // B = 0 or A0B0 subtracted, lr 1e-9
        }
    }

    // `rslora eval --device`: the same numbers on a CUDA device where there is one; otherwise refused
    // with the reason (never silently on the CPU).
    void evalOnADevice()
    {
        const fs::path root = m_dir.path().toStdString();
        const QStringList base{"eval", "--model", QString::fromStdString((root / "model").string()), "--data",
                               QString::fromStdString((root / "val.jsonl").string()), "--json"};
        const Outcome cpu = runCli(base + QStringList{"--device", "cpu"});
        QVERIFY2(cpu.code == 0, qPrintable(cpu.err));
        const double loss = json::parse(cpu.out.toStdString())["loss"]["loss"].get<double>();
        QVERIFY(std::isfinite(loss) && loss > 0);
        const Outcome cuda = runCli(base + QStringList{"--device", "cuda"});
        if (torch::cuda::is_available()) {
            QVERIFY2(cuda.code == 0, qPrintable(cuda.err));
            QVERIFY(std::fabs(json::parse(cuda.out.toStdString())["loss"]["loss"].get<double>() - loss) < 1e-4);
        } else {
            QVERIFY(cuda.code != 0);
            QVERIFY2(cuda.err.contains("device 'cuda' requested, but this LibTorch has no usable CUDA device"), qPrintable(cuda.err));
        }
        const Outcome bad = runCli(base + QStringList{"--device", "gpu0"});
        QVERIFY(bad.code != 0);
        QVERIFY2(bad.err.contains("device 'gpu0'"), qPrintable(bad.err));
    }

    // A sweep stopped with Ctrl-C names the command that continues it, with the --db it ran in
    // (without it the group was looked for in the default database), and that command finishes it.
    void stoppedSweepNamesItsDatabase()
    {
        const QString db = m_dir.filePath("stopped sweep.sqlite");
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")),
                {"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--seeds", "1", "--set",
                 "training.max_steps=100000", "--set", "training.save_every=500", "--name", "stopped", "--db", db, "--quiet"});
        QVERIFY(p.waitForStarted());
        QString err;
        for (int i = 0; i < 600 && !err.contains("sweep #"); ++i) {
            p.waitForReadyRead(100);
            err += QString::fromUtf8(p.readAllStandardError());
        }
        QVERIFY2(err.contains("sweep #"), qPrintable(err));
        QTest::qWait(1500);
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(60000));
        err += QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitCode(), 130);
        const QRegularExpression again("continue it with: rslora sweep --resume (\\d+) --db '([^']+)'");
        const auto m = again.match(err);
        QVERIFY2(m.hasMatch(), qPrintable(err));
        QCOMPARE(m.captured(2), db);
        const Outcome shown = runCli({"sweeps", "show", m.captured(1), "--db", m.captured(2)});
        QVERIFY2(shown.code == 0 && shown.out.contains("0 of 2 runs finished"), qPrintable(shown.out + shown.err));
    }

    // A run's evaluation that fails (this model has no tokenizer for exact match) is reported with
    // the command that evaluates it again: the group's id and its database, as a stop names them.
    void failedEvaluationNamesTheGroup()
    {
        const fs::path root = m_dir.path().toStdString();
        {
            std::ofstream items(root / "facts.jsonl");
            items << "{\"prompt\": \"a\", \"answer\": \"b\"}\n";
        }
        const QString db = m_dir.filePath("evaluation fails.sqlite");
        const Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--exact-match",
                                  QString::fromStdString((root / "facts.jsonl").string()), "--name", "no tokenizer",
                                  "--db", db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const int64_t group = json::parse(o.out.toStdString())["group_id"].get<int64_t>();
        const QString again = QString("(rslora sweep --resume %1 --db '%2' evaluates it again)").arg(group).arg(db);
        QVERIFY2(o.err.count("evaluation of run #") == 2 && o.err.count(again) == 2, qPrintable(o.err));
        const Outcome resumed = runCli({"sweep", "--resume", QString::number(group), "--db", db, "--quiet"});
        QVERIFY2(resumed.code == 0 && resumed.err.count(again) == 2, qPrintable(resumed.err));
    }

    // A second sweep with the same output.dir would train in the first one's run-N folders: refused
    // before its group is made, naming the folder (each of its runs failed when it came up).
    void usedOutputFolderIsRefusedFirst()
    {
        const QString db = m_dir.filePath("output dir.sqlite");
        const QString out = m_dir.filePath("sweep output");
        const QStringList args{"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--set",
                               "output.dir=" + out, "--db", db, "--quiet"};
        const Outcome first = runCli(args);
        QVERIFY2(first.code == 0, qPrintable(first.err));
        QVERIFY(QFileInfo::exists(out + "/run-0/adapter"));
        const Outcome second = runCli(args);
        QVERIFY(second.code != 0);
        QVERIFY2(second.err.contains("sweep combination adapter.r=2 (seed 42): output.dir '" + out
                                     + "/run-0' already holds checkpoints of another run (step-3 of run #1")
                     && second.err.contains("give the sweep another output.dir"),
                 qPrintable(second.err));
        const Outcome dry = runCli(args + QStringList{"--dry-run"});
        QVERIFY2(dry.code != 0 && dry.err.contains("already holds checkpoints of another run"), qPrintable(dry.err));
        // Without checkpoints, the final save's folder is named.
        QVERIFY(QDir(out + "/run-0/checkpoints").removeRecursively() && QDir(out + "/run-1/checkpoints").removeRecursively());
        const Outcome adapter = runCli(args);
        QVERIFY2(adapter.code != 0 && adapter.err.contains("/run-0' already holds 'adapter' (" + out + "/run-0/adapter)"),
                 qPrintable(adapter.err));
        QCOMPARE(json::parse(runCli({"sweeps", "list", "--db", db, "--json"}).out.toStdString()).size(), size_t(1));
    }

    // A sweep whose store stops taking writes (a full disk; here a file-size limit) stops at the run
    // that met it, says why and fails, instead of failing every run left and exiting 0; once the
    // store takes writes again, --resume finishes the group.
    void storeFailureStopsTheSweep()
    {
        const fs::path root = m_dir.path().toStdString();
        const std::string data = (root / "store-fails.jsonl").string();
        writeData(data, 16, 5);
        const fs::path model = weightlessCopy(root / "model", root / "store-fails-model");
        const QString db = m_dir.filePath("store fails.sqlite");
        // Made without the limit; its runs fail at once, their model's weights not being there yet.
        Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--seeds", "2", "--set",
                            QString::fromStdString("data.train=" + data), "--set", "model.path=" + QString::fromStdString(model.string()),
                            "--set", "training.max_steps=80", "--name", "store fails", "--db", db, "--quiet"});
        QVERIFY2(o.code == 0 && o.err.count("failed") >= 4, qPrintable(o.err));
        completeCopy(root / "model", model);
        const rlim_t limit = rlim_t(std::max(QFileInfo(db).size(), QFileInfo(db + "-wal").size())) + 48 * 1024;
        o = runCli({"sweep", "--resume", "store fails", "--db", db, "--quiet"}, limit);
        QVERIFY2(o.code != 0, qPrintable(o.err));
        QVERIFY2(o.err.contains("sweep #") && o.err.contains(" stopped: ") && o.err.contains("no further run was started")
                     && o.err.contains("rslora sweep --resume "),
                 qPrintable(o.err));
        QVERIFY2(o.err.count("/4] sweep #") == 1, qPrintable(o.err)); // only the run that met the failure started
        o = runCli({"sweep", "--resume", "store fails", "--db", db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        for (const auto& r : json::parse(o.out.toStdString())["runs"])
            QCOMPARE(r["status"].get<std::string>(), std::string("finished"));
    }

    // The store file removed during a sweep: the next run is not started against a new, empty store
    // made in its place; the sweep says what happened and fails.
    void removedStoreStopsTheSweep()
    {
        const QString db = m_dir.filePath("removed store.sqlite");
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")),
                {"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--set", "training.max_steps=150",
                 "--name", "removed", "--db", db, "--quiet"});
        QVERIFY(p.waitForStarted());
        QString err;
        for (int i = 0; i < 600 && !err.contains("[1/2]"); ++i) {
            p.waitForReadyRead(100);
            err += QString::fromUtf8(p.readAllStandardError());
        }
        QVERIFY2(err.contains("[1/2]"), qPrintable(err));
        for (const QString& suffix : {"", "-wal", "-shm"})
            QFile::remove(db + suffix);
        QVERIFY(p.waitForFinished(120000));
        err += QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitCode() != 0, qPrintable(err));
        QVERIFY2(err.contains("the store file " + db + " was removed during the sweep"), qPrintable(err));
        QVERIFY2(!err.contains("[2/2]"), qPrintable(err));
        QVERIFY2(!QFileInfo::exists(db), "a new store was made in place of the removed one");
    }

    // Two `--resume` of one interrupted group at once: one trains the runs, the other is refused as
    // for a live group (it printed "failed" for each run the first one had taken).
    void concurrentResumesDoNotFailRuns()
    {
        const fs::path root = m_dir.path().toStdString();
        const std::string data = (root / "concurrent.jsonl").string();
        writeData(data, 16, 9);
        const fs::path model = weightlessCopy(root / "model", root / "concurrent-model");
        const QString db = m_dir.filePath("concurrent.sqlite");
        Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--seeds", "2", "--set",
                            QString::fromStdString("data.train=" + data), "--set", "model.path=" + QString::fromStdString(model.string()),
                            "--set", "training.max_steps=60", "--name", "concurrent", "--db", db, "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        completeCopy(root / "model", model);
        QProcess a, b;
        const QStringList args{"sweep", "--resume", "concurrent", "--db", db, "--quiet"};
        a.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
        b.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
        QVERIFY(a.waitForFinished(300000) && b.waitForFinished(300000));
        const QString errA = QString::fromUtf8(a.readAllStandardError()), errB = QString::fromUtf8(b.readAllStandardError());
        for (const auto& [code, err] : {std::make_pair(a.exitCode(), errA), std::make_pair(b.exitCode(), errB)}) {
            QVERIFY2(!err.contains("failed"), qPrintable(err));
            if (code != 0)
                QVERIFY2(err.contains("sweep #") && err.contains("is under way there"), qPrintable(err));
        }
        QVERIFY2(a.exitCode() == 0 || b.exitCode() == 0, qPrintable(errA + errB));
        o = runCli({"sweeps", "show", "concurrent", "--db", db, "--json"});
        for (const auto& r : json::parse(o.out.toStdString())["runs"])
            QCOMPARE(r["status"].get<std::string>(), std::string("finished"));
    }

    // A member run deleted from the store: the statistics say how many runs are missing and which
    // (its point was dropped silently, n shrinking without a word).
    void deletedMemberIsNamed()
    {
        const QString db = m_dir.filePath("deleted member.sqlite");
        Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--seeds", "2", "--name",
                            "deleted", "--db", db, "--json", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const json j = json::parse(o.out.toStdString());
        // Position 3: adapter.r=4 with the second seed.
        const json& gone = j["runs"][3];
        QCOMPARE(gone["seed"].get<int>(), 43);
        const Outcome del = runCli({"runs", "delete", QString::number(gone["run_id"].get<int64_t>()), "--db", db, "--yes"});
        QVERIFY2(del.code == 0, qPrintable(del.err + del.out));
        const Outcome shown = runCli({"sweeps", "show", "deleted", "--db", db});
        QVERIFY2(shown.code == 0, qPrintable(shown.err));
        QVERIFY2(shown.out.contains("3 of 4 runs finished (1 deleted)") && shown.out.contains("1/2, 1 missing")
                     && shown.out.contains("1 run of the sweep is no longer in the store (deleted)")
                     && shown.out.contains("adapter.r=4 seed 43"),
                 qPrintable(shown.out));
        const json st = json::parse(runCli({"sweeps", "show", "deleted", "--db", db, "--json"}).out.toStdString())["statistics"];
        QCOMPARE(st["missing"].get<int>(), 1);
        QCOMPARE(st["groups"][1]["missing"].get<int>(), 1);
        QCOMPARE(st["groups"][1]["missing_runs"][0].get<std::string>(), std::string("seed 43"));
        QCOMPARE(st["groups"][1]["runs"].get<int>(), 2);
        QCOMPARE(st["groups"][1]["metrics"]["train/loss"]["n"].get<int>(), 1);
        const Outcome listed = runCli({"sweeps", "list", "--db", db});
        QVERIFY2(listed.out.contains("3/4 finished (1 deleted)"), qPrintable(listed.out));
        const json listedJson = json::parse(runCli({"sweeps", "list", "--db", db, "--json"}).out.toStdString());
        QCOMPARE(listedJson[0]["runs"].get<int>(), 4);
        QCOMPARE(listedJson[0]["missing"].get<int>(), 1);
    }

    // Ctrl-C while a run's adapter is evaluated ends the sweep at once (the evaluation cannot stop
    // half-way), naming the command that continues it (it ended without a word); that command
    // evaluates the run again and trains the rest.
    void interruptDuringEvaluation()
    {
        const QString resources = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES"));
        QVERIFY2(QFileInfo::exists(resources + "/demo/model/tokenizer.json"), qPrintable(resources));
        const std::string demo = (resources + "/demo").toStdString();
        const json config{{"model", {{"path", demo + "/model"}, {"threads", 1}}},
                          {"data", {{"train", demo + "/data/facts_train.jsonl"}, {"max_seq_len", 64}}},
                          {"adapter", {{"r", 4}}},
                          {"training", {{"max_steps", 2}, {"batch_size", 4}}}};
        const QString file = m_dir.filePath("evaluated.json");
        std::ofstream(file.toStdString()) << config.dump();
        const QString db = m_dir.filePath("interrupted evaluation.sqlite");
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")),
                {"sweep", file, "--vary", "adapter.r=2,4", "--exact-match",
                 QString::fromStdString(demo + "/data/facts_train.jsonl"), "--name", "evaluated", "--db", db});
        QVERIFY(p.waitForStarted());
        // The line is printed once Ctrl-C is caught for the evaluation. (Waiting for the end of the
        // run instead sent the signal between the two, where it used to end the process unexplained.)
        QString err;
        for (int i = 0; i < 1200 && !err.contains("sweep #1: evaluating run #1\n"); ++i) {
            p.waitForReadyRead(100);
            err += QString::fromUtf8(p.readAllStandardError());
        }
        QVERIFY2(err.contains("run #1 completed after") && err.contains("sweep #1: evaluating run #1\n"), qPrintable(err));
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(60000));
        err += QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitStatus() == QProcess::CrashExit, qPrintable(err)); // ended by the signal, as a shell expects
        const QString again = "sweep #1 stopped during the evaluation of run #1; continue it with: rslora sweep --resume 1 --db '"
                              + db + "' (it evaluates run #1 again)";
        QVERIFY2(err.contains(again), qPrintable(err));
        const Outcome resumed = runCli({"sweep", "--resume", "1", "--db", db, "--json", "--quiet"});
        QVERIFY2(resumed.code == 0 && resumed.err.contains("sweep #1: evaluating run #1 (finished earlier, not evaluated)"),
                 qPrintable(resumed.err));
        const json j = json::parse(resumed.out.toStdString());
        for (const auto& r : j["runs"])
            QCOMPARE(r["status"].get<std::string>(), std::string("finished"));
        for (const auto& g : j["statistics"]["groups"])
            QCOMPARE(g["metrics"]["exact_match/accuracy"]["n"].get<int>(), 1);
    }

    // A seed past 2^63 - 1 in a YAML sweep file became a float there (1.8446744073709552e+19, then
    // refused by every run), and the store's signed column gave it back negative in --json: the
    // seeds are listed, run and shown as the exact integers.
    void seedsPast63BitsAreExact()
    {
        const fs::path root = m_dir.path().toStdString();
        json config;
        std::ifstream(m_config) >> config;
        const std::string path = (root / "big-seed.yaml").string();
        std::ofstream(path) << "model:\n  threads: 1\n  path: " << config["model"]["path"].get<std::string>() << "\ndata:\n  train: "
                            << config["data"]["train"].get<std::string>()
                            << "\ntraining:\n  max_steps: 2\n  batch_size: 4\n  seed: 18446744073709551614\n"
                            << "sweep:\n  seeds: 2\n";
        const QString db = m_dir.filePath("big-seed.sqlite");
        Outcome o = runCli({"sweep", QString::fromStdString(path), "--dry-run", "--json", "--db", db});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const json listed = json::parse(o.out.toStdString());
        QCOMPARE(listed[1]["seed"].get<uint64_t>(), uint64_t(18446744073709551615ULL));
        QCOMPARE(listed[1]["config"]["training"]["seed"].get<uint64_t>(), uint64_t(18446744073709551615ULL));
        o = runCli({"sweep", QString::fromStdString(path), "--name", "big seed", "--json", "--quiet", "--db", db});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(!o.out.contains("e+19") && o.out.contains("\"seed\": 18446744073709551615"), qPrintable(o.out));
        const json j = json::parse(o.out.toStdString());
        QCOMPARE(j["runs"][0]["seed"].get<uint64_t>(), uint64_t(18446744073709551614ULL));
        QCOMPARE(j["runs"][1]["seed"].get<uint64_t>(), uint64_t(18446744073709551615ULL));
        QCOMPARE(j["runs"][1]["status"].get<std::string>(), std::string("finished"));
        QVERIFY2(j["runs"][1]["name"].get<std::string>().find("seed 18446744073709551615") != std::string::npos,
                 j["runs"][1]["name"].dump().c_str());
        // Deleted, the run is named with its seed in the table and the JSON statistics.
        QVERIFY(runCli({"runs", "delete", QString::number(j["runs"][1]["run_id"].get<int64_t>()), "--db", db, "--yes"}).code == 0);
        o = runCli({"sweeps", "show", "big seed", "--db", db});
        QVERIFY2(o.out.contains("1 of 2 runs finished (1 deleted)") && o.out.contains("(base config) seed 18446744073709551615"),
                 qPrintable(o.out));
        o = runCli({"sweeps", "show", "big seed", "--db", db, "--json"});
        QCOMPARE(json::parse(o.out.toStdString())["statistics"]["groups"][0]["missing_runs"][0].get<std::string>(),
                 std::string("seed 18446744073709551615"));
    }

    // An x- anchor key was refused as unknown in the first combination's config ("sweep combination
    // adapter.r=2 (seed 42): ... unknown key 'x-common'"): the key and its line are named, once,
    // before any combination is made.
    void anchorKeyIsNamedOnce()
    {
        const fs::path root = m_dir.path().toStdString();
        json config;
        std::ifstream(m_config) >> config;
        const std::string path = (root / "anchored.yaml").string();
        std::ofstream(path) << "x-common: &common\n  max_steps: 3\n  batch_size: 4\nmodel:\n  path: "
                            << config["model"]["path"].get<std::string>() << "\ndata:\n  train: "
                            << config["data"]["train"].get<std::string>() << "\ntraining:\n  <<: *common\n"
                            << "sweep:\n  vary:\n    adapter.r: [2, 4]\n";
        for (const QStringList& extra : {QStringList{"--dry-run"}, QStringList{}}) {
            const Outcome o = runCli(QStringList{"sweep", QString::fromStdString(path), "--db", m_dir.filePath("anchored.sqlite")} + extra);
            QVERIFY(o.code != 0);
            QVERIFY2(o.err.contains(QString::fromStdString(path) + ":1:1: top-level key 'x-common' is not a config section")
                         && o.err.count("x-common") == 1 && !o.err.contains("combination"),
                     qPrintable(o.err));
        }
        QVERIFY2(!QFileInfo::exists(m_dir.filePath("anchored.sqlite"))
                     || runCli({"sweeps", "list", "--db", m_dir.filePath("anchored.sqlite")}).out.trimmed().isEmpty(),
                 "a group was made");
    }

    void badInputIsNamed()
    {
        Outcome o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.rank=2,4", "--db", m_db});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("unknown key 'rank' in section 'adapter'"), qPrintable(o.err));
        o = runCli({"sweep", QString::fromStdString(m_config), "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("nothing to sweep: " + QString::fromStdString(m_config) + " has no sweep: block"),
                 qPrintable(o.err));
        // A block that is there but varies nothing is not called missing.
        {
            json config;
            std::ifstream(m_config) >> config;
            config["sweep"] = {{"vary", json::object()}, {"seeds", 1}};
            std::ofstream(m_dir.filePath("idle-sweep.json").toStdString()) << config.dump();
        }
        o = runCli({"sweep", m_dir.filePath("idle-sweep.json"), "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("idle-sweep.json's sweep: block varies nothing"), qPrintable(o.err));
        // A pipeline is not swept (each of its keys was named unknown, once per combination).
        {
            std::ofstream(m_dir.filePath("pipe.yaml").toStdString())
                << "base: {model: {path: m}}\nstages:\n  - {name: a, data: a.jsonl}\n";
        }
        o = runCli({"sweep", m_dir.filePath("pipe.yaml"), "--vary", "adapter.r=2,4", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("pipe.yaml is a pipeline") && o.err.contains("rslora train ")
                     && !o.err.contains("unknown key"),
                 qPrintable(o.err));
        // A name is one line: a line break in it broke every listing of the group and its runs.
        o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--name", "two\nlines", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("a sweep's name is one line of text"), qPrintable(o.err));
        o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--name", "   ", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("cannot be only spaces"), qPrintable(o.err));
        o = runCli({"sweep", "--resume", "no such group", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("no run group"), qPrintable(o.err));
        // A dry run lists the runs and creates nothing.
        o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,4", "--seeds", "3", "--dry-run",
                    "--db", m_db});
        QVERIFY2(o.code == 0 && o.out.contains("6 runs (2 combinations × 3 seeds)"), qPrintable(o.out + o.err));
        // A rank no target layer can take is refused by value, from the model's config.json, before any run.
        o = runCli({"sweep", QString::fromStdString(m_config), "--vary", "adapter.r=2,99999", "--dry-run", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("adapter.r=99999") && o.err.contains("larger than the layer allows"), qPrintable(o.err));
        // A record the trainer refuses, deep in a data file, is refused before any run or group is
        // recorded, dry run or not (every run of its combination failed once the sweep had started).
        const std::string bad = m_dir.filePath("bad-deep.jsonl").toStdString();
        writeData(bad, 10, 0);
        std::ofstream(bad, std::ios::app) << "{\"input_ids\": [1, \"x\", 2]}\n";
        const size_t groups = json::parse(runCli({"sweeps", "list", "--db", m_db, "--json"}).out.toStdString()).size();
        for (const QString& dry : {QString("--dry-run"), QString("--quiet")}) {
            o = runCli({"sweep", QString::fromStdString(m_config), "--vary",
                        QString::fromStdString("data.train=" + m_dir.filePath("train.jsonl").toStdString() + "," + bad), dry, "--db", m_db});
            QVERIFY2(o.code != 0 && o.err.contains("sweep combination data.train=")
                         && o.err.contains(QString::fromStdString(bad) + ":11: input_ids[1] = \"x\" is not a token id"),
                     qPrintable(o.err));
        }
        QCOMPARE(json::parse(runCli({"sweeps", "list", "--db", m_db, "--json"}).out.toStdString()).size(), groups);
        // So is a chat template the model's tokenizer does not have (the runs before it trained first).
        const QString demo = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES")) + "/demo/demo-config.json";
        QVERIFY2(QFileInfo::exists(demo), qPrintable(demo));
        o = runCli({"sweep", demo, "--vary", "data.chat_template=default,chatml", "--dry-run", "--db", m_db});
        QVERIFY2(o.code != 0 && o.err.contains("sweep combination data.chat_template=")
                     && o.err.contains("(seed 42): data.chat_template: the tokenizer of model.path '")
                     && o.err.contains("has no chat template named \"chatml\"; its chat templates are \"default\""),
                 qPrintable(o.err));
    }
};

QTEST_GUILESS_MAIN(CliSweepTest)
#include "CliSweepTest.moc"
