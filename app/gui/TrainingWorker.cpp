#include "app/gui/TrainingWorker.h"

#include "app/shared/RunRecorder.h"

#include "common/Error.h"
#include "common/Log.h"
#include "engine/ErrorText.h"
#include "engine/TrainingRun.h"

namespace rslora::app {

TrainingWorker::TrainingWorker(QObject* parent) : QObject(parent) {}

void TrainingWorker::reset() { clearRequests(); }

void TrainingWorker::onStep(const engine::StepStats& stats) { Q_EMIT stepReported(stats); }
void TrainingWorker::onEval(const engine::EvalStats& stats) { Q_EMIT evalReported(stats); }
void TrainingWorker::onStatus(const std::string& message) { Q_EMIT statusReported(QString::fromStdString(message)); }

void TrainingWorker::run(qint64 runId, const QString& databasePath, const engine::TrainConfig& config, const QString& resumeFrom) {
    JobOutcome outcome;
    outcome.runId = runId;
    std::unique_ptr<RunRecorder> recorder;
    try {
        recorder = std::make_unique<RunRecorder>(databasePath.toStdString(), runId);
        recorder->start(config.device);
        engine::TrainResult r = engine::runTraining(config, this, recorder.get(), resumeFrom.toStdString(), recorder->identity());
        std::optional<int64_t> adapterId = recorder->finish(r);
        outcome.status = r.status == engine::TrainStatus::Completed ? "finished" : QString::fromLatin1(engine::trainStatusName(r.status));
        outcome.message = QString::fromStdString(r.message);
        outcome.steps = r.steps;
        outcome.finalLoss = r.finalLoss;
        outcome.adapterDir = QString::fromStdString(r.adapterDir);
        outcome.adapterId = adapterId.value_or(0);
        if (r.status == engine::TrainStatus::Failed)
            outcome.status = "failed";
    } catch (const Error& e) {
        outcome.status = "failed";
        outcome.message = QString::fromStdString(e.fullMessage());
    } catch (const std::exception& e) {
        outcome.status = "failed";
        outcome.message = QString::fromStdString(engine::errorText(e));
    }
    if (outcome.status == "failed") {
        logError("run #" + std::to_string(runId) + " failed: " + outcome.message.toStdString());
        try {
            if (recorder)
                recorder->fail(outcome.message.toStdString());
        } catch (const std::exception& e) {
            logError(std::string("cannot record the failure: ") + e.what());
        }
    }
    Q_EMIT finished(outcome);
}

} // namespace rslora::app
