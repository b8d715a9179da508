// The Training view between and during runs: Ctrl+P pauses and resumes as often as pressed, from any
// tab of the window as Ctrl+. stops, and a
// new or opened run shows nothing of the one before (red title, axes, crosshair, step count).
#include "ui/ChartsPanel.h"
#include "ui/CurvePlot.h"
#include "ui/MainWindow.h"
#include "ui/TrainingPanel.h"

#include "engine/TrainObserver.h"

#include <QApplication>
#include <QLabel>
#include <QMessageBox>
#include <QTimer>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QtTest>
#include <qcustomplot.h>

using namespace rslora;

namespace {
engine::StepStats step(int64_t n, int64_t total) {
    engine::StepStats s;
    s.step = n;
    s.totalSteps = total;
    s.loss = 3.0 / double(n);
    s.learningRate = 1e-3;
    s.gradNorm = 1.0;
    s.tokensPerSecond = 1000;
    s.elapsedSeconds = n * 0.5;
    return s;
}
} // namespace

class TrainingPanelTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // The controller answers each request with setPaused(); Ctrl+P must keep alternating.
    void ctrlPTogglesPauseEveryTime() {
        ui::TrainingPanel panel;
        panel.resize(1000, 600);
        panel.show();
        QVERIFY(QTest::qWaitForWindowActive(&panel));
        panel.beginRun(1, "run");
        QSignalSpy pauses(&panel, &ui::TrainingPanel::pauseRequested);
        QSignalSpy resumes(&panel, &ui::TrainingPanel::resumeRequested);
        auto* button = panel.findChild<QPushButton*>("pauseRun");
        for (int round = 1; round <= 3; ++round) {
            // A shortcut "clicks" the button after a short animation: wait for the signal.
            QTest::keyClick(&panel, Qt::Key_P, Qt::ControlModifier);
            QTRY_COMPARE(pauses.count(), round);
            panel.setPaused(true);
            QCOMPARE(button->text(), QString("Resume"));
            QTest::keyClick(&panel, Qt::Key_P, Qt::ControlModifier);
            QTRY_COMPARE(resumes.count(), round);
            panel.setPaused(false);
            QCOMPARE(button->text(), QString("Pause"));
        }
    }

    // Ctrl+P and Ctrl+. act on the run whichever tab shows (a button's own shortcut fires only while
    // the button shows), once per press with the Training tab showing too, and not without a run.
    void shortcutsWorkFromEveryTab() {
        ui::MainWindow window;
        auto* form = new QWidget;
        window.addView(form, "New run");
        auto* panel = new ui::TrainingPanel;
        window.addView(panel, "Training");
        window.show();
        QVERIFY(QTest::qWaitForWindowActive(&window));
        window.views()->setCurrentWidget(form);
        QVERIFY(!panel->isVisible());
        panel->beginRun(1, "run");
        QSignalSpy pauses(panel, &ui::TrainingPanel::pauseRequested);
        QSignalSpy resumes(panel, &ui::TrainingPanel::resumeRequested);
        QSignalSpy stops(panel, &ui::TrainingPanel::stopRequested);
        QTest::keyClick(form, Qt::Key_P, Qt::ControlModifier);
        QCOMPARE(pauses.count(), 1);
        panel->setPaused(true);
        QTest::keyClick(form, Qt::Key_P, Qt::ControlModifier);
        QCOMPARE(resumes.count(), 1);
        panel->setPaused(false);
        QTest::keyClick(form, Qt::Key_Period, Qt::ControlModifier);
        QCOMPARE(stops.count(), 1);
        QCOMPARE(stops.first().first().toBool(), true);

        window.views()->setCurrentWidget(panel);
        QTest::keyClick(panel, Qt::Key_P, Qt::ControlModifier);
        QCOMPARE(pauses.count(), 2);
        panel->findChild<QPushButton*>("pauseRun")->click();
        QCOMPARE(pauses.count(), 3);

        panel->endRun("stopped", false);
        window.views()->setCurrentWidget(form);
        QTest::keyClick(form, Qt::Key_P, Qt::ControlModifier);
        QTest::keyClick(form, Qt::Key_Period, Qt::ControlModifier);
        QCOMPARE(pauses.count(), 3);
        QCOMPARE(stops.count(), 1);
    }

    // The queue shows while runs wait and gives its width to the charts when none does (empty, it took
    // about a third of an 800-pixel window).
    void emptyQueueLeavesTheWidthToTheCharts() {
        ui::TrainingPanel panel;
        panel.resize(800, 420);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        auto* box = panel.findChild<QWidget*>("queueBox");
        QVERIFY(box);
        QVERIFY(!box->isVisible());
        QVERIFY2(panel.charts()->width() > 760, qPrintable(QString::number(panel.charts()->width())));
        panel.setQueue({{5, "a"}});
        QVERIFY(box->isVisible());
        QVERIFY(panel.queue()->isVisible());
        QTRY_VERIFY2(panel.charts()->width() < 700, qPrintable(QString::number(panel.charts()->width())));
        panel.setQueue({});
        QVERIFY(!box->isVisible());
        QTRY_VERIFY(panel.charts()->width() > 760);
    }

    // Up, Down and Cancel act on the selected queued run: all off with an empty queue or nothing
    // selected, Up off for the first run and Down for the last; a refreshed queue keeps the selection.
    void queueButtonsFollowTheSelection() {
        ui::TrainingPanel panel;
        auto* up = panel.findChild<QPushButton*>("queueUp");
        auto* down = panel.findChild<QPushButton*>("queueDown");
        auto* cancel = panel.findChild<QPushButton*>("queueCancel");
        QVERIFY(up && down && cancel);
        auto enabled = [&] { return QList<bool>{up->isEnabled(), down->isEnabled(), cancel->isEnabled()}; };
        QCOMPARE(enabled(), (QList<bool>{false, false, false}));
        panel.setQueue({{5, "a"}, {6, "b"}, {7, "c"}});
        QCOMPARE(enabled(), (QList<bool>{false, false, false}));
        QSignalSpy moves(&panel, &ui::TrainingPanel::moveQueuedRequested);
        QSignalSpy cancels(&panel, &ui::TrainingPanel::cancelQueuedRequested);
        panel.queue()->setCurrentRow(0);
        QCOMPARE(enabled(), (QList<bool>{false, true, true}));
        QTest::mouseClick(down, Qt::LeftButton);
        QCOMPARE(moves.count(), 1);
        QCOMPARE(moves.first().at(0).toLongLong(), 5);
        QCOMPARE(moves.first().at(1).toInt(), 1);
        panel.queue()->setCurrentRow(1);
        QCOMPARE(enabled(), (QList<bool>{true, true, true}));
        panel.queue()->setCurrentRow(2);
        QCOMPARE(enabled(), (QList<bool>{true, false, true}));
        // The controller answers a move with the new order: the selected run stays selected.
        panel.setQueue({{7, "c"}, {5, "a"}, {6, "b"}});
        QCOMPARE(panel.queue()->currentItem()->data(Qt::UserRole).toLongLong(), 7);
        QCOMPARE(enabled(), (QList<bool>{false, true, true}));
        panel.queue()->clearSelection();
        QCOMPARE(enabled(), (QList<bool>{false, false, false}));
        QTest::mouseClick(cancel, Qt::LeftButton);
        QCOMPARE(cancels.count(), 0);
        panel.queue()->setCurrentRow(1);
        QTest::mouseClick(cancel, Qt::LeftButton);
        QCOMPARE(cancels.count(), 1);
        QCOMPARE(cancels.first().first().toLongLong(), 5);
        panel.setQueue({});
        QCOMPARE(enabled(), (QList<bool>{false, false, false}));
    }

    // A preference run adds a third row of charts; the window still fits a 1366x768 screen (the rows
    // scroll instead of raising the window's minimum height), and every chart stays readable.
    void preferenceChartsFitASmallScreen() {
        ui::MainWindow window;
        auto* panel = new ui::TrainingPanel;
        window.addView(panel, "Training");
        window.resize(1366, 700);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(panel->charts()->addMetric("dpo/margin", {1, 0, 0, 0, 0.5}));
        QApplication::processEvents();
        QVERIFY(panel->findChild<QWidget*>("preferenceCharts")->isVisible());
        QVERIFY2(window.minimumSizeHint().height() <= 700, qPrintable(QString::number(window.minimumSizeHint().height())));
        QVERIFY2(window.height() <= 700, qPrintable(QString::number(window.height())));
        for (auto* chart : panel->findChildren<ui::CurvePlot*>())
            QVERIFY2(chart->height() >= 150, qPrintable(chart->objectName() + ": " + QString::number(chart->height())));
    }

    // A long run name (a sweep's carries its swept values and the saving path) is elided with the
    // whole title in the tooltip, and does not widen the window; markup in a name shows as typed.
    void longOrMarkedUpNamesDoNotWidenTheWindow() {
        ui::MainWindow window;
        auto* panel = new ui::TrainingPanel;
        window.addView(panel, "Training");
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const int minimumBefore = window.minimumSizeHint().width();
        const QString name = "facts_train_rslora_" + QString("adapter.r=16, training.learning_rate=0.0002, ").repeated(12) + "<b>bold</b>";
        panel->beginRun(11, name);
        panel->onStatus("saving /home/user/.local/share/rslora/runs/run-11/" + QString("deep/").repeated(30) + "adapter");
        QApplication::processEvents();
        auto* title = panel->findChild<QLabel*>("runTitle");
        QVERIFY(title);
        QCOMPARE(title->textFormat(), Qt::PlainText);
        QVERIFY2(window.minimumSizeHint().width() <= std::max(minimumBefore, 1000),
                 qPrintable(QString("minimum width %1 (before %2)").arg(window.minimumSizeHint().width()).arg(minimumBefore)));
        QVERIFY2(window.width() <= 1280, qPrintable(QString::number(window.width())));
        QVERIFY2(title->text().contains(QChar(0x2026)) && title->text().startsWith("Run #11 facts_train"), qPrintable(title->text()));
        QVERIFY(title->toolTip().contains(name) && title->toolTip().endsWith("deep/adapter"));
        QVERIFY(panel->titleText().startsWith("Run #11 " + name + " — saving"));
        // A name holding " — " keeps its whole self when the status after it changes.
        panel->beginRun(12, "a — b");
        panel->setPaused(true);
        QCOMPARE(panel->titleText(), QString("Run #12 a — b — paused"));
    }

    void newRunShowsNothingOfAFailedOne() {
        ui::TrainingPanel panel;
        panel.resize(1200, 700);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        auto* title = panel.findChild<QLabel*>("runTitle");
        panel.beginRun(1, "first");
        for (int i = 1; i <= 20; ++i)
            panel.onStep(step(i, 20));
        ui::CurvePlot* loss = panel.charts()->chart("loss");
        panel.charts()->replotNow();
        // The range reaches a few pixels past the last point (at most 5 % of the range) so it is drawn whole.
        const double upper = loss->plot()->xAxis->range().upper;
        QVERIFY2(upper > 20.0 && upper <= 20.0 + 0.05 * 19.0 + 1e-9, qPrintable(QString::number(upper)));
        // The crosshair read-out of the first run, as a mouse over the chart leaves it.
        const QPoint inside = loss->plot()->axisRect()->rect().center();
        QMouseEvent move(QEvent::MouseMove, inside, loss->plot()->mapToGlobal(inside), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
        QApplication::sendEvent(loss->plot(), &move);
        auto* crossText = loss->plot()->findChild<QCPItemText*>();
        QVERIFY(crossText && crossText->visible());
        panel.endRun("failed", true);
        QVERIFY(title->styleSheet().contains("#c62828"));

        panel.beginRun(2, "second");
        QVERIFY2(title->styleSheet().isEmpty(), qPrintable(title->styleSheet()));
        QVERIFY(title->text().startsWith("Run #2 second"));
        panel.charts()->replotNow();
        QVERIFY2(loss->plot()->xAxis->range().upper < 20.0, "the previous run's x range stayed");
        QVERIFY(!crossText->visible());
        QVERIFY(crossText->text().isEmpty());
        // Before its first step the new run shows no step count of the old one.
        QVERIFY(!panel.progress()->text().contains("20"));
        panel.onStep(step(1, 60));
        QCOMPARE(panel.progress()->text(), QString("1 / 60 steps"));
    }

    void storedRunShowsItsOwnStepCount() {
        ui::TrainingPanel panel;
        panel.beginRun(1, "short");
        for (int i = 1; i <= 20; ++i)
            panel.onStep(step(i, 20));
        panel.endRun("finished", false);
        QCOMPARE(panel.progress()->text(), QString("20 / 20 steps"));
        panel.showStoredRun(7, "long", 60, 60);
        QCOMPARE(panel.progress()->text(), QString("60 / 60 steps"));
        panel.showStoredRun(8, "stopped", 32, 60);
        QCOMPARE(panel.progress()->text(), QString("32 / 60 steps"));
        // Sized by epochs and not finished: the total is unknown, the step is still told.
        panel.showStoredRun(9, "epochs", 12, 0);
        QCOMPARE(panel.progress()->text(), QString("step 12"));
        QCOMPARE(panel.progress()->value(), 0);
    }

    // The peak memory of the step: the process's resident set on the CPU, the CUDA allocator's
    // allocated and reserved peaks on a GPU.
    void stepLineShowsPeakMemory() {
        ui::TrainingPanel panel;
        panel.beginRun(1, "mem");
        engine::StepStats s = step(1, 10);
        s.peakMemoryBytes = int64_t(3) << 30;
        panel.onStep(s);
        auto* stats = panel.findChild<QLabel*>("runStats");
        QVERIFY(stats);
        QVERIFY2(stats->text().contains("memory 3.00 GiB"), qPrintable(stats->text()));
        QVERIFY(!stats->text().contains("VRAM"));
        s.cudaPeakAllocatedBytes = int64_t(3) << 29;
        s.cudaPeakReservedBytes = int64_t(2) << 30;
        panel.onStep(s);
        QVERIFY2(stats->text().contains("VRAM 1.50 GiB (reserved 2.00 GiB)"), qPrintable(stats->text()));
        QVERIFY(stats->text().contains("ETA"));
        // Paused: the ETA goes until the next step; the rest of the line stays.
        panel.setPaused(true);
        QVERIFY2(!stats->text().contains("ETA") && stats->text().contains("epoch"), qPrintable(stats->text()));
        panel.setPaused(false);
        panel.onStep(s);
        QVERIFY(stats->text().contains("ETA"));
        // Ended: the ETA goes, the rest of the line stays.
        panel.endRun("stopped at step 1", false);
        QVERIFY2(!stats->text().contains("ETA") && stats->text().contains("epoch"), qPrintable(stats->text()));
    }

    // Stop & discard loses the steps since the last checkpoint: it asks, and No keeps training.
    void stopAndDiscardAsksFirst() {
        ui::TrainingPanel panel;
        panel.beginRun(4, "discard");
        panel.onStep(step(1, 10));
        QSignalSpy stops(&panel, &ui::TrainingPanel::stopRequested);
        auto* discard = panel.findChild<QPushButton*>("stopDiscard");
        QVERIFY(discard && discard->isEnabled());
        for (const auto answer : {QMessageBox::No, QMessageBox::Yes}) {
            QString asked;
            QTimer poll;
            connect(&poll, &QTimer::timeout, [&] {
                auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
                if (!box || !asked.isEmpty())
                    return;
                asked = box->text();
                box->button(answer)->click();
            });
            poll.start(20);
            discard->click();
            QVERIFY2(asked.contains("Run #4 stops without saving"), qPrintable(asked));
        }
        QCOMPARE(stops.count(), 1);
        QCOMPARE(stops.at(0).at(0).toBool(), false);
    }
};

QTEST_MAIN(TrainingPanelTest)
#include "TrainingPanelTest.moc"
