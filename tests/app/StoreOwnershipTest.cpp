// `rslora train`, `runs delete` and `sweeps delete` against runs of the store that are not theirs to
// take: a run another live process trains, holds paused or has queued is refused before anything of
// it is written; a finished run is not trained again; a continued run records the config it trains.
#include "CliRunSupport.h"

#include "engine/TrainConfig.h"
#include "storage/Naming.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace rslora;
namespace fs = std::filesystem;

using clitest::cli;
using clitest::Outcome;
using clitest::run;

class StoreOwnershipTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_root;
    fs::path m_db;
    std::string m_config;
    engine::TrainConfig m_train;
    QProcess m_owner; // stands in for another rslora process that holds a run

    QStringList train(QStringList extra = {}) const
    {
        return QStringList{"train", QString::fromStdString(m_config), "--quiet", "--db", QString::fromStdString(m_db.string())} + extra;
    }
    // A run row as another live process leaves it while it trains (or has it paused or queued).
    int64_t heldRun(storage::RunStatus status, const std::string& outputDir)
    {
        storage::Store store(m_db);
        engine::TrainConfig c = m_train;
        c.outputDir = (m_root / outputDir).string();
        storage::RunRecord r;
        r.name = "held";
        r.status = status;
        r.configJson = c.toJson().dump();
        r.startTime = storage::nowSeconds();
        r.host = storage::hostName();
        r.pid = m_owner.processId();
        r.heartbeat = storage::nowSeconds() + 1;
        r.lastStep = 2;
        return store.runs().create(r);
    }
    int64_t metricRows(storage::Store& store, int64_t runId)
    {
        return store.metrics().series(runId, "train/loss").totalPoints;
    }

private slots:
    void initTestCase()
    {
        QVERIFY2(!cli().isEmpty() && QFileInfo::exists(cli()), "RSLORA_CLI must name the rslora executable");
        m_root = m_dir.path().toStdString();
        m_db = m_root / "store" / "workbench.sqlite";
        clitest::saveTinyModel(m_root / "model", 5);
        clitest::writeFacts(m_root / "facts.jsonl", 16);
        m_train.modelPath = (m_root / "model").string();
        m_train.trainData = (m_root / "facts.jsonl").string();
        m_train.adapter.rank = 4;
        m_train.maxSteps = 4;
        m_train.saveEvery = 2;
        m_train.batchSize = 4;
        m_train.threads = 1;
        m_config = (m_root / "facts.json").string();
        m_train.save(m_config);
        m_owner.start("sleep", {"600"});
        QVERIFY(m_owner.waitForStarted());
    }

    void cleanupTestCase()
    {
        m_owner.kill();
        m_owner.waitForFinished();
    }

    // Issue: a second `train --run-id N` rewrote the row of a run that was still training, marked it
    // failed at the end, and left its own end time, error and pid on it.
    void liveRunIsNotTakenOver_data()
    {
        QTest::addColumn<QString>("status");
        QTest::addRow("running") << "running";
        QTest::addRow("paused") << "paused";
        QTest::addRow("queued") << "queued";
    }
    void liveRunIsNotTakenOver()
    {
        QFETCH(QString, status);
        const int64_t id = heldRun(storage::runStatusFromString(status.toStdString()), "held-" + status.toStdString());
        storage::RunRecord before;
        {
            storage::Store store(m_db);
            before = store.runs().require(id);
        }
        const Outcome o = run(train({"--run-id", QString::number(id), "--resume", "latest"}));
        QVERIFY(o.code != 0);
        const QString named = QString("run #%1 (\"held\") is %2 %3 process %4").arg(id).arg(status)
                                  .arg(status == "queued" ? "by" : "in").arg(m_owner.processId());
        QVERIFY2(o.err.contains(named) && o.err.contains("stop it first") == (status != "queued"), qPrintable(o.err));
        storage::Store store(m_db);
        const storage::RunRecord after = store.runs().require(id);
        QCOMPARE(after.status, before.status);
        QCOMPARE(after.pid, before.pid);
        QCOMPARE(after.heartbeat, before.heartbeat);
        QCOMPARE(after.errorMessage, std::string());
        QVERIFY(!after.endTime);
        QVERIFY(!fs::exists(m_root / ("held-" + status.toStdString())));
    }

    // Issue: `--resume latest` picked a paused run, which belongs to the process that paused it.
    void resumeLatestLeavesAPausedRunAlone()
    {
        const int64_t id = heldRun(storage::RunStatus::Paused, "paused-latest");
        storage::Store before(m_db);
        storage::RunRecord r = before.runs().require(id);
        // The paused run trained this very config into its output folder.
        engine::TrainConfig same = m_train;
        same.outputDir = (m_root / "paused-latest").string();
        const std::string cfg = (m_root / "paused-latest.json").string();
        same.save(cfg);
        const Outcome o = run({"train", QString::fromStdString(cfg), "--quiet", "--resume", "latest", "--db",
                               QString::fromStdString(m_db.string())});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("no stopped, failed or interrupted run"), qPrintable(o.err));
        storage::Store after(m_db);
        QCOMPARE(after.runs().require(id).status, storage::RunStatus::Paused);
        QCOMPARE(after.runs().require(id).pid, r.pid);
    }

    // Issue: `--run-id` on a finished run trained it again in place: its metrics were deleted and a
    // second version recorded.
    void finishedRunIsNotTrainedAgain()
    {
        Outcome o = run(train({"--set", "output.dir=" + QString::fromStdString((m_root / "finished").string())}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        storage::RunFilter f;
        f.limit = 1;
        const storage::RunRecord done = store.runs().list(f).front();
        QCOMPARE(done.status, storage::RunStatus::Finished);
        const int64_t points = metricRows(store, done.id);
        QCOMPARE(points, int64_t(4));
        const size_t versions = store.adapters().list().size();
        o = run(train({"--run-id", QString::number(done.id), "--resume", "latest"}));
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(QString("run #%1 (\"facts\") has finished").arg(done.id)) && o.err.contains("start a new run"),
                 qPrintable(o.err));
        storage::Store after(m_db);
        QCOMPARE(metricRows(after, done.id), points);
        QCOMPARE(after.adapters().list().size(), versions);
        const storage::RunRecord same = after.runs().require(done.id);
        QCOMPARE(same.status, storage::RunStatus::Finished);
        QCOMPARE(same.endTime, done.endTime);
        QVERIFY(fs::exists(m_root / "finished" / "checkpoints" / "step-4"));
    }

    // Issue: `--set` with `--run-id` trained rank 8 but recorded the run and its version as rank 4.
    void continuedRunRecordsTheConfigItTrains()
    {
        int64_t id = 0;
        {
            storage::Store store(m_db);
            engine::TrainConfig c = m_train;
            c.outputDir = (m_root / "overridden").string();
            storage::RunRecord r;
            r.name = "interrupted early";
            r.status = storage::RunStatus::Interrupted;
            r.configJson = c.toJson().dump();
            r.errorMessage = "interrupted: process 1 on elsewhere is gone before the run ended (last step none)";
            id = store.runs().create(r);
        }
        const Outcome o = run(train({"--run-id", QString::number(id), "--set", "adapter.r=8"}));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        storage::Store store(m_db);
        const storage::RunRecord r = store.runs().require(id);
        QCOMPARE(r.status, storage::RunStatus::Finished);
        QCOMPARE(engine::TrainConfig::fromJson(nlohmann::json::parse(r.configJson)).adapter.rank, 8);
        QCOMPARE(store.runs().params(id).at("adapter.r"), std::string("8"));
        // The attempt before left an error; the run that finished has none.
        QCOMPARE(r.errorMessage, std::string());
        storage::AdapterFilter f;
        f.sourceRunId = id;
        const auto versions = store.adapters().list(f);
        QCOMPARE(int(versions.size()), 1);
        QCOMPARE(versions[0].rank, 8);
    }

    // Issue: deleting a run that was still training threw its result away at the end.
    void heldRunsAreNotDeleted()
    {
        const int64_t id = heldRun(storage::RunStatus::Running, "delete-held");
        Outcome o = run({"runs", "delete", QString::number(id), "--yes", "--db", QString::fromStdString(m_db.string())});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(QString("run #%1 (\"held\") is running in process %2").arg(id).arg(m_owner.processId()))
                     && o.err.contains("deleting it now would take it from that process") && o.err.contains("stop it first"),
                 qPrintable(o.err));
        storage::Store store(m_db);
        QVERIFY(store.runs().get(id));

        // A sweep group with such a run is not deleted either, nor any of its runs.
        storage::RunGroupRecord g;
        g.kind = "sweep";
        g.name = "held sweep";
        const int64_t groupId = store.groups().create(g);
        storage::RunRecord other;
        other.name = "over";
        other.status = storage::RunStatus::Finished;
        const int64_t otherId = store.runs().create(other);
        store.groups().addMember({groupId, 0, otherId, 0, "[]", 0});
        store.groups().addMember({groupId, 1, id, 1, "[]", 0});
        o = run({"sweeps", "delete", QString::number(groupId), "--yes", "--db", QString::fromStdString(m_db.string())});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(QString("run #%1 (\"held\") is running in process").arg(id)) && o.err.contains("deleting sweep #"),
                 qPrintable(o.err));
        QVERIFY(store.groups().get(groupId));
        QVERIFY(store.runs().get(otherId));
        QVERIFY(store.runs().get(id));
    }
};

QTEST_GUILESS_MAIN(StoreOwnershipTest)
#include "StoreOwnershipTest.moc"
