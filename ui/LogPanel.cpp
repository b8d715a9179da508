#include "ui/LogPanel.h"

#include "common/Log.h"

#include <QMetaObject>
#include <QPointer>

namespace rslora::ui {

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName("logPanel");
    setReadOnly(true);
    setMaximumBlockCount(5000);
    QPointer<LogPanel> self(this);
    rslora::setLogCallback([self](LogLevel level, const std::string& message) {
        // Stamped here, where it happens: the panel's thread may show it much later (a busy UI
        // thread, a burst of messages from the training thread).
        const QDateTime when = QDateTime::currentDateTime();
        QString text = QString::fromStdString(message);
        // Messages may come from the training thread: hop to the panel's thread.
        if (self)
            QMetaObject::invokeMethod(self.data(), "appendMessage", Qt::QueuedConnection, Q_ARG(int, static_cast<int>(level)), Q_ARG(QString, text),
                                      Q_ARG(QDateTime, when));
    });
}

LogPanel::~LogPanel() { rslora::setLogCallback({}); }

void LogPanel::appendMessage(int level, const QString& message, const QDateTime& when) {
    const QDateTime stamp = when.isValid() ? when : QDateTime::currentDateTime();
    appendPlainText(QString("%1  %2  %3").arg(stamp.toString("HH:mm:ss"), QString::fromLatin1(logLevelName(static_cast<LogLevel>(level))), message));
}

} // namespace rslora::ui
