// The run in progress: status line, progress bar with ETA and tokens/s, pause / resume / stop
// buttons, the queue of waiting runs, and the live charts.
#pragma once

#include "engine/TrainObserver.h"

#include <QWidget>

class QAction;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QProgressBar;
class QPushButton;

namespace rslora::ui {

class ChartsPanel;
class ElidedLabel;

class TrainingPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainingPanel(QWidget* parent = nullptr);

    ChartsPanel* charts() const { return m_charts; }
    QProgressBar* progress() const { return m_progress; }
    QListWidget* queue() const { return m_queue; }
    QString statusText() const;
    // The whole title ("Run #3 name — training"); the label shows it elided to its width.
    QString titleText() const;
    // Ctrl+P (pause or resume) and Ctrl+. (stop and save): window-wide, they press the buttons.
    QAction* pauseAction() const { return m_pauseAction; }
    QAction* stopAction() const { return m_stopAction; }

    // A new run begins (clears the charts).
    void beginRun(qint64 runId, const QString& name);
    void setQueue(const QList<QPair<qint64, QString>>& waiting);
    void setPaused(bool paused);
    // Shows a finished, failed or stopped run's outcome; the charts stay.
    void endRun(const QString& outcome, bool failed);
    // Shows a run read from the store (a past run, or one another process trains): its title and
    // its progress; the caller feeds the curves.
    void showStoredRun(qint64 runId, const QString& name, qint64 step, qint64 totalSteps);
    // "step / total steps" in the bar; an empty bar while the total is unknown (<= 0).
    void setProgress(qint64 step, qint64 totalSteps);
    qint64 currentRunId() const { return m_runId; }

public Q_SLOTS:
    void onStep(const rslora::engine::StepStats& stats);
    void onEval(const rslora::engine::EvalStats& stats);
    void onStatus(const QString& message);

Q_SIGNALS:
    void pauseRequested();
    void resumeRequested();
    void stopRequested(bool saveFinal);
    void cancelQueuedRequested(qint64 runId);
    void moveQueuedRequested(qint64 runId, int delta);
    // The view shows this run now (beginRun(), showStoredRun()).
    void runShown(qint64 runId, const QString& name);

private:
    // Takes the ETA out of the step line (a paused or ended run has none).
    void dropEta();
    void setRunning(bool running);
    void setPauseLabel(bool paused);
    // The queued run the user selected (nullptr when none shows as selected).
    QListWidgetItem* selectedItem() const;
    // Up, Down and Cancel act on the selected run: off without one, Up at the top, Down at the bottom.
    void updateQueueButtons();

    // "Run #3 name" — "training": kept apart, as a name may hold " — " itself.
    void setTitle(const QString& head, const QString& tail);

    ElidedLabel* m_title = nullptr;
    QString m_titleHead;
    QString m_titleTail;
    QLabel* m_stats = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_pause = nullptr;
    QPushButton* m_stopSave = nullptr;
    QPushButton* m_stopDiscard = nullptr;
    QAction* m_pauseAction = nullptr;
    QAction* m_stopAction = nullptr;
    QWidget* m_queueBox = nullptr; // the queue, its title and buttons: shown while runs wait
    QListWidget* m_queue = nullptr;
    QPushButton* m_queueUp = nullptr;
    QPushButton* m_queueDown = nullptr;
    QPushButton* m_queueCancel = nullptr;
    ChartsPanel* m_charts = nullptr;
    qint64 m_runId = 0;
    bool m_paused = false;
    double m_lastEpoch = 0;
    double m_lastTokens = 0;
    double m_lastWall = 0;
};

} // namespace rslora::ui
