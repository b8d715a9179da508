// Sweeps from the workbench: "Sweep…" in the New run form opens the dialog on the form's config,
// validated by the same code as `rslora sweep`; queueing creates the group in the store and puts its
// runs in the run queue in order.
#include "app/gui/RunController.h"
#include "app/gui/SweepResultsController.h"
#include "app/gui/Workbench.h"
#include "app/shared/SweepGroup.h"

#include "ui/MainWindow.h"
#include "ui/RunForm.h"
#include "ui/RunsBrowser.h"
#include "ui/StagesEditor.h"
#include "ui/SweepDialog.h"
#include "ui/SweepResultsView.h"

#include "common/Error.h"
#include "common/Paths.h"
#include "storage/Naming.h"
#include "storage/Store.h"

#include <QApplication>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QMenuBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <qcustomplot.h>

using namespace rslora;

class SweepFlowTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private Q_SLOTS:
    void initTestCase() {
        qputenv("RSLORA_NO_DIALOGS", "1");
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.filePath("settings"));
        if (!QFileInfo::exists(QString::fromStdString((demoModelDirectory() / "tokenizer.json").string())))
            QFAIL("the built-in demo model is missing (RSLORA_RESOURCES)");
    }

    void sweepFromTheFormQueuesTheGroup() {
        app::Workbench wb(m_dir.filePath("sweep.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        QVERIFY(wb.form()->validateNow().isEmpty());
        // The Run menu offers it too.
        bool inMenu = false;
        for (QAction* menu : wb.window()->menuBar()->actions())
            if (menu->menu() && menu->text() == "&Run")
                for (QAction* a : menu->menu()->actions())
                    inMenu = inMenu || a->text().startsWith("&Sweep");
        QVERIFY(inMenu);

        wb.form()->sweepButton()->click();
        auto* dialog = wb.window()->findChild<ui::SweepDialog*>();
        QVERIFY(dialog);
        // The engine's validation of the expanded configs: a rank of 0 is named with its combination.
        dialog->setAxis(0, "adapter.r", "4,0");
        dialog->setSeeds(2);
        QVERIFY(!dialog->queueButton()->isEnabled());
        const QString problem = dialog->summaryLabel()->text();
        QVERIFY2(problem.contains("adapter.r=0") && problem.contains("sweep combination"), qPrintable(problem));
        // A rank the model's layers cannot take (config.json's shapes) is refused by value, before
        // every run of its combination would fail.
        dialog->setAxis(0, "adapter.r", "4,99999");
        QVERIFY(!dialog->queueButton()->isEnabled());
        const QString tooLarge = dialog->summaryLabel()->text();
        QVERIFY2(tooLarge.contains("adapter.r=99999") && tooLarge.contains("rank 99999") && tooLarge.contains("larger than the layer allows"),
                 qPrintable(tooLarge));
        dialog->setAxis(0, "adapter.r", "4,8");
        dialog->setAxis(1, "training.learning_rate", "0.001,fast");
        QVERIFY2(dialog->summaryLabel()->text().contains("learning_rate"), qPrintable(dialog->summaryLabel()->text()));
        dialog->setAxis(1, "training.learning_rate", "0.001");
        QVERIFY2(dialog->queueButton()->isEnabled(), qPrintable(dialog->summaryLabel()->text()));
        QVERIFY(dialog->summaryLabel()->text().startsWith("4 runs: 2 combination(s) × 2 seed(s)"));

        // Queued, not trained here: the queue is held so that the test reads the queue as it was made.
        wb.controller()->holdQueue(true);
        dialog->queueButton()->click();
        const auto groups = wb.store()->groups().list("sweep");
        QCOMPARE(int(groups.size()), 1);
        const auto members = wb.store()->groups().members(groups[0].id);
        QCOMPARE(int(members.size()), 4);
        const auto waiting = wb.controller()->waiting();
        QCOMPARE(int(waiting.size()), 4);
        for (int i = 0; i < 4; ++i) {
            QCOMPARE(waiting[i].first, members[size_t(i)].runId);
            const auto run = wb.store()->runs().require(members[size_t(i)].runId);
            QCOMPARE(run.status, storage::RunStatus::Queued);
        }
        const auto first = wb.store()->runs().require(members[0].runId);
        QVERIFY2(first.name.find("adapter.r=4") != std::string::npos, first.name.c_str());
        QVERIFY(first.configJson.find("\"learning_rate\":0.001") != std::string::npos);
    }

    // Run > Sweep… (Ctrl+Shift+N) does what the form's Sweep… button does: not on a pipeline, whose
    // stages the sweep would drop without a word, nor on a form with problems; it says why instead.
    void sweepFromTheMenuRefusesWhatTheButtonRefuses() {
        app::Workbench wb(m_dir.filePath("sweep-menu.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        QAction* sweep = nullptr;
        for (QAction* menu : wb.window()->menuBar()->actions())
            if (menu->menu() && menu->text() == "&Run")
                for (QAction* a : menu->menu()->actions())
                    if (a->text().startsWith("&Sweep"))
                        sweep = a;
        QVERIFY(sweep);
        engine::pipeline::StageSpec one, two;
        one.name = "sft";
        two.name = "more";
        wb.form()->stagesEditor()->setStages({one, two});
        QVERIFY(wb.form()->isPipeline());
        wb.form()->validateNow();
        QVERIFY(!wb.form()->sweepButton()->isEnabled());
        wb.window()->views()->setCurrentWidget(wb.runs());
        sweep->trigger();
        QVERIFY(!wb.window()->findChild<ui::SweepDialog*>());
        QCOMPARE(wb.window()->views()->currentWidget(), wb.form());
        QVERIFY2(wb.window()->statusBar()->currentMessage().contains("holds a pipeline (2 stage(s))"),
                 qPrintable(wb.window()->statusBar()->currentMessage()));

        wb.form()->stagesEditor()->setStages({});
        auto* train = wb.form()->findChild<QLineEdit*>("data.train.edit");
        train->setText(m_dir.filePath("no-such-data.jsonl"));
        sweep->trigger();
        QVERIFY(!wb.window()->findChild<ui::SweepDialog*>());
        QVERIFY2(wb.window()->statusBar()->currentMessage().contains("no-such-data.jsonl"),
                 qPrintable(wb.window()->statusBar()->currentMessage()));

        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        sweep->trigger();
        QVERIFY(wb.window()->findChild<ui::SweepDialog*>());
    }

    // Run > Studies lists the committed study configs; one opens its base config in the form and its
    // sweep: block in the dialog, which queues the study as `rslora sweep FILE` would.
    void studiesOpenFromTheRunMenu() {
        app::Workbench wb(m_dir.filePath("studies.sqlite"));
        QMenu* studies = wb.window()->findChild<QMenu*>("studiesMenu");
        QVERIFY(studies);
        QAction* c = nullptr;
        QStringList titles;
        for (QAction* a : studies->actions()) {
            titles << a->text();
            if (a->data().toString().endsWith("c-few-shot-subspace.yaml"))
                c = a;
        }
        QVERIFY2(titles.size() >= 3, qPrintable(titles.join(" | ")));
        QVERIFY(titles.first().startsWith("Article A:"));
        QVERIFY(c);
        QVERIFY(c->toolTip().contains("random-subspace"));
        c->trigger();
        auto* dialog = wb.window()->findChild<ui::SweepDialog*>();
        QVERIFY(dialog);
        QCOMPARE(dialog->name(), QString("c-few-shot-subspace"));
        QCOMPARE(dialog->axesTable()->rowCount(), 1);
        QCOMPARE(dialog->seedsBox()->value(), 5);
        QVERIFY2(dialog->queueButton()->isEnabled(), qPrintable(dialog->summaryLabel()->text()));
        QVERIFY2(dialog->summaryLabel()->text().startsWith("10 runs: 2 combination(s) × 5 seed(s)"), qPrintable(dialog->summaryLabel()->text()));
        // The form holds the study's base, its paths taken from the study's folder.
        const engine::TrainConfig base = wb.form()->config();
        QVERIFY2(base.trainData.find("studies/data/facts_8_per_kind.jsonl") != std::string::npos, base.trainData.c_str());
        QVERIFY(QFileInfo(QString::fromStdString(base.trainData)).isAbsolute());
        QCOMPARE(base.maxSteps, 100);
        // The same runs as the CLI's expansion of the file.
        const auto [config, block] = engine::readSweepConfigFile(c->data().toString().toStdString());
        const auto cli = engine::SweepSpec::fromJson(block).expand(config);
        const auto gui = dialog->spec().expand(base.toJson());
        QCOMPARE(gui.size(), cli.size());
        for (size_t i = 0; i < gui.size(); ++i) {
            QCOMPARE(gui[i].combinationLabel(), cli[i].combinationLabel());
            QCOMPARE(gui[i].seed, cli[i].seed);
        }
        QCOMPARE(dialog->spec().evaluate.dump(), engine::SweepSpec::fromJson(block).evaluate.dump());
        dialog->reject();

        // Without a place for the sweep block the form refuses such a file instead of dropping it.
        QString error;
        QVERIFY(!wb.form()->openConfigFile(c->data().toString(), &error));
        QVERIFY2(error.contains("sweep"), qPrintable(error));
    }

    void resultsTableMatchesHandComputedStatistics() {
        // Two ranks × three seeds, every run finished with known values: r=4 train loss 1.0/1.2/1.4
        // (mean 1.2, std 0.2), r=8 0.8/0.9/1.0 (mean 0.9, std 0.1), Welch t = 2.3238, df = 2.941,
        // p = 0.1045; MC accuracy r=4 0.5/0.6/0.7, r=8 0.7/0.8/0.9: t = 2.4495, df = 4, p = 0.0705
        // (computed independently by integrating Student's t density).
        app::Workbench wb(m_dir.filePath("results.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        spec.seeds = 3;
        storage::Store& store = *wb.store();
        const int64_t gid = app::SweepGroup::create(store, "ranks", {}, wb.form()->config().toJson(), spec);
        const double trainLoss[2][3] = {{1.0, 1.2, 1.4}, {0.8, 0.9, 1.0}};
        const double mc[2][3] = {{0.5, 0.6, 0.7}, {0.7, 0.8, 0.9}};
        for (const auto& m : store.groups().members(gid)) {
            const int c = m.combinationIndex, s = m.seedIndex;
            store.metricsIngest().insert(std::vector<storage::MetricPoint>{
                {m.runId, "train/loss", 1, 1.0, trainLoss[c][s] + 1.0}, {m.runId, "train/loss", 2, 2.0, trainLoss[c][s]}});
            storage::NewAdapter a;
            a.task = "ranks";
            a.sourceRunId = m.runId;
            storage::EvaluationRecord e;
            e.adapterId = store.adapters().create(a).id;
            e.runId = m.runId;
            e.dataset = "mc.csv";
            e.metric = "mc/accuracy";
            e.value = mc[c][s];
            store.evaluations().record(e);
            store.runs().setStatus(m.runId, storage::RunStatus::Finished);
        }
        wb.sweepResults()->refresh();
        ui::SweepResultsView* view = wb.sweeps();
        QCOMPARE(view->currentGroup(), qint64(gid));
        QVERIFY2(view->statusLabel()->text().startsWith("6 of 6 runs finished"), qPrintable(view->statusLabel()->text()));
        QTableWidget* t = view->table();
        QCOMPARE(t->rowCount(), 2);
        auto column = [t](const QString& title) {
            for (int c = 0; c < t->columnCount(); ++c)
                if (t->horizontalHeaderItem(c)->text().startsWith(title))
                    return c;
            return -1;
        };
        const int loss = column("train loss ↓"), acc = column("MC accuracy ↑");
        QVERIFY(loss > 0 && acc > 0);
        QCOMPARE(t->item(0, 0)->text(), QString("adapter.r=4"));
        QCOMPARE(t->item(0, 1)->text(), QString("3/3"));
        QCOMPARE(t->item(0, loss)->text(), QString("1.2000 ± 0.2000 (n=3)"));
        QCOMPARE(t->item(1, loss)->text(), QString("★ 0.9000 ± 0.1000 (n=3)"));
        QCOMPARE(t->item(0, loss + 1)->text(), QString("p=0.104"));
        QCOMPARE(t->item(1, loss + 1)->text(), QString("best"));
        QCOMPARE(t->item(0, acc)->text(), QString("0.6000 ± 0.1000 (n=3)"));
        QCOMPARE(t->item(1, acc)->text(), QString("★ 0.8000 ± 0.1000 (n=3)"));
        QCOMPARE(t->item(0, acc + 1)->text(), QString("p=0.070"));
        const auto& cell = view->summary().rows[0].cells.at("train/loss");
        QVERIFY(std::abs(cell.vsBest.p - 0.10447888668) < 1e-6);
        QVERIFY(std::abs(view->summary().rows[0].cells.at("mc/accuracy").vsBest.p - 0.07048399691) < 1e-6);

        // Curves: per group the mean of its three runs at each step and a ± std band around it.
        const auto bands = app::SweepResultsController::bands(store, gid, "train/loss");
        QCOMPARE(bands.size(), 2);
        QCOMPARE(bands[1].label, QString("adapter.r=8"));
        QCOMPARE(bands[1].steps, (QVector<double>{1, 2}));
        QVERIFY(std::abs(bands[1].mean[0] - 1.9) < 1e-12 && std::abs(bands[1].mean[1] - 0.9) < 1e-12);
        QVERIFY(std::abs(bands[0].std[1] - 0.2) < 1e-12);
        // Three graphs per group: the band's edges (filled between) and the mean.
        QCOMPARE(view->plot()->graphCount(), 6);
        QCOMPARE(view->plot()->graph(1)->channelFillGraph(), view->plot()->graph(0));
        QVERIFY(std::abs(view->plot()->graph(0)->data()->at(1)->value - 1.4) < 1e-12);  // r=4 mean + std at step 2
        QVERIFY(std::abs(view->plot()->graph(1)->data()->at(1)->value - 1.0) < 1e-12);  // mean − std
        // The legend names the groups in a row of its own, not over the curves.
        view->resize(900, 600);
        view->plot()->replot();
        QCPLegend* legend = view->plot()->legend;
        QVERIFY(legend->visible());
        QCOMPARE(legend->itemCount(), 2);
        QVERIFY2(!legend->outerRect().intersects(view->plot()->axisRect()->rect()), "the legend covers the curves");
        QVERIFY(legend->outerRect().right() <= view->plot()->width());

        // CSV export writes what the engine renders for the same statistics.
        const QString csv = m_dir.filePath("ranks.csv");
        QVERIFY(view->exportCsv(csv, &error));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray text = f.readAll();
        QCOMPARE(text.toStdString(), view->summary().toCsv());
        QVERIFY(text.startsWith("adapter.r,"));
        // A path that is a folder cannot be replaced: the message names it, the folder stays.
        QVERIFY(QDir(m_dir.path()).mkpath("taken.csv"));
        QVERIFY(!view->exportCsv(m_dir.filePath("taken.csv"), &error));
        QVERIFY2(error.contains("taken.csv"), qPrintable(error));
        QVERIFY(QFileInfo(m_dir.filePath("taken.csv")).isDir());
    }

    void stopResumeAndDeleteTheWholeGroup() {
        app::Workbench wb(m_dir.filePath("actions.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        wb.controller()->holdQueue(true);
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        spec.seeds = 2;
        const qint64 gid = wb.queueSweep("pair", wb.form()->config(), spec);
        QCOMPARE(wb.sweeps()->currentGroup(), gid);
        QCOMPARE(wb.controller()->waiting().size(), 4);
        // Another run in the queue is not the group's and stays.
        const qint64 other = wb.controller()->enqueue(wb.form()->config(), "other");

        wb.sweeps()->stopButton()->click();
        QCOMPARE(wb.controller()->waiting().size(), 1);
        QCOMPARE(wb.controller()->waiting()[0].first, other);
        for (const auto& m : wb.store()->groups().members(gid))
            QCOMPARE(wb.store()->runs().require(m.runId).status, storage::RunStatus::Stopped);

        // Deleting is refused while a run of the group is queued here.
        wb.sweeps()->resumeButton()->click();
        QCOMPARE(wb.controller()->waiting().size(), 5);
        QString why;
        QVERIFY(!wb.sweepResults()->remove(gid, &why));
        QVERIFY2(why.contains("stop the group first"), qPrintable(why));
        QVERIFY(wb.store()->groups().get(gid));

        wb.sweeps()->stopButton()->click();
        const auto members = wb.store()->groups().members(gid);
        wb.sweeps()->deleteButton()->click();
        QVERIFY(!wb.store()->groups().get(gid));
        QVERIFY(!wb.store()->runs().get(members[0].runId));
        QVERIFY(wb.store()->runs().get(other));
        QCOMPARE(wb.sweeps()->currentGroup(), qint64(0));
    }

    // A second workbench on the store of one that runs the sweep: Resume group and Stop group leave
    // the other process's runs alone and say where they run, instead of failing on the first one.
    void groupActionsLeaveRunsOfAnotherLiveProcessAlone() {
        app::Workbench wb(m_dir.filePath("held.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        spec.seeds = 2;
        storage::Store& store = *wb.store();
        const int64_t gid = app::SweepGroup::create(store, "elsewhere", {}, wb.form()->config().toJson(), spec);
        const auto members = store.groups().members(gid);
        for (size_t i = 0; i < members.size(); ++i) {
            storage::RunRecord run = store.runs().require(members[i].runId);
            run.status = i == 0 ? storage::RunStatus::Running : storage::RunStatus::Queued;
            run.pid = 1; // alive, and not this process
            run.host = storage::hostName();
            run.startTime = run.heartbeat = storage::nowSeconds();
            store.runs().update(run);
        }
        wb.sweepResults()->refresh();
        QCOMPARE(wb.sweeps()->currentGroup(), qint64(gid));
        QSignalSpy said(wb.sweepResults(), &app::SweepResultsController::changed);

        wb.sweeps()->resumeButton()->click();
        QCOMPARE(said.count(), 1);
        const QString resumed = said.takeFirst().at(0).toString();
        QVERIFY2(resumed.contains("0 runs queued") && resumed.contains("4 runs are held by another workbench")
                     && resumed.contains("process 1 on " + QString::fromStdString(storage::hostName())),
                 qPrintable(resumed));
        QVERIFY(wb.controller()->waiting().isEmpty());
        for (const auto& m : members)
            QCOMPARE(store.runs().require(m.runId).pid.value_or(0), int64_t(1));

        wb.sweeps()->stopButton()->click();
        QCOMPARE(said.count(), 1);
        const QString stopped = said.takeFirst().at(0).toString();
        QVERIFY2(stopped.contains("is run by another workbench or rslora (process 1 on") && stopped.contains("stop it in that process")
                     && !stopped.contains("Resume group continues it"),
                 qPrintable(stopped));
        QCOMPARE(store.runs().require(members[0].runId).status, storage::RunStatus::Running);
        QCOMPARE(store.runs().require(members[1].runId).status, storage::RunStatus::Queued);

        // `rslora sweep --resume` refuses the group as a whole, naming the run and the process: while
        // one is training there, and between two of its runs, when the rest are only queued there.
        auto refusal = [&] {
            try {
                app::SweepGroup::refuseHeld(store, gid);
            } catch (const Error& e) {
                return QString::fromStdString(e.fullMessage());
            }
            return QString();
        };
        const QString host = QString::fromStdString(storage::hostName());
        QVERIFY2(refusal().startsWith(QString("run #%1 (").arg(members[0].runId))
                     && refusal().contains(QString("is running in process 1 on %1: sweep #%2 is under way there").arg(host).arg(gid)),
                 qPrintable(refusal()));
        storage::RunRecord first = store.runs().require(members[0].runId);
        first.status = storage::RunStatus::Finished;
        store.runs().update(first);
        QVERIFY2(refusal().startsWith(QString("run #%1 (").arg(members[1].runId))
                     && refusal().contains(QString("is queued by process 1 on %1: sweep #%2").arg(host).arg(gid))
                     && refusal().contains("stop that process first"),
                 qPrintable(refusal()));
        // Queued by no live process (left by one that ended): nothing holds the group.
        for (size_t i = 1; i < members.size(); ++i) {
            storage::RunRecord run = store.runs().require(members[i].runId);
            run.status = storage::RunStatus::Interrupted;
            store.runs().update(run);
        }
        QVERIFY2(refusal().isEmpty(), qPrintable(refusal()));
    }

    // Stop group and Resume group on a group with nothing left to do say so: they said "stopped: 0 runs
    // waiting taken out of the queue; Resume group continues it" and "0 runs queued" of a finished group.
    void groupActionsSayWhenThereIsNothingToDo() {
        app::Workbench wb(m_dir.filePath("nothing.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        storage::Store& store = *wb.store();
        const int64_t gid = app::SweepGroup::create(store, "done", {}, wb.form()->config().toJson(), spec);
        for (const auto& m : store.groups().members(gid)) {
            store.metricsIngest().insert(std::vector<storage::MetricPoint>{{m.runId, "train/loss", 1, 1.0, 0.5}});
            store.runs().setStatus(m.runId, storage::RunStatus::Finished);
        }
        wb.sweepResults()->refresh();
        QCOMPARE(wb.sweeps()->currentGroup(), qint64(gid));
        QSignalSpy said(wb.sweepResults(), &app::SweepResultsController::changed);
        wb.sweeps()->stopButton()->click();
        QCOMPARE(said.count(), 1);
        const QString stopped = said.takeFirst().at(0).toString();
        QVERIFY2(stopped.contains("nothing to stop") && !stopped.contains("stopped"), qPrintable(stopped));
        wb.sweeps()->resumeButton()->click();
        QCOMPARE(said.count(), 1);
        const QString resumed = said.takeFirst().at(0).toString();
        QVERIFY2(resumed.contains("nothing to resume") && !resumed.contains("0 runs queued"), qPrintable(resumed));
        QVERIFY(wb.controller()->waiting().isEmpty());
        for (const auto& m : store.groups().members(gid))
            QCOMPARE(store.runs().require(m.runId).status, storage::RunStatus::Finished);

        // Its runs already queued here: Resume group has nothing to add, Stop group takes them out.
        wb.controller()->holdQueue(true);
        for (const auto& m : store.groups().members(gid))
            store.runs().setStatus(m.runId, storage::RunStatus::Stopped);
        wb.sweeps()->resumeButton()->click();
        QCOMPARE(wb.controller()->waiting().size(), 2);
        said.clear();
        wb.sweeps()->resumeButton()->click();
        QCOMPARE(said.count(), 1);
        QVERIFY2(said.takeFirst().at(0).toString().contains("nothing to resume"), "the runs are queued here already");
        QCOMPARE(wb.controller()->waiting().size(), 2);
        wb.sweeps()->stopButton()->click();
        const QString taken = said.takeFirst().at(0).toString();
        QVERIFY2(taken.contains("2 runs waiting taken out of the queue"), qPrintable(taken));
        QVERIFY(wb.controller()->waiting().isEmpty());
        // Stopped, they are counted as such beside the group (the table showed them only as 0/1, as if
        // still queued), until they run again.
        const QString status = wb.sweeps()->statusLabel()->text();
        QVERIFY2(status.contains("0 of 2 runs finished · 2 stopped: Resume group continues them"), qPrintable(status));
        store.runs().setStatus(store.groups().members(gid)[0].runId, storage::RunStatus::Finished);
        wb.sweepResults()->refresh();
        QVERIFY2(wb.sweeps()->statusLabel()->text().contains("1 of 2 runs finished · 1 stopped: Resume group continues it"),
                 qPrintable(wb.sweeps()->statusLabel()->text()));
    }

    // A failed run is counted as failed, with its reason, not as one still to run.
    void failedRunsAreCountedWithTheirReason() {
        app::Workbench wb(m_dir.filePath("failed.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        storage::Store& store = *wb.store();
        const int64_t gid = app::SweepGroup::create(store, "one fails", {}, wb.form()->config().toJson(), spec);
        const auto members = store.groups().members(gid);
        store.metricsIngest().insert(std::vector<storage::MetricPoint>{{members[0].runId, "train/loss", 1, 1.0, 0.5}});
        store.runs().setStatus(members[0].runId, storage::RunStatus::Finished);
        store.runs().setStatus(members[1].runId, storage::RunStatus::Failed, "rank 99999 is larger than the layer allows");
        wb.sweepResults()->refresh();
        ui::SweepResultsView* view = wb.sweeps();
        QCOMPARE(view->currentGroup(), qint64(gid));
        QVERIFY2(view->statusLabel()->text().startsWith("1 finished, 1 failed of 2 runs"), qPrintable(view->statusLabel()->text()));
        QCOMPARE(view->table()->item(0, 1)->text(), QString("1/1"));
        QCOMPARE(view->table()->item(1, 1)->text(), QString("0/1 · 1 failed"));
        const QString why = view->table()->item(1, 1)->toolTip();
        QVERIFY2(why.contains(QString("run #%1: rank 99999").arg(members[1].runId)), qPrintable(why));
        QCOMPARE(view->summary().rows[1].failed, 1);
    }

    // A member run deleted from the store was dropped without a word (n shrank, the counts said
    // 3 of 3): it is counted among the sweep's runs, and named, as `rslora sweeps show` does. Its
    // seed, past 2^63 - 1, is named exactly (the sweep's seeds counted from 42 instead).
    void deletedRunsAreNamed() {
        app::Workbench wb(m_dir.filePath("deleted.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        spec.seeds = 2;
        storage::Store& store = *wb.store();
        nlohmann::json config = wb.form()->config().toJson();
        config["training"]["seed"] = uint64_t(18446744073709551614ULL);
        const int64_t gid = app::SweepGroup::create(store, "one deleted", {}, config, spec);
        const double loss[2][2] = {{1.0, 1.2}, {0.8, 0.9}};
        int64_t gone = 0;
        for (const auto& m : store.groups().members(gid)) {
            store.metricsIngest().insert(std::vector<storage::MetricPoint>{
                {m.runId, "train/loss", 1, 1.0, loss[m.combinationIndex][m.seedIndex]}});
            store.runs().setStatus(m.runId, storage::RunStatus::Finished);
            if (m.combinationIndex == 1 && m.seedIndex == 1)
                gone = m.runId;
        }
        QVERIFY(gone > 0);
        QCOMPARE(uint64_t(*store.runs().require(gone).seed), uint64_t(18446744073709551615ULL));
        store.runs().remove(gone);
        wb.sweepResults()->refresh();
        ui::SweepResultsView* view = wb.sweeps();
        QCOMPARE(view->currentGroup(), qint64(gid));
        QVERIFY2(view->statusLabel()->text().startsWith("3 of 4 runs finished (1 deleted)"), qPrintable(view->statusLabel()->text()));
        QCOMPARE(view->table()->item(0, 1)->text(), QString("2/2"));
        QCOMPARE(view->table()->item(1, 1)->text(), QString("1/2 · 1 missing"));
        QCOMPARE(view->table()->item(1, 1)->toolTip(), QString("Deleted from the store: seed 18446744073709551615"));
        QCOMPARE(view->summary().rows[1].cells.at("train/loss").summary.n, 1);
        QCOMPARE(view->summary().rows[1].cells.at("train/loss").summary.mean, 0.8);
        QVERIFY(!view->missingLabel()->isHidden());
        QCOMPARE(view->missingLabel()->text(), QString("1 run of the sweep is no longer in the store (deleted), so the "
                                                       "statistics leave out: adapter.r=8 seed 18446744073709551615"));
        // A run that failed and a deleted one are both counted.
        const auto members = store.groups().members(gid);
        store.runs().setStatus(members[0].runId, storage::RunStatus::Failed, "out of memory");
        wb.sweepResults()->refresh();
        QVERIFY2(view->statusLabel()->text().startsWith("2 finished, 1 failed of 4 runs (1 deleted)"),
                 qPrintable(view->statusLabel()->text()));
        // A sweep without deleted runs says nothing of them.
        const int64_t whole = app::SweepGroup::create(store, "whole", {}, config, spec);
        wb.sweepResults()->refresh();
        view->selectGroup(whole);
        QVERIFY2(view->statusLabel()->text().startsWith("0 of 4 runs finished"), qPrintable(view->statusLabel()->text()));
        QVERIFY(!view->statusLabel()->text().contains("deleted"));
        QVERIFY(view->missingLabel()->isHidden());
    }

    // No sweeps: no empty legend box. A name with '/', quotes and markup suggests a plain file name.
    void emptyChartAndExportName() {
        app::Workbench wb(m_dir.filePath("names.sqlite"));
        QString error;
        QVERIFY2(wb.loadDemo(&error), qPrintable(error));
        wb.sweepResults()->refresh();
        QVERIFY(!wb.sweeps()->plot()->legend->visible());
        // Nothing drawn: the wheel zooms nothing (it goes on to the parent).
        QCustomPlot* plot = wb.sweeps()->plot();
        plot->resize(600, 300);
        plot->replot();
        const QCPRange before = plot->xAxis->range();
        const QPointF inside = plot->axisRect()->rect().center();
        QWheelEvent wheel(inside, plot->mapToGlobal(inside), QPoint(), QPoint(0, -360), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
        QApplication::sendEvent(plot, &wheel);
        QVERIFY(!wheel.isAccepted());
        QCOMPARE(plot->xAxis->range().lower, before.lower);
        QCOMPARE(plot->xAxis->range().upper, before.upper);
        engine::SweepSpec spec;
        spec.addVary("adapter.r=4,8");
        const int64_t gid = app::SweepGroup::create(*wb.store(), "my/sweep \"q\" <b>bold</b>", {}, wb.form()->config().toJson(), spec);
        wb.sweepResults()->refresh();
        QCOMPARE(wb.sweeps()->currentGroup(), qint64(gid));
        const QString name = wb.sweeps()->suggestedCsvName();
        QVERIFY2(name.startsWith(QString("%1_my_sweep_q_b_bold_b").arg(gid)) && name.endsWith(".csv"), qPrintable(name));
        for (const QChar c : QString("/\\\"<> "))
            QVERIFY2(!name.contains(c), qPrintable(name));
    }
};

QTEST_MAIN(SweepFlowTest)
#include "SweepFlowTest.moc"
