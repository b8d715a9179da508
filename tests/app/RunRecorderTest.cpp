// RunRecorder against a real store: a run another live process holds is left alone (also by fail()),
// and the disk reserve is spent only on a full disk.
#include "app/shared/RunRecorder.h"

#include "common/Error.h"
#include "engine/Trainer.h"
#include "storage/Naming.h"
#include "storage/Statement.h"
#include "storage/Store.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace rslora;
namespace fs = std::filesystem;

class RunRecorderTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_db;

    int64_t newRun(storage::RunStatus status = storage::RunStatus::Queued, std::optional<int64_t> pid = std::nullopt)
    {
        storage::Store store(m_db);
        engine::TrainConfig c;
        c.trainData = "facts.jsonl";
        storage::RunRecord r;
        r.name = "recorded";
        r.status = status;
        r.configJson = c.toJson().dump();
        if (pid) {
            r.pid = pid;
            r.host = storage::hostName();
            r.heartbeat = storage::nowSeconds() + 1;
        }
        return store.runs().create(r);
    }
    fs::path reserveOf(int64_t runId) const { return m_db.string() + ".reserve-" + std::to_string(runId); }

private slots:
    void init()
    {
        static int n = 0;
        m_db = fs::path(m_dir.path().toStdString()) / ("store" + std::to_string(++n)) / "workbench.sqlite";
    }

    // Issue: the workbench's worker marked a run failed that another process was training, after
    // its own start had been refused.
    void refusedStartLeavesTheRunAlone()
    {
        QProcess owner;
        owner.start("sleep", {"60"});
        QVERIFY(owner.waitForStarted());
        const int64_t id = newRun(storage::RunStatus::Running, owner.processId());
        {
            app::RunRecorder recorder(m_db, id);
            QVERIFY_THROWS_EXCEPTION(Error, recorder.start("cpu"));
            recorder.fail("the worker gave up");
        }
        QVERIFY(!fs::exists(reserveOf(id)));
        storage::Store store(m_db);
        const storage::RunRecord r = store.runs().require(id);
        QCOMPARE(r.status, storage::RunStatus::Running);
        QCOMPARE(r.pid.value_or(0), int64_t(owner.processId()));
        QCOMPARE(r.errorMessage, std::string());
        owner.kill();
        owner.waitForFinished();
    }

    // Issue: any failure to record the failure (here: the run's row is gone) freed the space set
    // aside for a full disk and said the disk was the problem.
    void onlyAFullDiskSpendsTheReserve()
    {
        const int64_t id = newRun();
        app::RunRecorder recorder(m_db, id);
        recorder.start("cpu");
        QVERIFY(fs::exists(reserveOf(id)));
        {
            storage::Store store(m_db);
            storage::Statement del(store.database(), "DELETE FROM runs WHERE id = ?");
            del.bind(1, id);
            del.run();
        }
        try {
            recorder.fail("out of memory at step 3");
            QFAIL("recording the failure of a deleted run succeeded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("no run with id " + std::to_string(id)) != std::string::npos, e.what());
        }
        QVERIFY(fs::exists(reserveOf(id)));
    }
};

QTEST_GUILESS_MAIN(RunRecorderTest)
#include "RunRecorderTest.moc"
