// The status bar's run label and progress bar: a run starting ("Run #6 starting"), its step, speed
// and ETA, paused, a run another process trains, and how the last run ended. While the status bar
// shows a message it hides both, and the bar is shown again only where no message shows (drawn
// meanwhile, it covered the message's first words).
#pragma once

#include "engine/TrainObserver.h"

#include <QObject>
#include <QString>

#include <optional>

class QLabel;
class QProgressBar;
class QStatusBar;

namespace rslora::app {

class RunStatusDisplay : public QObject {
    Q_OBJECT
public:
    explicit RunStatusDisplay(QStatusBar* bar);

    void starting(qint64 runId);
    void step(const engine::StepStats& s);
    // Paused, the label says so at the step reached (no speed or ETA); resumed, it shows the step again.
    void setPaused(bool paused);
    void following(qint64 runId);
    void followedProgress(qint64 step, qint64 total);
    // The label says `text`; the bar goes.
    void ended(const QString& text);

private:
    // A new run shown: its id, whether this workbench trains it, the label's text.
    void begin(qint64 runId, bool training, const QString& text);
    QString stepText() const;

    QStatusBar* m_bar;
    QLabel* m_label;
    QProgressBar* m_progress;
    qint64 m_runId = 0;
    std::optional<engine::StepStats> m_last; // the run's last step reported
    bool m_paused = false;
    bool m_training = false; // a run of this workbench is under way (not ended, not another process's)
};

} // namespace rslora::app
