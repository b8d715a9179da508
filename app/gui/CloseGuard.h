// Closing the window while a run trains: the question (stop with a checkpoint, or keep training
// headless with rslora), the queue held while it is open, and the hand-over of the run to the CLI.
#pragma once

#include <QCoreApplication>
#include <QString>

class QWidget;

namespace rslora::storage {
class Store;
}

namespace rslora::app {

class RunController;

class CloseGuard {
    Q_DECLARE_TR_FUNCTIONS(CloseGuard)
public:
    CloseGuard(RunController& controller, storage::Store& store, QString databasePath, QWidget* window)
        : m_controller(controller), m_store(store), m_databasePath(std::move(databasePath)), m_window(window) {}

    // True when the window may close (nothing trains, or the run was stopped or handed over).
    bool confirm();
    // Test hook: what confirm() does without asking (0 = stop with checkpoint, 1 = keep headless).
    void setChoice(int choice) { m_choice = choice; }
    // What the question asks, and what it says happens to the queued runs (empty: none queued).
    QString question() const;
    QString queueNote() const;

private:
    // Asks; -1 for Cancel, 0 stop, 1 headless, 2 when the run ended while the question was open.
    int ask();
    // The run stopped with a checkpoint just now continues in `rslora train --resume latest`.
    void handOver(qint64 runId, const std::string& configJson);

    RunController& m_controller;
    storage::Store& m_store;
    QString m_databasePath;
    QWidget* m_window;
    int m_choice = -1;
};

} // namespace rslora::app
