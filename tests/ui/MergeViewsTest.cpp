// The merge views on their own: the lineage graph of a store with a fused version (nodes, edges,
// layers, clicking selects the version in the Adapters view), the Fuse… dialog's fields per method
// and the values it hands out, the grid-search tab's heat map and best point, Export merged model… (its
// dtype the base model's own unless one is picked).
#include "ui/AdapterTreeModel.h"
#include "ui/AdaptersBrowser.h"
#include "ui/ExportMergedDialog.h"
#include "ui/FuseDialog.h"
#include "ui/GridSearchPanel.h"
#include "ui/LineageView.h"

#include "storage/Store.h"

#include <QAction>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>
#include <qcustomplot.h>

#include <cmath>

using namespace rslora;

Q_DECLARE_METATYPE(rslora::ui::FuseSettings)
Q_DECLARE_METATYPE(rslora::ui::GridSettings)

namespace {
storage::AdapterRecord makeAdapter(storage::Store& store, const QTemporaryDir& dir, const std::string& task, const std::string& stage) {
    storage::NewAdapter n;
    n.task = task;
    n.variant = "rslora";
    n.stage = stage;
    n.rank = 8;
    n.baseModel = {"/models/base", "0123456789abcdef"};
    n.path = dir.filePath(QString::fromStdString(task + "_" + stage)).toStdString();
    QDir().mkpath(QString::fromStdString(n.path));
    return store.adapters().create(n);
}

QList<ui::FuseSource> twoSources() {
    return {{1, "medical v2", "/a/medical", "/models/base", "", 8}, {2, "legal v1", "/a/legal", "/models/base", "", 16}};
}
} // namespace

class MergeViewsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        qRegisterMetaType<ui::FuseSettings>();
        qRegisterMetaType<ui::GridSettings>();
    }

    void lineageOfAFusedVersion() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        auto med1 = makeAdapter(store, dir, "medical", "sft");
        auto med2 = makeAdapter(store, dir, "medical", "dpo");
        auto legal = makeAdapter(store, dir, "legal", "sft");
        auto fused = makeAdapter(store, dir, "medical_legal", "merged");
        storage::LineageEdge e;
        e.childId = med2.id;
        e.parentId = med1.id;
        e.kind = storage::LineageKind::TrainedFrom;
        store.lineage().add(e);
        store.lineage().addMerge(fused.id, {{med2.id, 0.7}, {legal.id, -0.3}}, "svd");

        ui::AdaptersBrowser browser;
        browser.resize(1200, 700);
        browser.show();
        browser.setStore(&store);
        // Each version is listed once, under its own task (the graphs also hold other tasks' parents).
        QCOMPARE(browser.model()->rowCount(), 3);
        for (int t = 0; t < 3; ++t) {
            const QModelIndex task = browser.model()->index(t, 0);
            const int expected = task.data(ui::AdapterTreeModel::TaskRole).toString() == "medical" ? 2 : 1;
            QCOMPARE(browser.model()->rowCount(task), expected);
        }
        browser.selectAdapter(fused.id);
        browser.sideTabs()->setCurrentWidget(browser.lineage());
        QApplication::processEvents();
        ui::LineageView* view = browser.lineage();
        // The fused version's task: itself and its two parents from other tasks.
        QCOMPARE(view->task(), QString("medical_legal"));
        QCOMPARE(view->nodeCount(), 3);
        QCOMPARE(view->edgeCount(), 2);
        QStringList labels = view->edgeLabels();
        labels.sort();
        QCOMPARE(labels, QStringList({"merged-from ×-0.3 (svd)", "merged-from ×0.7 (svd)"}));
        QCOMPARE(view->layerOf(med2.id), 0);
        QCOMPARE(view->layerOf(legal.id), 0);
        QCOMPARE(view->layerOf(fused.id), 1);
        QCOMPARE(view->highlighted(), fused.id);

        // Clicking a parent selects that version in the Adapters view; its task's graph is drawn.
        QSignalSpy clicked(view, &ui::LineageView::versionClicked);
        const QPoint at = view->viewportPointOf(med2.id);
        QVERIFY(view->viewport()->rect().contains(at));
        QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, at);
        QCOMPARE(clicked.count(), 1);
        QCOMPARE(clicked.at(0).at(0).toLongLong(), med2.id);
        QCOMPARE(browser.selectedAdapterId(), med2.id);
        QCOMPARE(view->task(), QString("medical"));
        QCOMPARE(view->nodeCount(), 3); // v1, v2 and the fused child
        QCOMPARE(view->layerOf(med1.id), 0);
        QCOMPARE(view->layerOf(med2.id), 1);
        QCOMPARE(view->layerOf(fused.id), 2);
        QVERIFY(view->edgeLabels().contains("trained-from"));
        // A double click opens the version's details.
        QTest::mouseDClick(view->viewport(), Qt::LeftButton, {}, view->viewportPointOf(med1.id));
        QCOMPARE(browser.selectedAdapterId(), med1.id);
        QCOMPARE(browser.sideTabs()->currentWidget(), static_cast<QWidget*>(browser.details()));
    }

    void fuseNeedsTwoSelectedVersions() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        auto a = makeAdapter(store, dir, "medical", "sft");
        auto b = makeAdapter(store, dir, "legal", "sft");
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        browser.selectAdapter(a.id);
        QVERIFY(!browser.fuseAction()->isEnabled());
        QVERIFY(browser.exportMergedAction()->isEnabled());
        browser.selectAdapters({b.id, a.id});
        QVERIFY(browser.fuseAction()->isEnabled());
        QSignalSpy fuse(&browser, &ui::AdaptersBrowser::fuseRequested);
        browser.fuseAction()->trigger();
        QCOMPARE(fuse.count(), 1);
        // In the order picked.
        QCOMPARE(fuse.at(0).at(0).value<QList<qint64>>(), QList<qint64>({b.id, a.id}));
        // A refresh keeps the selection.
        browser.refresh();
        QCOMPARE(browser.selectedAdapterIds(), QList<qint64>({b.id, a.id}));
    }

    void fieldsFollowTheMethod_data() {
        QTest::addColumn<QString>("method");
        QTest::addColumn<bool>("target");
        QTest::addColumn<bool>("density");
        QTest::addColumn<bool>("drop");
        QTest::newRow("exact") << "exact" << false << false << false;
        QTest::newRow("svd") << "svd" << true << false << false;
        QTest::newRow("ties") << "ties" << true << true << false;
        QTest::newRow("dare_linear") << "dare_linear" << true << false << true;
        QTest::newRow("dare_ties") << "dare_ties" << true << false << true;
        QTest::newRow("magnitude_prune") << "magnitude_prune" << true << true << false;
    }

    void fieldsFollowTheMethod() {
        QFETCH(QString, method);
        QFETCH(bool, target);
        QFETCH(bool, density);
        QFETCH(bool, drop);
        ui::FuseDialog d(twoSources());
        d.setMethod(method);
        QCOMPARE(d.targetBox()->isEnabled(), target);
        // By default the result keeps the largest source rank: neither rank nor energy is sent.
        QVERIFY(!d.settings().rank && !d.settings().energy);
        d.targetBox()->setCurrentIndex(1);
        QCOMPARE(d.rankBox()->isEnabled(), target);
        QCOMPARE(d.densityBox()->isEnabled(), density);
        QCOMPARE(d.dropBox()->isEnabled(), drop);
        QCOMPARE(d.seedBox()->isEnabled(), drop);
        const ui::FuseSettings s = d.settings();
        QCOMPARE(s.method, method);
        QCOMPARE(s.rank.has_value(), target);
        QCOMPARE(s.density.has_value(), density);
        QCOMPARE(s.drop.has_value(), drop);
        QCOMPARE(s.seed.has_value(), drop);
        // Energy instead of rank.
        if (target) {
            d.targetBox()->setCurrentIndex(2);
            QVERIFY(d.energyBox()->isEnabled());
            QVERIFY(!d.settings().rank);
            QVERIFY(d.settings().energy);
        }
    }

    // A number a box of the Fuse tab cannot take stays as typed and is named, with its range, instead
    // of the preview, fusion or grid search running with the box's last value (the box dropped the keys
    // past its range: a rank of 5000 became 500, a weight of 1e999 became 1).
    void numbersTheBoxesCannotTakeAreRefused() {
        ui::FuseDialog d(twoSources());
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        d.setMethod("ties");
        d.targetBox()->setCurrentIndex(1);
        d.rankBox()->selectAll();
        QTest::keyClicks(d.rankBox(), "5000");
        QCOMPARE(d.rankBox()->text(), QString("5000"));
        QSignalSpy preview(&d, &ui::FuseDialog::previewRequested);
        QSignalSpy fuse(&d, &ui::FuseDialog::fuseRequested);
        d.previewButton()->click();
        QCOMPARE(preview.count(), 0);
        QCOMPARE(d.messageLabel()->text(), QString("Target rank: '5000' is out of range: enter a whole number from 1 to 4096"));
        d.rankBox()->selectAll();
        QTest::keyClicks(d.rankBox(), "12");
        d.weightBox(1)->selectAll();
        QTest::keyClicks(d.weightBox(1), "1e999");
        d.fuseButton()->click();
        QCOMPARE(fuse.count(), 0);
        QCOMPARE(d.messageLabel()->text(), QString("weight λ of legal v1: '1e999' is not a finite number: enter a number from -10 to 10"));
        d.weightBox(1)->selectAll();
        QTest::keyClicks(d.weightBox(1), "-0.5");
        d.fuseButton()->click();
        QCOMPARE(fuse.count(), 1);
        const auto s = fuse.at(0).at(0).value<ui::FuseSettings>();
        QCOMPARE(*s.rank, qint64(12));
        QCOMPARE(s.weights, QVector<double>({1.0, -0.5}));

        ui::ExportMergedDialog e(twoSources());
        e.show();
        QVERIFY(QTest::qWaitForWindowExposed(&e));
        e.setModelDir(QDir::tempPath());
        e.setOutDir(QDir::tempPath() + "/merged-out");
        auto* shard = e.findChild<QDoubleSpinBox*>("shardBox");
        QCOMPARE(shard->text(), QString("2.00"));
        shard->selectAll();
        QTest::keyClicks(shard, "250");
        QSignalSpy exported(&e, &ui::ExportMergedDialog::exportRequested);
        e.exportButton()->click();
        QCOMPARE(exported.count(), 0);
        QCOMPARE(e.messageLabel()->text(), QString("Largest shard (GB): '250' is out of range: enter a number from 0 (one file) to 100"));
        shard->selectAll();
        QTest::keyClicks(shard, "0");
        e.exportButton()->click();
        QCOMPARE(exported.count(), 1);
        QCOMPARE(exported.at(0).at(0).value<ui::MergeExportSettings>().maxShardBytes, qint64(0)); // one file
    }

    void weightsAreWhatWasTyped() {
        ui::FuseDialog d(twoSources());
        d.show();
        QDoubleSpinBox* w0 = d.weightBox(0);
        QDoubleSpinBox* w1 = d.weightBox(1);
        QVERIFY(w0 && w1);
        QVERIFY(w1->minimum() < 0); // task negation
        w0->selectAll();
        QTest::keyClicks(w0, "0.65");
        w1->selectAll();
        QTest::keyClicks(w1, "-0.4");
        d.setMethod("ties");
        d.densityBox()->setValue(0.3);
        d.targetBox()->setCurrentIndex(1);
        d.rankBox()->setValue(12);
        QSignalSpy preview(&d, &ui::FuseDialog::previewRequested);
        d.previewButton()->click();
        QCOMPARE(preview.count(), 1);
        const auto s = preview.at(0).at(0).value<ui::FuseSettings>();
        QCOMPARE(s.weights, QVector<double>({0.65, -0.4}));
        QCOMPARE(s.method, QString("ties"));
        QCOMPARE(*s.density, 0.3);
        QCOMPARE(*s.rank, qint64(12));
        // While a job runs, nothing else starts; Cancel asks the application to stop it.
        d.setBusy("previewing");
        QVERIFY(!d.previewButton()->isEnabled());
        QSignalSpy cancel(&d, &ui::FuseDialog::cancelRequested);
        d.cancelButton()->click();
        QCOMPARE(cancel.count(), 1);
        d.setIdle();
        // Errors are shown inline.
        d.showError("target rank 40 is above the exact rank 24");
        QVERIFY(d.messageLabel()->text().contains("exact rank 24"));
    }

    void previewTableShowsTheReport() {
        ui::FuseDialog d(twoSources());
        ui::FusePreview p;
        p.modules = {{"model.layers.0.self_attn.q_proj", 8, 0.125}, {"model.layers.0.self_attn.v_proj", 8, 0.25}};
        p.overallError = 0.2;
        p.exactRank = 24;
        p.resultRank = 8;
        d.showPreview(p);
        QCOMPARE(d.previewTable()->rowCount(), 2);
        QCOMPARE(d.previewTable()->item(1, 2)->data(Qt::UserRole).toDouble(), 0.25);
        QVERIFY(d.overallLabel()->text().contains("0.2"));
        // Changing a setting clears the preview (it would describe other settings).
        d.weightBox(0)->setValue(0.5);
        QCOMPARE(d.previewTable()->rowCount(), 0);
    }

    void gridTakesTheBestPoint() {
        ui::FuseDialog d(twoSources());
        d.resize(800, 700);
        d.show();
        ui::GridSearchPanel* g = d.grid();
        g->setAxis(0, {0.0, 1.0, 0.5});
        g->setAxis(1, {-0.5, 0.5, 0.5});
        QVERIFY(g->problem().contains("validation data"));
        g->setDataFile("/data/val.jsonl");
        QVERIFY(g->problem().isEmpty());
        QSignalSpy run(&d, &ui::FuseDialog::gridRequested);
        d.setMethod("svd");
        g->runButton()->click();
        QCOMPARE(run.count(), 1);
        const auto s = run.at(0).at(0).value<ui::GridSettings>();
        QCOMPARE(s.axes.size(), 2);
        QCOMPARE(s.axes[1].from, -0.5);
        QCOMPARE(s.fuse.method, QString("svd"));
        QCOMPARE(s.dataFile, QString("/data/val.jsonl"));

        ui::GridOutcome o;
        o.metric = "loss";
        for (double a : {0.0, 0.5, 1.0})
            for (double b : {-0.5, 0.0, 0.5}) {
                o.weights << QVector<double>{a, b};
                o.scores << (a - 0.5) * (a - 0.5) + (b - 0.5) * (b - 0.5) + 1.0; // lowest at (0.5, 0.5)
            }
        o.best = 5;
        g->showOutcome(o);
        QCPColorMapData* data = g->colorMap()->data();
        QCOMPARE(data->keySize(), 3);
        QCOMPARE(data->valueSize(), 3);
        QCOMPARE(data->cell(1, 2), 1.0);
        QCOMPARE(data->cell(0, 0), 2.25); // (0, -0.5)
        QVERIFY(g->bestLabel()->text().contains("λ2 = 0.5"));
        QVERIFY(g->useButton()->isEnabled());
        d.showGridTab();
        g->useButton()->click();
        QCOMPARE(d.tabs()->currentIndex(), 0);
        QCOMPARE(d.settings().weights, QVector<double>({0.5, 0.5}));
    }

    // A from, to or step its box cannot take (a weight of 20, a step of 0) stays as typed and is named
    // under the ranges with its range; Run grid search is off until it is fixed (the boxes cut 20 to
    // 10 and 0 to 0.001 without a word, and the search ran on numbers nobody typed).
    void gridRangesTheBoxesCannotTakeAreRefused() {
        ui::FuseDialog d(twoSources());
        d.resize(800, 700);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        ui::GridSearchPanel* g = d.grid();
        d.showGridTab();
        g->setDataFile("/data/val.jsonl");
        QVERIFY(g->runButton()->isEnabled());
        QVERIFY(!g->rangeErrorLabel()->isVisible());
        g->toBox(1)->selectAll();
        QTest::keyClicks(g->toBox(1), "20");
        QCOMPARE(g->toBox(1)->text(), QString("20"));
        QVERIFY(!g->runButton()->isEnabled());
        QVERIFY(g->rangeErrorLabel()->isVisible());
        QCOMPARE(g->rangeErrorLabel()->text(), QString("legal v1 to: '20' is out of range: enter a number from -10 to 10"));
        g->stepBox(0)->selectAll();
        QTest::keyClicks(g->stepBox(0), "0");
        QCOMPARE(g->entryProblems(), QStringList({"medical v2 step: '0' is out of range: enter a number from 0.001 to 10",
                                                  "legal v1 to: '20' is out of range: enter a number from -10 to 10"}));
        QCOMPARE(g->problem(), g->entryProblems().join("; "));
        // Leaving the field keeps what was typed.
        g->stepBox(0)->setFocus();
        g->toBox(0)->setFocus();
        QCOMPARE(g->stepBox(0)->text(), QString("0"));
        QSignalSpy run(&d, &ui::FuseDialog::gridRequested);
        g->runButton()->click();
        QCOMPARE(run.count(), 0);
        // A search that ends does not turn the button back on over the bad fields.
        g->setBusy(true);
        g->setBusy(false);
        QVERIFY(!g->runButton()->isEnabled());

        g->toBox(1)->selectAll();
        QTest::keyClicks(g->toBox(1), "0.5");
        g->stepBox(0)->selectAll();
        QTest::keyClicks(g->stepBox(0), "0.5");
        QVERIFY(g->entryProblems().isEmpty());
        QVERIFY(!g->rangeErrorLabel()->isVisible());
        QVERIFY(g->runButton()->isEnabled());
        g->runButton()->click();
        QCOMPARE(run.count(), 1);
        const auto s = run.at(0).at(0).value<ui::GridSettings>();
        QCOMPARE(s.axes[1].to, 0.5);
        QCOMPARE(s.axes[0].step, 0.5);
    }

    // An error is about the settings it was given for: it goes once one of them changes, and a Fuse
    // tab error (a preview's, a fusion's) is not shown beside Run grid search as if it were the grid's.
    void errorsGoWhenTheirSettingsChange() {
        ui::FuseDialog d(twoSources());
        d.show();
        const QString zero = "every fusion weight is 0: the fused adapter would change nothing";
        d.weightBox(0)->setValue(0);
        d.weightBox(1)->setValue(0);
        d.previewButton()->click();
        d.showError(zero);
        QCOMPARE(d.messageLabel()->text(), zero);
        QVERIFY2(!d.grid()->statusLabel()->text().contains("every fusion weight"), qPrintable(d.grid()->statusLabel()->text()));
        d.weightBox(0)->setValue(1);
        QVERIFY2(d.messageLabel()->text().isEmpty(), qPrintable(d.messageLabel()->text()));
        // A message that is not an error stays when a setting changes.
        d.showMessage("Fused into fused v1");
        d.weightBox(1)->setValue(0.5);
        QCOMPARE(d.messageLabel()->text(), QString("Fused into fused v1"));

        // The grid's own check: gone once the data file is named.
        ui::GridSearchPanel* g = d.grid();
        g->runButton()->click();
        QVERIFY(g->statusLabel()->text().contains("validation data"));
        g->setDataFile("/data/val.jsonl");
        QVERIFY(g->statusLabel()->text().isEmpty());
        // A grid search's error shows in its tab, and goes when a range changes.
        g->runButton()->click();
        d.showError("the grid has 1002001 points, more than 10000");
        QVERIFY(g->statusLabel()->text().contains("1002001 points"));
        g->setAxis(0, {0.0, 1.0, 0.5});
        QVERIFY(g->statusLabel()->text().isEmpty());
    }

    void gridLineForOneVaryingWeight() {
        ui::GridSearchPanel g(twoSources());
        ui::GridOutcome o;
        o.metric = "exact_match";
        o.higherIsBetter = true;
        for (double a : {0.0, 0.5, 1.0}) {
            o.weights << QVector<double>{a, 1.0};
            o.scores << a * (1 - a);
        }
        o.best = 1;
        g.showOutcome(o);
        QVERIFY(!g.colorMap()->visible());
        QCOMPARE(g.plot()->graph(0)->data()->size(), 3);
        QCOMPARE(g.bestWeights(), QVector<double>({0.5, 1.0}));
    }

    void exportDialogSettings() {
        ui::ExportMergedDialog d(twoSources());
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        QVERIFY(!d.openButton()->isEnabled()); // nothing to open before an export is done
        QCOMPARE(d.settings().modelDir, QString("/models/base"));
        d.setOutDir("/tmp/out/merged");
        d.setDtype("float16");
        d.setMaxShardGb(0.5);
        d.setWeights({1.0, -0.5});
        QSignalSpy spy(&d, &ui::ExportMergedDialog::exportRequested);
        // A base model folder that is missing, or a file, is named as such before anything runs.
        d.exportButton()->click();
        QCOMPARE(spy.count(), 0);
        QVERIFY2(d.messageLabel()->text().contains("folder '/models/base' does not exist"), qPrintable(d.messageLabel()->text()));
        QTemporaryDir base;
        QFile file(base.filePath("config.json"));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.close();
        d.setModelDir(file.fileName());
        d.exportButton()->click();
        QCOMPARE(spy.count(), 0);
        QVERIFY2(d.messageLabel()->text().contains("is a file, not a folder"), qPrintable(d.messageLabel()->text()));
        d.setModelDir(base.path());
        d.exportButton()->click();
        QCOMPARE(spy.count(), 1);
        const auto s = d.settings();
        QCOMPARE(s.dtype, QString("float16"));
        QCOMPARE(s.maxShardBytes, qint64(500000000));
        QCOMPARE(s.weights, QVector<double>({1.0, -0.5}));
        d.setBusy("writing");
        QVERIFY(d.cancelButton()->isEnabled());
        d.showProgress(3, 10);
        QCOMPARE(d.progressBar()->value(), 3);
        d.setIdle();
        d.showDone("written", "/tmp/out/merged");
        QVERIFY(d.openButton()->isEnabled());
    }

    // What the dialog shows stays true of what it holds: an error about an output folder went on
    // naming it after another folder was typed; "0 of 1 tensors" showed before any export and an
    // empty bar after a failed one; Open folder appeared beside Export when an export was done and
    // moved Export from under the pointer (the next click opened the folder instead of exporting).
    void exportDialogShowsOnlyWhatHolds() {
        ui::ExportMergedDialog d(twoSources());
        d.resize(680, 480);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        QVERIFY(!d.progressBar()->isVisible());
        const int exportX = d.exportButton()->mapTo(&d, QPoint(0, 0)).x();

        d.setOutDir("/tmp/out/taken");
        d.exportButton()->click();
        d.setBusy("writing");
        QVERIFY(d.progressBar()->isVisible());
        d.showError("output folder /tmp/out/taken exists and is not empty; choose a new folder (nothing was written)");
        d.setIdle();
        QVERIFY(!d.progressBar()->isVisible());
        QVERIFY(d.messageLabel()->text().contains("/tmp/out/taken"));
        d.setOutDir("/tmp/out/new");
        QVERIFY2(d.messageLabel()->text().isEmpty(), qPrintable(d.messageLabel()->text()));
        // So for the model folder, the weights, the dtype and the shard size.
        d.showError("base model folder /models/none has no config.json");
        d.setModelDir("/models/other");
        QVERIFY(d.messageLabel()->text().isEmpty());
        d.showError("a weight is not finite");
        d.setWeights({0.5, 1.0});
        QVERIFY(d.messageLabel()->text().isEmpty());
        d.showError("bad dtype");
        d.setDtype("bfloat16");
        QVERIFY(d.messageLabel()->text().isEmpty());
        d.showError("bad shard size");
        d.setMaxShardGb(1.0);
        QVERIFY(d.messageLabel()->text().isEmpty());

        // Done: the count stays, Open folder is on, and Export is where it was.
        d.setBusy("writing");
        d.showProgress(39, 39);
        d.showDone("Merged into /tmp/out/new", "/tmp/out/new");
        d.setIdle();
        QCoreApplication::processEvents();
        QVERIFY(d.progressBar()->isVisible());
        QCOMPARE(d.progressBar()->text(), QString("39 of 39 tensors"));
        QVERIFY(d.openButton()->isEnabled());
        QCOMPARE(d.exportButton()->mapTo(&d, QPoint(0, 0)).x(), exportX);
        // A success message is no error: it stays when a field changes.
        d.setOutDir("/tmp/out/other");
        QCOMPARE(d.messageLabel()->text(), QString("Merged into /tmp/out/new"));

        // A message quoting a long path does not widen the dialog.
        d.showError("output /tmp/" + QString(400, 'x') + " exists and is not a folder; choose a new folder");
        QCoreApplication::processEvents();
        QVERIFY2(d.minimumSizeHint().width() <= 680, qPrintable(QString::number(d.minimumSizeHint().width())));
        QCOMPARE(d.width(), 680);
    }

    // The same for the Fuse dialog's messages and the grid tab's status.
    void fuseMessagesDoNotWidenTheDialog() {
        ui::FuseDialog d(twoSources());
        d.resize(760, 640);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        const QString path = "/data/" + QString(400, 'v') + ".jsonl";
        d.grid()->setDataFile("/data/val.jsonl");
        d.grid()->runButton()->click();
        d.showError("cannot read " + path);
        QCoreApplication::processEvents();
        QVERIFY(d.grid()->statusLabel()->text().contains(path));
        QVERIFY2(d.minimumSizeHint().width() <= 760, qPrintable(QString::number(d.minimumSizeHint().width())));
        QCOMPARE(d.width(), 760);
    }

    // On an 800x600 screen (less a panel and the title bar) the dialogs can be made small enough to
    // fit: their minimum sizes, on both tabs with a grid drawn and a message shown.
    void dialogsFitASmallScreen() {
        ui::FuseDialog d(twoSources());
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        d.grid()->setDataFile("/data/val.jsonl");
        d.showError("cannot read /data/val.jsonl");
        QCoreApplication::processEvents();
        QVERIFY2(d.minimumSizeHint().width() <= 780 && d.minimumSizeHint().height() <= 520,
                 qPrintable(QString("Fuse dialog minimum %1x%2").arg(d.minimumSizeHint().width()).arg(d.minimumSizeHint().height())));
        ui::ExportMergedDialog e(twoSources());
        e.show();
        QVERIFY(QTest::qWaitForWindowExposed(&e));
        QVERIFY2(e.minimumSizeHint().width() <= 780 && e.minimumSizeHint().height() <= 520,
                 qPrintable(QString("Export dialog minimum %1x%2").arg(e.minimumSizeHint().width()).arg(e.minimumSizeHint().height())));
    }

    // As `rslora merge` without --dtype: the base model's own dtype unless the user picks one.
    void exportDialogDefaultsToTheBaseDtype() {
        ui::ExportMergedDialog d(twoSources());
        auto* box = d.findChild<QComboBox*>("dtypeBox");
        QVERIFY(box);
        QCOMPARE(box->currentIndex(), 0);
        QCOMPARE(box->currentText(), QString("same as the base model"));
        QVERIFY(d.settings().dtype.isEmpty());
        QSignalSpy spy(&d, &ui::ExportMergedDialog::exportRequested);
        QTemporaryDir base;
        d.setModelDir(base.path());
        d.setOutDir("/tmp/out/merged");
        d.exportButton()->click();
        QCOMPARE(spy.count(), 1);
        QVERIFY(d.settings().dtype.isEmpty()); // what the click handed out
        d.setDtype("float32");
        QCOMPARE(d.settings().dtype, QString("float32"));
        d.setDtype(QString());
        QVERIFY(d.settings().dtype.isEmpty());
    }
};

QTEST_MAIN(MergeViewsTest)
#include "MergeViewsTest.moc"
