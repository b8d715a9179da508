// The main window opens with its menus, docks and status bar; the About dialog lists the components.
#include "ui/AboutDialog.h"
#include "ui/LogPanel.h"
#include "ui/MainWindow.h"

#include "common/Log.h"

#include <QDockWidget>
#include <QMenuBar>
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
