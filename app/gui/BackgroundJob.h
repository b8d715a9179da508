// Runs one piece of engine work at a time on a worker thread for a dialog: progress reports cross
// to the GUI thread coalesced (at most one queued at a time), Cancel is an atomic the work's progress
// callback answers with false, and the result is handed back as a continuation that runs on the GUI
// thread. Nothing of it blocks the GUI thread except the destructor, which cancels and joins.
#pragma once

#include <QObject>
#include <QString>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace rslora::app {

class BackgroundJob : public QObject {
    Q_OBJECT
public:
    // Reports progress; returns false once Cancel was asked (the work then stops, as the engine's
    // progress callbacks do when they get false).
    using Progress = std::function<bool(long long done, long long total)>;
    // The work, on the worker thread: returns what to do with its result on the GUI thread.
    using Work = std::function<std::function<void()>(const Progress& progress)>;

    explicit BackgroundJob(QObject* parent = nullptr);
    ~BackgroundJob() override;

    // Starts `work` unless a job runs (then returns false).
    bool start(Work work);
    void cancel();
    bool running() const { return m_running; }
    bool cancelRequested() const { return m_shared && m_shared->cancel.load(); }
    // Blocks until the running job's thread ended and its outcome was delivered (for tests and shutdown).
    void waitForFinished();

Q_SIGNALS:
    void progress(long long done, long long total);
    // Exactly one of these ends every job (after the continuation ran, for succeeded).
    void succeeded();
    void failed(const QString& message);
    void cancelled();

private:
    void join();

    struct Shared {
        std::atomic<bool> cancel{false};
        std::atomic<long long> done{0};
        std::atomic<long long> total{0};
        std::atomic<bool> progressQueued{false};
    };
    std::shared_ptr<Shared> m_shared;
    std::thread m_thread;
    bool m_running = false;
};

// Shows a job's course in a dialog with setIdle(), showProgress(done, total), showError(text) and
// showMessage(text): progress while it runs, the failure inline, the dialog idle again at the end.
template <class Dialog>
void showJobIn(BackgroundJob* job, Dialog* dialog) {
    QObject::connect(job, &BackgroundJob::progress, dialog, [dialog](long long done, long long total) { dialog->showProgress(done, total); });
    QObject::connect(job, &BackgroundJob::failed, dialog, [dialog](const QString& message) {
        dialog->setIdle();
        dialog->showError(message);
    });
    QObject::connect(job, &BackgroundJob::cancelled, dialog, [dialog] {
        dialog->setIdle();
        dialog->showMessage(QObject::tr("Cancelled; nothing was written."));
    });
    QObject::connect(job, &BackgroundJob::succeeded, dialog, [dialog] { dialog->setIdle(); });
}

} // namespace rslora::app
