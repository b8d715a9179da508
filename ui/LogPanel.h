// Log panel: shows messages from the engine's injected log callback, delivered on the UI thread.
#pragma once

#include <QPlainTextEdit>

namespace rslora::ui {

class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    ~LogPanel() override;

public Q_SLOTS:
    // Thread-safe through a queued invocation when called from another thread.
    void appendMessage(int level, const QString& message);
};

} // namespace rslora::ui
