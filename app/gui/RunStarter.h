// The New run form's Start for a run trained in this workbench. The run's config and whole data set
// are checked as training reads them (RunController::checkData: seconds for a large file) on a worker
// thread, so the window keeps answering; meanwhile the form's Start says "Checking data…" and takes
// no press, and the status bar shows a busy indicator naming the file. Then the config that was
// checked (not the form as it is by then) is queued, or the refusal is shown as a warning, in the
// words a check on the GUI thread gave. A check the window closed on queues nothing.
#pragma once

#include "engine/TrainConfig.h"

#include <QObject>
#include <QString>

class QLabel;
class QProgressBar;
class QStatusBar;
class QWidget;

namespace rslora::ui {
class RunForm;
}

namespace rslora::app {

class BackgroundJob;
class RunController;

class RunStarter : public QObject {
    Q_OBJECT
public:
    // The busy indicator is added to `statusBar`; warnings are shown over `window`.
    RunStarter(RunController& controller, ui::RunForm* form, QStatusBar* statusBar, QWidget* window, QObject* parent = nullptr);
    // Waits for a check under way (its result is dropped).
    ~RunStarter() override;

    // Refuses a run with exactly this config queued or training here at once; else starts the check.
    // False (nothing started) when a check is under way already, or on a refusal.
    bool start(const engine::TrainConfig& config, const QString& name);
    bool checking() const { return m_checking; }
    // The window closes: the check under way (if any) queues nothing when it ends.
    void abandon();

Q_SIGNALS:
    // The checked run is queued (a row in state `queued`).
    void queued(qint64 runId);
    // The run was refused (a duplicate, a bad record, a missing model...); the warning was shown.
    void refused(const QString& message);

private:
    void setChecking(bool checking, const QString& what = {});
    void refuse(const QString& message);
    // On the GUI thread when the check ends: `error` empty when the data passed.
    void finish(const engine::TrainConfig& config, const QString& name, const QString& error);

    RunController& m_controller;
    ui::RunForm* m_form;
    QWidget* m_window;
    BackgroundJob* m_job;
    QLabel* m_label;
    QProgressBar* m_busy;
    bool m_checking = false;
    bool m_abandoned = false;
};

} // namespace rslora::app
