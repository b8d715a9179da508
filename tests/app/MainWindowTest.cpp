// The main window opens with its menus, docks and status bar; the About dialog lists the components.
#include "ui/AboutDialog.h"
#include "ui/AdaptersBrowser.h"
#include "ui/LogPanel.h"
#include "ui/MainWindow.h"
#include "ui/PlaygroundView.h"
#include "ui/RunForm.h"
#include "ui/RunsBrowser.h"
#include "ui/SweepResultsView.h"
#include "ui/TrainingPanel.h"

#include "common/Log.h"

#include <QAbstractScrollArea>
#include <QDockWidget>
#include <QMenuBar>
#include <QPushButton>
#include <QStatusBar>
#include <QTabWidget>
#include <QElapsedTimer>
#include <QThread>
#include <QTime>
#include <QtTest>

class MainWindowTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void opensWithMenusAndDocks() {
        rslora::ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QStringList menus;
        for (QAction* a : w.menuBar()->actions())
            menus << a->text().remove('&');
        QVERIFY2(menus.contains("File") && menus.contains("Help"), qPrintable(menus.join(",")));
        QVERIFY(w.findChild<QDockWidget*>("logDock"));
        QVERIFY(w.views());
        QVERIFY(!w.statusBar()->currentMessage().isEmpty());
    }

    // At 800x600 the window was 903 pixels wide whichever view showed: it takes its widest view's
    // width, and four were wider than 800 (New run 899 with its preset box and seven buttons on one
    // row, Training 888 with the charts' two control groups side by side, Sweeps 877, Adapters 823).
    // Each view, shown in turn, fits with its buttons whole.
    void everyViewFitsASmallWindow() {
        rslora::ui::MainWindow w;
        auto* form = new rslora::ui::RunForm;
        form->setRemembersState(false);
        w.addView(form, "New run");
        w.addView(new rslora::ui::TrainingPanel, "Training");
        w.addView(new rslora::ui::RunsBrowser, "Runs");
        w.addView(new rslora::ui::AdaptersBrowser, "Adapters");
        w.addView(new rslora::ui::PlaygroundView, "Playground");
        w.addView(new rslora::ui::SweepResultsView, "Sweeps");
        w.resize(800, 600);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        // The window is as wide as its widest view needs, whichever shows.
        QStringList wide;
        for (int i = 0; i < w.views()->count(); ++i)
            if (const int needs = w.views()->widget(i)->minimumSizeHint().width(); needs > 800)
                wide << QString("%1 needs %2 pixels").arg(w.views()->tabText(i)).arg(needs);
        QVERIFY2(wide.isEmpty(), qPrintable(wide.join("; ")));
        for (int i = 0; i < w.views()->count(); ++i) {
            QWidget* view = w.views()->widget(i);
            const QString name = w.views()->tabText(i);
            w.views()->setCurrentIndex(i);
            QTest::qWait(20); // the layouts settle
            QVERIFY2(w.width() <= 800, qPrintable(QString("%1: the window is %2 pixels wide").arg(name).arg(w.width())));
            for (const QPushButton* b : view->findChildren<QPushButton*>()) {
                bool scrolls = false; // a button in a scroll area may be scrolled out of sight
                for (const QWidget* p = b->parentWidget(); p && p != view; p = p->parentWidget())
                    scrolls = scrolls || qobject_cast<const QAbstractScrollArea*>(p);
                if (!b->isVisibleTo(view) || b->window() != &w || scrolls)
                    continue;
                const QRect r(b->mapTo(view, QPoint(0, 0)), b->size());
                QVERIFY2(b->width() >= b->minimumSizeHint().width() && view->rect().contains(r),
                         qPrintable(QString("%1: '%2' at %3..%4 of %5").arg(name, b->text()).arg(r.left()).arg(r.right()).arg(view->width())));
            }
        }
    }

    void aboutListsComponents() {
        QString html = rslora::ui::AboutDialog::componentsHtml();
        for (const char* k : {"Qt", "LibTorch", "SQLite", "BLAS", "CUDA", "QCustomPlot"})
            QVERIFY2(html.contains(k), k);
        QVERIFY(html.contains(qVersion()));
    }

    void logMessagesReachThePanel() {
        rslora::ui::MainWindow w;
        rslora::logWarning("disk almost full: 3 MiB left");
        QTRY_VERIFY(w.logPanel()->toPlainText().contains("disk almost full: 3 MiB left"));
        QVERIFY(w.logPanel()->toPlainText().contains("warning"));
    }

    // The Log dock shows the lines of the run being watched among the workbench's own: a later run's
    // log does not go on under the first run's lines; going back to the first shows its own again. A
    // line logged while a run trained is that run's even when it reaches the panel after the run ended.
    void logShowsTheLinesOfTheRunShown() {
        rslora::ui::MainWindow w;
        rslora::ui::LogPanel* log = w.logPanel();
        rslora::logInfo("2 run(s) queued again");
        log->beginRun(1, "first");
        log->showRun(1, "first");
        rslora::logInfo("saving /runs/run-1/adapter");
        log->endRun(); // before the line above reaches the panel
        QTRY_VERIFY(log->toPlainText().contains("saving /runs/run-1/adapter"));
        log->beginRun(2, "second");
        log->showRun(2, "second");
        rslora::logWarning("saving /runs/run-2/adapter");
        QTRY_VERIFY(log->toPlainText().contains("saving /runs/run-2/adapter"));
        QString text = log->toPlainText();
        QVERIFY2(text.startsWith("── Run #2 second ──\n"), qPrintable(text));
        QVERIFY2(text.contains("info  2 run(s) queued again\n") && text.endsWith("warning  saving /runs/run-2/adapter"), qPrintable(text));
        QVERIFY2(!text.contains("run-1"), qPrintable(text));
        log->endRun();
        log->showRun(1, QString());
        text = log->toPlainText();
        QVERIFY2(text.startsWith("── Run #1 first ──\n"), qPrintable(text));
        QVERIFY2(text.contains("info  2 run(s) queued again\n") && text.endsWith("info  saving /runs/run-1/adapter"), qPrintable(text));
        QVERIFY2(!text.contains("run-2"), qPrintable(text));
        // A run that trained elsewhere (another process, before this workbench opened) is said to have none here.
        log->showRun(9, "elsewhere");
        text = log->toPlainText();
        QVERIFY2(text.startsWith("── Run #9 elsewhere ── (no lines: it did not train in this workbench since it was opened)\n"), qPrintable(text));
        QVERIFY2(!text.contains("/runs/"), qPrintable(text));
        // The workbench's own lines show whichever run is shown.
        rslora::logInfo("store checked");
        QTRY_VERIFY(log->toPlainText().endsWith("info  store checked"));
    }

    // A line carries the time it was logged, not the later time the UI thread got to show it (a
    // busy UI thread, a burst from the training thread).
    void logLinesCarryTheTimeTheyWereLogged() {
        rslora::ui::MainWindow w;
        const QString before = QTime::currentTime().toString("HH:mm:ss");
        rslora::logInfo("checkpoint written at step 40");
        const QString after = QTime::currentTime().toString("HH:mm:ss");
        // The UI thread is busy until the clock shows another second than both.
        QElapsedTimer busy;
        busy.start();
        while (QTime::currentTime().toString("HH:mm:ss") == before || QTime::currentTime().toString("HH:mm:ss") == after)
            QThread::msleep(20);
        QVERIFY(busy.elapsed() < 5000);
        QTRY_VERIFY(w.logPanel()->toPlainText().contains("checkpoint written at step 40"));
        const QString line = w.logPanel()->toPlainText().split('\n').filter("checkpoint written at step 40").value(0);
        const QString stamp = line.section(' ', 0, 0);
        QVERIFY2(stamp == before || stamp == after, qPrintable(line + " (logged between " + before + " and " + after + ")"));
    }
};

QTEST_MAIN(MainWindowTest)
#include "MainWindowTest.moc"
