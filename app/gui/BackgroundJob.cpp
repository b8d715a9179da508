#include "app/gui/BackgroundJob.h"

#include "engine/ErrorText.h"

#include <QCoreApplication>
#include <QEvent>
#include <QMetaObject>
#include <QPointer>

namespace rslora::app {

BackgroundJob::BackgroundJob(QObject* parent) : QObject(parent) {}

BackgroundJob::~BackgroundJob() {
    if (m_shared)
        m_shared->cancel = true;
    join();
}

void BackgroundJob::join() {
    if (m_thread.joinable())
        m_thread.join();
}

bool BackgroundJob::start(Work work) {
    if (m_running)
        return false;
    join(); // the previous job's thread has delivered its outcome; reap it
    m_running = true;
    auto shared = std::make_shared<Shared>();
    m_shared = shared;
    QPointer<BackgroundJob> self(this);
    m_thread = std::thread([self, shared, work = std::move(work)] {
        Progress progress = [self, shared](long long done, long long total) {
            shared->done = done;
            shared->total = total;
            // One queued report at a time: a fast loop cannot flood the GUI thread's queue.
            if (self && !shared->progressQueued.exchange(true)) {
                QMetaObject::invokeMethod(self.data(), [self, shared] {
                    shared->progressQueued = false;
                    if (self && self->m_shared == shared)
                        Q_EMIT self->progress(shared->done.load(), shared->total.load());
                }, Qt::QueuedConnection);
            }
            return !shared->cancel.load();
        };
        std::function<void()> then;
        QString error;
        bool threw = false;
        try {
            then = work(progress);
        } catch (const std::exception& e) {
            threw = true;
            error = QString::fromStdString(engine::errorText(e));
        } catch (...) {
            threw = true;
            error = QObject::tr("unknown failure");
        }
        const bool wasCancelled = threw && shared->cancel.load();
        if (!self)
            return;
        QMetaObject::invokeMethod(self.data(), [self, then, error, threw, wasCancelled] {
            if (!self)
                return;
            self->m_running = false;
            if (wasCancelled) {
                Q_EMIT self->cancelled();
            } else if (threw) {
                Q_EMIT self->failed(error);
            } else {
                if (then)
                    then();
                Q_EMIT self->succeeded();
            }
        }, Qt::QueuedConnection);
    });
    return true;
}

void BackgroundJob::cancel() {
    if (m_shared)
        m_shared->cancel = true;
}

void BackgroundJob::waitForFinished() {
    join();
    QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
}

} // namespace rslora::app
