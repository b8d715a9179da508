// Runs one training job on the worker thread: adapts the engine's observer to queued Qt signals
// carrying values, records the run in the store, and reports the outcome. Lives on a QThread owned
// by the RunController; pause and stop go through the observer's atomics, never through the queue.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/TrainObserver.h"

#include <QObject>
#include <QString>
#include <atomic>

namespace rslora::app {

// What the controller learns when a job ends.
struct JobOutcome {
    qint64 runId = 0;
    QString status;        // "finished", "stopped", "failed"
    QString message;       // diagnostic for failures
    qint64 steps = 0;
    double finalLoss = 0;
    QString adapterDir;
    qint64 adapterId = 0;  // 0 when no adapter was recorded
};

class TrainingWorker : public QObject, public engine::TrainObserver {
    Q_OBJECT
public:
    explicit TrainingWorker(QObject* parent = nullptr);

    // engine::TrainObserver, called on the training thread.
    void onStep(const engine::StepStats& stats) override;
    void onEval(const engine::EvalStats& stats) override;
    void onStatus(const std::string& message) override;

    // Clears stop/pause requests before a new job (called by the controller while idle).
    void reset();

public Q_SLOTS:
    void run(qint64 runId, const QString& databasePath, const rslora::engine::TrainConfig& config, const QString& resumeFrom);

Q_SIGNALS:
    void stepReported(const rslora::engine::StepStats& stats);
    void evalReported(const rslora::engine::EvalStats& stats);
    void statusReported(const QString& message);
    void finished(const rslora::app::JobOutcome& outcome);
};

} // namespace rslora::app

Q_DECLARE_METATYPE(rslora::app::JobOutcome)
