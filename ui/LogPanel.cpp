#include "ui/LogPanel.h"

#include "common/Log.h"

#include <QDateTime>
#include <QMetaObject>
#include <QPointer>

namespace rslora::ui {

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName("logPanel");
    setReadOnly(true);
    setMaximumBlockCount(5000);
    QPointer<LogPanel> self(this);
    rslora::setLogCallback([self](LogLevel level, const std::string& message) {
        QString text = QString::fromStdString(message);
        // Messages may come from the training thread: hop to the panel's thread.
        if (self)
            QMetaObject::invokeMethod(self.data(), "appendMessage", Qt::QueuedConnection, Q_ARG(int, static_cast<int>(level)), Q_ARG(QString, text));
    });
}

LogPanel::~LogPanel() { rslora::setLogCallback({}); }

void LogPanel::appendMessage(int level, const QString& message) {
    appendPlainText(QString("%1  %2  %3").arg(QDateTime::currentDateTime().toString("HH:mm:ss"),
                                             QString::fromLatin1(logLevelName(static_cast<LogLevel>(level))), message));
}

} // namespace rslora::ui
