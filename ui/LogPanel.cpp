#include "ui/LogPanel.h"

#include "common/Log.h"

#include <QMetaObject>
#include <QTextCursor>
#include <QPointer>

#include <algorithm>

namespace rslora::ui {

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName("logPanel");
    setReadOnly(true);
    setMaximumBlockCount(5000);
    QPointer<LogPanel> self(this);
    rslora::setLogCallback([self, live = m_liveRun](LogLevel level, const std::string& message) {
        // Stamped here, where it happens: the panel's thread may show it much later (a busy UI
        // thread, a burst of messages from the training thread). So is the run it belongs to: the
        // run's last lines reach the panel after the run has ended.
        const QDateTime when = QDateTime::currentDateTime();
        const qint64 run = live->load();
        QString text = QString::fromStdString(message);
        // Messages may come from the training thread: hop to the panel's thread.
        if (self)
            QMetaObject::invokeMethod(self.data(), "appendMessage", Qt::QueuedConnection, Q_ARG(int, static_cast<int>(level)), Q_ARG(QString, text),
                                      Q_ARG(QDateTime, when), Q_ARG(qint64, run));
    });
}

LogPanel::~LogPanel() { rslora::setLogCallback({}); }

void LogPanel::appendMessage(int level, const QString& message, const QDateTime& when, qint64 run) {
    const QDateTime stamp = when.isValid() ? when : QDateTime::currentDateTime();
    Line line{run >= 0 ? run : m_liveRun->load(), QString("%1  %2  %3").arg(stamp.toString("HH:mm:ss"), QString::fromLatin1(logLevelName(static_cast<LogLevel>(level))), message)};
    if (line.run == 0 || line.run == m_shownRun)
        appendPlainText(line.text);
    m_lines.push_back(std::move(line));
    if (m_lines.size() > static_cast<size_t>(kMaxLines))
        m_lines.pop_front();
}

void LogPanel::beginRun(qint64 runId, const QString& name) {
    m_liveRun->store(runId);
    m_names.insert(runId, name);
    if (m_shownRun == runId)
        showRun(runId, name); // shown before it began: its heading said it logged nothing here
}

void LogPanel::endRun() { m_liveRun->store(0); }

QString LogPanel::heading(qint64 runId) const {
    const bool any = std::any_of(m_lines.begin(), m_lines.end(), [runId](const Line& l) { return l.run == runId; });
    QString text = tr("── Run #%1 %2 ──").arg(runId).arg(m_names.value(runId));
    if (!any && runId != m_liveRun->load())
        text += tr(" (no lines: it did not train in this workbench since it was opened)");
    return text;
}

void LogPanel::showRun(qint64 runId, const QString& name) {
    if (!name.isEmpty())
        m_names.insert(runId, name);
    m_shownRun = runId;
    QStringList shown{heading(runId)};
    for (const Line& l : m_lines)
        if (l.run == 0 || l.run == runId)
            shown << l.text;
    setPlainText(shown.join('\n'));
    moveCursor(QTextCursor::End);
}

} // namespace rslora::ui
