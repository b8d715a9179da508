// Log panel: shows messages from the engine's injected log callback, delivered on the UI thread,
// each stamped with the time it was logged (not the later time the UI thread got to it).
#pragma once

#include <QDateTime>
#include <QPlainTextEdit>

namespace rslora::ui {

class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    ~LogPanel() override;

public Q_SLOTS:
    // Thread-safe through a queued invocation when called from another thread. `when` is the time
    // the message was logged; an invalid one means now.
    void appendMessage(int level, const QString& message, const QDateTime& when = QDateTime());
};

} // namespace rslora::ui
