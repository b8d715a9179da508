#include "app/gui/RunController.h"

#include "app/shared/RunRecorder.h"

#include "common/Error.h"
#include "common/Log.h"
#include "common/Paths.h"
#include "engine/RunDataCheck.h"
#include "engine/RunFolder.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <nlohmann/json.hpp>


namespace rslora::app {

namespace {

// Pause and Resume write the run's status from this thread, while the worker thread records the
// run's end (finished, stopped, failed) before its report reaches this one: a press in between must
// not write over that end, which left a finished run "paused", or "running" for good. Read and write
// in one transaction, so the worker's connection cannot write between them.
void setLiveStatus(storage::Store& store, qint64 runId, storage::RunStatus status) {
    storage::Transaction t(store.database());
    const std::optional<storage::RunRecord> run = store.runs().get(runId);
    if (run && !storage::isTerminal(run->status))
        store.runs().setStatus(runId, status);
    t.commit();
}

} // namespace

RunController::RunController(storage::Store* store, const QString& databasePath, QObject* parent)
    : QObject(parent), m_store(store), m_databasePath(databasePath) {
    qRegisterMetaType<engine::StepStats>("rslora::engine::StepStats");
    qRegisterMetaType<engine::EvalStats>("rslora::engine::EvalStats");
    qRegisterMetaType<engine::TrainConfig>("rslora::engine::TrainConfig");
    qRegisterMetaType<JobOutcome>("rslora::app::JobOutcome");
    m_thread.setObjectName("training");
    m_worker = new TrainingWorker;
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &RunController::startJob, m_worker, &TrainingWorker::run, Qt::QueuedConnection);
    connect(m_worker, &TrainingWorker::stepReported, this, &RunController::stepReported, Qt::QueuedConnection);
    connect(m_worker, &TrainingWorker::evalReported, this, &RunController::evalReported, Qt::QueuedConnection);
    connect(m_worker, &TrainingWorker::statusReported, this, &RunController::statusReported, Qt::QueuedConnection);
    connect(m_worker, &TrainingWorker::finished, this, &RunController::onFinished, Qt::QueuedConnection);
    m_thread.start();
}

RunController::~RunController() { shutdown(true); }

void RunController::refuseDuplicate(const engine::TrainConfig& config) const {
    // Start pressed twice (or its shortcut repeated) would train the same run twice, one after the
    // other: the same settings as a run queued or training here are refused, saying which.
    const std::string requested = config.toJson().dump();
    auto refuse = [](qint64 runId, const QString& runName, const char* where) {
        throw Error("run #" + std::to_string(runId) + " \"" + runName.toStdString() + "\" with exactly these settings is " + where
                    + " in this workbench: change a setting (the seed, say) to queue another run, or wait until it has ended");
    };
    if (m_currentRun != 0 && m_currentRequested == requested)
        refuse(m_currentRun, m_currentName, "training already");
    for (const Job& j : std::as_const(m_queue))
        if (j.requested == requested)
            refuse(j.runId, j.name, "queued already");
}

void RunController::checkData(const engine::TrainConfig& config) {
    // The config, the model folder and the whole data set as the trainer reads it: a bad record or
    // data with no usable sample is refused here, before a run row or a run folder exists.
    engine::TrainConfig check = config;
    if (check.outputDir.empty())
        check.outputDir = "(the run's own folder)";
    engine::RunDataCheck().check(check);
}

qint64 RunController::enqueue(engine::TrainConfig config, const QString& name) {
    refuseDuplicate(config);
    checkData(config);
    return enqueueChecked(std::move(config), name);
}

qint64 RunController::enqueueChecked(engine::TrainConfig config, const QString& name) {
    refuseDuplicate(config);
    std::string requested = config.toJson().dump(); // as given: recording fills in the output folder
    // An empty output folder becomes the run's own (beside the store), so runs never share files.
    const qint64 id = RunRecorder::createQueuedRun(*m_store, config, name.toStdString());
    m_queue.push_back({id, name, std::move(config), {}, std::move(requested)});
    Q_EMIT queueChanged();
    startNext();
    return id;
}

std::optional<qint64> RunController::latestCheckpointStep(const storage::RunRecord& run) {
    // One that never started has no checkpoint of its own, whatever its folder holds.
    if (!run.startTime)
        return std::nullopt;
    const engine::TrainConfig config = engine::TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
    if (config.outputDir.empty())
        return std::nullopt;
    const auto checkpoints = engine::RunFolder::checkpointsIn(config.outputDir); // oldest first
    if (checkpoints.empty())
        return std::nullopt;
    return checkpoints.back().step;
}

bool RunController::hasOwnCheckpoint(const storage::RunRecord& run) {
    return latestCheckpointStep(run).has_value();
}

qint64 RunController::enqueueResume(qint64 runId) {
    if (runId == m_currentRun)
        throw Error("run #" + std::to_string(runId) + " is training in this workbench already");
    for (const Job& j : std::as_const(m_queue))
        if (j.runId == runId)
            throw Error("run #" + std::to_string(runId) + " is queued in this workbench already");
    storage::RunRecord run = m_store->runs().require(runId);
    engine::TrainConfig config = engine::TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
    // Refused (nothing written) when the run finished or another live process holds it: a Runs
    // table read before that process started it must not take it over.
    m_store->runs().markQueued(runId);
    // A run that never wrote a checkpoint (e.g. queued in a workbench that closed before it started)
    // starts from the beginning.
    m_queue.push_back({runId, QString::fromStdString(run.name), config, hasOwnCheckpoint(run) ? "latest" : ""});
    Q_EMIT queueChanged();
    startNext();
    return runId;
}

void RunController::cancelQueued(qint64 runId) {
    for (int i = 0; i < m_queue.size(); ++i) {
        if (m_queue[i].runId == runId) {
            m_queue.removeAt(i);
            m_store->runs().setStatus(runId, storage::RunStatus::Stopped, "cancelled before it started");
            Q_EMIT queueChanged();
            return;
        }
    }
}

void RunController::moveQueued(qint64 runId, int delta) {
    for (int i = 0; i < m_queue.size(); ++i) {
        if (m_queue[i].runId == runId) {
            const int to = std::clamp(i + delta, 0, static_cast<int>(m_queue.size()) - 1);
            m_queue.move(i, to);
            Q_EMIT queueChanged();
            return;
        }
    }
}

QList<QPair<qint64, QString>> RunController::waiting() const {
    QList<QPair<qint64, QString>> out;
    for (const Job& j : m_queue)
        out.append({j.runId, j.name});
    return out;
}

void RunController::holdQueue(bool hold) {
    m_hold = hold;
    startNext();
}

void RunController::startNext() {
    if (m_currentRun != 0 || m_queue.isEmpty() || m_hold)
        return;
    Job job = m_queue.takeFirst();
    m_currentRun = job.runId;
    m_currentName = job.name;
    m_currentRequested = job.requested;
    m_paused = false;
    m_worker->reset();
    Q_EMIT queueChanged();
    Q_EMIT runStarted(job.runId, job.name);
    Q_EMIT startJob(job.runId, m_databasePath, job.config, job.resumeFrom);
}

void RunController::onFinished(const JobOutcome& outcome) {
    m_currentRun = 0;
    m_paused = false;
    Q_EMIT runEnded(outcome);
    startNext();
}

void RunController::pause() {
    if (!busy() || m_paused)
        return;
    m_worker->requestPause();
    m_paused = true;
    if (m_store)
        setLiveStatus(*m_store, m_currentRun, storage::RunStatus::Paused);
    Q_EMIT pausedChanged(true);
}

void RunController::resume() {
    if (!busy() || !m_paused)
        return;
    m_worker->resume();
    m_paused = false;
    if (m_store)
        setLiveStatus(*m_store, m_currentRun, storage::RunStatus::Running);
    Q_EMIT pausedChanged(false);
}

void RunController::stop(bool saveFinal) {
    if (!busy())
        return;
    m_worker->requestStop(saveFinal);
    m_worker->resume(); // a paused run must wake up to stop
}

void RunController::shutdown(bool saveFinal) {
    if (!m_thread.isRunning())
        return;
    // Waiting runs stay `queued` in the store, owned by no process: the next workbench opened on it
    // queues them again (and the store does not take them for runs of a process that died).
    for (const Job& j : std::as_const(m_queue)) {
        if (!m_store)
            break;
        try {
            storage::RunRecord run = m_store->runs().require(j.runId);
            run.pid.reset();
            run.heartbeat.reset();
            m_store->runs().update(run);
        } catch (const std::exception& e) {
            logError("queued run " + std::to_string(j.runId) + " could not be kept for the next start: " + e.what());
        }
    }
    m_queue.clear();
    if (busy())
        stop(saveFinal);
    m_thread.quit();
    m_thread.wait();
    // The job's own end report is still queued for this thread; the run is over either way.
    m_currentRun = 0;
    m_paused = false;
}

} // namespace rslora::app
