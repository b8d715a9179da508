// RunRecorder against a real store: a run another live process holds is left alone (also by fail()),
// the disk reserve is spent only on a full disk, and an end of run that cannot be recorded leaves no
// adapter folder behind.
#include "app/shared/RunRecorder.h"

#include "common/Error.h"
#include "common/Sha256.h"
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

    int64_t newRun(storage::RunStatus status = storage::RunStatus::Queued, std::optional<int64_t> pid = std::nullopt,
                   const std::string& trainData = "facts.jsonl")
    {
        storage::Store store(m_db);
        engine::TrainConfig c;
        c.trainData = trainData;
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

    // A run records the SHA-256 of the training file it starts on (the field was always empty).
    void startRecordsTheTrainingFilesHash()
    {
        const fs::path data = fs::path(m_dir.path().toStdString()) / "hashed.jsonl";
        std::ofstream(data) << "{\"prompt\": \"a\", \"completion\": \"b\"}\n";
        const int64_t id = newRun(storage::RunStatus::Queued, std::nullopt, data.string());
        {
            app::RunRecorder recorder(m_db, id);
            recorder.start("cpu");
            storage::Store store(m_db);
            const storage::RunRecord run = store.runs().require(id);
            QCOMPARE(run.dataset.ref, data.string());
            QCOMPARE(run.dataset.sha256, Sha256::fileHex(data));
            QCOMPARE(run.dataset.sha256.size(), size_t(64));
        }
    }

    // A stop between logged steps (at 69, logging every 5): the run's last step is the step it
    // stopped at, as its checkpoint says, not the last logged one.
    void aStopBetweenLoggedStepsIsItsLastStep()
    {
        const int64_t id = newRun();
        app::RunRecorder recorder(m_db, id);
        recorder.start("cpu");
        recorder.write(65, {{"train/loss", 1.5}});
        engine::TrainResult r;
        r.status = engine::TrainStatus::Stopped;
        r.steps = 69;
        recorder.finish(r);
        storage::Store store(m_db);
        QCOMPARE(store.runs().require(id).lastStep.value_or(0), int64_t(69));
    }

    // Issue: when the end-of-run transaction rolled back, the adapter folder it had placed stayed
    // under the adapter root with no version pointing at it.
    void unrecordedEndLeavesNoAdapterFolder()
    {
        const fs::path adapter = fs::path(m_dir.path().toStdString()) / "trained-adapter";
        fs::create_directories(adapter);
        std::ofstream(adapter / "adapter_model.safetensors") << "weights";
        std::ofstream(adapter / "adapter_config.json") << "{}";
        const int64_t id = newRun();
        app::RunRecorder recorder(m_db, id);
        recorder.start("cpu");
        engine::TrainResult r;
        r.status = engine::TrainStatus::Completed;
        r.steps = 4;
        r.adapterDir = adapter.string();
        // A parent version that does not exist: the lineage edge fails after the folder was placed.
        QVERIFY_THROWS_EXCEPTION(Error, recorder.finish(r, "facts", int64_t(424242)));
        storage::Store store(m_db);
        QVERIFY(store.adapters().list().empty());
        size_t left = 0;
        if (fs::exists(store.adapterRoot()))
            for (const auto& e : fs::recursive_directory_iterator(store.adapterRoot()))
                left += e.is_regular_file();
        QCOMPARE(left, size_t(0));
        QCOMPARE(store.runs().require(id).status, storage::RunStatus::Failed);

        // Recorded without the bad parent, the version keeps its folder.
        const int64_t again = newRun();
        app::RunRecorder second(m_db, again);
        second.start("cpu");
        const std::optional<int64_t> version = second.finish(r, "facts");
        QVERIFY(version);
        const storage::AdapterRecord a = store.adapters().require(*version);
        QVERIFY(fs::exists(fs::path(a.path) / "adapter_model.safetensors"));
    }
};

QTEST_GUILESS_MAIN(RunRecorderTest)
#include "RunRecorderTest.moc"
