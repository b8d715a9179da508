// The workbench as a user drives it (offscreen): fill the form, start a short run, see points reach
// the charts, pause and resume, stop with save, find the run and its adapter in the browsers, run a
// second one and overlay both, render the screens.
#include "app/gui/RunController.h"
#include "app/gui/RunStarter.h"
#include "app/gui/ShowcaseRenderer.h"
#include "app/gui/Workbench.h"
#include "WorkbenchTestSupport.h"
#include "common/Sha256.h"

#include "ui/AdapterTreeModel.h"
#include "ui/AdaptersBrowser.h"
#include "ui/ChartsPanel.h"
#include "ui/FuseDialog.h"
#include "ui/LogPanel.h"
#include "ui/CurvePlot.h"
#include "ui/CurveSeries.h"
#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/RunForm.h"
#include "ui/RunTableModel.h"
#include "ui/RunsBrowser.h"
#include "ui/TrainingPanel.h"

#include "models/ModelConfig.h"
#include "models/ModelLoader.h"
#include "storage/Naming.h"
#include "storage/Store.h"

#include <QCheckBox>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>
#include <QtTest>

#include <nlohmann/json.hpp>
#include <random>

using namespace rslora;

class WorkbenchTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_model, m_data;

    void fillForm(ui::RunForm* form, int maxSteps) {
        form->modelSection()->setPath(m_model);
        auto* train = form->findChild<QLineEdit*>("data.train.edit");
        train->setText(m_data);
        Q_EMIT train->editingFinished();
        form->findChild<QSpinBox*>("adapter.r")->setValue(4);
        form->findChild<QSpinBox*>("training.max_steps")->setValue(maxSteps);
        form->findChild<QSpinBox*>("training.batch_size")->setValue(4);
        form->findChild<QLineEdit*>("training.learning_rate")->setText("0.01");
        form->findChild<QSpinBox*>("data.max_seq_len")->setValue(32);
    }

    // Start as a user presses it: the run is queued (or refused) once its data check, on a worker
    // thread, has ended. False when the check did not end.
    static bool pressStart(app::Workbench& wb) {
        QTest::mouseClick(wb.form()->startButton(), Qt::LeftButton);
        return QTest::qWaitFor([&wb] { return !wb.starter()->checking(); }, 60000);
    }

    // A run of 60 steps on the test model and data, as another process trains it.
    engine::TrainConfig headlessConfig() const {
        engine::TrainConfig config;
        config.modelPath = m_model.toStdString();
        config.trainData = m_data.toStdString();
        config.maxSteps = 60;
        return config;
    }
    // Records `config` as running in a live process other than this one, at step `step`.
    static qint64 createHeadlessRun(storage::Store& store, const engine::TrainConfig& config, int64_t step) {
        storage::RunRecord run;
        run.name = "headless";
        run.status = storage::RunStatus::Running;
        run.configJson = config.toJson().dump();
        run.pid = 1; // alive, and not this process
        run.host = storage::hostName();
        run.startTime = run.heartbeat = storage::nowSeconds();
        const qint64 id = store.runs().create(run);
        store.runs().heartbeat(id, step);
        return id;
    }

    // What the controller reports for a run that finished here.
    static app::JobOutcome finishedRun(qint64 runId, qint64 steps, double finalLoss) {
        app::JobOutcome outcome;
        outcome.runId = runId;
        outcome.status = "finished";
        outcome.steps = steps;
        outcome.finalLoss = finalLoss;
        return outcome;
    }

    // The status bar's label that says `text` (the run label), or null.
    static QLabel* labelSaying(QStatusBar* bar, const QString& text) {
        for (QLabel* l : bar->findChildren<QLabel*>())
            if (l->text() == text)
                return l;
        return nullptr;
    }

private Q_SLOTS:
    // Each test opens a workbench as a new user would: no form remembered from the test before.
    void init() { QSettings().clear(); }

    void initTestCase() {
        // The workbench remembers its form in the settings: kept to the test, as its data folder.
        workbenchtest::isolate(m_dir);
        // A tiny random Llama and a pre-tokenized dataset: counting patterns the adapter can learn.
        m_model = workbenchtest::saveTinyLlama(m_dir.filePath("tiny-model"));
        m_data = m_dir.filePath("count.jsonl");
        QFile f(m_data);
        QVERIFY(f.open(QIODevice::WriteOnly));
        std::mt19937 rng(3);
        for (int i = 0; i < 64; ++i) {
            int start = static_cast<int>(rng() % 40);
            nlohmann::json ids = nlohmann::json::array(), labels = nlohmann::json::array();
            for (int t = 0; t < 16; ++t) {
                ids.push_back(start + t);
                labels.push_back(t < 4 ? -100 : start + t);
            }
            f.write(QByteArray::fromStdString(nlohmann::json{{"input_ids", ids}, {"labels", labels}}.dump() + "\n"));
        }
    }

    void trainPauseStopBrowseOverlay() {
        app::Workbench wb(m_dir.filePath("workbench.sqlite"));
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        fillForm(wb.form(), 400);
        QStringList problems = wb.form()->validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QVERIFY(wb.form()->startButton()->isEnabled());
        QVERIFY(pressStart(wb));
        QVERIFY(wb.controller()->busy());
        const qint64 runId = wb.controller()->currentRunId();

        // Points reach the chart (through queued signals and the replot timer).
        ui::CurvePlot* loss = wb.training()->charts()->chart("loss");
        QTRY_VERIFY_WITH_TIMEOUT(loss->series("train") && loss->series("train")->size() >= 5, 60000);
        QTRY_VERIFY(!loss->isDirty());
        // The Runs view follows the run's status without a Refresh: running (not the "queued" it
        // read when the run was handed to the worker), paused, running again.
        auto shownStatus = [&wb, runId] {
            const ui::RunTableModel* m = wb.runs()->model();
            const storage::RunSummary* s = m->runAt(m->rowOfRun(runId));
            return s ? QString(storage::toString(s->run.status)) : QString("missing");
        };
        QCOMPARE(shownStatus(), QString("running"));

        // Pause: the step count stops moving; resume: it moves again.
        QTest::mouseClick(wb.training()->findChild<QPushButton*>("pauseRun"), Qt::LeftButton);
        QVERIFY(wb.controller()->paused());
        QCOMPARE(shownStatus(), QString("paused"));
        QTest::qWait(400);
        const int atPause = loss->series("train")->size();
        QTest::qWait(800);
        QVERIFY2(loss->series("train")->size() <= atPause + 1, "steps went on while paused");
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Paused);
        QTest::mouseClick(wb.training()->findChild<QPushButton*>("pauseRun"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(loss->series("train")->size() > atPause + 2, 30000);
        QCOMPARE(shownStatus(), QString("running"));

        // Stop and save.
        QSignalSpy ended(wb.controller(), &app::RunController::runEnded);
        QTest::mouseClick(wb.training()->findChild<QPushButton*>("stopSave"), Qt::LeftButton);
        QVERIFY(ended.wait(60000));
        const auto outcome = ended.takeFirst().at(0).value<app::JobOutcome>();
        QCOMPARE(outcome.status, QString("stopped"));
        QVERIFY2(QFile::exists(outcome.adapterDir + "/adapter_model.safetensors"), qPrintable(outcome.adapterDir));
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Stopped);
        // A stop leaves a checkpoint, not an adapter version: a run's final adapter is its one version.
        QCOMPARE(outcome.adapterId, qint64(0));
        QVERIFY(wb.store()->adapters().list().empty());
        QVERIFY(!wb.store()->artifacts().forRun(runId).empty());

        // The run in the runs browser.
        wb.runs()->refresh();
        QVERIFY(wb.runs()->model()->rowOfRun(runId) >= 0);

        // A second, short run to completion, whose version is in the adapters browser with files of
        // its own that hash to what the store recorded; then both runs overlaid.
        fillForm(wb.form(), 6);
        QVERIFY(pressStart(wb));
        const qint64 second = wb.controller()->currentRunId();
        QVERIFY(second != runId);
        QVERIFY(ended.wait(60000));
        const auto finished = ended.takeFirst().at(0).value<app::JobOutcome>();
        QCOMPARE(finished.status, QString("finished"));
        QVERIFY(finished.adapterId > 0);
        const auto version = wb.store()->adapters().require(finished.adapterId);
        QVERIFY(version.path != finished.adapterDir.toStdString());
        QCOMPARE(Sha256::directoryHex(version.path), version.sha256);
        wb.adapters()->refresh();
        QVERIFY(wb.adapters()->model()->indexOfAdapter(finished.adapterId).isValid());
        // The Log dock shows the second run's lines, none of the first's (they stayed above them);
        // opening the first run shows its own again.
        QTRY_VERIFY(wb.window()->logPanel()->toPlainText().contains("saving " + finished.adapterDir));
        const QString secondLog = wb.window()->logPanel()->toPlainText();
        QVERIFY2(secondLog.startsWith(QString("── Run #%1 ").arg(second)), qPrintable(secondLog));
        QVERIFY2(!secondLog.contains("saving " + outcome.adapterDir), qPrintable(secondLog));
        wb.openStoredRun(runId);
        const QString firstLog = wb.window()->logPanel()->toPlainText();
        QVERIFY2(firstLog.startsWith(QString("── Run #%1 ").arg(runId)), qPrintable(firstLog));
        QVERIFY2(firstLog.contains("saving " + outcome.adapterDir) && !firstLog.contains("saving " + finished.adapterDir), qPrintable(firstLog));
        wb.runs()->refresh();
        wb.runs()->selectRuns({runId, second});
        QCOMPARE(wb.runs()->overlay()->seriesNames().size(), 2);
        QVERIFY(wb.runs()->diffTable()->rowCount() >= 1); // max_steps differs

        // Screens render to PNG.
        QString error;
        QVERIFY2(app::ShowcaseRenderer(wb).save(m_dir.filePath("shots"), &error), qPrintable(error));
        for (const char* name : {"new-run", "training", "runs", "adapters"}) {
            QImage img(m_dir.filePath(QString("shots/%1.png").arg(name)));
            QVERIFY2(!img.isNull() && img.width() > 600, name);
        }
    }

    void stoppedRunResumesFromItsCheckpoint() {
        app::Workbench wb(m_dir.filePath("workbench3.sqlite"));
        fillForm(wb.form(), 24);
        wb.form()->findChild<QSpinBox*>("training.save_every")->setValue(2);
        QVERIFY(pressStart(wb));
        const qint64 runId = wb.controller()->currentRunId();
        QTRY_VERIFY_WITH_TIMEOUT(wb.training()->progress()->value() >= 5, 60000);
        QSignalSpy ended(wb.controller(), &app::RunController::runEnded);
        wb.controller()->stop(true);
        QVERIFY(ended.wait(60000));
        const auto stopped = ended.takeFirst().at(0).value<app::JobOutcome>();
        QCOMPARE(stopped.status, QString("stopped"));
        QVERIFY(stopped.steps < 24);
        // The bar shows the step the run stopped at, as the title does, whatever was logged last.
        QCOMPARE(qint64(wb.training()->progress()->value()), stopped.steps);
        // Resume from the runs browser's action: the same run continues to the end.
        wb.runs()->refresh();
        wb.runs()->selectRuns({runId});
        Q_EMIT wb.runs()->resumeRequested(runId);
        QCOMPARE(wb.controller()->currentRunId(), runId);
        // The Training view starts with the run's history up to its checkpoint, not from nothing.
        const ui::CurveSeries* loss = wb.training()->charts()->chart("loss")->series("train");
        QVERIFY(loss && loss->size() > 0);
        QVERIFY(loss->points().front().step <= double(stopped.steps));
        QVERIFY(ended.wait(60000));
        QCOMPARE(loss->points().back().step, 24.0);
        QVERIFY(loss->points().front().step <= double(stopped.steps));
        for (int i = 1; i < loss->size(); ++i) // no step drawn twice
            QVERIFY(loss->points()[i].step > loss->points()[i - 1].step);
        const auto resumed = ended.takeFirst().at(0).value<app::JobOutcome>();
        QCOMPARE(resumed.status, QString("finished"));
        QCOMPARE(resumed.steps, qint64(24));
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
    }

    // Closing with runs queued: the dialog says what becomes of them, they stay queued in the store
    // (not "stopped" with no steps), and the next workbench on the store queues and trains them.
    void closingKeepsQueuedRuns() {
        const QString db = m_dir.filePath("queue.sqlite");
        qint64 first = 0, queued = 0;
        {
            app::Workbench wb(db);
            fillForm(wb.form(), 1000);
            wb.form()->findChild<QSpinBox*>("training.save_every")->setValue(2);
            QVERIFY(pressStart(wb));
            first = wb.controller()->currentRunId();
            fillForm(wb.form(), 5);
            QVERIFY(pressStart(wb));
            QCOMPARE(wb.controller()->waiting().size(), 1);
            queued = wb.controller()->waiting().front().first;
            // Default names tell the model apart: <dataset>_<model folder>_rslora_r<rank>.
            QCOMPARE(QString::fromStdString(wb.store()->runs().require(queued).name), QString("count_tiny-model_rslora_r4"));
            QTRY_VERIFY_WITH_TIMEOUT(wb.training()->progress()->value() >= 3, 60000);
            const QString note = wb.closeQueueNote();
            QVERIFY2(note.contains(QString("#%1").arg(queued)) && note.contains("stay queued"), qPrintable(note));
            wb.setCloseChoice(0);
            QVERIFY(wb.confirmClose());
            QCOMPARE(wb.store()->runs().require(first).status, storage::RunStatus::Stopped);
            QCOMPARE(wb.store()->runs().require(queued).status, storage::RunStatus::Queued);
        }
        app::Workbench reopened(db);
        QCOMPARE(reopened.store()->runs().require(queued).status == storage::RunStatus::Queued ||
                     reopened.store()->runs().require(queued).status == storage::RunStatus::Running,
                 true);
        QCOMPARE(reopened.controller()->currentRunId(), queued);
        QTRY_VERIFY_WITH_TIMEOUT(reopened.store()->runs().require(queued).status == storage::RunStatus::Finished, 60000);
        QCOMPARE(reopened.store()->runs().require(queued).lastStep.value_or(0), int64_t(5));
        QCOMPARE(reopened.store()->runs().require(first).status, storage::RunStatus::Stopped);
    }

    // Start pressed a second time with the same form (a double click, the shortcut repeated, or back
    // on the form later) does not queue the same run again: the second is refused, naming the first.
    void startTwiceQueuesOnce() {
        app::Workbench wb(m_dir.filePath("twice.sqlite"));
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        fillForm(wb.form(), 1000);
        QStringList problems = wb.form()->validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QVERIFY(pressStart(wb));
        QVERIFY(wb.controller()->busy());
        const qint64 first = wb.controller()->currentRunId();
        const size_t runsBefore = wb.store()->runs().list({}).size();
        // The warning the workbench shows: its text is kept and the box closed.
        QStringList warnings;
        QTimer closer;
        connect(&closer, &QTimer::timeout, &closer, [&warnings] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                warnings << box->text();
                box->close();
            }
        });
        closer.start(20);
        wb.window()->views()->setCurrentWidget(wb.form());
        QVERIFY(pressStart(wb));
        QTRY_COMPARE(warnings.size(), 1);
        QVERIFY2(warnings[0].contains(QString("run #%1").arg(first)) && warnings[0].contains("exactly these settings")
                     && warnings[0].contains("training already"),
                 qPrintable(warnings[0]));
        QCOMPARE(wb.controller()->waiting().size(), 0);
        QCOMPARE(wb.store()->runs().list({}).size(), runsBefore);
        // A changed setting queues: then that one is the duplicate (queued, not training).
        wb.form()->findChild<QSpinBox*>("training.max_steps")->setValue(900);
        QVERIFY(pressStart(wb));
        QCOMPARE(wb.controller()->waiting().size(), 1);
        const qint64 second = wb.controller()->waiting().front().first;
        wb.window()->views()->setCurrentWidget(wb.form());
        QVERIFY(pressStart(wb));
        QTRY_COMPARE(warnings.size(), 2);
        QVERIFY2(warnings[1].contains(QString("run #%1").arg(second)) && warnings[1].contains("queued already"), qPrintable(warnings[1]));
        QCOMPARE(wb.controller()->waiting().size(), 1);
        closer.stop();
        wb.controller()->cancelQueued(second);
        QCOMPARE(wb.store()->runs().require(second).status, storage::RunStatus::Stopped);
        QSignalSpy ended(wb.controller(), &app::RunController::runEnded);
        wb.controller()->stop(false);
        QTRY_VERIFY_WITH_TIMEOUT(ended.count() == 1, 60000);
    }

    // Start with data the trainer refuses (an id past the vocabulary on the last line) is refused
    // with the file and line before a run row exists (a failed run was left in the store).
    void badDataQueuesNothing() {
        app::Workbench wb(m_dir.filePath("bad-data.sqlite"));
        fillForm(wb.form(), 5);
        const QString bad = m_dir.filePath("bad-last-line.jsonl");
        {
            QFile in(m_data), out(bad);
            QVERIFY(in.open(QIODevice::ReadOnly) && out.open(QIODevice::WriteOnly));
            out.write(in.readAll());
            out.write("{\"input_ids\": [1, 2, 64, 3]}\n");
        }
        engine::TrainConfig config = wb.form()->config();
        config.trainData = bad.toStdString();
        QString error;
        try {
            wb.controller()->enqueue(config, "bad");
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QVERIFY2(error.contains(bad + ":") && error.contains("input_ids[2] = 64 is outside the model's vocabulary"), qPrintable(error));
        QVERIFY(!wb.controller()->busy());
        QCOMPARE(wb.store()->runs().list({}).size(), size_t(0));
    }

    // The close question left open while the run ends: no queued run starts behind it, the question
    // says the run ended, and answering it closes without touching a run (it used to throw "no run
    // with id 0" out of the event loop and abort).
    void closeQuestionOutlivesTheRun() {
        app::Workbench wb(m_dir.filePath("question.sqlite"));
        fillForm(wb.form(), 12);
        QVERIFY(pressStart(wb));
        const qint64 first = wb.controller()->currentRunId();
        fillForm(wb.form(), 5);
        QVERIFY(pressStart(wb));
        QCOMPARE(wb.controller()->waiting().size(), 1);
        const qint64 queued = wb.controller()->waiting().front().first;
        // Paused until the question is open, so that the run surely ends while it is.
        wb.controller()->pause();
        QTRY_VERIFY_WITH_TIMEOUT(wb.controller()->paused(), 30000);
        // A paused run is said to be paused, not training.
        QVERIFY2(wb.closeQuestion().startsWith(QString("Run #%1 is paused.").arg(first)), qPrintable(wb.closeQuestion()));
        QString seen;
        bool clicked = false, resumed = false;
        QTimer poll;
        connect(&poll, &QTimer::timeout, [&] {
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            if (box && !resumed) {
                resumed = true;
                wb.controller()->resume();
            }
            if (!box || clicked || !box->text().contains("ended while this question was open"))
                return;
            seen = box->text();
            for (auto* b : box->findChildren<QPushButton*>())
                if (b->text() == "Close" && b->isVisible()) {
                    clicked = true;
                    b->click();
                }
        });
        poll.start(50);
        QVERIFY(wb.confirmClose());
        QVERIFY2(clicked, qPrintable(seen));
        QVERIFY2(seen.contains(QString("Run #%1 ended").arg(first)), qPrintable(seen));
        QCOMPARE(wb.store()->runs().require(first).status, storage::RunStatus::Finished);
        QCOMPARE(wb.store()->runs().require(queued).status, storage::RunStatus::Queued);
        QVERIFY(!wb.controller()->busy());
    }

    // Pause or Resume pressed after the worker recorded the run's end but before its report reached
    // the window (busy() still true): the run stays finished (it was left "paused", or "running" for
    // good while the workbench was open).
    void pauseAsTheRunEndsKeepsItsEnd() {
        app::Workbench wb(m_dir.filePath("pause-at-end.sqlite"));
        fillForm(wb.form(), 4);
        QVERIFY(pressStart(wb));
        const qint64 runId = wb.controller()->currentRunId();
        QVERIFY(runId > 0);
        // No events processed: the worker's end report stays queued for this thread.
        QElapsedTimer waited;
        waited.start();
        while (wb.store()->runs().require(runId).status != storage::RunStatus::Finished && waited.elapsed() < 60000)
            QThread::msleep(10);
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
        QVERIFY(wb.controller()->busy());
        wb.controller()->pause();
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
        wb.controller()->resume();
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
        QTRY_VERIFY_WITH_TIMEOUT(!wb.controller()->busy(), 30000);
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Finished);
    }

    // Ctrl+P pauses and resumes as often as pressed; the time paused is no training time: not in
    // the run's elapsed time (the charts' wall-time axis) nor in its duration in the Runs view.
    void ctrlPTogglesAndPausedTimeIsLeftOut() {
        app::Workbench wb(m_dir.filePath("pause.sqlite"));
        wb.window()->resize(1366, 768);
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowActive(wb.window()));
        fillForm(wb.form(), 1000);
        QElapsedTimer wall;
        wall.start();
        QVERIFY(pressStart(wb));
        const qint64 runId = wb.controller()->currentRunId();
        ui::CurvePlot* loss = wb.training()->charts()->chart("loss");
        QTRY_VERIFY_WITH_TIMEOUT(loss->series("train") && loss->series("train")->size() >= 3, 60000);
        for (int round = 0; round < 3; ++round) {
            // A shortcut "clicks" its button after a short animation: wait for the effect.
            QTest::keyClick(wb.window(), Qt::Key_P, Qt::ControlModifier);
            QTRY_VERIFY2(wb.controller()->paused(), qPrintable(QString("Ctrl+P did not pause (round %1)").arg(round + 1)));
            QTest::keyClick(wb.window(), Qt::Key_P, Qt::ControlModifier);
            QTRY_VERIFY2(!wb.controller()->paused(), qPrintable(QString("Ctrl+P did not resume (round %1)").arg(round + 1)));
        }
        QTest::keyClick(wb.window(), Qt::Key_P, Qt::ControlModifier);
        QTRY_VERIFY(wb.controller()->paused());
        QTest::qWait(500); // the step in flight ends
        QElapsedTimer paused;
        paused.start();
        QTest::qWait(3000); // longer than loading the model before the first step
        const double pausedSeconds = paused.elapsed() / 1000.0;
        QTest::keyClick(wb.window(), Qt::Key_P, Qt::ControlModifier);
        QTRY_VERIFY(!wb.controller()->paused());
        const int atResume = loss->series("train")->size();
        QTRY_VERIFY_WITH_TIMEOUT(loss->series("train")->size() >= atResume + 3, 60000);
        QSignalSpy ended(wb.controller(), &app::RunController::runEnded);
        wb.controller()->stop(true);
        QVERIFY(ended.wait(60000));
        const double wallSeconds = wall.elapsed() / 1000.0;
        const double trained = loss->series("train")->points().back().wallTime;
        QVERIFY2(trained <= wallSeconds - pausedSeconds,
                 qPrintable(QString("elapsed %1 s counts the %2 s paused (wall %3 s)").arg(trained).arg(pausedSeconds).arg(wallSeconds)));
        wb.runs()->refresh();
        const storage::RunSummary* row = wb.runs()->model()->runAt(wb.runs()->model()->rowOfRun(runId));
        QVERIFY(row);
        const double duration = ui::RunTableModel::durationSeconds(*row, QDateTime::currentMSecsSinceEpoch() / 1000.0);
        QVERIFY2(duration >= 0 && duration <= wallSeconds - pausedSeconds,
                 qPrintable(QString("duration %1 s counts the %2 s paused").arg(duration).arg(pausedSeconds)));
    }

    // Following a run another process trains: its step count and a moving progress bar; queued runs
    // wait for it to end, then train; an opened stored run shows its own step count.
    void followingAHeadlessRunShowsProgressAndHoldsTheQueue() {
        const QString db = m_dir.filePath("follow.sqlite");
        qint64 external = 0, waiting = 0;
        {
            storage::Store store(db.toStdString());
            engine::TrainConfig config = headlessConfig();
            external = createHeadlessRun(store, config, 20);
            std::vector<storage::MetricPoint> pts;
            for (int i = 1; i <= 20; ++i)
                pts.push_back({external, "train/loss", i, 1000.0 + i, 3.0 / i});
            store.metricsIngest().insert(pts);
            // A run a closed workbench left queued (owned by no process).
            config.maxSteps = 3;
            config.adapter.rank = 4;
            config.batchSize = 4;
            config.maxSeqLen = 32;
            config.outputDir = m_dir.filePath("follow-queued").toStdString();
            storage::RunRecord q;
            q.name = "queued";
            q.status = storage::RunStatus::Queued;
            q.configJson = config.toJson().dump();
            waiting = store.runs().create(q);
        }
        app::Workbench wb(db);
        QCOMPARE(wb.training()->progress()->text(), QString("20 / 60 steps"));
        QVERIFY(!wb.controller()->busy());
        QCOMPARE(wb.controller()->waiting().size(), 1);
        QCOMPARE(wb.controller()->waiting().front().first, waiting);
        {
            std::vector<storage::MetricPoint> pts;
            for (int i = 21; i <= 30; ++i)
                pts.push_back({external, "train/loss", i, 1000.0 + i, 3.0 / i});
            wb.store()->metricsIngest().insert(pts);
            wb.store()->runs().heartbeat(external, 30);
        }
        QTRY_COMPARE_WITH_TIMEOUT(wb.training()->progress()->text(), QString("30 / 60 steps"), 10000);
        QVERIFY(!wb.controller()->busy());
        wb.store()->runs().heartbeat(external, 60);
        wb.store()->runs().setStatus(external, storage::RunStatus::Finished);
        QTRY_VERIFY_WITH_TIMEOUT(wb.store()->runs().require(waiting).status == storage::RunStatus::Finished, 60000);
        // The finished headless run opened from the Runs view: its own count, not the last run's.
        wb.openStoredRun(external);
        QCOMPARE(wb.training()->progress()->text(), QString("60 / 60 steps"));
    }

    // A status-bar message while a run of another process is followed: the progress bar stays hidden
    // under it (it was shown again on every poll and drawn over the message's first words) and comes
    // back once the message has gone.
    void followedProgressLeavesStatusMessagesWhole() {
        const QString db = m_dir.filePath("follow-message.sqlite");
        qint64 external = 0;
        {
            storage::Store store(db.toStdString());
            external = createHeadlessRun(store, headlessConfig(), 10);
        }
        app::Workbench wb(db);
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        QStatusBar* bar = wb.window()->statusBar();
        QProgressBar* progress = bar->findChild<QProgressBar*>();
        QVERIFY(progress);
        QTRY_VERIFY_WITH_TIMEOUT(progress->isVisible(), 5000);
        bar->showMessage("Pipeline demo-sft-dpo (2 stages) is training in its own process", 60000);
        QVERIFY(!progress->isVisible());
        // Polls of the followed run (one a second) move the bar without showing it over the message.
        for (int step = 11; step <= 13; ++step) {
            wb.store()->runs().heartbeat(external, step);
            QTRY_COMPARE_WITH_TIMEOUT(progress->value(), step, 5000);
            QVERIFY2(!progress->isVisible(), qPrintable(QString("shown over the message at step %1").arg(step)));
        }
        bar->clearMessage();
        QTRY_VERIFY_WITH_TIMEOUT(progress->isVisible(), 5000);
        wb.store()->runs().setStatus(external, storage::RunStatus::Finished);
        QTRY_VERIFY_WITH_TIMEOUT(!progress->isVisible(), 5000);
    }

    // The status bar's run label ("Run #6 starting", then its step, speed and ETA) shows once a run
    // starts: added while the window said "Ready", it stayed hidden for good.
    void statusBarShowsTheRunLabel() {
        app::Workbench wb(m_dir.filePath("label.sqlite"));
        wb.window()->show();
        QVERIFY(QTest::qWaitForWindowExposed(wb.window()));
        QStatusBar* bar = wb.window()->statusBar();
        Q_EMIT wb.controller()->runStarted(6, "next");
        QLabel* label = labelSaying(bar, "Run #6 starting");
        QVERIFY(label);
        QVERIFY(label->isVisible());
        // A message hides it while it shows, and it comes back after.
        bar->showMessage("Copied the CLI command to the clipboard", 60000);
        QVERIFY(!label->isVisible());
        bar->clearMessage();
        QVERIFY(label->isVisible());
    }

    // Paused, the run label says so at the step reached, without a speed or an ETA that runs on; it
    // kept "step 135/200 · 3715 tok/s · ETA 0:13" while the run stood still. Resumed, the step shows again.
    void statusBarSaysARunIsPaused() {
        app::Workbench wb(m_dir.filePath("paused label.sqlite"));
        QStatusBar* bar = wb.window()->statusBar();
        Q_EMIT wb.controller()->runStarted(6, "next");
        QLabel* label = labelSaying(bar, "Run #6 starting");
        QVERIFY(label);
        engine::StepStats s;
        s.step = 135;
        s.totalSteps = 200;
        s.tokensPerSecond = 3715;
        s.etaSeconds = 13;
        Q_EMIT wb.controller()->stepReported(s);
        QCOMPARE(label->text(), QString("Run #6 · step 135/200 · 3715 tok/s · ETA 0:13"));
        Q_EMIT wb.controller()->pausedChanged(true);
        QCOMPARE(label->text(), QString("Run #6 · paused at step 135/200"));
        Q_EMIT wb.controller()->pausedChanged(false);
        QCOMPARE(label->text(), QString("Run #6 · step 135/200 · 3715 tok/s · ETA 0:13"));
        // Once the run has ended, a late pause signal leaves its outcome alone.
        Q_EMIT wb.controller()->runEnded(finishedRun(6, 200, 0.5));
        Q_EMIT wb.controller()->pausedChanged(true);
        QCOMPARE(label->text(), QString("Run #6 finished: 200 steps, loss 0.5000"));
    }

    // Silent successes say what they did; the outcome of a run is not said twice.
    void statusBarConfirmsActions() {
        app::Workbench wb(m_dir.filePath("status.sqlite"));
        QStatusBar* bar = wb.window()->statusBar();
        Q_EMIT wb.controller()->runEnded(finishedRun(5, 60, 1.2345));
        QCOMPARE(bar->currentMessage(), QString("Run #5 finished: 60 steps, loss 1.2345"));
        // The next run's progress is not covered by the last run's outcome.
        Q_EMIT wb.controller()->runStarted(6, "next");
        QVERIFY2(bar->currentMessage().isEmpty(), qPrintable(bar->currentMessage()));
        fillForm(wb.form(), 10);
        QTest::mouseClick(wb.form()->findChild<QPushButton*>("copyCli"), Qt::LeftButton);
        QVERIFY2(bar->currentMessage().contains("clipboard"), qPrintable(bar->currentMessage()));
        QTemporaryDir out;
        ui::CurvePoint point; // an empty view is not exported: one point of the new run
        point.step = 1;
        point.value = 2.0;
        wb.training()->charts()->addMetric("train/loss", point);
        QVERIFY(wb.training()->charts()->exportAll(out.path()));
        QVERIFY2(bar->currentMessage().contains(QDir::toNativeSeparators(QDir(out.path()).absolutePath())), qPrintable(bar->currentMessage()));
        // The built-in demo model is named "demo" in run names.
        QVERIFY(wb.loadDemo());
        const QString demoName = app::Workbench::defaultRunName(wb.form()->config());
        QVERIFY2(demoName.contains("_demo_rslora_r"), qPrintable(demoName));
    }

    // A stored gate holds no low-rank factors: Fuse… and Export merged refuse it, saying where it is used.
    void storedGatesAreNotFusedOrMerged() {
        app::Workbench wb(m_dir.filePath("gates.sqlite"));
        auto version = [&](const std::string& task, const std::string& stage) {
            storage::NewAdapter n;
            n.task = task;
            n.stage = stage;
            n.path = m_dir.filePath(QString::fromStdString(task)).toStdString();
            return wb.store()->adapters().create(n).id;
        };
        const qint64 gate = version("router", "gate");
        const qint64 adapter = version("alpha", "sft");
        const qint64 other = version("beta", "sft");
        wb.adapters()->refresh();
        QVERIFY(wb.openFuseDialog({gate, adapter}) == nullptr);
        QVERIFY2(wb.window()->statusBar()->currentMessage().contains("router v1 is a learned gate"),
                 qPrintable(wb.window()->statusBar()->currentMessage()));
        QVERIFY(wb.openExportMergedDialog({gate}) == nullptr);
        ui::FuseDialog* fuse = wb.openFuseDialog({adapter, other});
        QVERIFY2(fuse, "two adapters still open the dialog");
        fuse->close();
    }

    void closingWhileTrainingStopsWithCheckpoint() {
        app::Workbench wb(m_dir.filePath("workbench2.sqlite"));
        fillForm(wb.form(), 1000);
        wb.form()->findChild<QSpinBox*>("training.save_every")->setValue(2);
        QVERIFY(pressStart(wb));
        const qint64 runId = wb.controller()->currentRunId();
        QTRY_VERIFY_WITH_TIMEOUT(wb.training()->progress()->value() >= 3, 60000);
        wb.setCloseChoice(0);
        QVERIFY(wb.confirmClose());
        QVERIFY(!wb.controller()->busy());
        QCOMPARE(wb.store()->runs().require(runId).status, storage::RunStatus::Stopped);
        auto artifacts = wb.store()->artifacts().forRun(runId);
        QVERIFY(!artifacts.empty());
    }

    // "Keep training headless": the window stops the run with a checkpoint and hands it to the CLI,
    // which continues the same run to the end in the same store (the one the workbench was opened
    // on, not the default), as another process.
    void closingWhileTrainingCanKeepTrainingHeadless() {
        qputenv("RSLORA_CLI", RSLORA_CLI_FOR_TESTS);
        QCOMPARE(app::Workbench::cliExecutable(), QString(RSLORA_CLI_FOR_TESTS));
        app::Workbench wb(m_dir.filePath("workbench3.sqlite"));
        fillForm(wb.form(), 40);
        wb.form()->findChild<QSpinBox*>("training.save_every")->setValue(2);
        QVERIFY(pressStart(wb));
        const qint64 runId = wb.controller()->currentRunId();
        QTRY_VERIFY_WITH_TIMEOUT(wb.training()->progress()->value() >= 3, 60000);
        wb.setCloseChoice(1);
        QVERIFY(wb.confirmClose());
        QVERIFY(!wb.controller()->busy());
        QTRY_VERIFY_WITH_TIMEOUT(wb.store()->runs().require(runId).status == storage::RunStatus::Finished, 180000);
        const auto run = wb.store()->runs().require(runId);
        QCOMPARE(run.lastStep.value_or(0), int64_t(40));
        QVERIFY(run.pid.value_or(0) != int64_t(QCoreApplication::applicationPid()));
        bool adapterOfRun = false;
        for (const auto& a : wb.store()->adapters().list())
            adapterOfRun = adapterOfRun || a.sourceRunId == std::optional<int64_t>(runId);
        QVERIFY(adapterOfRun);
    }
};

QTEST_MAIN(WorkbenchTest)
#include "WorkbenchTest.moc"
