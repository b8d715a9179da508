// Runs and adapters browsers over a real store: table contents, filtering, overlay of selected runs,
// the config diff with "differences only", delete with undo, adapter versions and their actions.
#include "ui/AdapterTreeModel.h"
#include "ui/AdaptersBrowser.h"
#include "ui/CurvePlot.h"
#include "ui/PeftCopy.h"
#include "ui/RunTableModel.h"
#include "ui/RunsBrowser.h"

#include "common/Sha256.h"
#include "storage/VersionFiles.h"
#include "engine/TrainConfig.h"
#include "storage/Store.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTableWidget>
#include <QTextBrowser>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>
#include <qcustomplot.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unistd.h>

using namespace rslora;

namespace {
int64_t addRun(storage::Store& store, const std::string& name, int rank, double lr, storage::RunStatus status, int points) {
    engine::TrainConfig c;
    c.adapter.rank = rank;
    c.learningRate = lr;
    storage::RunRecord r;
    r.name = name;
    r.status = status;
    r.configJson = c.toJson().dump();
    int64_t id = store.runs().create(r);
    store.runs().setParams(id, {{"adapter.r", std::to_string(rank)}, {"training.learning_rate", std::to_string(lr)}, {"training.seed", "42"}});
    std::vector<storage::MetricPoint> pts;
    for (int i = 1; i <= points; ++i)
        pts.push_back({id, "train/loss", i, 1000.0 + i, 3.0 / i});
    store.metricsIngest().insert(pts);
    return id;
}
// A version whose folder <dir>/adapter holds a (stand-in) PEFT pair.
storage::AdapterRecord addPeftAdapter(storage::Store& store, const QTemporaryDir& dir, storage::NewAdapter n) {
    n.path = dir.filePath("adapter").toStdString();
    QDir().mkpath(dir.filePath("adapter"));
    for (const char* file : {"adapter_config.json", "adapter_model.safetensors"}) {
        QFile f(dir.filePath(QString("adapter/") + file));
        if (!f.open(QIODevice::WriteOnly))
            qFatal("cannot write %s", qPrintable(f.fileName()));
        f.write("{}");
    }
    return store.adapters().create(n);
}
// A version with files of its own (hashed), as training leaves one.
storage::AdapterRecord addHashedVersion(storage::Store& store, const std::string& task, const char* content) {
    storage::NewAdapter n;
    n.task = task;
    n.rank = 8;
    storage::AdapterRecord a = store.adapters().create(n);
    QDir().mkpath(QString::fromStdString(a.path));
    for (const char* file : {"adapter_config.json", "adapter_model.safetensors"}) {
        QFile f(QString::fromStdString(a.path) + "/" + file);
        if (!f.open(QIODevice::WriteOnly))
            qFatal("cannot write %s", qPrintable(f.fileName()));
        f.write(content);
    }
    store.adapters().setFiles(a.id, a.path, Sha256::directoryHex(a.path));
    return store.adapters().require(a.id);
}
// Answers the browser's questions instead of a person: records what it was asked and warned.
struct Answers {
    bool yes = true;
    std::optional<QString> text;
    QStringList asked, warned;
    ui::AdaptersBrowser::Dialogs dialogs() {
        return {[this](const QString&, const QString& t) { asked << t; return yes; },
                [this](const QString&, const QString& label, const QString&) { asked << label; return text; },
                [this](const QString&, const QString& t) { warned << t; }};
    }
};
} // namespace

class BrowsersTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void runsTableOverlayAndDiff() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        int64_t a = addRun(store, "rank 8, seed \"42\"", 8, 2e-4, storage::RunStatus::Finished, 50);
        int64_t b = addRun(store, "rank 16", 16, 2e-4, storage::RunStatus::Interrupted, 30);
        addRun(store, "other", 4, 1e-3, storage::RunStatus::Failed, 5);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        QCOMPARE(browser.model()->rowCount(), 3);
        // The method column and the latest loss come from the config and the metrics.
        int row = browser.model()->rowOfRun(a);
        QCOMPARE(browser.model()->index(row, ui::RunTableModel::Rank).data().toInt(), 8);
        QCOMPARE(browser.model()->index(row, ui::RunTableModel::TrainLoss).data().toString(), QString("0.0600"));
        QVERIFY(browser.model()->index(row, ui::RunTableModel::Method).data().toString().contains("α/√r"));
        // Filtering through the proxy.
        browser.proxy()->setFilterFixedString("rank 16");
        QCOMPARE(browser.proxy()->rowCount(), 1);
        browser.proxy()->setFilterFixedString("");
        // Two runs selected: both curves on the overlay, and only differing params in the diff.
        browser.selectRuns({a, b});
        QCOMPARE(browser.selectedRunIds(), QList<qint64>({a, b}));
        QCOMPARE(browser.overlayMetric()->currentText(), QString("train/loss"));
        QCOMPARE(browser.overlay()->seriesNames().size(), 2);
        QCOMPARE(browser.overlay()->series(browser.overlay()->seriesNames().front())->size(), 50);
        QCOMPARE(browser.diffTable()->rowCount(), 1);
        QCOMPARE(browser.diffTable()->item(0, 0)->text(), QString("adapter.r"));
        QCOMPARE(browser.diffTable()->item(0, 1)->text(), QString("8"));
        QCOMPARE(browser.diffTable()->item(0, 2)->text(), QString("16"));
        browser.differencesOnly()->setChecked(false);
        QCOMPARE(browser.diffTable()->rowCount(), 3);
    }

    // With no run selected the "Selected runs" chart says how to fill it (it showed empty axes from
    // 0 to 1 and nothing else); the hint goes when curves come, and comes back with an empty selection.
    void overlayWithoutCurvesSaysHowToGetThem() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "rank 8", 8, 2e-4, storage::RunStatus::Finished, 20);
        const int64_t b = addRun(store, "rank 16", 16, 2e-4, storage::RunStatus::Finished, 20);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        auto* hint = browser.overlay()->plot()->findChild<QCPItemText*>("overlayHint");
        QVERIFY(hint);
        QVERIFY(browser.selectedRunIds().isEmpty());
        QVERIFY(hint->visible());
        QVERIFY2(hint->text().startsWith("Select runs in the table to overlay a metric"), qPrintable(hint->text()));
        browser.selectRuns({a, b});
        QCOMPARE(browser.overlay()->seriesNames().size(), 2);
        QVERIFY(!hint->visible());
        browser.selectRuns({});
        QVERIFY(browser.overlay()->seriesNames().isEmpty());
        QVERIFY(hint->visible());
    }

    // Long run names differing only at their ends (seeds of one config) stay apart in the overlay's
    // legend: shortened in the middle, their ends kept; cut at the chart's edge they read the same.
    void overlayLegendKeepsTheEndsOfLongNames() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const std::string stem = "facts_train_demo_rslora_r8_with_a_rather_long_descriptive_name_";
        const int64_t a = addRun(store, stem + "seed1", 8, 2e-4, storage::RunStatus::Finished, 20);
        const int64_t b = addRun(store, stem + "seed2", 8, 2e-4, storage::RunStatus::Finished, 20);
        const int64_t c = addRun(store, "short", 8, 2e-4, storage::RunStatus::Finished, 20);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        browser.selectRuns({a, b, c});
        const QStringList names = browser.overlay()->seriesNames();
        QCOMPARE(names.size(), 3);
        for (int64_t id : {a, b}) {
            const QString prefix = QString("#%1 ").arg(id);
            auto it = std::find_if(names.begin(), names.end(), [&](const QString& n) { return n.startsWith(prefix); });
            QVERIFY(it != names.end());
            QVERIFY2(it->endsWith(id == a ? "seed1" : "seed2") && it->contains("…") && it->size() <= prefix.size() + 40,
                     qPrintable(*it));
            QVERIFY2(it->startsWith(prefix + "facts_train_demo"), qPrintable(*it));
        }
        QVERIFY(names.contains(QString("#%1 short").arg(c)));
        // In the table too, a name wider than its column keeps its end: elided in the middle.
        browser.resize(800, 600);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        QTableView* table = browser.table();
        const int width = table->columnWidth(ui::RunTableModel::Name) - 8;
        auto shown = [&](int64_t id) {
            return table->fontMetrics().elidedText(QString::fromStdString(store.runs().require(id).name), table->textElideMode(), width);
        };
        QVERIFY2(shown(a) != shown(b), qPrintable(shown(a)));
        QVERIFY2(shown(a).endsWith("seed1") && shown(a).contains("…"), qPrintable(shown(a)));
        int whole = 0; // the differences name the runs in full
        for (int col = 1; col < browser.diffTable()->columnCount(); ++col) {
            const QString header = browser.diffTable()->horizontalHeaderItem(col)->text();
            if (header == QString("#%1 %2seed1").arg(a).arg(QString::fromStdString(stem)) ||
                header == QString("#%1 %2seed2").arg(b).arg(QString::fromStdString(stem)))
                ++whole;
        }
        QCOMPARE(whole, 2);
    }

    // The "Selected runs" chart names the metric it shows on its y axis, with the unit where the
    // metric has one (it said "value" whatever was drawn), and follows the metric chosen.
    void overlayAxisNamesTheMetric() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "a", 8, 2e-4, storage::RunStatus::Finished, 5);
        const int64_t b = addRun(store, "b", 16, 2e-4, storage::RunStatus::Finished, 5);
        std::vector<storage::MetricPoint> pts;
        for (int64_t id : {a, b})
            for (int i = 1; i <= 5; ++i) {
                pts.push_back({id, "train/tokens_per_s", i, 1000.0 + i, 900.0 + i});
                pts.push_back({id, "train/lr", i, 1000.0 + i, 1e-4});
            }
        store.metricsIngest().insert(pts);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        QCPAxis* y = browser.overlay()->plot()->yAxis;
        QCOMPARE(y->label(), QString("metric")); // nothing selected, nothing drawn
        browser.selectRuns({a, b});
        QCOMPARE(browser.overlayMetric()->currentText(), QString("train/loss"));
        QCOMPARE(y->label(), QString("train/loss"));
        browser.overlayMetric()->setCurrentText("train/tokens_per_s");
        QCOMPARE(y->label(), QString("train/tokens_per_s (tokens/s)"));
        browser.overlayMetric()->setCurrentText("train/lr");
        QCOMPARE(y->label(), QString("train/lr"));
        browser.selectRuns({});
        QCOMPARE(y->label(), QString("metric"));
    }

    // A run named with hundreds of characters (in the store, or renamed so with F2) does not widen its
    // column past the window: the other columns stay in sight.
    void longRunNamesKeepTheOtherColumnsInSight() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, std::string(600, 'L'), 8, 2e-4, storage::RunStatus::Finished, 3);
        const int64_t b = addRun(store, "short", 8, 2e-4, storage::RunStatus::Finished, 3);
        // A sweep's run name (57 characters) is shown whole.
        const int64_t c = addRun(store, "walk_sweep · adapter.r=4, training.max_steps=40 · seed 43", 4, 2e-4, storage::RunStatus::Finished, 3);
        store.runs().setTag(b, "note", std::string(400, 't'));
        ui::RunsBrowser browser;
        browser.resize(1200, 700);
        browser.setStore(&store);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        QTableView* table = browser.table();
        const int most = table->fontMetrics().averageCharWidth() * 72;
        QVERIFY(!table->wordWrap()); // elided on one line, not broken onto a second one the row cuts off
        QVERIFY2(table->columnWidth(ui::RunTableModel::Name) <= most, qPrintable(QString::number(table->columnWidth(ui::RunTableModel::Name))));
        QVERIFY2(table->columnWidth(ui::RunTableModel::Tags) <= most, qPrintable(QString::number(table->columnWidth(ui::RunTableModel::Tags))));
        // A short name still gets the width it needs.
        QVERIFY(table->columnWidth(ui::RunTableModel::Name) >= table->fontMetrics().horizontalAdvance("short"));
        // The started column (after name, status, losses…) is inside the table's visible width.
        const int started = table->columnViewportPosition(ui::RunTableModel::Started);
        QVERIFY2(started >= 0 && started < table->viewport()->width(), qPrintable(QString::number(started)));
        // Renamed in place to a long name: the column grows to the cap, no further.
        const QModelIndex source = browser.model()->index(browser.model()->rowOfRun(b), ui::RunTableModel::Name);
        QVERIFY(browser.model()->setData(source, QString(500, 'N'), Qt::EditRole));
        QCOMPARE(QString::fromStdString(store.runs().require(b).name), QString(500, 'N'));
        QVERIFY2(table->columnWidth(ui::RunTableModel::Name) <= most, qPrintable(QString::number(table->columnWidth(ui::RunTableModel::Name))));
        QVERIFY(browser.model()->rowOfRun(a) >= 0);
        browser.selectRuns({});
        browser.model()->setData(source, QString("short"), Qt::EditRole);
        browser.refresh();
        const QString sweepName = QString::fromStdString(store.runs().require(c).name);
        QVERIFY2(table->columnWidth(ui::RunTableModel::Name) >= table->fontMetrics().horizontalAdvance(sweepName),
                 qPrintable(QString("%1 px for a name %2 px wide").arg(table->columnWidth(ui::RunTableModel::Name)).arg(table->fontMetrics().horizontalAdvance(sweepName))));
    }

    // Runs are told apart by id and base model: both are columns, the filter matches the model,
    // and the duration is the run's training time when the run recorded it.
    void runsShowIdModelAndTrainingTime() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "chat_train_rslora_r8", 8, 2e-4, storage::RunStatus::Finished, 3);
        const int64_t b = addRun(store, "chat_train_rslora_r8", 8, 2e-4, storage::RunStatus::Finished, 3);
        storage::RunRecord ra = store.runs().require(a), rb = store.runs().require(b);
        ra.baseModel.ref = dir.filePath("models/Qwen2-0.5B").toStdString();
        rb.baseModel.ref = (std::filesystem::path(RSLORA_TEST_SOURCE_DIR) / "../../resources/demo/model").string();
        ra.startTime = 1000;
        ra.endTime = 1000 + 3600; // stopped for most of an hour, trained for 95 s
        store.runs().update(ra);
        store.runs().update(rb);
        QDir().mkpath(dir.filePath("models/Qwen2-0.5B"));
        store.metricsIngest().insert(std::vector<storage::MetricPoint>{{a, "train/run_seconds", 3, 1003.0, 95.0}});
        ui::RunsBrowser browser;
        browser.setStore(&store);
        const int rowA = browser.model()->rowOfRun(a), rowB = browser.model()->rowOfRun(b);
        QCOMPARE(browser.model()->index(rowA, ui::RunTableModel::Id).data().toLongLong(), qlonglong(a));
        QCOMPARE(browser.model()->index(rowA, ui::RunTableModel::Model).data().toString(), QString("Qwen2-0.5B"));
        QCOMPARE(browser.model()->index(rowA, ui::RunTableModel::Model).data(Qt::ToolTipRole).toString(),
                 QString::fromStdString(ra.baseModel.ref));
        QCOMPARE(browser.model()->index(rowB, ui::RunTableModel::Model).data().toString(), QString("demo"));
        QCOMPARE(browser.model()->headerData(ui::RunTableModel::Model, Qt::Horizontal, Qt::DisplayRole).toString(), QString("Model"));
        QCOMPARE(browser.model()->index(rowA, ui::RunTableModel::Duration).data().toString(), QString("1 min 35 s"));
        browser.proxy()->setFilterFixedString("qwen2");
        QCOMPARE(browser.proxy()->rowCount(), 1);
        QCOMPARE(browser.proxy()->index(0, 0).data(ui::RunTableModel::RunIdRole).toLongLong(), qlonglong(a));
        browser.proxy()->setFilterFixedString("demo");
        QCOMPARE(browser.proxy()->rowCount(), 1);
        // A hub id names its model by its last part too.
        QCOMPARE(ui::RunTableModel::modelName("Qwen/Qwen2-0.5B"), QString("Qwen2-0.5B"));
        QCOMPARE(ui::RunTableModel::modelName("/models/Llama-3.2-1B/"), QString("Llama-3.2-1B"));
    }

    // Name, tags and notes are edited in place and written to the store; bad tags are refused and
    // change nothing; other columns are read-only.
    void editNameTagsAndNotes() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "first", 8, 2e-4, storage::RunStatus::Finished, 3);
        store.runs().setTag(a, "old", "1");
        ui::RunsBrowser browser;
        browser.setStore(&store);
        auto* model = browser.model();
        const int row = model->rowOfRun(a);
        QVERIFY(model->flags(model->index(row, ui::RunTableModel::Name)) & Qt::ItemIsEditable);
        QVERIFY(!(model->flags(model->index(row, ui::RunTableModel::TrainLoss)) & Qt::ItemIsEditable));
        QVERIFY(!model->setData(model->index(row, ui::RunTableModel::TrainLoss), "1"));

        QVERIFY(model->setData(model->index(row, ui::RunTableModel::Name), "  baseline r8 "));
        QCOMPARE(store.runs().get(a)->name, std::string("baseline r8"));
        QVERIFY(model->setData(model->index(row, ui::RunTableModel::Tags), "dataset=facts, keep,  lr = 2e-4"));
        const storage::Tags expected{{"dataset", "facts"}, {"keep", ""}, {"lr", "2e-4"}};
        QCOMPARE(store.runs().tags(a), expected); // "old" removed
        QVERIFY(model->setData(model->index(row, ui::RunTableModel::Notes), "first line\nsecond line"));
        QCOMPARE(store.runs().get(a)->notes, std::string("first line\nsecond line"));
        QCOMPARE(model->index(row, ui::RunTableModel::Notes).data().toString(), QString("first line"));
        QCOMPARE(model->index(row, ui::RunTableModel::Notes).data(Qt::EditRole).toString(), QString("first line\nsecond line"));

        // Refused edits leave the store as it was and say why under the table.
        QSignalSpy rejected(model, &ui::RunTableModel::editRejected);
        QVERIFY(!model->setData(model->index(row, ui::RunTableModel::Tags), "a=1, =2"));
        QVERIFY(!model->setData(model->index(row, ui::RunTableModel::Tags), "a=1, a=2"));
        QVERIFY(!model->setData(model->index(row, ui::RunTableModel::Name), "   "));
        QCOMPARE(rejected.size(), 3);
        auto* notice = browser.findChild<QLabel*>("runsNotice");
        QVERIFY(notice && notice->text().contains("name"));
        QCOMPARE(store.runs().tags(a), expected);
        QCOMPARE(store.runs().get(a)->name, std::string("baseline r8"));
        // A fresh browser reads the edits back from the store.
        ui::RunsBrowser again;
        again.setStore(&store);
        const int r2 = again.model()->rowOfRun(a);
        QCOMPARE(again.model()->index(r2, ui::RunTableModel::Tags).data().toString(), QString("dataset=facts, keep, lr=2e-4"));
    }

    void deleteWithUndo() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        int64_t a = addRun(store, "keep me", 8, 2e-4, storage::RunStatus::Finished, 3);
        int64_t b = addRun(store, "delete me", 8, 2e-4, storage::RunStatus::Finished, 3);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        browser.selectRuns({b});
        browser.deleteSelected();
        QCOMPARE(browser.model()->rowCount(), 1);
        QVERIFY(store.runs().get(b).has_value()); // not gone until the undo time runs out
        browser.undoDelete();
        QCOMPARE(browser.model()->rowCount(), 2);
        QCOMPARE(browser.selectedRunIds(), QList<qint64>({b}));
        browser.deleteSelected();
        browser.commitPendingDeletes();
        QVERIFY(!store.runs().get(b).has_value());
        QVERIFY(store.runs().get(a).has_value());

        // The Delete key in the table deletes the selection too, with the same undo.
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.selectRuns({a});
        browser.table()->setFocus();
        QTRY_VERIFY(browser.table()->hasFocus());
        QTest::keyClick(browser.table(), Qt::Key_Delete);
        QCOMPARE(browser.model()->rowCount(), 0);
        browser.undoDelete();
        QCOMPARE(browser.model()->rowCount(), 1);
    }

    // Issue: deleting a run that was still training threw its result away; the button is off for
    // it, and a delete from a table older than the store is refused with a notice naming the run.
    void runOfLiveProcessIsNotDeleted() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t id = addRun(store, "training", 8, 2e-4, storage::RunStatus::Interrupted, 3);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        auto* deleteButton = [&]() -> QPushButton* {
            for (QPushButton* b : browser.findChildren<QPushButton*>())
                if (b->text() == "Delete")
                    return b;
            return nullptr;
        }();
        QVERIFY(deleteButton);
        browser.selectRuns({id});
        QVERIFY(deleteButton->isEnabled());
        // Another process (here: this one, as the workbench's own worker) starts it meanwhile.
        store.runs().markStarted(id, "cpu");
        browser.deleteSelected();
        auto* notice = browser.findChild<QLabel*>("runsNotice");
        QVERIFY(notice && notice->text().contains(QString("run #%1 (\"training\") is running in process %2").arg(id).arg(::getpid())));
        QVERIFY(notice->text().contains("Stop it first"));
        browser.commitPendingDeletes();
        QVERIFY(store.runs().get(id).has_value());
        QCOMPARE(browser.model()->rowCount(), 1);
        // The refreshed table knows: the button is off while the run trains, on once it stopped.
        browser.selectRuns({id});
        QVERIFY(!deleteButton->isEnabled());
        store.runs().setStatus(id, storage::RunStatus::Stopped);
        browser.refresh();
        QVERIFY(deleteButton->isEnabled());
        browser.deleteSelected();
        browser.commitPendingDeletes();
        QVERIFY(!store.runs().get(id).has_value());
    }

    // A PEFT export that worked says so, naming the adapter and the folder.
    void adapterExportIsConfirmed() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        storage::NewAdapter n;
        n.task = "chat";
        n.variant = "rslora";
        n.stage = "sft";
        n.rank = 8;
        const auto adapter = addPeftAdapter(store, dir, n);
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        browser.selectAdapter(adapter.id);
        QSignalSpy exported(&browser, &ui::AdaptersBrowser::exported);
        QString error;
        const QString out = dir.filePath("exports/chat_v1");
        QVERIFY2(browser.exportSelected(out, &error), qPrintable(error));
        QCOMPARE(exported.count(), 1);
        const QString said = exported.at(0).at(0).toString();
        QVERIFY2(said.contains(QDir::toNativeSeparators(out)) && said.contains("v1"), qPrintable(said));
    }

    // Release, Make current and Export refuse a version whose files changed since it was recorded,
    // with the store's message.
    void adapterActionsRefuseChangedFiles() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("changed.sqlite").toStdString());
        auto make = [&](const char* content) {
            storage::NewAdapter n;
            n.task = "facts_train";
            storage::AdapterRecord a = store.adapters().create(n);
            QDir().mkpath(QString::fromStdString(a.path));
            for (const char* file : {"adapter_config.json", "adapter_model.safetensors"}) {
                QFile f(QString::fromStdString(a.path) + "/" + file);
                f.open(QIODevice::WriteOnly);
                f.write(content);
            }
            store.adapters().setFiles(a.id, a.path, Sha256::directoryHex(a.path));
            return store.adapters().require(a.id);
        };
        auto v1 = make("one");
        auto v2 = make("two");
        store.adapters().release(v1.id);
        store.adapters().release(v2.id);
        QFile w(QString::fromStdString(v1.path) + "/adapter_model.safetensors");
        QVERIFY(w.open(QIODevice::WriteOnly));
        w.write("overwritten by another run");
        w.close();
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        browser.selectAdapter(v1.id);
        QString error;
        QVERIFY(!browser.rollbackToSelected(&error));
        QVERIFY2(error.contains("adapter facts_train:v1: files under") && error.contains("changed since it was recorded"),
                 qPrintable(error));
        error.clear();
        QVERIFY(!browser.releaseSelected(&error));
        QVERIFY2(error.contains("changed since it was recorded"), qPrintable(error));
        error.clear();
        QVERIFY(!browser.exportSelected(dir.filePath("exported-v1"), &error));
        QVERIFY2(error.contains("changed since it was recorded"), qPrintable(error));
        QVERIFY(!QFileInfo::exists(dir.filePath("exported-v1")));
        QCOMPARE(store.adapters().current("facts_train")->id, v2.id);
    }

    void adapterEvaluationsComparedSideBySide() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("evals.sqlite").toStdString());
        storage::NewAdapter n;
        n.task = "facts";
        const auto v1 = store.adapters().create(n);
        const auto v2 = store.adapters().create(n);
        auto record = [&](int64_t adapter, const std::string& dataset, const std::string& metric, double value) {
            storage::EvaluationRecord e;
            e.adapterId = adapter;
            e.dataset = dataset;
            e.metric = metric;
            e.value = value;
            store.evaluations().record(e);
        };
        record(v1.id, "/data/mc.csv", "mc/accuracy", 0.5);
        record(v1.id, "/data/val.jsonl", "eval/loss", 1.25);
        record(v2.id, "/data/mc.csv", "mc/accuracy", 0.75);
        record(v2.id, "/data/qa.jsonl", "exact_match/accuracy", 0.4);

        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        QTableWidget* t = browser.evaluations();
        browser.selectAdapter(v1.id);
        QCOMPARE(t->columnCount(), 3);
        QCOMPARE(t->rowCount(), 2);
        QCOMPARE(t->horizontalHeaderItem(2)->text(), QString("facts@v1"));
        QCOMPARE(t->item(0, 0)->text(), QString("mc.csv"));
        QCOMPARE(t->item(0, 2)->text(), QString("0.5"));

        browser.selectAdapters({v1.id, v2.id});
        QCOMPARE(t->columnCount(), 5);
        QCOMPARE(t->rowCount(), 3);
        // Sorted by dataset then metric: mc.csv, qa.jsonl, val.jsonl.
        QCOMPARE(t->item(0, 1)->text(), QString("mc/accuracy"));
        QCOMPARE(t->item(0, 2)->text(), QString("0.5"));
        QCOMPARE(t->item(0, 3)->text(), QString("0.75"));
        QCOMPARE(t->item(0, 4)->text(), QString("+0.25"));
        QCOMPARE(t->item(1, 2)->text(), QString("—"));
        QCOMPARE(t->item(1, 3)->text(), QString("0.4"));
        QCOMPARE(t->item(1, 4)->text(), QString());
        QCOMPARE(t->item(2, 2)->text(), QString("1.25"));
        QCOMPARE(t->item(2, 3)->text(), QString("—"));

        // Three versions: a column each (not the first two only), no difference column.
        const auto v3 = store.adapters().create(n);
        record(v3.id, "/data/mc.csv", "mc/accuracy", 0.9);
        browser.refresh();
        browser.selectAdapters({v1.id, v2.id, v3.id});
        QCOMPARE(t->columnCount(), 5);
        QCOMPARE(t->horizontalHeaderItem(4)->text(), QString("facts@v3"));
        QCOMPARE(t->item(0, 2)->text(), QString("0.5"));
        QCOMPARE(t->item(0, 3)->text(), QString("0.75"));
        QCOMPARE(t->item(0, 4)->text(), QString("0.9"));
        QCOMPARE(t->item(1, 4)->text(), QString("—"));
    }

    void adapterVersionsAndActions() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        auto makeAdapter = [&](const std::string& task, const std::string& stage) {
            storage::NewAdapter n;
            n.task = task;
            n.variant = "rslora";
            n.stage = stage;
            n.method = "alpha/sqrt(r)";
            n.rank = 8;
            n.baseModel = {"/models/Qwen2-0.5B", "abcdef0123456789"};
            n.path = dir.filePath(QString::fromStdString(task + "_" + stage)).toStdString();
            QDir().mkpath(QString::fromStdString(n.path));
            QFile f(QString::fromStdString(n.path) + "/adapter_config.json");
            f.open(QIODevice::WriteOnly);
            f.write("{\"peft_type\":\"LORA\"}");
            f.close();
            QFile w(QString::fromStdString(n.path) + "/adapter_model.safetensors");
            w.open(QIODevice::WriteOnly);
            w.write(QByteArray(64, 'x'));
            return store.adapters().create(n);
        };
        auto v1 = makeAdapter("medical", "sft");
        auto v2 = makeAdapter("medical", "dpo");
        makeAdapter("legal", "sft");
        storage::LineageEdge e;
        e.childId = v2.id;
        e.parentId = v1.id;
        e.kind = storage::LineageKind::TrainedFrom;
        store.lineage().add(e);

        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        QCOMPARE(browser.model()->rowCount(), 2); // two tasks
        QModelIndex medical = browser.model()->index(1, 0);
        QCOMPARE(medical.data(ui::AdapterTreeModel::TaskRole).toString(), QString("medical"));
        QCOMPARE(browser.model()->rowCount(medical), 2);
        // Newest first, with its lineage.
        QModelIndex newest = browser.model()->index(0, ui::AdapterTreeModel::TrainedFrom, medical);
        QVERIFY2(newest.data().toString().contains("trained-from v1"), qPrintable(newest.data().toString()));
        // The base model of each version: folder name and fingerprint.
        QCOMPARE(browser.model()->index(0, ui::AdapterTreeModel::Model, medical).data().toString(),
                 QString("Qwen2-0.5B (abcdef01)"));

        browser.selectAdapter(v2.id);
        QVERIFY(browser.details()->toPlainText().contains("adapter_model.safetensors"));
        QString error;
        store.adapters().release(v1.id); // Make current goes back to a released version only
        QVERIFY2(browser.releaseSelected(&error), qPrintable(error));
        QVERIFY(store.adapters().require(v2.id).current);
        browser.selectAdapter(v1.id);
        QVERIFY2(browser.rollbackToSelected(&error), qPrintable(error));
        QVERIFY(store.adapters().require(v1.id).current);
        QVERIFY(!store.adapters().require(v2.id).current);
        browser.selectAdapter(v2.id);
        QVERIFY(browser.archiveSelected(&error));
        QCOMPARE(store.adapters().require(v2.id).status, storage::AdapterStatus::Archived);

        QString out = dir.filePath("exported/medical_v2");
        QVERIFY2(browser.exportSelected(out, &error), qPrintable(error));
        QVERIFY(QFile::exists(out + "/adapter_config.json"));
        QVERIFY(QFile::exists(out + "/adapter_model.safetensors"));
        // Archive is off on an archived version, with the reason.
        QVERIFY(!browser.findChild<QPushButton*>("archiveButton")->isEnabled());
        QVERIFY(browser.findChild<QPushButton*>("archiveButton")->toolTip().contains("archived already"));
        // Exporting again onto an earlier copy is refused unless replacing it was confirmed.
        QVERIFY(!browser.exportSelected(out, &error));
        QVERIFY2(error.contains("holds an earlier adapter copy"), qPrintable(error));
        QFile::remove(out + "/adapter_model.safetensors");
        QVERIFY2(browser.exportSelected(out, &error, true), qPrintable(error));
        QVERIFY(QFile::exists(out + "/adapter_model.safetensors"));
    }

    // Export into a folder the user keeps files in: refused, and nothing there is touched (neither
    // the folder nor a sibling named like a staging folder); no staging folder is left behind.
    void adapterExportNeverDeletesUserFiles() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        storage::NewAdapter n;
        n.task = "facts";
        const auto adapter = addPeftAdapter(store, dir, n);
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        browser.selectAdapter(adapter.id);
        const QString out = dir.filePath("chosen/facts_v1");
        for (const QString& keep : {out + "/notes.txt", out + ".partial/draft.txt"}) {
            QVERIFY(QDir().mkpath(QFileInfo(keep).path()));
            QFile f(keep);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("mine");
        }
        QString error;
        QVERIFY(!browser.exportSelected(out, &error));
        QVERIFY2(error.contains("holds other files (notes.txt)") && error.contains("Nothing was written"), qPrintable(error));
        QVERIFY(QFile::exists(out + "/notes.txt"));
        QVERIFY(!QFile::exists(out + "/adapter_config.json"));
        QVERIFY(QFile::exists(out + ".partial/draft.txt"));
        // An existing empty folder is fine; the sibling stays, and no staging folder is left.
        QVERIFY(QFile::remove(out + "/notes.txt"));
        QVERIFY2(browser.exportSelected(out, &error), qPrintable(error));
        QVERIFY(QFile::exists(out + "/adapter_config.json"));
        QVERIFY(QFile::exists(out + ".partial/draft.txt"));
        const QStringList left = QDir(dir.filePath("chosen")).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
        QCOMPARE(left, (QStringList{"facts_v1", "facts_v1.partial"}));
        // A file named like the target is not replaced either.
        QFile file(dir.filePath("chosen/plain"));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.close();
        QVERIFY(!browser.exportSelected(dir.filePath("chosen/plain"), &error));
        QVERIFY2(error.contains("is a file"), qPrintable(error));
    }

    // Issue: the workbench refreshes the runs table when a run starts or ends; a refresh while a name
    // was being typed closed the editor and threw the typing away. It waits for the edit to end.
    void refreshWaitsForAnEditToEnd() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "first", 8, 2e-4, storage::RunStatus::Finished, 3);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        const QModelIndex name = browser.proxy()->mapFromSource(browser.model()->index(browser.model()->rowOfRun(a), ui::RunTableModel::Name));
        browser.table()->setCurrentIndex(name);
        browser.table()->edit(name);
        auto* editor = qobject_cast<QLineEdit*>(QApplication::focusWidget());
        QVERIFY(editor);
        editor->selectAll();
        QTest::keyClicks(editor, "renamed while training");
        const int64_t b = addRun(store, "second", 8, 2e-4, storage::RunStatus::Finished, 3); // another run ends meanwhile
        browser.refresh();
        QVERIFY(editor->isVisible());
        QCOMPARE(editor->text(), QString("renamed while training"));
        QTest::keyClick(editor, Qt::Key_Return);
        QTRY_COMPARE(store.runs().require(a).name, std::string("renamed while training")); // committed from the event loop
        QTRY_COMPARE(browser.model()->rowCount(), 2); // the refresh that waited
        QVERIFY(browser.model()->rowOfRun(b) >= 0);
    }

    // Issue: an empty store, or a filter that matches nothing ("[(*" typed by mistake), left a blank
    // table without a word; a hint over the table says which it is.
    void emptyTableSaysWhy() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        ui::RunsBrowser browser;
        browser.setStore(&store);
        QVERIFY(!browser.emptyHint()->isHidden());
        QVERIFY2(browser.emptyHint()->text().startsWith("No runs yet"), qPrintable(browser.emptyHint()->text()));
        addRun(store, "first", 8, 2e-4, storage::RunStatus::Finished, 3);
        browser.refresh();
        QVERIFY(browser.emptyHint()->isHidden());
        browser.filter()->setText("[(*\\");
        QCOMPARE(browser.proxy()->rowCount(), 0);
        QVERIFY(!browser.emptyHint()->isHidden());
        QCOMPARE(browser.emptyHint()->text(), QString("No run matches \"[(*\\\" (the filter looks for that text in every column). "
                                                      "Clear the filter to see the one run."));
        browser.filter()->clear();
        QVERIFY(browser.emptyHint()->isHidden());
    }

    // The runs table has a context menu: it acts on the row it was opened on, with the buttons'
    // actions and their states.
    void runsContextMenu() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t a = addRun(store, "first", 8, 2e-4, storage::RunStatus::Finished, 3);
        const int64_t b = addRun(store, "stopped", 8, 2e-4, storage::RunStatus::Stopped, 3);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        browser.selectRuns({a});
        const QModelIndex rowB = browser.proxy()->mapFromSource(browser.model()->index(browser.model()->rowOfRun(b), ui::RunTableModel::Status));
        std::unique_ptr<QMenu> menu(browser.contextMenuFor(rowB));
        QCOMPARE(browser.selectedRunIds(), QList<qint64>({b}));
        QMap<QString, QAction*> actions;
        for (QAction* act : menu->actions())
            if (!act->isSeparator())
                actions[act->text()] = act;
        QCOMPARE(QStringList(actions.keys()), (QStringList{"Delete", "Edit notes", "Edit tags", "Open curves", "Rename", "Resume"}));
        QVERIFY(actions["Resume"]->isEnabled());
        QSignalSpy opened(&browser, &ui::RunsBrowser::openRunRequested);
        actions["Open curves"]->trigger();
        QCOMPARE(opened.size(), 1);
        QCOMPARE(opened[0][0].toLongLong(), qlonglong(b));
        actions["Delete"]->trigger();
        QCOMPARE(browser.model()->rowCount(), 1);
        browser.undoDelete();
        // Two rows selected: the edits of one cell are off.
        browser.selectRuns({a, b});
        const QModelIndex rowA = browser.proxy()->mapFromSource(browser.model()->index(browser.model()->rowOfRun(a), 0));
        menu.reset(browser.contextMenuFor(rowA));
        QCOMPARE(browser.selectedRunIds(), QList<qint64>({a, b}));
        for (QAction* act : menu->actions())
            if (act->text() == "Rename" || act->text() == "Resume")
                QVERIFY(!act->isEnabled());
    }

    // Issue: a queued run showed its creation time as its start; it shows "queued" until it starts.
    void queuedRunHasNoStartTime() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const int64_t queued = addRun(store, "waiting", 8, 2e-4, storage::RunStatus::Queued, 0);
        const int64_t never = addRun(store, "not started", 8, 2e-4, storage::RunStatus::Interrupted, 0);
        const int64_t ran = addRun(store, "ran", 8, 2e-4, storage::RunStatus::Finished, 3);
        storage::RunRecord r = store.runs().require(ran);
        r.startTime = 1.7e9;
        store.runs().update(r);
        ui::RunsBrowser browser;
        browser.setStore(&store);
        auto started = [&](int64_t id) { return browser.model()->index(browser.model()->rowOfRun(id), ui::RunTableModel::Started); };
        QCOMPARE(started(queued).data().toString(), QString("queued"));
        QVERIFY(started(queued).data(Qt::ToolTipRole).toString().startsWith("not started yet; created "));
        QCOMPARE(started(never).data().toString(), QString());
        QCOMPARE(started(ran).data().toString(), QDateTime::fromSecsSinceEpoch(1700000000).toString("yyyy-MM-dd HH:mm"));
    }

    // Issue: archiving the version a task serves happened without a word; it asks, naming the version
    // that takes over (or that none will), and a "no" changes nothing.
    void archivingTheCurrentVersionAsks() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "chat", "one");
        const auto v2 = addHashedVersion(store, "chat", "two");
        store.adapters().release(v1.id);
        store.adapters().release(v2.id);
        ui::AdaptersBrowser browser;
        Answers answers;
        browser.setDialogs(answers.dialogs());
        browser.setStore(&store);
        browser.selectAdapter(v2.id);
        auto button = [&](const QString& text) {
            for (QPushButton* b : browser.findChildren<QPushButton*>())
                if (b->text() == text)
                    return b;
            return static_cast<QPushButton*>(nullptr);
        };
        // Release and Make current would do nothing on the version the task serves already.
        QVERIFY(!button("Release")->isEnabled());
        QVERIFY(!button("Make current")->isEnabled());
        QVERIFY(button("Make current")->toolTip().contains("current one already"));
        browser.selectAdapter(v1.id);
        QVERIFY(button("Release")->isEnabled());
        QVERIFY(button("Make current")->isEnabled());
        browser.selectAdapter(v2.id);
        auto* archive = browser.findChild<QPushButton*>("archiveButton");
        answers.yes = false;
        archive->click();
        QCOMPARE(answers.asked.size(), 1);
        QVERIFY2(answers.asked[0].contains(QString("chat v2 (\"%1\") is the current version of task chat; chat v1 (\"%2\") becomes current")
                                               .arg(QString::fromStdString(v2.name), QString::fromStdString(v1.name))),
                 qPrintable(answers.asked[0]));
        QCOMPARE(store.adapters().require(v2.id).status, storage::AdapterStatus::Released);
        answers.yes = true;
        archive->click();
        QCOMPARE(store.adapters().require(v2.id).status, storage::AdapterStatus::Archived);
        QCOMPARE(store.adapters().current("chat")->id, v1.id);
        // The last released one: the task will serve nothing.
        browser.selectAdapter(v1.id);
        archive->click();
        QVERIFY2(answers.asked.last().contains("no current version"), qPrintable(answers.asked.last()));
        QVERIFY(!store.adapters().current("chat"));
        // A version that is not current is archived without a question; a draft cannot be made current.
        const auto v3 = addHashedVersion(store, "chat", "three");
        browser.refresh();
        browser.selectAdapter(v3.id);
        QVERIFY(!button("Make current")->isEnabled());
        QVERIFY(button("Make current")->toolTip().contains("release this one instead"));
        const qsizetype before = answers.asked.size();
        archive->click();
        QCOMPARE(answers.asked.size(), before);
        QCOMPARE(store.adapters().require(v3.id).status, storage::AdapterStatus::Archived);
        QVERIFY(answers.warned.isEmpty());
    }

    // Rename a version or a task from the context menu or F2: an existing name, an empty one or one
    // with a line break is refused, with the reason, and changes nothing.
    // With two versions selected, Release released the row clicked last and dropped the other from the
    // selection. The one-version actions wait for one version; Fuse, Export merged model and Delete
    // take them all.
    void oneVersionActionsWaitForOneVersion() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "chat", "one");
        const auto v2 = addHashedVersion(store, "chat", "two");
        store.adapters().release(v1.id);
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        auto button = [&](const QString& text) {
            for (QPushButton* b : browser.findChildren<QPushButton*>())
                if (b->text() == text)
                    return b;
            return static_cast<QPushButton*>(nullptr);
        };
        const QStringList single = {"Release", "Make current", "Archive", "Open folder", "Export PEFT copy…"};
        browser.selectAdapters({v1.id, v2.id});
        QCOMPARE(browser.selectedAdapterIds().size(), 2);
        for (const QString& text : single) {
            QVERIFY2(button(text), qPrintable(text));
            QVERIFY2(!button(text)->isEnabled(), qPrintable(text));
            QVERIFY2(button(text)->toolTip().startsWith("Several versions are selected: select one to"), qPrintable(button(text)->toolTip()));
        }
        QVERIFY(button("Fuse…")->isEnabled());
        QVERIFY(button("Export merged model…")->isEnabled());
        QVERIFY(browser.deleteAction()->isEnabled());
        QCOMPARE(browser.deleteAction()->text(), QString("Delete versions…"));
        QVERIFY(!browser.renameAction()->isEnabled());
        QVERIFY(!browser.duplicateAction()->isEnabled());
        // Called anyway (a shortcut, a test): refused, nothing changes.
        QString error;
        QVERIFY(!browser.releaseSelected(&error));
        QVERIFY2(error.contains("Several versions are selected"), qPrintable(error));
        QVERIFY(!browser.archiveSelected(&error));
        QVERIFY(!browser.exportSelected(dir.filePath("out"), &error));
        QVERIFY(!QFileInfo::exists(dir.filePath("out")));
        QVERIFY(store.adapters().require(v1.id).current);
        QCOMPARE(store.adapters().require(v2.id).status, storage::AdapterStatus::Draft);
        QCOMPARE(browser.selectedAdapterIds().size(), 2);
        // One again: the actions come back.
        browser.selectAdapter(v2.id);
        QCOMPARE(browser.selectedAdapterIds().size(), 1);
        for (const QString& text : {QString("Release"), QString("Archive"), QString("Open folder"), QString("Export PEFT copy…")})
            QVERIFY2(button(text)->isEnabled(), qPrintable(text));
        QVERIFY(!button("Make current")->isEnabled()); // a draft: release it instead
        QVERIFY(button("Make current")->toolTip().contains("release this one instead"));
        QVERIFY(browser.renameAction()->isEnabled());
        QVERIFY2(browser.releaseSelected(&error), qPrintable(error));
        QVERIFY(store.adapters().require(v2.id).current);
    }

    void adapterRenameRefusesTakenNames() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "medical", "one");
        const auto v2 = addHashedVersion(store, "medical", "two");
        addHashedVersion(store, "legal", "three");
        ui::AdaptersBrowser browser;
        Answers answers;
        browser.setDialogs(answers.dialogs());
        browser.setStore(&store);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.selectAdapter(v2.id);
        answers.text = QString::fromStdString(v1.name);
        browser.renameCurrent();
        QVERIFY2(answers.warned.size() == 1 && answers.warned[0].contains(QString("medical v1 (\"%1\") has that name already").arg(QString::fromStdString(v1.name))),
                 qPrintable(answers.warned.join('|')));
        QCOMPARE(store.adapters().require(v2.id).name, v2.name);
        for (const QString& bad : {QString("   "), QString("two\nlines")}) {
            answers.text = bad;
            browser.renameCurrent();
        }
        QCOMPARE(answers.warned.size(), 3);
        QVERIFY(answers.warned[1].contains("cannot be empty"));
        QVERIFY(answers.warned[2].contains("line break"));
        QCOMPARE(store.adapters().require(v2.id).name, v2.name);
        // F2 in the tree asks too; a cancel changes nothing, an answer renames (trimmed).
        answers.text = std::nullopt;
        browser.tree()->setFocus();
        QTRY_VERIFY(browser.tree()->hasFocus());
        QTest::keyClick(browser.tree(), Qt::Key_F2);
        QCOMPARE(answers.asked.size(), 4);
        QCOMPARE(store.adapters().require(v2.id).name, v2.name);
        answers.text = "  medical best ";
        QTest::keyClick(browser.tree(), Qt::Key_F2);
        QCOMPARE(store.adapters().require(v2.id).name, std::string("medical best"));
        QCOMPARE(browser.selectedAdapterId(), qint64(v2.id));

        // A task row renames the task: not to a task that exists.
        const QModelIndex legal = browser.model()->index(0, 0);
        QCOMPARE(legal.data(ui::AdapterTreeModel::TaskRole).toString(), QString("legal"));
        const QModelIndex medical = browser.model()->index(1, 0);
        browser.tree()->setCurrentIndex(medical);
        QCOMPARE(browser.selectedTask(), QString("medical"));
        std::unique_ptr<QMenu> menu(browser.contextMenuFor(medical));
        QStringList texts;
        for (QAction* a : menu->actions())
            texts << a->text();
        QCOMPARE(texts, (QStringList{"Rename task…", "Duplicate task…", "Delete task…"}));
        answers.text = "legal";
        browser.renameCurrent();
        QVERIFY2(answers.warned.last().contains("cannot rename task \"medical\" to \"legal\": a task of that name exists"), qPrintable(answers.warned.last()));
        QCOMPARE(store.adapters().require(v1.id).task, std::string("medical"));
        answers.text = "clinic";
        browser.renameCurrent();
        QCOMPARE(store.adapters().require(v1.id).task, std::string("clinic"));
        QCOMPARE(store.adapters().require(v2.id).task, std::string("clinic"));
        QCOMPARE(store.adapters().require(v2.id).version, 2);
        QCOMPARE(browser.selectedTask(), QString("clinic"));
        QCOMPARE(browser.model()->rowCount(browser.tree()->currentIndex()), 2);
    }

    // Duplicate copies the files into a new draft version linked to the original; a version whose
    // files changed is refused and leaves no folder behind.
    void adapterDuplicate() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "medical", "one");
        store.adapters().setTag(v1.id, "keep", "yes");
        ui::AdaptersBrowser browser;
        Answers answers;
        browser.setDialogs(answers.dialogs());
        browser.setStore(&store);
        QSignalSpy changed(&browser, &ui::AdaptersBrowser::changed);
        browser.selectAdapter(v1.id);
        std::unique_ptr<QMenu> menu(browser.contextMenuFor(browser.tree()->currentIndex()));
        QStringList texts;
        for (QAction* a : menu->actions())
            if (!a->isSeparator())
                texts << a->text();
        QCOMPARE(texts, (QStringList{"Release", "Make current", "Archive…", "Rename…", "Duplicate…", "Delete…", "Open folder",
                                     "Export PEFT copy…", "Fuse…", "Export merged model…"}));
        answers.text = "medical";
        browser.duplicateCurrent();
        QVERIFY2(answers.warned.isEmpty(), qPrintable(answers.warned.join('|')));
        const qint64 copyId = browser.selectedAdapterId();
        QVERIFY(copyId != v1.id);
        const auto copy = store.adapters().require(copyId);
        QCOMPARE(copy.version, 2);
        QCOMPARE(copy.status, storage::AdapterStatus::Draft);
        QCOMPARE(copy.sha256, v1.sha256);
        QVERIFY(copy.path != v1.path);
        QVERIFY(QFile::exists(QString::fromStdString(copy.path) + "/adapter_model.safetensors"));
        QCOMPARE(store.adapters().tags(copyId), store.adapters().tags(v1.id));
        const auto parents = store.lineage().parents(copyId);
        QCOMPARE(parents.size(), size_t(1));
        QCOMPARE(parents[0].parentId, v1.id);
        QCOMPARE(parents[0].kind, storage::LineageKind::ConvertedFrom);
        QCOMPARE(changed.size(), 1);
        QVERIFY(changed[0][0].toString().contains("Duplicated medical v1"));
        // Into another task.
        answers.text = "surgery";
        browser.selectAdapter(v1.id);
        browser.duplicateCurrent();
        QCOMPARE(store.adapters().require(browser.selectedAdapterId()).task, std::string("surgery"));
        // Changed files: refused, nothing recorded, no folder left under the adapter root.
        QFile w(QString::fromStdString(v1.path) + "/adapter_model.safetensors");
        QVERIFY(w.open(QIODevice::WriteOnly));
        w.write("changed");
        w.close();
        const auto foldersBefore = QDir(QString::fromStdString(store.adapterRoot().string()) + "/medical").entryList(QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden);
        answers.text = "medical";
        browser.selectAdapter(v1.id);
        browser.duplicateCurrent();
        QVERIFY2(answers.warned.size() == 1 && answers.warned[0].contains("changed since it was recorded"), qPrintable(answers.warned.join('|')));
        QCOMPARE(store.adapters().nextVersion("medical"), 3);
        QCOMPARE(QDir(QString::fromStdString(store.adapterRoot().string()) + "/medical").entryList(QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden), foldersBefore);
    }

    // On a task row, Duplicate (context menu, Ctrl+D) asks for a new task name and copies every version
    // into it; a taken or unusable name is refused, naming it, and nothing is copied.
    void adapterDuplicateTask() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "medical", "one");
        const auto v2 = addHashedVersion(store, "medical", "two");
        store.adapters().release(v2.id);
        addHashedVersion(store, "legal", "three");
        ui::AdaptersBrowser browser;
        Answers answers;
        browser.setDialogs(answers.dialogs());
        browser.setStore(&store);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        QSignalSpy changed(&browser, &ui::AdaptersBrowser::changed);
        const QModelIndex medical = browser.model()->index(1, 0);
        QCOMPARE(medical.data(ui::AdapterTreeModel::TaskRole).toString(), QString("medical"));
        std::unique_ptr<QMenu> menu(browser.contextMenuFor(medical));
        QStringList texts;
        for (QAction* a : menu->actions())
            texts << a->text() + (a->isEnabled() ? "" : " (disabled)");
        QCOMPARE(texts, (QStringList{"Rename task…", "Duplicate task…", "Delete task…"}));
        QCOMPARE(browser.selectedTask(), QString("medical"));
        browser.tree()->setFocus();
        QTRY_VERIFY(browser.tree()->hasFocus());

        const QStringList refused[] = {{"legal", "cannot duplicate task \"medical\" as \"legal\": a task of that name exists (1 version"},
                                       {"medical", "that is its own name"},
                                       {"two\nlines", "line break"},
                                       {"   ", "cannot be empty"}};
        for (const QStringList& r : refused) {
            answers.text = r[0];
            QTest::keyClick(browser.tree(), Qt::Key_D, Qt::ControlModifier);
            QVERIFY2(answers.warned.last().contains(r[1]), qPrintable(answers.warned.join('|')));
        }
        QCOMPARE(answers.warned.size(), 4);
        QVERIFY2(answers.asked.last().contains("every version of medical"), qPrintable(answers.asked.last()));
        answers.text = std::nullopt; // cancelled
        QTest::keyClick(browser.tree(), Qt::Key_D, Qt::ControlModifier);
        QCOMPARE(answers.asked.size(), 5);
        QCOMPARE(store.adapters().tasks().size(), size_t(2));
        QCOMPARE(changed.size(), 0);

        answers.text = " clinic ";
        browser.tree()->setCurrentIndex(browser.model()->index(1, 0));
        QTest::keyClick(browser.tree(), Qt::Key_D, Qt::ControlModifier);
        QVERIFY2(answers.warned.size() == 4, qPrintable(answers.warned.join('|')));
        QCOMPARE(browser.selectedTask(), QString("clinic"));
        QCOMPARE(browser.model()->rowCount(browser.tree()->currentIndex()), 2);
        QCOMPARE(changed.size(), 1);
        QCOMPARE(changed[0][0].toString(), QString("Duplicated task medical as clinic (2 versions)"));
        storage::AdapterFilter f;
        f.task = "clinic";
        auto copies = store.adapters().list(f);
        std::sort(copies.begin(), copies.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
        QCOMPARE(copies.size(), size_t(2));
        QCOMPARE(copies[0].sha256, v1.sha256);
        QCOMPARE(copies[1].sha256, v2.sha256);
        QCOMPARE(copies[1].version, 2);
        QVERIFY(copies[1].current);
        QVERIFY(copies[0].path != v1.path);
        QVERIFY(QFile::exists(QString::fromStdString(copies[1].path) + "/adapter_model.safetensors"));
        f.task = "medical";
        QCOMPARE(store.adapters().list(f).size(), size_t(2)); // the original stays
    }

    // Delete asks first, saying which version becomes current, what was made from it and that the
    // files stay; a "no" changes nothing; a version a live run stacks on is refused; the tree no
    // longer lists a deleted version, even one a live version was made from.
    void adapterDeleteAsksAndRefusesVersionsInUse() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        const auto v1 = addHashedVersion(store, "medical", "one");
        const auto v2 = addHashedVersion(store, "medical", "two");
        store.adapters().release(v1.id);
        store.adapters().release(v2.id);
        const qint64 copyId = storage::duplicateAdapterVersion(store, v2.id).record.id; // v3, made from v2
        ui::AdaptersBrowser browser;
        Answers answers;
        browser.setDialogs(answers.dialogs());
        browser.setStore(&store);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.selectAdapter(v2.id);
        answers.yes = false;
        browser.tree()->setFocus();
        QTRY_VERIFY(browser.tree()->hasFocus());
        QTest::keyClick(browser.tree(), Qt::Key_Delete);
        QCOMPARE(answers.asked.size(), 1);
        const QString q = answers.asked[0];
        QVERIFY2(q.contains(QString("Delete medical v2 (\"%1\")?").arg(QString::fromStdString(v2.name))), qPrintable(q));
        QVERIFY2(q.contains(QString("medical v1 (\"%1\") becomes current").arg(QString::fromStdString(v1.name))), qPrintable(q));
        QVERIFY2(q.contains("Made from it") && q.contains("converted-from"), qPrintable(q));
        QVERIFY2(q.contains("Their files stay") && q.contains(QDir::toNativeSeparators(QString::fromStdString(v2.path))), qPrintable(q));
        QVERIFY(!store.adapters().require(v2.id).deletedAt);

        // A run this process trains stacks on v2: refused, naming the run.
        engine::TrainConfig c;
        c.adapter.stackOn = {v2.path};
        storage::RunRecord run;
        run.name = "stage two";
        run.status = storage::RunStatus::Queued;
        run.configJson = c.toJson().dump();
        const int64_t runId = store.runs().create(run);
        store.runs().markStarted(runId, "cpu");
        answers.yes = true;
        QTest::keyClick(browser.tree(), Qt::Key_Delete);
        QCOMPARE(answers.asked.size(), 1); // not asked: refused first
        QVERIFY2(answers.warned.size() == 1 && answers.warned[0].contains(QString("run #%1 (\"stage two\") is running").arg(runId))
                     && answers.warned[0].contains("stacks on it"),
                 qPrintable(answers.warned.join('|')));
        QVERIFY(!store.adapters().require(v2.id).deletedAt);
        store.runs().setStatus(runId, storage::RunStatus::Stopped);

        QTest::keyClick(browser.tree(), Qt::Key_Delete);
        QVERIFY(store.adapters().require(v2.id).deletedAt);
        QCOMPARE(store.adapters().current("medical")->id, v1.id);
        QVERIFY(QFile::exists(QString::fromStdString(v2.path) + "/adapter_model.safetensors")); // files stay
        // The copy made from v2 lives on; v2 is not listed again as its parent.
        const QModelIndex medical = browser.model()->index(0, 0);
        QCOMPARE(browser.model()->rowCount(medical), 2);
        QVERIFY(!browser.model()->indexOfAdapter(v2.id).isValid());
        QVERIFY(browser.model()->indexOfAdapter(copyId).isValid());

        // The whole task, from its row.
        browser.tree()->setCurrentIndex(medical);
        QTest::keyClick(browser.tree(), Qt::Key_Delete);
        QVERIFY2(answers.asked.last().contains("Delete task medical with its 2 versions?"), qPrintable(answers.asked.last()));
        QVERIFY(answers.asked.last().contains("no current version"));
        QVERIFY(store.adapters().require(v1.id).deletedAt);
        QVERIFY(store.adapters().require(copyId).deletedAt);
        QCOMPARE(browser.model()->rowCount(), 0);
    }

    // Issue: Export PEFT copy wrote to <chosen folder>/<adapter name>, so a version renamed "../x" or
    // "a/b" went outside the chosen folder or into a nested one; the name becomes one folder inside it.
    void exportFolderStaysInsideTheChosenFolder() {
        QCOMPARE(ui::PeftCopy::folderName("chat_rslora_v1_20260101"), QString("chat_rslora_v1_20260101"));
        QCOMPARE(ui::PeftCopy::folderName("../../etc"), QString("___.._etc"));
        QCOMPARE(ui::PeftCopy::folderName("a/b\\c"), QString("a_b_c"));
        QCOMPARE(ui::PeftCopy::folderName(".hidden"), QString("_hidden"));
        QCOMPARE(ui::PeftCopy::folderName(".."), QString("__"));
        QCOMPARE(ui::PeftCopy::folderName("  "), QString("adapter"));
        const QDir chosen("/tmp/exports");
        for (const QString& name : {QString("../x"), QString("a/b"), QString(".."), QString("ok name")})
            QCOMPARE(QFileInfo(chosen.filePath(ui::PeftCopy::folderName(name))).absolutePath(), chosen.absolutePath());
    }

    // No versions: the details say how to get one.
    // The filter box keeps the tasks and versions whose name contains the text (any case), says why
    // nothing is left, and keeps the selection it does not hide; the headers sort each task's versions.
    void adapterTreeFilterAndSort() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("w.sqlite").toStdString());
        auto add = [&](const std::string& task, const std::string& name, int64_t rank) {
            storage::NewAdapter n;
            n.task = task;
            n.name = name;
            n.rank = rank;
            n.path = dir.filePath(QString::fromStdString(name)).toStdString();
            return store.adapters().create(n).id;
        };
        const qint64 med1 = add("medical", "med-base", 8), med2 = add("medical", "med-Long", 4), med3 = add("medical", "med-dpo", 16);
        add("legal", "legal-sft", 8);
        add("Chat", "assistant", 2);
        ui::AdaptersBrowser browser;
        browser.resize(1200, 600);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.setStore(&store);
        ui::AdapterTreeModel* model = browser.model();
        auto tasks = [model] {
            QStringList names;
            for (int r = 0; r < model->rowCount(); ++r)
                names << model->index(r, 0).data(ui::AdapterTreeModel::TaskRole).toString();
            return names;
        };
        auto versionsOf = [model](int row, int column) {
            QStringList cells;
            const QModelIndex task = model->index(row, 0);
            for (int r = 0; r < model->rowCount(task); ++r)
                cells << model->index(r, column, task).data().toString();
            return cells;
        };
        // Tasks by name (any case), versions newest first.
        QCOMPARE(tasks(), (QStringList{"Chat", "legal", "medical"}));
        QCOMPARE(versionsOf(2, ui::AdapterTreeModel::Version), (QStringList{"v3", "v2", "v1"}));
        QVERIFY(browser.filterNote()->text().isEmpty());

        // A version's name, any case: only that version, still selected.
        browser.selectAdapter(med2);
        QTest::keyClicks(browser.filterEdit(), "LONG");
        QCOMPARE(tasks(), QStringList{"medical"});
        QCOMPARE(versionsOf(0, ui::AdapterTreeModel::Name), QStringList{"med-Long"});
        QCOMPARE(model->index(0, ui::AdapterTreeModel::Version).data().toString(), QString("1 of 3 versions"));
        QCOMPARE(browser.selectedAdapterId(), med2);
        QCOMPARE(browser.filterNote()->text(), QString("1 of 5 versions in 1 of 3 tasks"));
        // A task's name: all its versions.
        browser.filterEdit()->setText(" Legal ");
        QCOMPARE(tasks(), QStringList{"legal"});
        QCOMPARE(versionsOf(0, ui::AdapterTreeModel::Name), QStringList{"legal-sft"});
        QCOMPARE(browser.selectedAdapterId(), qint64(0));
        // Nothing matches: said beside the box and in the details.
        browser.filterEdit()->setText("zzz");
        QCOMPARE(model->rowCount(), 0);
        QVERIFY2(browser.filterNote()->text().contains("No task or version name contains “zzz”"), qPrintable(browser.filterNote()->text()));
        QVERIFY2(browser.filterNote()->text().contains("(5 versions in 3 tasks hidden)"), qPrintable(browser.filterNote()->text()));
        QVERIFY2(browser.details()->toPlainText().contains("Nothing matches “zzz”"), qPrintable(browser.details()->toPlainText()));
        QVERIFY(!browser.details()->toPlainText().contains("No adapter versions yet"));
        // Esc in the box clears it.
        browser.filterEdit()->setFocus();
        QTRY_VERIFY(browser.filterEdit()->hasFocus());
        QTest::keyClick(browser.filterEdit(), Qt::Key_Escape);
        QCOMPARE(browser.filterEdit()->text(), QString());
        QCOMPARE(tasks(), (QStringList{"Chat", "legal", "medical"}));
        QVERIFY(browser.filterNote()->text().isEmpty());
        // A version the filter hides is shown when something selects it (a lineage click).
        browser.filterEdit()->setText("legal");
        browser.selectAdapter(med1);
        QCOMPARE(browser.filterEdit()->text(), QString());
        QCOMPARE(browser.selectedAdapterId(), med1);

        // A click on a header sorts the versions by it (ascending, then descending); the selection stays.
        browser.selectAdapter(med3);
        QHeaderView* header = browser.tree()->header();
        auto clickHeader = [header](int column) {
            QTest::mouseClick(header->viewport(), Qt::LeftButton, {},
                              QPoint(header->sectionViewportPosition(column) + header->sectionSize(column) / 2, header->height() / 2));
        };
        clickHeader(ui::AdapterTreeModel::Rank);
        QCOMPARE(versionsOf(2, ui::AdapterTreeModel::Rank), (QStringList{"4", "8", "16"}));
        QCOMPARE(browser.selectedAdapterId(), med3);
        QCOMPARE(browser.tree()->currentIndex().row(), 2);
        clickHeader(ui::AdapterTreeModel::Rank);
        QCOMPARE(versionsOf(2, ui::AdapterTreeModel::Rank), (QStringList{"16", "8", "4"}));
        QCOMPARE(browser.tree()->currentIndex().row(), 0);
        QCOMPARE(browser.selectedAdapterId(), med3);
        // By name: the tasks follow too.
        clickHeader(ui::AdapterTreeModel::Name);
        QCOMPARE(tasks(), (QStringList{"Chat", "legal", "medical"}));
        QCOMPARE(versionsOf(2, ui::AdapterTreeModel::Name), (QStringList{"med-base", "med-dpo", "med-Long"}));
        clickHeader(ui::AdapterTreeModel::Name);
        QCOMPARE(tasks(), (QStringList{"medical", "legal", "Chat"}));
        // A refresh keeps the filter and the order.
        browser.filterEdit()->setText("med-");
        browser.refresh();
        QCOMPARE(tasks(), QStringList{"medical"});
        QCOMPARE(versionsOf(0, ui::AdapterTreeModel::Name), (QStringList{"med-Long", "med-dpo", "med-base"}));
    }

    void adaptersViewWithoutVersionsSaysHowToGetOne() {
        QTemporaryDir dir;
        storage::Store store(dir.filePath("none.sqlite").toStdString());
        ui::AdaptersBrowser browser;
        browser.setStore(&store);
        QVERIFY2(browser.details()->toPlainText().contains("No adapter versions yet"), qPrintable(browser.details()->toPlainText()));
    }
};

QTEST_MAIN(BrowsersTest)
#include "BrowsersTest.moc"
