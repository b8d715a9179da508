// The sweep dialog on its own: rows read as `--vary` reads them, grid or list, the live run count,
// and problems named with their key and value.
#include "ui/SweepDialog.h"
#include "ui/SweepResultsView.h"

#include "common/Error.h"

#include "LegendLayout.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTableWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace rslora;
using ui::SweepDialog;

class SweepDialogTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void gridOfTwoKeysTimesSeeds() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8,16");
        d.setAxis(1, "adapter.init", "lora,spectral");
        d.setSeeds(2);
        const engine::SweepSpec spec = d.spec();
        QCOMPARE(int(spec.axes.size()), 2);
        QCOMPARE(spec.axes[0].key.dotted(), std::string("adapter.r"));
        QCOMPARE(spec.axes[0].values[2].get<int>(), 16);
        QCOMPARE(spec.axes[1].values[1].get<std::string>(), std::string("spectral"));
        QCOMPARE(spec.combinationCount(), 6);
        QCOMPARE(spec.seedCount(), 2);
        QVERIFY(d.queueButton()->isEnabled());
        QVERIFY2(d.summaryLabel()->text().startsWith("12 runs: 6 combination(s) × 2 seed(s)"), qPrintable(d.summaryLabel()->text()));
    }

    // Two rows of one key are refused by row: the first row's values were dropped silently before.
    void aKeyInTwoRowsIsRefusedNamingTheRows() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8");
        d.setAxis(1, "adapter.r", "16");
        d.setSeeds(3);
        QVERIFY(!d.queueButton()->isEnabled());
        const QString text = d.summaryLabel()->text();
        QVERIFY2(text.contains("adapter.r is varied twice (rows 1 and 2)"), qPrintable(text));
        QVERIFY_THROWS_EXCEPTION(Error, d.spec());
        d.setAxis(1, "adapter.lora_alpha", "16");
        QVERIFY2(d.queueButton()->isEnabled(), qPrintable(d.summaryLabel()->text()));
        QVERIFY2(d.summaryLabel()->text().startsWith("6 runs: 2 combination(s) × 3 seed(s)"), qPrintable(d.summaryLabel()->text()));
    }

    // A seed count the box cannot take stays as typed and is the dialog's problem, Queue sweep off: the
    // box dropped the key past its range (5000 seeds became 500) without a word.
    void seedsOutOfRangeAreRefused() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8");
        QSpinBox* seeds = d.seedsBox();
        seeds->selectAll();
        QTest::keyClicks(seeds, "5000");
        QTest::keyClick(seeds, Qt::Key_Enter);
        QCOMPARE(seeds->text(), QString("5000"));
        QSignalSpy queued(&d, &SweepDialog::queueRequested);
        d.queueButton()->click();
        QCOMPARE(queued.count(), 0);
        QVERIFY(!d.queueButton()->isEnabled());
        QCOMPARE(d.summaryLabel()->text(), QString("Seeds: '5000' is out of range: enter a whole number from 1 to 1000"));
        seeds->selectAll();
        QTest::keyClicks(seeds, "5");
        QTest::keyClick(seeds, Qt::Key_Enter);
        QTRY_VERIFY2(d.queueButton()->isEnabled(), qPrintable(d.summaryLabel()->text()));
        d.queueButton()->click();
        QCOMPARE(queued.count(), 1);
        QCOMPARE(d.spec().seedCount(), 5);
    }

    void listPairsTheIthValues() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8");
        d.setAxis(1, "adapter.lora_alpha", "8,16");
        d.setListMode(true);
        d.setSeeds(1);
        const engine::SweepSpec spec = d.spec();
        QVERIFY(spec.axes.empty());
        QCOMPARE(int(spec.combinations.size()), 2);
        QCOMPARE(spec.combinations[1][0].second.get<int>(), 8);
        QCOMPARE(spec.combinations[1][1].first, std::string("adapter.lora_alpha"));
        QCOMPARE(spec.combinations[1][1].second.get<int>(), 16);
        QVERIFY(d.summaryLabel()->text().startsWith("2 runs"));
    }

    void bracketedListIsOneValue() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.target_modules", "[q_proj,v_proj],[q_proj]");
        const engine::SweepSpec spec = d.spec();
        QCOMPARE(int(spec.axes[0].values.size()), 2);
        QVERIFY(spec.axes[0].values[0].is_array());
        QCOMPARE(spec.axes[0].values[0][1].get<std::string>(), std::string("v_proj"));
    }

    void problemsNameTheKeyAndValue() {
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8,16");
        d.setAxis(1, "adapter.lora_alpha", "8,16");
        d.setListMode(true);
        QVERIFY(!d.queueButton()->isEnabled());
        QVERIFY2(d.summaryLabel()->text().contains("adapter.r has 3 values, adapter.lora_alpha has 2"), qPrintable(d.summaryLabel()->text()));
        d.setListMode(false);
        d.setAxis(1, "adapter.lora_alpha", "");
        QVERIFY(d.summaryLabel()->text().contains("adapter.lora_alpha: no values"));
        // A value problem names the row, not the command line's --vary.
        d.setAxis(1, "adapter.lora_alpha", "8,,16");
        QVERIFY2(d.summaryLabel()->text().contains("row 2: adapter.lora_alpha: an empty value in '8,,16'"),
                 qPrintable(d.summaryLabel()->text()));
        QVERIFY(!d.summaryLabel()->text().contains("--vary"));
        d.setAxis(1, "nodot", "1,2");
        QVERIFY2(d.summaryLabel()->text().contains("nodot"), qPrintable(d.summaryLabel()->text()));
        d.setAxis(1, "", "");
        // What the validator throws is shown as it is, and blocks queueing.
        d.setValidator([](const engine::SweepSpec& spec) -> int {
            if (spec.axes[0].values[0].get<int>() == 4)
                throw Error("sweep combination adapter.r=4 (seed 42): adapter.r: expected 8 or more, found 4");
            return 3;
        });
        QVERIFY(d.summaryLabel()->text().contains("adapter.r=4"));
        QVERIFY(!d.queueButton()->isEnabled());
        d.setAxis(0, "adapter.r", "8,16,32");
        QVERIFY(d.queueButton()->isEnabled());
        QVERIFY(d.summaryLabel()->text().startsWith("3 runs"));
    }

    // Add key puts the cursor in the new row's key, ready to type (it stayed on the button).
    void addKeyFocusesTheNewRow() {
        SweepDialog d("s");
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        d.activateWindow();
        auto* add = d.findChild<QPushButton*>("addKey");
        QVERIFY(add);
        add->click();
        QCOMPARE(d.axesTable()->rowCount(), 2);
        QCOMPARE(d.axesTable()->currentRow(), 1);
        QWidget* key = d.axesTable()->cellWidget(1, 0);
        QTRY_VERIFY(key->hasFocus() || key->isAncestorOf(QApplication::focusWidget()));
        QTest::keyClicks(QApplication::focusWidget(), "training.warmup_steps");
        QCOMPARE(static_cast<QComboBox*>(key)->currentText(), QString("training.warmup_steps"));
    }

    void evaluationFilesGoIntoTheSpec() {
        QTemporaryDir dir;
        QFile mc(dir.filePath("mc.csv"));
        QVERIFY(mc.open(QIODevice::WriteOnly));
        mc.write("q,a,b,c,d,A\n");
        mc.close();
        SweepDialog d("s");
        d.setAxis(0, "adapter.r", "4,8");
        d.setEvaluationFile("multiple_choice", dir.filePath("mc.csv"));
        QCOMPARE(d.spec().evaluate.value("multiple_choice", std::string()), dir.filePath("mc.csv").toStdString());
        d.setListMode(true);
        QCOMPARE(d.spec().evaluate.value("multiple_choice", std::string()), dir.filePath("mc.csv").toStdString());
        d.setEvaluationFile("exact_match", dir.filePath("missing.jsonl"));
        QVERIFY(!d.queueButton()->isEnabled());
        QVERIFY2(d.summaryLabel()->text().contains("exact_match evaluation: no such file"), qPrintable(d.summaryLabel()->text()));
        QVERIFY(d.summaryLabel()->text().contains("missing.jsonl"));
        // A folder is named as one (it was "no such file", of a path that exists).
        d.setEvaluationFile("exact_match", dir.path());
        QVERIFY(!d.queueButton()->isEnabled());
        QCOMPARE(d.summaryLabel()->text(), QString("exact_match evaluation: '%1' is a folder; give a file in it").arg(dir.path()));
    }

    // A config's sweep: block in the dialog reads back as the same sweep (grid and list, explicit
    // seeds, evaluation files and the evaluation settings without a field).
    void wholeSpecRoundTrips() {
        QTemporaryDir dir;
        QFile em(dir.filePath("em.jsonl"));
        QVERIFY(em.open(QIODevice::WriteOnly));
        em.close();
        const nlohmann::json grid = {
            {"vary", {{"adapter.parameterization", {"full", "random_subspace"}},
                      {"adapter.target_modules", {{"q_proj", "v_proj"}, {"q_proj"}}},
                      {"training.learning_rate", {0.004, 1e-3}},
                      {"adapter.init_seed_tag", {"8", "a,b"}}}},
            {"seeds", {3, 5, 9}},
            {"evaluate", {{"exact_match", dir.filePath("em.jsonl").toStdString()}, {"max_new_tokens", 16}, {"limit", 40},
                          {"diagnostics", true}}}};
        const engine::SweepSpec spec = engine::SweepSpec::fromJson(grid);
        SweepDialog d("s");
        d.setSpec(spec);
        QCOMPARE(d.axesTable()->rowCount(), 4);
        QCOMPARE(d.seedsBox()->value(), 3);
        QVERIFY(d.diagnosticsBox()->isChecked());
        QCOMPARE(d.spec().toJson().dump(), spec.toJson().dump());
        // Another seed count drops the explicit list: seeds from training.seed on.
        d.setSeeds(2);
        QVERIFY(d.spec().seedList.empty());
        QCOMPARE(d.spec().seedCount(), 2);

        const nlohmann::json list = {{"list", {{{"adapter.r", 4}, {"adapter.lora_alpha", 8}}, {{"adapter.r", 16}, {"adapter.lora_alpha", 32}}}},
                                     {"seeds", 2}};
        const engine::SweepSpec listSpec = engine::SweepSpec::fromJson(list);
        d.setSpec(listSpec);
        QVERIFY(!d.diagnosticsBox()->isChecked());
        QVERIFY(!d.spec().evaluate.contains("diagnostics"));
        d.diagnosticsBox()->setChecked(true);
        QCOMPARE(d.spec().evaluate.value("diagnostics", false), true);
        d.diagnosticsBox()->setChecked(false);
        QCOMPARE(d.axesTable()->rowCount(), 2);
        QCOMPARE(d.spec().toJson().dump(), listSpec.toJson().dump());
        QVERIFY2(d.summaryLabel()->text().startsWith("4 runs: 2 combination(s) × 2 seed(s)"), qPrintable(d.summaryLabel()->text()));
    }

    // More than a sweep holds is refused with the count before anything is queued.
    void oversizedSweepIsRefused() {
        SweepDialog d("s");
        const char* keys[] = {"adapter.r", "adapter.lora_alpha", "training.learning_rate", "training.max_steps", "training.batch_size"};
        for (int i = 0; i < 5; ++i)
            d.setAxis(i, keys[i], "1,2,3,4,5,6,7,8,9,10");
        d.setSeeds(1);
        QVERIFY(!d.queueButton()->isEnabled());
        QVERIFY2(d.summaryLabel()->text().contains("100000 runs") && d.summaryLabel()->text().contains("at most 10000"),
                 qPrintable(d.summaryLabel()->text()));
        d.setAxis(4, "", "");
        d.setAxis(3, "", "");
        QVERIFY(d.queueButton()->isEnabled());
        QVERIFY2(d.summaryLabel()->text().startsWith("1000 runs"), qPrintable(d.summaryLabel()->text()));
    }

    void nothingToSweep() {
        SweepDialog d("s");
        d.setAxis(0, "", "");
        d.setSeeds(1);
        QVERIFY(!d.queueButton()->isEnabled());
        QVERIFY(d.summaryLabel()->text().contains("nothing to sweep"));
        d.setSeeds(5);
        QVERIFY(d.queueButton()->isEnabled());
        QVERIFY(d.summaryLabel()->text().startsWith("5 runs"));
    }

    // The validator checks every run's config (9000 runs: over a second on the GUI thread) and ran on
    // every keystroke, so typing a values list froze the window for seconds. Typing is checked once
    // it pauses; Queue sweep checks the form as it is at once.
    void typingIsCheckedOnceItPauses() {
        SweepDialog d("s");
        int calls = 0;
        d.setValidator([&calls](const engine::SweepSpec& spec) -> int {
            ++calls;
            return int(spec.runCount());
        });
        d.setSeeds(1);
        auto* values = qobject_cast<QLineEdit*>(d.axesTable()->cellWidget(0, 1));
        QVERIFY(values);
        values->clear();
        calls = 0;
        QTest::keyClicks(values, "1,2,3,4,5,6");
        QVERIFY2(calls <= 1, qPrintable(QString::number(calls)));
        QTRY_VERIFY2(d.summaryLabel()->text().startsWith("6 runs"), qPrintable(d.summaryLabel()->text()));
        QCOMPARE(calls, 1);

        // Queue sweep right after typing queues what was typed, not what was checked before.
        QSignalSpy queued(&d, &SweepDialog::queueRequested);
        QTest::keyClicks(values, ",7");
        d.queueButton()->click();
        QCOMPARE(queued.count(), 1);
        QVERIFY2(d.summaryLabel()->text().startsWith("7 runs"), qPrintable(d.summaryLabel()->text()));
        // An edit that makes it invalid: refused at the click, nothing queued.
        QTest::keyClicks(values, ",");
        d.queueButton()->click();
        QCOMPARE(queued.count(), 1);
        QVERIFY2(d.summaryLabel()->text().contains("empty value"), qPrintable(d.summaryLabel()->text()));
    }

    // The Sweeps view's chart without curves said nothing (empty axes 0 to 5): it says why.
    void anEmptyChartSaysWhy() {
        ui::SweepResultsView v;
        v.setGroups({});
        QVERIFY2(v.emptyChartText().contains("No sweeps yet"), qPrintable(v.emptyChartText()));
        v.setGroups({{7, "rank sweep"}});
        v.setBands({});
        QVERIFY2(v.emptyChartText().contains("No train loss logged"), qPrintable(v.emptyChartText()));
        v.setBands({{"adapter.r=4", {1, 2}, {0.9, 0.5}, {0.1, 0.1}}});
        QVERIFY(v.emptyChartText().isEmpty());
    }

    // The legend spread its entries over the chart's whole width (each in a column a third of it
    // wide): they sit side by side at their own widths, centred over the curves, wrapped when narrow.
    void sweepLegendEntriesSitSideBySide() {
        ui::SweepResultsView v;
        v.setGroups({{7, "rank sweep"}});
        v.resize(1200, 700);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        QList<ui::SweepBand> bands;
        for (const char* label : {"adapter.r=4", "adapter.r=8", "adapter.r=16"})
            bands.append({label, {1, 2}, {0.9, 0.5}, {0.1, 0.1}});
        v.setBands(bands);
        QCustomPlot* plot = v.plot();
        plot->replot();
        QCPLegend* legend = plot->legend;
        QVERIFY(legend->visible());
        QCOMPARE(legend->itemCount(), 3);
        const QRect axes = plot->axisRect()->rect();
        QVERIFY2(!legend->outerRect().intersects(axes), "the legend covers the curves");
        QVERIFY(legend->outerRect().bottom() <= axes.top());
        QVERIFY2(legendLayoutProblem(legend).isEmpty(), qPrintable(legendLayoutProblem(legend)));
        QCOMPARE(legend->rowCount(), 1);
        QVERIFY2(legend->outerRect().width() < plot->width() / 2,
                 qPrintable(QString("legend %1 px wide of %2").arg(legend->outerRect().width()).arg(plot->width())));
        QVERIFY2(std::abs(legend->outerRect().center().x() - axes.center().x()) < plot->width() / 8,
                 qPrintable(QString("legend centred at %1, the curves at %2").arg(legend->outerRect().center().x()).arg(axes.center().x())));
        // Names too long for one row: wrapped onto more rows, still compact and within the chart.
        QList<ui::SweepBand> wide;
        for (const char* label : {"adapter.r=4, adapter.init=spectral, training.learning_rate=0.0001",
                                  "adapter.r=8, adapter.init=spectral, training.learning_rate=0.0001",
                                  "adapter.r=16, adapter.init=spectral, training.learning_rate=0.0001"})
            wide.append({label, {1, 2}, {0.9, 0.5}, {0.1, 0.1}});
        v.resize(700, 700);
        QCoreApplication::processEvents();
        v.setBands(wide);
        plot->replot();
        QVERIFY2(legend->rowCount() > 1, qPrintable(QString("%1 rows in a chart %2 px wide").arg(legend->rowCount()).arg(plot->width())));
        QVERIFY2(legend->outerRect().right() <= plot->width(), qPrintable(QString::number(legend->outerRect().right())));
        QVERIFY(!legend->outerRect().intersects(plot->axisRect()->rect()));
        QVERIFY2(legendLayoutProblem(legend).isEmpty(), qPrintable(legendLayoutProblem(legend)));
        // No curves: no legend, and the curves take its row back.
        v.setBands({});
        plot->replot();
        QVERIFY(!legend->visible());
        QCOMPARE(plot->plotLayout()->rowCount(), 1);
    }

    // A run deleted from the store: its combination's Runs cell and a line under the table say so.
    void deletedRunsAreNamedUnderTheTable() {
        engine::SweepRunResult kept, gone;
        kept.runId = 5;
        kept.combination = {{"adapter.r", 4}};
        kept.seed = 42;
        kept.finished = true;
        kept.metrics["train/loss"] = 0.5;
        gone.combination = kept.combination;
        gone.seed = 43;
        gone.missing = true;
        ui::SweepResultsView v;
        v.setGroups({{7, "rank sweep"}});
        v.setSummary(engine::SweepSummary::compute({kept}), "1 of 1 run finished");
        QCOMPARE(v.table()->item(0, 1)->text(), QString("1/1"));
        QVERIFY(v.missingLabel()->isHidden());
        v.setSummary(engine::SweepSummary::compute({kept, gone}), "1 of 2 runs finished (1 deleted)");
        QCOMPARE(v.table()->item(0, 1)->text(), QString("1/2 · 1 missing"));
        QCOMPARE(v.table()->item(0, 1)->toolTip(), QString("Deleted from the store: seed 43"));
        QVERIFY(!v.missingLabel()->isHidden());
        QCOMPARE(v.missingLabel()->text(),
                 QString("1 run of the sweep is no longer in the store (deleted), so the statistics leave out: adapter.r=4 seed 43"));
    }

    // The status beside the group buttons (an export error quoting its path) widened the window.
    void aLongStatusDoesNotWidenTheSweepsView() {
        ui::SweepResultsView v;
        v.setGroups({{7, "rank sweep"}});
        v.resize(1024, 600);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        const QString error = "cannot write /home/user/exports/" + QString(200, 'r') + ".csv: No space left on device";
        v.setSummary({}, error);
        QCoreApplication::processEvents();
        QCOMPARE(v.statusLabel()->toolTip(), error);
        QVERIFY2(v.minimumSizeHint().width() <= 1024, qPrintable(QString::number(v.minimumSizeHint().width())));
        QCOMPARE(v.width(), 1024);
    }

    // A problem quoting a long values list (1,2,…,1000,) has no space to wrap at: it widened the
    // dialog past the screen, Queue sweep and Cancel with it.
    void aLongProblemDoesNotWidenTheDialog() {
        SweepDialog d("s");
        d.resize(640, 520);
        d.show();
        QVERIFY(QTest::qWaitForWindowExposed(&d));
        QStringList many;
        for (int i = 1; i <= 1000; ++i)
            many << QString::number(i);
        d.setAxis(0, "adapter.r", many.join(",") + ",");
        QCoreApplication::processEvents();
        QVERIFY2(d.summaryLabel()->text().contains("empty value"), qPrintable(d.summaryLabel()->text().left(200)));
        QVERIFY2(d.minimumSizeHint().width() <= 640, qPrintable(QString::number(d.minimumSizeHint().width())));
        QCOMPARE(d.width(), 640);
    }
};

QTEST_MAIN(SweepDialogTest)
#include "SweepDialogTest.moc"
