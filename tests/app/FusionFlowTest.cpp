// The merge flows behind the dialogs: the background job (progress, cancel, failure, the result
// delivered on the GUI thread), the fuse preview and fusion against the engine's own report for the
// same plan, cancelling that leaves nothing behind, and the Adapters view refreshed on the new version.
#include "app/gui/BackgroundJob.h"
#include "app/gui/FusionController.h"

#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/Fusion.h"
#include "ui/FuseDialog.h"

#include <torch/torch.h>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <thread>

using namespace rslora;
namespace ef = rslora::engine::fusion;

namespace {
// A random PEFT adapter of rank r over two projections of a 12×10 layer, written to `dir`.
ui::FuseSource writeAdapter(const QString& dir, int64_t r, int seed, const std::string& base = "/models/base") {
    torch::manual_seed(seed);
    ef::AdapterFactors a;
    for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"}) {
        ef::ModuleFactors m;
        m.module = name;
        m.A = torch::randn({r, 10});
        m.B = torch::randn({12, r});
        m.scale = 0.5;
        a.modules.push_back(m);
    }
    ef::writeAdapterFactors(a, dir.toStdString(), base);
    ui::FuseSource s;
    s.label = QFileInfo(dir).fileName();
    s.path = dir;
    s.baseModel = QString::fromStdString(base);
    s.rank = r;
    return s;
}

// Runs what the dialog asks through its controller and waits for the job's end.
void runAndWait(app::FusionController& controller, QPushButton* button) {
    QSignalSpy end(controller.job(), &app::BackgroundJob::succeeded);
    QSignalSpy failed(controller.job(), &app::BackgroundJob::failed);
    button->click();
    QVERIFY(controller.job()->running());
    controller.job()->waitForFinished();
}
} // namespace

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

    void previewIsTheEnginesReport() {
        QTemporaryDir dir;
        QList<ui::FuseSource> sources{writeAdapter(dir.filePath("medical"), 4, 1), writeAdapter(dir.filePath("legal"), 3, 2)};
        ui::FuseDialog dialog(sources);
        app::FusionController controller(&dialog, dir.filePath("w.sqlite"));
        dialog.setMethod("svd");
        dialog.targetBox()->setCurrentIndex(1);
        dialog.rankBox()->setValue(3);
        dialog.weightBox(0)->setValue(0.7);
        dialog.weightBox(1)->setValue(-0.4);
        runAndWait(controller, dialog.previewButton());
        QVERIFY2(dialog.messageLabel()->text().contains("nothing was written"), qPrintable(dialog.messageLabel()->text()));

        // The same plan, built here from the engine's own types.
        ef::FusionPlan plan;
        plan.method = ef::FusionMethod::Svd;
        plan.weights = {0.7, -0.4};
        plan.rank = 3;
        std::vector<ef::AdapterFactors> adapters{ef::readAdapterFactors(sources[0].path.toStdString()),
                                                 ef::readAdapterFactors(sources[1].path.toStdString())};
        const ef::FusionReport report = ef::fuse(plan, adapters).report;
        QCOMPARE(dialog.previewTable()->rowCount(), int(report.modules.size()));
        for (int r = 0; r < dialog.previewTable()->rowCount(); ++r) {
            QCOMPARE(dialog.previewTable()->item(r, 0)->text().toStdString(), report.modules[size_t(r)].module);
            QCOMPARE(dialog.previewTable()->item(r, 1)->text().toLongLong(), report.modules[size_t(r)].rank);
            QCOMPARE(dialog.previewTable()->item(r, 2)->data(Qt::UserRole).toDouble(), report.modules[size_t(r)].relativeError);
        }
        QVERIFY(report.relativeError > 0); // rank 3 of an exact rank 7: a real error to compare
        QCOMPARE(dialog.overallLabel()->property("overallError").toDouble(), report.relativeError);
        // The weights the engine got are the ones typed: another weight gives another error.
        plan.weights = {0.7, 0.4};
        QVERIFY(std::abs(ef::fuse(plan, adapters).report.relativeError - report.relativeError) > 1e-6);
    }

    void badInputsShowTheEnginesMessage() {
        QTemporaryDir dir;
        QList<ui::FuseSource> sources{writeAdapter(dir.filePath("a"), 2, 1), writeAdapter(dir.filePath("b"), 2, 2)};
        {
            ui::FuseDialog dialog(sources);
            app::FusionController controller(&dialog, dir.filePath("w.sqlite"));
            dialog.setMethod("svd");
            dialog.targetBox()->setCurrentIndex(1);
            dialog.rankBox()->setValue(9); // the exact rank is 4
            runAndWait(controller, dialog.previewButton());
            QVERIFY2(dialog.messageLabel()->text().contains("9"), qPrintable(dialog.messageLabel()->text()));
            QVERIFY(!dialog.busy());
            QCOMPARE(dialog.previewTable()->rowCount(), 0);
            dialog.setMethod("ties");
            dialog.densityBox()->setValue(0.0);
            runAndWait(controller, dialog.previewButton());
            QVERIFY2(dialog.messageLabel()->text().contains("density"), qPrintable(dialog.messageLabel()->text()));
        }
        // Different base models (recorded fingerprints) are refused, naming the adapter that differs.
        sources[0].baseFingerprint = "aaaa";
        sources[1].baseFingerprint = "bbbb";
        ui::FuseDialog dialog(sources);
        app::FusionController controller(&dialog, dir.filePath("w.sqlite"));
        runAndWait(controller, dialog.previewButton());
        QVERIFY2(dialog.messageLabel()->text().contains("adapter 2 (b)"), qPrintable(dialog.messageLabel()->text()));
        QVERIFY2(dialog.messageLabel()->text().contains("different base models"), qPrintable(dialog.messageLabel()->text()));
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
