// Log panel: shows messages from the engine's injected log callback, delivered on the UI thread,
// each stamped with the time it was logged (not the later time the UI thread got to it). A message
// logged while a run trains here belongs to that run; the panel shows the lines of one run (the run
// the Training view shows) among the workbench's own, so a later run's log does not scroll on under
// an earlier run's lines.
#pragma once

#include <QDateTime>
#include <QHash>
#include <QPlainTextEdit>

#include <atomic>
#include <deque>
#include <memory>

namespace rslora::ui {

class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    ~LogPanel() override;

    // Lines kept over all runs; the oldest go first beyond it.
    static constexpr int kMaxLines = 20000;
    // The run whose lines are shown (0: none yet, only the workbench's own lines).
    qint64 shownRun() const { return m_shownRun; }

public Q_SLOTS:
    // Thread-safe through a queued invocation when called from another thread. `when` is the time
    // the message was logged; an invalid one means now. `run` is the run training when it was logged
    // (0: none); -1 means the one training now.
    void appendMessage(int level, const QString& message, const QDateTime& when = QDateTime(), qint64 run = -1);
    // Messages from now on belong to run `runId` (it trains here), until endRun().
    void beginRun(qint64 runId, const QString& name);
    void endRun();
    // Shows run `runId`'s lines, under a line naming it, among the workbench's own lines.
    void showRun(qint64 runId, const QString& name);

private:
    struct Line {
        qint64 run = 0; // 0: the workbench's own
        QString text;
    };
    QString heading(qint64 runId) const;

    std::deque<Line> m_lines;
    QHash<qint64, QString> m_names;
    // Read by the log callback on the thread that logs.
    std::shared_ptr<std::atomic<qint64>> m_liveRun = std::make_shared<std::atomic<qint64>>(0);
    qint64 m_shownRun = 0;
};

} // namespace rslora::ui
