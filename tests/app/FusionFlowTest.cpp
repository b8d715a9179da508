// The merge flows behind the dialogs: the background job (progress, cancel, failure, the result
// delivered on the GUI thread), the fuse preview and fusion against the engine's own report for the
// same plan, cancelling that leaves nothing behind, and the Adapters view refreshed on the new version.
#include "app/gui/BackgroundJob.h"
#include "app/gui/FusionController.h"
#include "app/gui/MergeExportController.h"

#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/Fusion.h"
#include "common/Sha256.h"
#include "models/ModelFingerprint.h"
#include "models/TensorIO.h"
#include "storage/Store.h"
#include "ui/ExportMergedDialog.h"
#include "ui/FuseDialog.h"

#include <torch/torch.h>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
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
// A random PEFT adapter of rank r over two projections of a layer of `width` × `width` (v_proj
// `width` × `kv`), written to `dir`.
ui::FuseSource writeAdapter(const QString& dir, int64_t r, int seed, const std::string& base = "/models/base",
                            int64_t width = 12, int64_t kv = 12) {
    torch::manual_seed(seed);
    ef::AdapterFactors a;
    for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"}) {
        ef::ModuleFactors m;
        m.module = name;
        m.A = torch::randn({r, width}) * 0.01;
        m.B = torch::randn({std::string(name).find("v_proj") != std::string::npos ? kv : width, r});
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

// The adapter stored as a version of `task` (its files hashed as the store checks them).
ui::FuseSource storeAdapter(storage::Store& store, const ui::FuseSource& folder, const std::string& task,
                            const std::string& fingerprint = "feedface") {
    storage::NewAdapter n;
    n.task = task;
    n.variant = "rslora";
    n.stage = "sft";
    n.rank = folder.rank;
    n.path = folder.path.toStdString();
    n.sha256 = Sha256::directoryHex(n.path);
    n.baseModel = {folder.baseModel.toStdString(), fingerprint};
    return app::FusionController::sourceFor(store.adapters().create(n));
}

QStringList leftovers(const QString& dir) {
    return QDir(dir).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden);
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

    void fuseRegistersAVersionWithLineage() {
        QTemporaryDir dir;
        const QString db = dir.filePath("store/w.sqlite");
        QDir().mkpath(dir.filePath("store"));
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            sources << storeAdapter(store, writeAdapter(dir.filePath("medical"), 4, 1), "medical")
                    << storeAdapter(store, writeAdapter(dir.filePath("legal"), 2, 2), "legal");
        }
        ui::FuseDialog dialog(sources);
        app::FusionController controller(&dialog, db);
        QSignalSpy fused(&controller, &app::FusionController::fused);
        dialog.setMethod("exact");
        dialog.weightBox(0)->setValue(0.75);
        dialog.weightBox(1)->setValue(-0.5);
        dialog.outputNameEdit()->setText("medical_minus_legal");
        runAndWait(controller, dialog.fuseButton());
        QCOMPARE(fused.count(), 1);
        const qint64 id = fused.at(0).at(0).toLongLong();
        storage::Store store(db.toStdString());
        const storage::AdapterRecord v = store.adapters().require(id);
        QCOMPARE(v.task, std::string("fused"));
        QCOMPARE(v.name, std::string("medical_minus_legal"));
        auto parents = store.lineage().parents(id);
        QCOMPARE(int(parents.size()), 2);
        for (const auto& e : parents) {
            QCOMPARE(e.kind, storage::LineageKind::MergedFrom);
            QCOMPARE(e.method, std::string("exact"));
            QCOMPARE(*e.weight, e.parentId == sources[0].adapterId ? 0.75 : -0.5);
        }
        // The stored folder is the exact sum: rank 4 + 2.
        const ef::AdapterFactors fusedFactors = ef::readAdapterFactors(v.path);
        QCOMPARE(fusedFactors.maxRank(), int64_t(6));
        QVERIFY2(leftovers(dir.filePath("store/fusion-staging")).isEmpty(), "no staging folder left");
    }

    // Versions that trained biases (bias "lora_only") fuse against the base model recorded with them:
    // the fused version carries b + Σ λᵢ (bᵢ − b).
    void trainedBiasesFuseAgainstTheRecordedBase() {
        QTemporaryDir dir;
        const QString db = dir.filePath("store/w.sqlite");
        QDir().mkpath(dir.filePath("store"));
        const std::filesystem::path qwen = std::filesystem::path(qgetenv("RSLORA_SHARED_DIR").toStdString()) / "fixtures" / "qwen2";
        const std::string q = "model.layers.0.self_attn.q_proj";
        const torch::Tensor base = models::loadSafeTensorsMap(qwen / "model.safetensors").at(q + ".bias");
        const ui::FuseSource plain = writeAdapter(dir.filePath("plain"), 2, 1, qwen.string(), 64, 32);
        ui::FuseSource biased = writeAdapter(dir.filePath("biased"), 2, 2, qwen.string(), 64, 32);
        ef::AdapterFactors f = ef::readAdapterFactors(biased.path.toStdString());
        f.biases[q] = base + 0.25;
        std::filesystem::remove_all(biased.path.toStdString());
        ef::writeAdapterFactors(f, biased.path.toStdString(), qwen.string());
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            const std::string fingerprint = models::modelFingerprint(qwen);
            sources << storeAdapter(store, plain, "plain", fingerprint) << storeAdapter(store, biased, "biased", fingerprint);
        }
        ui::FuseDialog dialog(sources);
        app::FusionController controller(&dialog, db);
        QSignalSpy fused(&controller, &app::FusionController::fused);
        dialog.setMethod("exact");
        dialog.weightBox(1)->setValue(0.5);
        runAndWait(controller, dialog.fuseButton());
        QCOMPARE(fused.count(), 1);
        storage::Store store(db.toStdString());
        const storage::AdapterRecord v = store.adapters().require(fused.at(0).at(0).toLongLong());
        const ef::AdapterFactors back = ef::readAdapterFactors(v.path, ef::TrainedBiasUse::Read);
        QCOMPARE(int(back.biases.size()), 1);
        QVERIFY((back.biases.at(q) - (base + 0.125)).abs().max().item<double>() < 1e-6);
    }

    void cancelledFuseLeavesNothing() {
        QTemporaryDir dir;
        const QString db = dir.filePath("store/w.sqlite");
        QDir().mkpath(dir.filePath("store"));
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            sources << storeAdapter(store, writeAdapter(dir.filePath("a"), 4, 1), "a")
                    << storeAdapter(store, writeAdapter(dir.filePath("b"), 4, 2), "b");
        }
        ui::FuseSettings settings;
        settings.method = "svd";
        settings.weights = {1.0, 1.0};
        int calls = 0;
        try {
            app::FusionController::fuseAndRegister(db, sources, settings, [&](long long, long long) { return ++calls < 2; });
            QFAIL("a cancelled fusion returned");
        } catch (const Error&) {
        }
        QVERIFY(calls >= 2);
        storage::Store store(db.toStdString());
        QCOMPARE(int(store.adapters().tasks().size()), 2); // no "fused" task
        QVERIFY(!QDir(dir.filePath("store/fusion-staging")).exists() || leftovers(dir.filePath("store/fusion-staging")).isEmpty());
    }

    // Cancel (or closing the dialog) after the engine finished but while the folder was written: the
    // version was registered all the same, and with the dialog gone nobody was told.
    void cancelAfterTheComputationRegistersNothing() {
        QTemporaryDir dir;
        const QString db = dir.filePath("store/w.sqlite");
        QDir().mkpath(dir.filePath("store"));
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            sources << storeAdapter(store, writeAdapter(dir.filePath("a"), 4, 1), "a")
                    << storeAdapter(store, writeAdapter(dir.filePath("b"), 4, 2), "b");
        }
        ui::FuseSettings settings;
        settings.method = "svd";
        settings.weights = {1.0, 1.0};
        // Cancel pressed once the engine reported its last module done: every report after that says stop.
        bool engineDone = false;
        try {
            app::FusionController::fuseAndRegister(db, sources, settings, [&](long long done, long long total) {
                if (engineDone)
                    return false;
                engineDone = done == total;
                return true;
            });
            QFAIL("a fusion cancelled after its computation was registered");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("cancelled"), e.what());
        }
        QVERIFY(engineDone);
        storage::Store store(db.toStdString());
        QCOMPARE(int(store.adapters().tasks().size()), 2); // no "fused" task
        QVERIFY(!QDir(dir.filePath("store/fusion-staging")).exists() || leftovers(dir.filePath("store/fusion-staging")).isEmpty());
    }

    void exportMergedModelAndCancel() {
        const QString model = qEnvironmentVariable("RSLORA_RESOURCES") + "/demo/model";
        if (!QFile::exists(model + "/config.json"))
            QFAIL(qPrintable("the demo model is missing: " + model));
        QTemporaryDir dir;
        const QString db = dir.filePath("w.sqlite");
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            // q_proj 192×192 and v_proj 64×192, as in the demo model; no fingerprint recorded.
            sources << storeAdapter(store, writeAdapter(dir.filePath("a"), 4, 1, model.toStdString(), 192, 64), "facts", "");
        }
        ui::MergeExportSettings settings;
        settings.modelDir = model;
        settings.weights = {1.0};
        settings.dtype = "float32";
        settings.outDir = dir.filePath("out/merged");
        QDir().mkpath(dir.filePath("out"));

        // Cancelled after the first tensors: no folder, nothing beside it, nothing recorded.
        try {
            app::MergeExportController::exportAndRecord(db, sources, settings, [](long long done, long long) { return done < 3; });
            QFAIL("a cancelled export returned");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("cancel", Qt::CaseInsensitive), e.what());
        }
        QVERIFY(!QFile::exists(settings.outDir));
        QVERIFY2(leftovers(dir.filePath("out")).isEmpty(), qPrintable(leftovers(dir.filePath("out")).join(", ")));
        {
            storage::Store store(db.toStdString());
            QVERIFY(store.artifacts().forAdapter(sources[0].adapterId).empty());
        }

        // Through the dialog: written, recorded as a merged artifact of the version, offered to open.
        ui::ExportMergedDialog dialog(sources);
        app::MergeExportController controller(&dialog, db);
        dialog.setOutDir(settings.outDir);
        dialog.setDtype("bfloat16");
        dialog.setWeights({0.5});
        QSignalSpy exported(&controller, &app::MergeExportController::exported);
        QVERIFY(!dialog.openButton()->isEnabled()); // nothing to open yet
        dialog.exportButton()->click();
        QVERIFY(controller.job()->running());
        controller.job()->waitForFinished();
        QVERIFY2(exported.count() == 1, qPrintable(dialog.messageLabel()->text()));
        QVERIFY(QFile::exists(settings.outDir + "/config.json"));
        QVERIFY(QFile::exists(settings.outDir + "/model.safetensors"));
        QVERIFY(QFile::exists(settings.outDir + "/tokenizer.json"));
        QCOMPARE(dialog.doneFolder(), settings.outDir);
        QVERIFY(dialog.openButton()->isEnabled());
        QCOMPARE(dialog.progressBar()->value(), dialog.progressBar()->maximum());
        storage::Store store(db.toStdString());
        const auto artifacts = store.artifacts().forAdapter(sources[0].adapterId);
        QCOMPARE(int(artifacts.size()), 1);
        QCOMPARE(artifacts[0].kind, std::string("merged"));
        // Exporting onto the folder again is refused by the engine, shown in the dialog.
        dialog.exportButton()->click();
        controller.job()->waitForFinished();
        QVERIFY2(dialog.messageLabel()->text().contains("merged"), qPrintable(dialog.messageLabel()->text()));
    }

    void gridSearchIsStoredWithTheVersions() {
        const QString resources = qEnvironmentVariable("RSLORA_RESOURCES");
        const QString model = resources + "/demo/model";
        const QString data = resources + "/demo/data/facts_val.jsonl";
        if (!QFile::exists(model + "/config.json") || !QFile::exists(data))
            QFAIL(qPrintable("the demo model or data is missing under " + resources));
        QTemporaryDir dir;
        const QString db = dir.filePath("w.sqlite");
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            sources << storeAdapter(store, writeAdapter(dir.filePath("a"), 2, 1, model.toStdString(), 192, 64), "a", "")
                    << storeAdapter(store, writeAdapter(dir.filePath("b"), 2, 2, model.toStdString(), 192, 64), "b", "");
        }
        ui::GridSettings grid;
        grid.axes = {{0.0, 1.0, 1.0}, {0.5, 0.5, 0.25}};
        grid.dataFile = data;
        grid.metric = "loss";
        const ui::GridOutcome outcome = app::FusionController::gridSearch(db, sources, grid, [](long long, long long) { return true; });
        QCOMPARE(outcome.scores.size(), 2);
        QCOMPARE(outcome.weights[1], QVector<double>({1.0, 0.5}));
        QVERIFY(outcome.best == 0 || outcome.best == 1);
        QVERIFY(outcome.scores[outcome.best] <= outcome.scores[1 - outcome.best]);
        QCOMPARE(outcome.recorded, 2);
        storage::Store store(db.toStdString());
        const auto evals = store.evaluations().forAdapter(sources[0].adapterId);
        QCOMPARE(int(evals.size()), 1);
        QVERIFY2(QString::fromStdString(evals[0].metric).startsWith("fusion_grid/loss"), evals[0].metric.c_str());
        QCOMPARE(evals[0].value, outcome.scores[outcome.best]);
    }

    // Versions recorded against another model than the one the grid loads: refused before anything
    // is scored, and nothing is stored as their evaluation.
    void gridRefusesVersionsOfAnotherBase() {
        const QString resources = qEnvironmentVariable("RSLORA_RESOURCES");
        const QString model = resources + "/demo/model";
        const QString data = resources + "/demo/data/facts_val.jsonl";
        if (!QFile::exists(model + "/config.json") || !QFile::exists(data))
            QFAIL(qPrintable("the demo model or data is missing under " + resources));
        QTemporaryDir dir;
        const QString db = dir.filePath("w.sqlite");
        const std::string elsewhere(64, 'f');
        QList<ui::FuseSource> sources;
        {
            storage::Store store(db.toStdString());
            sources << storeAdapter(store, writeAdapter(dir.filePath("a"), 2, 1, model.toStdString(), 192, 64), "a", elsewhere)
                    << storeAdapter(store, writeAdapter(dir.filePath("b"), 2, 2, model.toStdString(), 192, 64), "b", elsewhere);
        }
        ui::GridSettings grid;
        grid.axes = {{0.0, 1.0, 1.0}, {0.5, 0.5, 0.25}};
        grid.dataFile = data;
        grid.metric = "loss";
        try {
            app::FusionController::gridSearch(db, sources, grid, [](long long, long long) { return true; });
            QFAIL("a grid over versions of another base model was scored");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("trained on another base model") && QString(e.what()).contains("ffffffffffff"),
                     e.what());
        }
        storage::Store store(db.toStdString());
        QVERIFY(store.evaluations().forAdapter(sources[0].adapterId).empty());
        QVERIFY(store.evaluations().forAdapter(sources[1].adapterId).empty());
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
