#include "ui/MainWindow.h"

#include "ui/AboutDialog.h"
#include "ui/LogPanel.h"

#include "engine/Runtime.h"

#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QLabel>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>

namespace rslora::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("RS-LoRA Workbench"));
    setObjectName("MainWindow");
    m_views = new QTabWidget(this);
    m_views->setObjectName("views");
    m_views->setDocumentMode(true);
    setCentralWidget(m_views);
    buildDocks();
    buildMenus();
    buildStatusBar();
    resize(1280, 760);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* dock : findChildren<QDockWidget*>())
        view->addAction(dock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About RS-LoRA Workbench"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::buildDocks() {
    auto* logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName("logDock");
    m_logPanel = new LogPanel(logDock);
    logDock->setWidget(m_logPanel);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);
}

void MainWindow::buildStatusBar() {
    engine::RuntimeInfo info = engine::runtimeInfo();
    QString device = info.cudaAvailable ? tr("CUDA (%1 devices)").arg(info.cudaDevices.size()) : tr("CPU");
    m_deviceLabel = new QLabel(tr("%1 · %2 threads · %3").arg(device).arg(info.intraOpThreads).arg(QString::fromStdString(info.blasName)), this);
    statusBar()->addPermanentWidget(m_deviceLabel);
    statusBar()->showMessage(tr("Ready"));
}

void MainWindow::showAbout() {
    AboutDialog dialog(this);
    dialog.exec();
}

} // namespace rslora::ui
