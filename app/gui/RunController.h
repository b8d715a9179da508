// Owns the training thread and the queue: one run in flight, the others waiting in order. Creates
// the run rows, hands each job to the worker, relays its progress as signals on the UI thread, and
// stops the thread cleanly on shutdown.
#pragma once

#include "app/gui/TrainingWorker.h"

#include <QList>
#include <QObject>
#include <QPair>
#include <QThread>

#include <optional>

namespace rslora::storage {
class Store;
struct RunRecord;
}

namespace rslora::app {

class RunController : public QObject {
    Q_OBJECT
public:
    // `store` is the UI thread's connection; the worker opens its own to `databasePath`.
    RunController(storage::Store* store, const QString& databasePath, QObject* parent = nullptr);
    ~RunController() override;

    // Queues a new run (a row in state `queued`); starts it at once when nothing runs. An empty
    // output folder becomes <data folder>/runs/run-<id>. Throws rslora::Error, queuing nothing, when
    // a run with exactly this config (as the form gave it) is queued or training here already.
    // Checks the data on the calling thread (checkData), then enqueueChecked().
    qint64 enqueue(engine::TrainConfig config, const QString& name);
    // Throws rslora::Error when a run with exactly this config is queued or training here.
    void refuseDuplicate(const engine::TrainConfig& config) const;
    // Throws rslora::Error for what the run would refuse before it trains: the config, the model
    // folder, the template and every record of its data (RunDataCheck). Reads the whole data set
    // (seconds for a large one); touches no state of a controller, so any thread may call it.
    static void checkData(const engine::TrainConfig& config);
    // enqueue() of a config that checkData() accepted: refuses a duplicate and records the run,
    // reading no data.
    qint64 enqueueChecked(engine::TrainConfig config, const QString& name);
    // Queues an interrupted or stopped run again, continuing from its latest checkpoint. Throws
    // rslora::Error, changing nothing, for a run that is finished, already here, or held by another
    // live process (RunRepository::markQueued).
    qint64 enqueueResume(qint64 runId);
    void cancelQueued(qint64 runId);
    // Whether the run wrote a checkpoint of its own that a resume continues from (else a resume
    // starts it again from step 0).
    static bool hasOwnCheckpoint(const storage::RunRecord& run);
    // The step of its newest checkpoint ("step-N"), if it wrote one.
    static std::optional<qint64> latestCheckpointStep(const storage::RunRecord& run);
    void moveQueued(qint64 runId, int delta);

    void pause();
    void resume();
    void stop(bool saveFinal);
    // Asks the running job to stop (with a checkpoint) and waits for the thread to finish. Waiting
    // runs are left `queued` in the store, for the next workbench to queue again.
    void shutdown(bool saveFinal = true);
    // While held, queued runs wait even when nothing trains here (another process is training).
    void holdQueue(bool hold);
    bool queueHeld() const { return m_hold; }

    bool busy() const { return m_currentRun != 0; }
    bool paused() const { return m_paused; }
    qint64 currentRunId() const { return m_currentRun; }
    QList<QPair<qint64, QString>> waiting() const;

Q_SIGNALS:
    void runStarted(qint64 runId, const QString& name);
    void stepReported(const rslora::engine::StepStats& stats);
    void evalReported(const rslora::engine::EvalStats& stats);
    void statusReported(const QString& message);
    void runEnded(const rslora::app::JobOutcome& outcome);
    void queueChanged();
    void pausedChanged(bool paused);
    // Asks the worker thread to run a job (queued connection).
    void startJob(qint64 runId, const QString& databasePath, const rslora::engine::TrainConfig& config, const QString& resumeFrom);

private:
    struct Job {
        qint64 runId = 0;
        QString name;
        engine::TrainConfig config;
        QString resumeFrom;
        std::string requested; // the config as enqueue() was given it (empty for a resumed run)
    };
    void startNext();
    void onFinished(const JobOutcome& outcome);

    storage::Store* m_store = nullptr;
    QString m_databasePath;
    QThread m_thread;
    TrainingWorker* m_worker = nullptr;
    QList<Job> m_queue;
    qint64 m_currentRun = 0;
    QString m_currentName;
    std::string m_currentRequested;
    bool m_paused = false;
    bool m_hold = false;
};

} // namespace rslora::app
