// The main window opens with its menus, docks and status bar; the About dialog lists the components.
#include "ui/AboutDialog.h"
#include "ui/LogPanel.h"
#include "ui/MainWindow.h"

#include "common/Log.h"

#include <QDockWidget>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>
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
};

QTEST_MAIN(MainWindowTest)
#include "MainWindowTest.moc"
