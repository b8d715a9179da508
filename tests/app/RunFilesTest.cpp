// Nothing a user trained is lost, with real `rslora train` processes: every run gets its own folder,
// every adapter version owns files whose hash matches the store, two runs of one config (one after
// the other or at once) keep both versions, a stop and resume make one version of one run, kill -9
// at seeded points loses no metric step and never continues another run's checkpoint, and versions
// of different base models are not chained into one lineage.
#include "CliRunSupport.h"

#include "common/Sha256.h"
#include "engine/TrainConfig.h"
#include "models/ModelFingerprint.h"
#include "models/ModelLoader.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

using clitest::cli;
using clitest::Outcome;
using clitest::saveTinyModel;

std::string dirHash(const std::string& dir) { return Sha256::directoryHex(dir); }

// A small tmpfs at `dir` for full-disk tests (needs root), unmounted when this goes away.
class SmallDisk {
public:
    SmallDisk(const fs::path& dir, const QString& size) : m_dir(dir)
    {
        fs::create_directories(dir);
        QProcess mount;
        mount.start("mount", {"-t", "tmpfs", "-o", "size=" + size, "tmpfs", QString::fromStdString(dir.string())});
        m_mounted = mount.waitForFinished(10000) && mount.exitStatus() == QProcess::NormalExit && mount.exitCode() == 0;
        m_error = mount.readAllStandardError();
    }
    ~SmallDisk()
    {
        if (m_mounted)
            QProcess::execute("umount", {QString::fromStdString(m_dir.string())});
    }
    bool mounted() const { return m_mounted; }
    const QByteArray& error() const { return m_error; }

private:
    fs::path m_dir;
    bool m_mounted = false;
    QByteArray m_error;
};

} // namespace

class RunFilesTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_root;
    fs::path m_db;
    std::string m_config;

    Outcome run(const QStringList& args, int timeoutMs = 180000) { return clitest::run(args, timeoutMs); }
    QStringList train(const std::string& config, QStringList extra = {})
    {
        return QStringList{"train", QString::fromStdString(config), "--quiet", "--db", QString::fromStdString(m_db.string())} + extra;
    }
    std::string writeConfig(const std::string& name, int maxSteps, int saveEvery, const std::string& outputDir = {},
                            const std::string& model = "model", int evalEvery = 0)
    {
        engine::TrainConfig t;
        t.modelPath = (m_root / model).string();
        t.trainData = (m_root / "facts.jsonl").string();
        t.outputDir = outputDir;
        t.adapter.rank = 4;
        t.maxSteps = maxSteps;
        t.saveEvery = saveEvery;
        t.evalEvery = evalEvery;
        t.validationSplit = evalEvery > 0 ? 0.25 : 0.0;
        t.batchSize = 4;
        t.threads = 1;
        const std::string path = (m_root / (name + ".json")).string();
        t.save(path);
        return path;
    }
    std::vector<storage::AdapterRecord> versions()
    {
        storage::Store store(m_db);
        storage::AdapterFilter f;
        f.includeDeleted = true;
        return store.adapters().list(f);
    }

private slots:
    void initTestCase()
    {
        QVERIFY2(!cli().isEmpty() && QFileInfo::exists(cli()), "RSLORA_CLI must name the rslora executable");
        m_root = m_dir.path().toStdString();
        m_db = m_root / "store" / "workbench.sqlite";
        saveTinyModel(m_root / "model", 5);
        saveTinyModel(m_root / "other-model", 6);
        clitest::writeFacts(m_root / "facts.jsonl", 32);
        m_config = writeConfig("facts", 6, 3);
    }

    // Issue: a second run of one config replaced the files of the first run's (released) version.
    void twoRunsOfOneConfigKeepBothVersions()
    {
        Outcome o = run(train(m_config));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        auto v = versions();
        QCOMPARE(int(v.size()), 1);
        const storage::AdapterRecord first = v[0];
        QCOMPARE(dirHash(first.path), first.sha256);
        o = run({"adapters", "release", QString::fromStdString(first.task + ":v1"), "--db", QString::fromStdString(m_db.string())});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));

        o = run(train(m_config, {"--set", "training.learning_rate=0.01"}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        v = versions();
        QCOMPARE(int(v.size()), 2);
        QVERIFY(v[0].path != v[1].path);
        QVERIFY(v[0].sha256 != v[1].sha256);
        for (const auto& a : v)
            QCOMPARE(dirHash(a.path), a.sha256);
        // Each run wrote into its own folder, and no version lives in a run folder.
        storage::Store store(m_db);
        const auto runs = store.runs().list();
        QCOMPARE(int(runs.size()), 2);
        std::set<std::string> outputs;
        for (const auto& r : runs)
            outputs.insert(engine::TrainConfig::fromJson(nlohmann::json::parse(r.configJson)).outputDir);
        QCOMPARE(int(outputs.size()), 2);
        for (const auto& a : v)
            for (const auto& out : outputs)
                QVERIFY2(a.path.rfind(out, 0) != 0, qPrintable(QString::fromStdString(a.path + " is inside " + out)));
        QCOMPARE(store.adapters().require(first.id).sha256, first.sha256);
        QCOMPARE(dirHash(first.path), first.sha256);
    }

    void concurrentRunsOfOneConfigKeepBothVersions()
    {
        const size_t before = versions().size();
        QProcess a, b;
        a.start(cli(), train(m_config, {"--set", "training.seed=7"}));
        b.start(cli(), train(m_config, {"--set", "training.seed=8"}));
        QVERIFY(a.waitForFinished(180000));
        QVERIFY(b.waitForFinished(180000));
        QVERIFY2(a.exitCode() == 0, a.readAllStandardError().constData());
        QVERIFY2(b.exitCode() == 0, b.readAllStandardError().constData());
        const auto v = versions();
        QCOMPARE(v.size(), before + 2);
        std::set<std::string> paths, hashes;
        for (const auto& x : v) {
            QCOMPARE(dirHash(x.path), x.sha256);
            paths.insert(x.path);
            hashes.insert(x.sha256);
        }
        QCOMPARE(paths.size(), v.size());
        QCOMPARE(hashes.size(), v.size());
    }

    // A named output folder is not shared: a second fresh run there is refused, naming the first.
    void namedOutputFolderHoldingAnotherRunIsRefused()
    {
        const std::string shared = (m_root / "shared-out").string();
        const std::string cfg = writeConfig("named", 4, 2, shared);
        Outcome o = run(train(cfg));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        // Leftovers of a writer killed while staging are removed by the next run in the folder.
        fs::create_directories(fs::path(shared) / "checkpoints" / ".step-9.tmp-1-dead");
        std::ofstream(fs::path(shared) / "checkpoints" / ".step-9.tmp-1-dead" / "state.safetensors") << std::string(4096, 'x');
        fs::create_directories(fs::path(shared) / ".adapter.tmp-1-dead");
        o = run(train(cfg, {"--set", "training.learning_rate=0.001"}));
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("already holds checkpoints of another run") && o.err.contains(" of run #") && o.err.contains("\"named\""),
                 qPrintable(o.err));
        // The refused run took the folder's lock first, and cleaned the staging then.
        QVERIFY(!fs::exists(fs::path(shared) / "checkpoints" / ".step-9.tmp-1-dead"));
        QVERIFY(!fs::exists(fs::path(shared) / ".adapter.tmp-1-dead"));
        // The finished run itself is not trained again.
        o = run(train(cfg, {"--resume", "latest", "--run-id", QString::number(versions().back().sourceRunId.value_or(0))}));
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("has finished"), qPrintable(o.err));
        QVERIFY(fs::exists(fs::path(shared) / "checkpoints" / "step-4"));
    }

    // An output folder that already holds an adapter (the user's, or one whose checkpoints are gone)
    // is not overwritten by a new run's final save: refused before training, the files as they were.
    void adapterAlreadyInOutputFolderIsKept()
    {
        const fs::path out = m_root / "has-adapter";
        fs::create_directories(out / "adapter");
        std::ofstream(out / "adapter" / "adapter_config.json") << R"({"peft_type": "LORA", "r": 4})";
        std::ofstream(out / "adapter" / "notes.txt") << "mine";
        const std::string before = dirHash((out / "adapter").string());
        const std::string cfg = writeConfig("kept", 4, 2, out.string());
        for (const QStringList& extra : {QStringList{}, QStringList{"--no-store"}}) {
            const Outcome o = run(train(cfg, extra));
            QVERIFY(o.code != 0);
            QVERIFY2(o.err.contains(QString::fromStdString("already holds a folder 'adapter' (" + (out / "adapter").string()
                                                           + "), which this run's final save would replace")),
                     qPrintable(o.err));
            QCOMPARE(dirHash((out / "adapter").string()), before);
            QVERIFY(!fs::exists(out / "checkpoints" / "step-2"));
        }
        // An empty adapter folder holds nothing to lose.
        fs::remove_all(out / "adapter");
        fs::create_directories(out / "adapter");
        const Outcome o = run(train(cfg, {"--no-store"}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY(fs::exists(out / "adapter" / "adapter_model.safetensors"));
    }

    // Issue: stop with save, resume, finish made three versions pointing at one folder.
    void stopAndResumeMakeOneVersionOfOneRun()
    {
        const std::string cfg = writeConfig("stopped", 400, 20);
        storage::Store before(m_db);
        const int64_t runsBefore = before.runs().count();
        const size_t versionsBefore = versions().size();
        QProcess p;
        p.start(cli(), QStringList{"train", QString::fromStdString(cfg), "--db", QString::fromStdString(m_db.string())});
        QVERIFY(p.waitForStarted());
        // Ctrl-C (stop with save) once training is under way.
        QByteArray err;
        while (!err.contains("step 30/") && p.state() == QProcess::Running) {
            p.waitForReadyRead(200);
            err += p.readAllStandardError();
        }
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 130);
        QCOMPARE(versions().size(), versionsBefore); // a stop leaves a checkpoint, not a version
        Outcome o = run(train(cfg, {"--resume", "latest"}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        QCOMPARE(store.runs().count(), runsBefore + 1); // the same run continued
        const auto v = versions();
        QCOMPARE(v.size(), versionsBefore + 1);
        const auto& last = v.back();
        QCOMPARE(last.sourceStep.value_or(0), int64_t(400));
        QCOMPARE(dirHash(last.path), last.sha256);
        // Exported, the version is the files it recorded.
        const QString bundle = QString::fromStdString((m_root / "export-stopped").string());
        o = run({"runs", "export", QString::number(last.sourceRunId.value_or(0)), bundle, "--db",
                 QString::fromStdString(m_db.string())});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        int found = 0;
        for (const auto& e : fs::directory_iterator(fs::path(bundle.toStdString()) / "adapters"))
            if (e.is_directory()) {
                QCOMPARE(dirHash(e.path().string()), last.sha256);
                ++found;
            }
        QCOMPARE(found, 1);
        // The step metrics of the run are there once each, 1..400.
        const auto loss = store.metrics().series(last.sourceRunId.value_or(0), "train/loss");
        QCOMPARE(int(loss.size()), 400);
        for (size_t i = 0; i < loss.size(); ++i)
            QCOMPARE(loss.steps[i], int64_t(i + 1));
    }

    // kill -9 at 20 seeded points, each followed by `--resume latest` of the same run: no metric
    // step is lost or doubled, the values are those of an uninterrupted run (bitwise on the CPU).
    // The points are counted in the run's progress, not in time from the start, so that a loaded
    // machine (a start-up of seconds) and an idle one kill as often and at like places: a life is
    // killed a seeded number of steps after its first, or one in four at a seeded moment of its
    // start-up. Time-based kills ended in the start-up alone on a slow machine and let the run end
    // before ten kills on a fast one.
    void killAndResumeLoseNoMetric()
    {
        const std::string cfg = writeConfig("killed", 3000, 10);
        Outcome o = run(train(cfg, {"--set", "training.seed=99"}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        storage::RunFilter f;
        f.limit = 1;
        const int64_t reference = store.runs().list(f).front().id;
        const auto expected = store.metrics().series(reference, "train/loss");
        QCOMPARE(int(expected.size()), 3000);

        std::mt19937 rng(2024);
        std::uniform_int_distribution<int> stepsInALife(1, 100); // 20 lives stay far from the 3000 steps
        std::bernoulli_distribution inTheStartUp(0.25);
        std::uniform_int_distribution<int> startUpMs(0, 400);
        static const QRegularExpression stepLine("(?:^|\n)step (\\d+)/");
        int64_t runId = 0, furthest = 0;
        int kills = 0, killedBeforeAStep = 0;
        // Until 20 processes were killed mid-run (or the run finished anyway).
        for (int i = 0; i < 40 && kills < 20; ++i) {
            QStringList args = train(cfg, {"--set", "training.seed=99"});
            args.removeAll("--quiet"); // its step lines tell how far it got
            if (runId > 0) {
                storage::Store s(m_db);
                if (s.runs().require(runId).status == storage::RunStatus::Finished)
                    break; // a finished run is not trained again
                args << "--run-id" << QString::number(runId);
                const auto dir = engine::TrainConfig::fromJson(nlohmann::json::parse(s.runs().require(runId).configJson)).outputDir;
                bool hasCheckpoint = false;
                if (fs::exists(fs::path(dir) / "checkpoints"))
                    for (const auto& e : fs::directory_iterator(fs::path(dir) / "checkpoints"))
                        hasCheckpoint = hasCheckpoint || e.path().filename().string().rfind("step-", 0) == 0;
                if (hasCheckpoint)
                    args << "--resume" << "latest";
            }
            const bool early = inTheStartUp(rng);
            const int steps = stepsInALife(rng), ms = startUpMs(rng);
            QProcess p;
            p.setReadChannel(QProcess::StandardError);
            QElapsedTimer clock;
            clock.start();
            p.start(cli(), args);
            QVERIFY(p.waitForStarted());
            QString err;
            int64_t first = -1, last = -1;
            auto due = [&] { return early ? clock.elapsed() >= ms : first >= 0 && last - first + 1 >= steps; };
            while (p.state() == QProcess::Running && !due()) {
                QVERIFY2(clock.elapsed() < 300000, qPrintable("no progress in 5 minutes:\n" + err.right(2000)));
                p.waitForReadyRead(early ? 10 : 1000);
                err += QString::fromUtf8(p.readAllStandardError());
                for (auto it = stepLine.globalMatch(err); it.hasNext();) {
                    const int64_t step = it.next().captured(1).toLongLong();
                    first = first < 0 ? step : first;
                    last = step;
                }
            }
            if (p.state() != QProcess::NotRunning) {
                ::kill(pid_t(p.processId()), SIGKILL);
                p.waitForFinished(60000);
                ++kills;
                killedBeforeAStep += first < 0;
            }
            furthest = std::max(furthest, last);
            if (runId == 0) {
                // The run row, once a process got as far as opening the store and recording it.
                storage::Store s(m_db);
                const auto latest = s.runs().list(f);
                if (!latest.empty() && latest.front().id != reference)
                    runId = latest.front().id;
            }
        }
        qInfo("%d processes killed, %d of them before their first step; the run got to step %lld of 3000", kills,
              killedBeforeAStep, (long long)furthest);
        QVERIFY(runId > 0);
        QVERIFY2(kills >= 10, qPrintable(QString("only %1 processes were killed before they ended").arg(kills)));
        bool finished = false;
        {
            storage::Store s(m_db);
            finished = s.runs().require(runId).status == storage::RunStatus::Finished;
        }
        if (!finished) {
            o = run(train(cfg, {"--set", "training.seed=99", "--run-id", QString::number(runId), "--resume", "latest"}));
            QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        }
        storage::Store after(m_db);
        QCOMPARE(after.runs().require(runId).status, storage::RunStatus::Finished);
        const auto got = after.metrics().series(runId, "train/loss");
        QCOMPARE(int(got.size()), 3000);
        for (size_t i = 0; i < got.size(); ++i) {
            QCOMPARE(got.steps[i], int64_t(i + 1));
            QCOMPARE(got.values[i], expected.values[i]);
        }
    }

    void checkpointsOfAnotherConfigAreRefusedByName()
    {
        const std::string shared = (m_root / "mixed-out").string();
        const std::string a = writeConfig("thirty", 8, 4, shared);
        Outcome o = run(train(a));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        storage::RunFilter f;
        f.limit = 1;
        const int64_t first = store.runs().list(f).front().id;
        // As if it had been stopped (a finished run is refused before its checkpoints are read).
        store.runs().setStatus(first, storage::RunStatus::Stopped);
        const std::string b = writeConfig("hundred", 100, 4, shared);
        o = run(train(b, {"--resume", "latest", "--run-id", QString::number(first)}));
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("training.max_steps: 8 -> 100") && o.err.contains("\"thirty\""), qPrintable(o.err));
    }

    void finalEvaluationIsStoredOnce()
    {
        const std::string cfg = writeConfig("evaluated", 6, 0, {}, "model", 3);
        Outcome o = run(train(cfg));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        storage::RunFilter f;
        f.limit = 1;
        const auto evals = store.metrics().series(store.runs().list(f).front().id, "eval/loss");
        QCOMPARE(int(evals.size()), 2);
        QCOMPARE(evals.steps[0], int64_t(3));
        QCOMPARE(evals.steps[1], int64_t(6));
    }

    // A full disk under the output folder: the run fails naming the file it could not write, the
    // store says so, and the checkpoints written before stay whole. Needs a small tmpfs (root).
    void fullDiskFailsTheRunAndKeepsEarlierCheckpoints()
    {
        if (::geteuid() != 0)
            QSKIP("mounting a small tmpfs needs root (CI runs as root)");
        // The size of one checkpoint of this config, measured on the ordinary disk.
        const std::string probe = writeConfig("probe", 2, 2, (m_root / "probe-out").string());
        Outcome o = run(train(probe));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        uint64_t checkpointBytes = 0;
        for (const auto& e : fs::recursive_directory_iterator(m_root / "probe-out" / "checkpoints" / "step-2"))
            if (e.is_regular_file())
                checkpointBytes += (e.file_size() + 4095) / 4096 * 4096;
        // Room for two and a half checkpoints: step-2 and step-4 fit, step-6 does not (the oldest is
        // removed only after the newest is complete).
        const fs::path disk = m_root / "small-disk";
        const SmallDisk small(disk, QString::number((checkpointBytes * 5 / 2 + 16384) / 4096 * 4096));
        QVERIFY2(small.mounted(), small.error().constData());
        const std::string cfg = writeConfig("full", 40, 2, (disk / "out").string());
        o = run(train(cfg));
        QCOMPARE(o.code, 1);
        QVERIFY2(o.err.contains("No space left on device") && o.err.contains("step-6"), qPrintable(o.err));
        storage::Store store(m_db);
        storage::RunFilter f;
        f.limit = 1;
        const auto failed = store.runs().list(f).front();
        QCOMPARE(failed.status, storage::RunStatus::Failed);
        QVERIFY2(QString::fromStdString(failed.errorMessage).contains("No space left on device"),
                 failed.errorMessage.c_str());
        for (const char* step : {"step-2", "step-4"}) {
            const fs::path c = disk / "out" / "checkpoints" / step;
            QVERIFY2(fs::exists(c / "checkpoint.json"), step);
            const auto info = nlohmann::json::parse(std::ifstream(c / "checkpoint.json"));
            QCOMPARE(info["step"].get<int>(), std::stoi(std::string(step).substr(5)));
            QCOMPARE(fs::file_size(c / "state.safetensors"),
                     fs::file_size(m_root / "probe-out" / "checkpoints" / "step-2" / "state.safetensors"));
        }
        QVERIFY(!fs::exists(disk / "out" / "checkpoints" / "step-6"));
        for (const auto& e : fs::directory_iterator(disk / "out" / "checkpoints"))
            QVERIFY2(e.path().filename().string()[0] != '.', e.path().c_str()); // no staging left
    }

    // The store's own disk fills up during a run: the run is still recorded failed, with the first
    // error, thanks to the space the recorder set aside (without it the status cannot be written and
    // the run stays "running"); no reserve file is left behind.
    void fullStoreDiskStillRecordsTheFailure()
    {
        if (::geteuid() != 0)
            QSKIP("mounting a small tmpfs needs root (CI runs as root)");
        const fs::path disk = m_root / "small-store-disk";
        const SmallDisk small(disk, "1724k");
        QVERIFY2(small.mounted(), small.error().constData());
        // Store and outputs share the small disk (1 MiB of it goes to the recorder's reserve); the
        // run logs every step until the disk is full.
        const QString db = QString::fromStdString((disk / "store.sqlite").string());
        const std::string cfg = writeConfig("store-full", 20000, 5, (disk / "out").string());
        const Outcome o = run({"train", QString::fromStdString(cfg), "--quiet", "--db", db});
        QCOMPARE(o.code, 1);
        QVERIFY2(o.err.contains("disk is full") || o.err.contains("No space left on device"), qPrintable(o.err));
        storage::Store store(disk / "store.sqlite");
        const auto r = store.runs().list().front();
        QCOMPARE(r.status, storage::RunStatus::Failed);
        QVERIFY2(QString::fromStdString(r.errorMessage).contains("full") || QString::fromStdString(r.errorMessage).contains("No space"),
                 r.errorMessage.c_str());
        for (const auto& e : fs::directory_iterator(disk))
            QVERIFY2(e.path().filename().string().find(".reserve-") == std::string::npos, e.path().c_str());
    }

    // `rslora adapters add DIR`: a PEFT folder trained elsewhere becomes a version with files of its
    // own and its base model; a folder that is not an adapter, or does not fit the base, is refused.
    void adapterFolderTrainedElsewhereIsRegistered()
    {
        const fs::path elsewhere = m_root / "elsewhere";
        storage::Store store(m_db);
        storage::RunFilter f;
        f.statuses = {storage::RunStatus::Finished};
        f.limit = 1;
        const auto last = store.runs().list(f).front();
        const std::string out = engine::TrainConfig::fromJson(nlohmann::json::parse(last.configJson)).outputDir;
        fs::copy(fs::path(out) / "adapter", elsewhere, fs::copy_options::recursive);
        const QString db = QString::fromStdString(m_db.string());
        Outcome o = run({"adapters", "add", QString::fromStdString(elsewhere.string()), "--task", "outside", "--base-model",
                         QString::fromStdString((m_root / "model").string()), "--json", "--db", db});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const auto j = nlohmann::json::parse(o.out.toStdString());
        QCOMPARE(QString::fromStdString(j["task"].get<std::string>()), QString("outside"));
        QCOMPARE(j["rank"].get<int>(), 4);
        QCOMPARE(j["base_model"]["sha256"].get<std::string>(), models::modelFingerprint(m_root / "model"));
        const std::string path = j["path"].get<std::string>();
        QVERIFY(path.rfind(elsewhere.string(), 0) != 0);
        QCOMPARE(dirHash(path), j["sha256"].get<std::string>());
        QCOMPARE(dirHash(path), dirHash(elsewhere.string()));

        // Shapes that do not fit the named base are refused, naming the tensor; nothing is recorded.
        saveTinyModel(m_root / "narrow-model", 7);
        {
            auto cfg = nlohmann::json::parse(std::ifstream(m_root / "narrow-model" / "config.json"));
            cfg["hidden_size"] = 32;
            cfg["head_dim"] = 8;
            std::ofstream(m_root / "narrow-model" / "config.json") << cfg.dump();
        }
        const size_t before = versions().size();
        o = run({"adapters", "add", QString::fromStdString(elsewhere.string()), "--base-model",
                 QString::fromStdString((m_root / "narrow-model").string()), "--db", db});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("lora_A.weight' has shape [4, 48]") && o.err.contains("32 inputs"), qPrintable(o.err));
        fs::remove(elsewhere / "adapter_model.safetensors");
        o = run({"adapters", "add", QString::fromStdString(elsewhere.string()), "--db", db});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("is not a PEFT adapter folder: adapter_model.safetensors is missing"), qPrintable(o.err));
        QCOMPARE(versions().size(), before);
    }

    // Versions of different base models trained on one dataset do not share a lineage.
    void anotherBaseModelStartsItsOwnTask()
    {
        const std::string cfg = writeConfig("other-base", 4, 0, {}, "other-model");
        Outcome o = run(train(cfg));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        int mine = 0, facts = 0;
        for (const auto& a : versions()) {
            if (a.task == "facts_other-model") {
                ++mine;
                QCOMPARE(a.version, int64_t(1));
                QCOMPARE(a.baseModel.sha256, models::modelFingerprint(m_root / "other-model"));
            } else if (a.task == "facts") {
                ++facts;
                QCOMPARE(a.baseModel.sha256, models::modelFingerprint(m_root / "model"));
            }
        }
        QCOMPARE(mine, 1);
        QVERIFY(facts >= 1);
    }
};

QTEST_GUILESS_MAIN(RunFilesTest)
#include "RunFilesTest.moc"
