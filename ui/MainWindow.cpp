#include "ui/MainWindow.h"

#include "ui/AboutDialog.h"
#include "ui/LogPanel.h"
#include "ui/ScrollWheelGuard.h"

#include "ui/Preference.h"

#include "engine/Runtime.h"

#include <QAction>
#include <QCloseEvent>
#include <QApplication>
#include <QDockWidget>
#include <QLabel>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>

namespace rslora::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    // Scrolling a form never changes the field that passes under the pointer.
    qApp->installEventFilter(new ScrollWheelGuard(this));
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
    QAction* open = file->addAction(tr("&Open config…"), this, &MainWindow::openConfigRequested);
    open->setShortcut(QKeySequence::Open);
    open->setObjectName("openConfigAction");
    // Without --demo (the desktop entry) the demo's data and settings are one click away, not a file dialog.
    QAction* demoRun = file->addAction(tr("Load the demo &run"), this, &MainWindow::demoRunRequested);
    demoRun->setObjectName("demoRunAction");
    demoRun->setStatusTip(tr("The built-in demo model, its fact questions and the default RS-LoRA settings, ready to Start"));
    QAction* demo = file->addAction(tr("Load the &demo pipeline (SFT → DPO)"), this, &MainWindow::demoPipelineRequested);
    demo->setObjectName("demoPipelineAction");
    file->addSeparator();
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
    resizeDocks({logDock}, {110}, Qt::Vertical);
}

void MainWindow::buildStatusBar() {
    engine::RuntimeInfo info = engine::runtimeInfo();
    QString device = info.cudaAvailable ? tr("CUDA (%1 devices)").arg(info.cudaDevices.size()) : tr("CPU");
    m_deviceLabel = new QLabel(tr("%1 · %2 threads · %3").arg(device).arg(info.intraOpThreads).arg(QString::fromStdString(info.blasName)), this);
    statusBar()->addPermanentWidget(m_deviceLabel);
    statusBar()->showMessage(tr("Ready"));
}

namespace {
const Preference<QByteArray> kGeometry{"window/geometry", {}};
const Preference<QByteArray> kState{"window/state", {}};
const Preference<int> kLastView{"window/lastView", 0};
} // namespace

int MainWindow::addView(QWidget* view, const QString& title) {
    const int index = m_views->addTab(view, title);
    // A hidden widget's shortcuts do not fire: the window carries the view's window-wide actions, so
    // they work whichever view shows (view-local ones are WidgetWithChildrenShortcut and stay).
    for (QAction* action : view->actions())
        if (action->shortcutContext() == Qt::WindowShortcut || action->shortcutContext() == Qt::ApplicationShortcut)
            addAction(action);
    if (index < 9) {
        auto* show = new QAction(this);
        show->setShortcut(QKeySequence(QString("Ctrl+%1").arg(index + 1)));
        connect(show, &QAction::triggered, this, [this, index] { m_views->setCurrentIndex(index); });
        addAction(show);
    }
    return index;
}

void MainWindow::restoreLayout() {
    const QByteArray geometry = kGeometry.get();
    if (!geometry.isEmpty())
        restoreGeometry(geometry);
    const QByteArray state = kState.get();
    if (!state.isEmpty())
        restoreState(state);
    const int last = kLastView.get();
    if (last >= 0 && last < m_views->count())
        m_views->setCurrentIndex(last);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_closeGuard && !m_closeGuard()) {
        event->ignore();
        return;
    }
    kGeometry.set(saveGeometry());
    kState.set(saveState());
    kLastView.set(m_views->currentIndex());
    event->accept();
}

void MainWindow::showAbout() {
    AboutDialog dialog(this);
    dialog.exec();
}

} // namespace rslora::ui
