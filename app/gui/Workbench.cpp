#include "app/gui/Workbench.h"

#include "app/gui/CliLauncher.h"
#include "app/gui/CloseGuard.h"
#include "app/gui/DatasetPreviewer.h"
#include "app/gui/DetachedRunWatch.h"
#include "app/gui/DetachedStarts.h"
#include "app/gui/FusionController.h"
#include "app/gui/MergeExportController.h"
#include "app/gui/PlaygroundController.h"
#include "app/gui/RankPreview.h"
#include "app/gui/RunController.h"
#include "app/gui/RunStarter.h"
#include "app/gui/RunStatusDisplay.h"
#include "app/gui/StoredRunFeed.h"
#include "app/gui/StudiesMenu.h"
#include "app/gui/SweepResultsController.h"
#include "app/shared/GateRecorder.h"
#include "app/shared/PipelineRecorder.h"
#include "app/shared/SweepGroup.h"

#include "ui/AdapterSection.h"
#include "ui/AdaptersBrowser.h"
#include "ui/ChartsPanel.h"
#include "ui/DataSection.h"
#include "ui/ExportMergedDialog.h"
#include "ui/FuseDialog.h"
#include "ui/LogPanel.h"
#include "ui/MainWindow.h"
#include "ui/ModelSection.h"
#include "ui/PlaygroundView.h"
#include "ui/RunForm.h"
#include "ui/RunTableModel.h"
#include "ui/RunsBrowser.h"
#include "ui/StagesEditor.h"
#include "ui/SweepDialog.h"
#include "ui/SweepResultsView.h"
#include "ui/TrainingPanel.h"

#include "common/Error.h"
#include "common/Log.h"
#include "common/Paths.h"
#include "engine/ConfigPaths.h"
#include "engine/demo/DemoRun.h"
#include "storage/Naming.h"
#include "storage/ProcessProbe.h"
#include "storage/Store.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QStatusBar>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTimer>

#include <algorithm>
#include <clocale>
#include <utility>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace rslora::app {

Workbench::Workbench(const QString& databasePath, QObject* parent) : QObject(parent), m_databasePath(databasePath) {
    // QApplication takes the C locale from the environment; the engine reads and writes numbers with
    // the C library (strtod, printf), which under a decimal-comma locale read "2.5e-4" in a config as 2.
    // Qt's widgets format numbers through QLocale, which this leaves as the user has it.
    std::setlocale(LC_NUMERIC, "C");
    std::filesystem::create_directories(std::filesystem::path(databasePath.toStdString()).parent_path());
    // Runs left queued by a workbench that closed are taken over before the store marks the runs of
    // dead processes interrupted (which would include them).
    storage::Store::Options options;
    options.recoverInterrupted = false;
    m_store = std::make_unique<storage::Store>(databasePath.toStdString(), options);
    const std::vector<qint64> queuedBefore = adoptQueuedRuns();
    const std::vector<int64_t> recovered = m_store->recoverInterrupted();
    m_window = std::make_unique<ui::MainWindow>();
    m_controller = std::make_unique<RunController>(m_store.get(), databasePath);

    createViews();
    connectPlayground();
    addRunMenu();
    m_runStatus = new RunStatusDisplay(m_window->statusBar());
    connectDetachedRuns();
    connectSweeps();
    connectTraining();
    connectBrowsers();
    connectMergeActions();
    m_closeGuard = std::make_unique<CloseGuard>(*m_controller, *m_store, m_databasePath, m_window.get());
    m_window->setCloseGuard([this] { return confirmClose(); });
    attachExternalRuns();
    queueAgain(queuedBefore, recovered);
}

void Workbench::createViews() {
    m_form = new ui::RunForm;
    m_form->dataSection()->setPreviewProvider(
        [](const QString& model, const QString& data, int maxLen) { return DatasetPreviewer::preview(model, data, maxLen); });
    m_form->restoreState(); // the form as the user left it (--demo and the showcase replace it later)
    refreshStoredVersions();
    m_training = new ui::TrainingPanel;
    m_runs = new ui::RunsBrowser;
    m_adapters = new ui::AdaptersBrowser;
    m_window->addView(m_form, tr("New run"));
    m_window->addView(m_training, tr("Training"));
    m_window->addView(m_runs, tr("Runs"));
    m_window->addView(m_adapters, tr("Adapters"));
    m_playground = new ui::PlaygroundView;
    m_window->addView(m_playground, tr("Playground"));
    m_sweeps = new ui::SweepResultsView;
    m_window->addView(m_sweeps, tr("Sweeps"));
    m_runs->setStore(m_store.get());
    m_adapters->setStore(m_store.get());
    m_playgroundController = std::make_unique<PlaygroundController>(m_store.get(), m_playground);
}

void Workbench::connectPlayground() {
    // The Playground reads the store's versions and runs when it is shown (cheap queries).
    connect(m_window->views(), &QTabWidget::currentChanged, this, [this] {
        if (m_window->views()->currentWidget() != m_playground)
            return;
        if (m_playground->modelPath().isEmpty())
            m_playground->setModelPath(m_form->modelSection()->modelPath());
        m_playgroundController->refresh();
    });
    connect(m_playground, &ui::PlaygroundView::browseModelRequested, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(m_window.get(), tr("Base model folder"), m_playground->modelPath());
        if (!dir.isEmpty())
            m_playground->setModelPath(dir);
    });
}

void Workbench::addRunMenu() {
    auto* newRun = new QAction(tr("&New run"), m_window.get());
    newRun->setShortcut(QKeySequence::New);
    connect(newRun, &QAction::triggered, this, [this] { m_window->views()->setCurrentWidget(m_form); });
    auto* sweep = new QAction(tr("&Sweep…"), m_window.get());
    sweep->setShortcut(QKeySequence("Ctrl+Shift+N"));
    connect(sweep, &QAction::triggered, this, [this] {
        // As the form's Sweep… button: not on a pipeline or a form with problems (shown there).
        if (const QString why = m_form->requestSweep(); !why.isEmpty()) {
            m_window->views()->setCurrentWidget(m_form);
            m_window->statusBar()->showMessage(why, 15000);
        }
    });
    QMenu* runMenu = new QMenu(tr("&Run"), m_window.get());
    runMenu->addAction(newRun);
    runMenu->addAction(sweep);
    // The source articles' claims as committed sweeps: each opens its base in the form and its sweep in the dialog.
    auto* studies = new StudiesMenu(runMenu);
    runMenu->addMenu(studies);
    connect(studies, &StudiesMenu::studyChosen, this, [this](const QString& path) { openConfig(path); });
    // Between View and Help.
    const QList<QAction*> menus = m_window->menuBar()->actions();
    m_window->menuBar()->insertMenu(menus.size() >= 2 ? menus.at(menus.size() - 1) : nullptr, runMenu);
    connect(m_window.get(), &ui::MainWindow::openConfigRequested, this, [this] {
        const QString path = QFileDialog::getOpenFileName(m_window.get(), tr("Open a training or pipeline config"), QString(),
                                                          tr("Configs (*.json *.yaml *.yml);;All files (*)"));
        if (!path.isEmpty())
            openConfig(path);
    });
    connect(m_window.get(), &ui::MainWindow::demoRunRequested, this, [this] {
        openConfig(QString::fromStdString((resourcesDirectory() / "demo" / "demo-config.json").string()));
    });
    connect(m_window.get(), &ui::MainWindow::demoPipelineRequested, this, [this] {
        openConfig(QString::fromStdString((resourcesDirectory() / "pipelines" / "demo-sft-dpo.yaml").string()));
    });
}

void Workbench::connectDetachedRuns() {
    // A detached run that fails says so here: its output file is where nobody would look.
    m_detached = new DetachedRunWatch(this);
    connect(m_detached, &DetachedRunWatch::failed, this, [this](const QString& label, const QString& error, const QString& log) {
        rslora::logError(label.toStdString() + " failed: " + error.toStdString() + " (output: " + log.toStdString() + ")");
        notify(tr("%1 failed").arg(label), tr("%1 failed: %2 (its output: %3)").arg(label, error, log), true);
        m_runs->refresh();
    });
    // A pipeline's stages made versions the Stages editor offers.
    connect(m_detached, &DetachedRunWatch::ended, this, [this] { m_runs->refresh(); refreshStoredVersions(); });
    // The Training view follows each run a pipeline or data-parallel process started here records.
    connect(m_detached, &DetachedRunWatch::stillRunning, this, &Workbench::attachExternalRuns);
    m_starts = std::make_unique<DetachedStarts>(m_databasePath, m_store.get(), m_detached,
                                                [this](const QString& text) { m_window->statusBar()->showMessage(text, 15000); });
    connect(m_form, &ui::RunForm::pipelineStartRequested, this, [this](const QString& json) {
        QString error;
        if (!m_starts->startPipeline(json, &error))
            QMessageBox::warning(m_window.get(), tr("Cannot start the pipeline"), error);
        m_runs->refresh();
    });
    connect(m_form, &ui::RunForm::launchRequested, this, [this](const engine::TrainConfig& config, int processes) {
        QString error;
        if (!m_starts->startDataParallel(config, processes, defaultRunName(config), &error))
            QMessageBox::warning(m_window.get(), tr("Cannot start the data-parallel run"), error);
        m_runs->refresh();
    });
}

void Workbench::connectTraining() {
    ui::TrainingPanel* panel = m_training;
    RunController* controller = m_controller.get();
    // The run's data is checked on a worker thread; the run is queued (and shown) when it passes.
    m_starter = std::make_unique<RunStarter>(*m_controller, m_form, m_window->statusBar(), m_window.get());
    connect(m_form, &ui::RunForm::startRequested, this,
            [this](const engine::TrainConfig& config) { m_starter->start(config, defaultRunName(config)); });
    connect(m_starter.get(), &RunStarter::queued, this, [this] {
        m_window->views()->setCurrentWidget(m_training);
        m_runs->refresh();
    });
    connect(controller, &RunController::runStarted, panel, [this](qint64 id, const QString& name) {
        if (std::exchange(m_external, nullptr)) // the run it followed goes on in its process, seen in Runs
            m_followTimer->stop();
        m_training->beginRun(id, name);
        // A resumed run's charts start with its history up to the checkpoint it continues from.
        if (const auto run = m_store->runs().get(id); run && run->lastStep.value_or(0) > 0)
            if (const auto step = RunController::latestCheckpointStep(*run)) {
                StoredRunFeed feed(*m_store, id);
                feed.setMaxStep(*step);
                feed.poll(*m_training->charts());
            }
        // The previous run's outcome message would cover this run's progress in the status bar.
        m_window->statusBar()->clearMessage();
        m_runStatus->starting(id);
        m_runs->refresh();
        m_runsShowQueued = true; // the worker marks the run running once it has started
    });
    connect(controller, &RunController::stepReported, panel, &ui::TrainingPanel::onStep);
    connect(controller, &RunController::stepReported, this, [this](const engine::StepStats& s) {
        if (std::exchange(m_runsShowQueued, false))
            m_runs->refresh(); // "queued" becomes "running" in the Runs view
        m_runStatus->step(s);
    });
    connect(controller, &RunController::evalReported, panel, &ui::TrainingPanel::onEval);
    connect(controller, &RunController::statusReported, panel, &ui::TrainingPanel::onStatus);
    connect(controller, &RunController::statusReported, this, [](const QString& m) { logInfo(m.toStdString()); });
    connect(controller, &RunController::runEnded, this, &Workbench::onRunEnded);
    // The Log dock: what is logged while a run trains here is that run's, and the dock shows the
    // lines of the run this view shows.
    ui::LogPanel* log = m_window->logPanel();
    connect(controller, &RunController::runStarted, log, &ui::LogPanel::beginRun);
    connect(controller, &RunController::runEnded, log, &ui::LogPanel::endRun);
    connect(panel, &ui::TrainingPanel::runShown, log, &ui::LogPanel::showRun);
    connect(controller, &RunController::queueChanged, panel, [this] { m_training->setQueue(m_controller->waiting()); });
    connect(controller, &RunController::pausedChanged, panel, &ui::TrainingPanel::setPaused);
    connect(controller, &RunController::pausedChanged, m_runStatus, &RunStatusDisplay::setPaused);
    connect(controller, &RunController::pausedChanged, this, [this] { m_runs->refresh(); });
    connect(panel, &ui::TrainingPanel::pauseRequested, controller, &RunController::pause);
    connect(panel, &ui::TrainingPanel::resumeRequested, controller, &RunController::resume);
    connect(panel, &ui::TrainingPanel::stopRequested, controller, &RunController::stop);
    connect(panel, &ui::TrainingPanel::cancelQueuedRequested, this, [this](qint64 id) {
        m_controller->cancelQueued(id);
        m_runs->refresh();
    });
    connect(panel, &ui::TrainingPanel::moveQueuedRequested, controller, &RunController::moveQueued);
}

void Workbench::connectSweeps() {
    m_sweepResults = new SweepResultsController(m_store.get(), m_controller.get(), m_sweeps, this);
    connect(m_sweepResults, &SweepResultsController::changed, this, [this](const QString& text) {
        m_runs->refresh();
        m_window->statusBar()->showMessage(text, 15000);
    });
    connect(m_sweeps, &ui::SweepResultsView::exported, this, [this](const QString& text) { m_window->statusBar()->showMessage(text, 15000); });
    connect(m_form, &ui::RunForm::sweepRequested, this, [this](const engine::TrainConfig& config) { openSweepDialog(config); });
}

void Workbench::connectBrowsers() {
    connect(m_runs, &ui::RunsBrowser::openRunRequested, this, &Workbench::openStoredRun);
    // Actions that succeed without a dialog say what they did, and where, in the status bar.
    auto notice = [this](const QString& text) { m_window->statusBar()->showMessage(text, 15000); };
    connect(m_form, &ui::RunForm::cliCommandCopied, this, [notice](const QString& command) {
        notice(tr("Copied the rslora train command (%1 lines, config included) to the clipboard").arg(command.count('\n')));
    });
    connect(m_training->charts(), &ui::ChartsPanel::exported, this, notice);
    connect(m_adapters, &ui::AdaptersBrowser::exported, this, notice);
    connect(m_adapters, &ui::AdaptersBrowser::changed, this, notice);
    connect(m_adapters, &ui::AdaptersBrowser::changed, this, &Workbench::refreshStoredVersions);
    connect(m_runs, &ui::RunsBrowser::resumeRequested, this, [this](qint64 id) {
        try {
            // A run stopped without saving (or failed before its first checkpoint) starts again: asked.
            const storage::RunRecord run = m_store->runs().require(id);
            if (run.lastStep.value_or(0) > 0 && !RunController::hasOwnCheckpoint(run) && !qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS")
                && QMessageBox::question(m_window.get(), tr("Run #%1 has no checkpoint").arg(id),
                                         tr("Run #%1 has no checkpoint to continue from (it was stopped without saving, or ended "
                                            "before its first checkpoint). Start it again from step 0? Its %2 logged steps are replaced.")
                                             .arg(id).arg(run.lastStep.value_or(0)))
                       != QMessageBox::Yes)
                return;
            m_controller->enqueueResume(id);
            m_window->views()->setCurrentWidget(m_training);
        } catch (const std::exception& e) {
            QMessageBox::warning(m_window.get(), tr("Cannot resume run #%1").arg(id), QString::fromStdString(e.what()));
            m_runs->refresh(); // the table was older than the store
        }
    });
    connect(m_window->views(), &QTabWidget::currentChanged, this, [this](int) {
        QWidget* w = m_window->views()->currentWidget();
        if (w == m_runs && !m_controller->busy())
            m_runs->refresh();
        if (w == m_adapters)
            m_adapters->refresh();
        if (w == m_sweeps)
            m_sweepResults->refresh();
        if (w == m_form)
            refreshStoredVersions(); // versions another process (rslora, a pipeline) made meanwhile
    });
    auto* rankPreview = new RankPreview(this);
    connect(m_form->adapterSection(), &ui::AdapterSection::rankPreviewRequested, this, [this, rankPreview] {
        if (rankPreview->start(m_form->config()))
            m_form->adapterSection()->showRankTable(tr("<i>Probing module sensitivity…</i>"));
    });
    connect(rankPreview, &RankPreview::ready, m_form->adapterSection(), &ui::AdapterSection::showRankTable);
    connect(rankPreview, &RankPreview::failed, this, [this](const QString& message) {
        m_form->adapterSection()->showRankTable(QString("<span style='color:#c62828'>%1</span>").arg(message.toHtmlEscaped()));
    });
}

void Workbench::queueAgain(const std::vector<qint64>& queuedBefore, const std::vector<int64_t>& recovered) {
    // Runs queued when the workbench last closed wait again in the queue; while another process
    // trains (a run handed over headless) they wait for it to end rather than compete for the CPU.
    if (m_external)
        m_controller->holdQueue(true);
    for (qint64 id : queuedBefore) {
        try {
            m_controller->enqueueResume(id);
        } catch (const std::exception& e) {
            logError("queued run " + std::to_string(id) + " cannot be queued again: " + e.what());
        }
    }
    if (!queuedBefore.empty())
        logInfo(std::to_string(queuedBefore.size()) + " run(s) queued when the workbench closed are queued again");
    if (!recovered.empty())
        logWarning(std::to_string(recovered.size()) + " run(s) of a process that ended were marked interrupted; resume them from the Runs view");
}

std::vector<qint64> Workbench::adoptQueuedRuns() {
    // Queued on this machine by a process that is gone (a closed workbench): this one takes them.
    // A live owner (another open workbench) keeps its own.
    storage::RunFilter filter;
    filter.statuses = {storage::RunStatus::Queued};
    std::vector<qint64> ids;
    const std::string here = storage::hostName();
    for (const storage::RunRecord& r : m_store->runs().list(filter)) {
        if (r.pid && (*r.pid == QCoreApplication::applicationPid() || storage::processAlive(*r.pid)))
            continue;
        if (!r.host.empty() && r.host != here)
            continue;
        m_store->runs().markQueued(r.id);
        ids.push_back(r.id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

QString Workbench::defaultRunName(const engine::TrainConfig& config) {
    const std::string stem = std::filesystem::path(config.trainData).stem().string();
    const QString model = ui::RunTableModel::modelName(config.modelPath);
    return QString::fromStdString(stem.empty() ? std::string("run") : stem) + (model.isEmpty() ? QString() : "_" + model) + "_" +
           (config.adapter.scaling == engine::ScalingMode::AlphaOverSqrtR ? "rslora" : "lora") + "_r" + QString::number(config.adapter.rank);
}

Workbench::~Workbench() {
    m_controller->shutdown(true);
}

void Workbench::openStoredRun(qint64 runId) {
    std::optional<storage::RunRecord> run = m_store->runs().get(runId);
    if (!run)
        return;
    m_window->views()->setCurrentWidget(m_training);
    if (m_controller->currentRunId() == runId || (m_external && m_external->runId() == runId))
        return;
    const std::vector<storage::RunRecord> stages = PipelineRecorder::runsUpTo(*m_store, *run);
    if (stages.size() < 2) {
        m_training->showStoredRun(runId, QString::fromStdString(run->name), run->lastStep.value_or(0), totalSteps(*run));
        StoredRunFeed(*m_store, runId).poll(*m_training->charts());
        return;
    }
    // A pipeline: each stage's steps after the earlier stages', a mark where each stage begins.
    qint64 offset = 0;
    QVector<QPair<double, QString>> marks;
    for (const auto& stage : stages) {
        const qint64 steps = std::max<qint64>(totalSteps(stage), stage.lastStep.value_or(0));
        offset += stage.id == runId ? 0 : steps;
    }
    m_training->showStoredRun(runId, QString::fromStdString(run->name), offset + run->lastStep.value_or(0), offset + totalSteps(*run));
    offset = 0;
    for (const auto& stage : stages) {
        StoredRunFeed feed(*m_store, stage.id);
        feed.setStepOffset(offset);
        feed.poll(*m_training->charts());
        const QString name = QString::fromStdString(stage.name);
        // At the stage's first step, so that the first stage's label stays inside the chart too.
        marks.append({static_cast<double>(offset + 1), name.mid(name.lastIndexOf('/') + 1).trimmed()});
        offset += std::max<qint64>(totalSteps(stage), feed.lastStep());
    }
    m_training->charts()->setStepMarks(marks);
}

void Workbench::refreshStoredVersions() {
    QStringList refs;
    for (const storage::AdapterRecord& a : m_store->adapters().list())
        if (!a.deletedAt && !app::isGateVersion(a))
            refs << QString("%1@v%2").arg(QString::fromStdString(a.task)).arg(a.version);
    m_form->stagesEditor()->setStoredVersions(refs);
}

qint64 Workbench::totalSteps(const storage::RunRecord& run) {
    // max_steps when the config sets it; a finished run sized by epochs ended at its total.
    try {
        const engine::TrainConfig config = engine::TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
        if (config.maxSteps > 0)
            return config.maxSteps;
    } catch (const std::exception&) {
        // A config this version cannot read: fall back on what the run reached.
    }
    return run.status == storage::RunStatus::Finished ? run.lastStep.value_or(0) : 0;
}

void Workbench::attachExternalRuns() {
    if (m_external || m_controller->busy()) // the Training view shows one run: this workbench's own first
        return;
    // A run another live process writes (e.g. `rslora train` continuing headless): follow it.
    storage::RunFilter filter;
    filter.statuses = {storage::RunStatus::Running, storage::RunStatus::Paused};
    for (const storage::RunRecord& r : m_store->runs().list(filter)) {
        if (r.pid && *r.pid == QCoreApplication::applicationPid())
            continue;
        m_external = std::make_unique<StoredRunFeed>(*m_store, r.id);
        m_training->showStoredRun(r.id, QString::fromStdString(r.name) + tr(" (training in another process)"), r.lastStep.value_or(0),
                                  totalSteps(r));
        m_external->poll(*m_training->charts());
        m_training->setProgress(std::max<qint64>(r.lastStep.value_or(0), m_external->lastStep()), totalSteps(r));
        m_runStatus->following(r.id);
        // The idle "Ready" says nothing once a run is followed; a message without an end, it would keep
        // the run's label and progress (which any status message hides while it shows) hidden for good.
        if (m_window->statusBar()->currentMessage() == ui::MainWindow::tr("Ready"))
            m_window->statusBar()->clearMessage();
        delete m_followTimer; // the one of a run followed before
        m_followTimer = new QTimer(this);
        connect(m_followTimer, &QTimer::timeout, this, [this] {
            if (!m_external)
                return;
            m_external->poll(*m_training->charts());
            const storage::RunRecord now = m_store->runs().require(m_external->runId());
            const qint64 total = totalSteps(now);
            const qint64 step = std::max<qint64>(now.lastStep.value_or(0), m_external->lastStep());
            m_training->setProgress(step, total);
            m_runStatus->followedProgress(step, total);
            if (storage::isTerminal(now.status)) {
                m_training->endRun(QString(storage::toString(now.status)), now.status == storage::RunStatus::Failed);
                m_runStatus->ended(tr("Run #%1 %2").arg(now.id).arg(storage::toString(now.status)));
                m_external.reset();
                m_followTimer->stop();
                m_runs->refresh();
                m_adapters->refresh();
                m_controller->holdQueue(false);
            }
        });
        m_followTimer->start(1000);
        logInfo("following run #" + std::to_string(r.id) + ", which another process is training");
        return;
    }
}

void Workbench::notify(const QString& title, const QString& text, bool failure) {
    m_window->statusBar()->showMessage(text.section('\n', 0, 0), 15000);
    if (QSystemTrayIcon::isSystemTrayAvailable() && QSystemTrayIcon::supportsMessages()) {
        static QSystemTrayIcon* tray = nullptr;
        if (!tray) {
            tray = new QSystemTrayIcon(QApplication::windowIcon(), this);
            tray->show();
        }
        tray->showMessage(title, text, failure ? QSystemTrayIcon::Critical : QSystemTrayIcon::Information, 8000);
    }
    QApplication::alert(m_window.get());
}

void Workbench::onRunEnded(const JobOutcome& o) {
    refreshStoredVersions();
    if (o.status == "finished" && o.adapterId > 0)
        m_sweepResults->evaluateFinished(o.runId, o.adapterId);
    const bool failed = o.status == "failed";
    QString outcome = failed ? tr("failed") : (o.status == "stopped" ? tr("stopped at step %1").arg(o.steps)
                                                                     : tr("finished: %1 steps, loss %2").arg(o.steps).arg(o.finalLoss, 0, 'f', 4));
    // Stop & discard says what is left (no checkpoint, or the last one) where a saved stop says nothing more.
    if (o.status == "stopped" && o.message.contains("without saving"))
        outcome = o.message;
    m_training->endRun(outcome, failed);
    // A stop between logged steps: the bar shows the step the run reached, as the title does.
    if (o.steps > 0 && m_training->progress()->maximum() > 1)
        m_training->setProgress(o.steps, m_training->progress()->maximum());
    m_runStatus->ended(tr("Run #%1 %2").arg(o.runId).arg(outcome));
    // The status bar shows the message line only ("Run #3 finished: 60 steps, loss 1.2345"), the
    // desktop notification the title above it; neither repeats the other.
    notify(tr("Run #%1 %2").arg(o.runId).arg(failed ? tr("failed") : o.status),
           failed ? tr("Run #%1 failed: %2").arg(o.runId).arg(o.message) : tr("Run #%1 %2").arg(o.runId).arg(outcome), failed);
    m_runs->refresh();
    m_adapters->refresh();
    if (m_window->views()->currentWidget() == m_sweeps)
        m_sweepResults->refresh();
    if (failed && !qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS")) {
        // A message that carries its own hint line ("hint: lower training.batch_size ...") shows it as
        // the dialog's advice instead of a generic one.
        QString m = o.message;
        QString hint;
        const qsizetype own = m.indexOf("\nhint: ");
        if (own >= 0) {
            hint = m.mid(own + 7).trimmed();
            if (!hint.isEmpty())
                hint[0] = hint[0].toUpper();
            m = m.left(own);
        } else if (m.contains("tokenizer"))
            hint = tr("The model folder needs a tokenizer.json to read text datasets; pick a folder that has one, or use pre-tokenized JSONL (input_ids, labels).");
        else if (m.contains("line "))
            hint = tr("Fix the dataset line named above (or remove it), then start the run again.");
        else if (m.contains("NaN", Qt::CaseInsensitive) || m.contains("non-finite"))
            hint = tr("Lower the learning rate, enable gradient clipping, or check the data.");
        else
            hint = tr("Check the settings named in the message and start the run again.");
        QMessageBox box(QMessageBox::Critical, tr("Run #%1 failed").arg(o.runId), m, QMessageBox::Ok, m_window.get());
        box.setInformativeText(hint);
        box.exec();
    }
}

bool Workbench::confirmClose() {
    if (!m_closeGuard->confirm())
        return false;
    m_starter->abandon(); // a run whose data is still being checked is not queued
    return true;
}

void Workbench::setCloseChoice(int choice) { m_closeGuard->setChoice(choice); }

QString Workbench::closeQuestion() const { return m_closeGuard->question(); }

QString Workbench::closeQueueNote() const { return m_closeGuard->queueNote(); }

QString Workbench::cliExecutable() { return CliLauncher::executable(); }

bool Workbench::loadDemo(QString* error) {
    try {
        m_form->setConfig(engine::loadDemoConfig(resourcesDirectory()));
        m_form->stagesEditor()->setStages({}); // the demo is a single run, whatever stages the form kept
    } catch (const std::exception& e) {
        if (error)
            *error = tr("the built-in demo cannot be loaded: %1").arg(QString::fromStdString(e.what()));
        return false;
    }
    return true;
}

bool Workbench::openConfig(const QString& path) {
    QString error;
    std::optional<engine::SweepSpec> sweep;
    if (!m_form->openConfigFile(path, &error, &sweep)) {
        QMessageBox::warning(m_window.get(), tr("Cannot open the config"), error);
        return false;
    }
    m_window->views()->setCurrentWidget(m_form);
    m_window->statusBar()->showMessage(tr("Loaded %1 into the New run form").arg(QDir::toNativeSeparators(path)), 8000);
    if (sweep) {
        // A sweep config (a study): its base is in the form, its sweep: block in the dialog, named after the file.
        ui::SweepDialog* dialog = openSweepDialog(m_form->config());
        dialog->setName(QFileInfo(path).completeBaseName());
        dialog->setSpec(*sweep);
    }
    return true;
}

ui::SweepDialog* Workbench::openSweepDialog(const engine::TrainConfig& config) {
    auto* dialog = new ui::SweepDialog(defaultRunName(config) + tr("_sweep"), m_window.get());
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    const nlohmann::json base = config.toJson();
    dialog->setValidator([base](const engine::SweepSpec& spec) { return SweepGroup::validate(base, spec); });
    connect(dialog, &ui::SweepDialog::queueRequested, this, [this, dialog, config] {
        try {
            const qint64 id = queueSweep(dialog->name(), config, dialog->spec());
            const int n = static_cast<int>(m_store->groups().members(id).size());
            m_window->statusBar()->showMessage(tr("Sweep #%1 \"%2\" queued: %3").arg(id).arg(dialog->name())
                                                   .arg(n == 1 ? tr("1 run") : tr("%1 runs").arg(n)), 15000);
            dialog->accept();
            m_window->views()->setCurrentWidget(m_training);
        } catch (const std::exception& e) {
            dialog->summaryLabel()->setText(QString::fromStdString(e.what()));
        }
    });
    dialog->open();
    return dialog;
}

qint64 Workbench::queueSweep(const QString& name, const engine::TrainConfig& config, const engine::SweepSpec& spec) {
    const int64_t id = SweepGroup::create(*m_store, name.toStdString(), {}, config.toJson(), spec);
    // The members are queued rows already; this workbench's queue takes them in run order.
    for (const storage::RunGroupMember& m : SweepGroup::pending(*m_store, id))
        m_controller->enqueueResume(m.runId);
    m_runs->refresh();
    m_sweepResults->refresh();
    m_sweeps->selectGroup(id);
    return id;
}

void Workbench::connectMergeActions() {
    connect(m_adapters, &ui::AdaptersBrowser::fuseRequested, this, [this](const QList<qint64>& ids) { openFuseDialog(ids); });
    connect(m_adapters, &ui::AdaptersBrowser::exportMergedRequested, this, [this](const QList<qint64>& ids) { openExportMergedDialog(ids); });
}

QList<ui::FuseSource> Workbench::sourcesOf(const QList<qint64>& adapterIds) const {
    QList<ui::FuseSource> sources;
    for (qint64 id : adapterIds)
        if (const storage::AdapterRecord* a = m_adapters->adapterRecord(id)) {
            if (app::isGateVersion(*a)) {
                // A gate holds no low-rank factors: there is nothing to fuse or merge.
                m_window->statusBar()->showMessage(
                    tr("%1 v%2 is a learned gate, not an adapter: use it in the Playground (Use a gate)")
                        .arg(QString::fromStdString(a->task))
                        .arg(a->version),
                    15000);
                return {};
            }
            sources << FusionController::sourceFor(*a);
        }
    return sources;
}

ui::ExportMergedDialog* Workbench::openExportMergedDialog(const QList<qint64>& adapterIds) {
    const QList<ui::FuseSource> sources = sourcesOf(adapterIds);
    if (sources.isEmpty())
        return nullptr;
    auto* dialog = new ui::ExportMergedDialog(sources, m_window.get());
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto* controller = new MergeExportController(dialog, m_databasePath, dialog);
    connect(controller, &MergeExportController::exported, this, [this](const QString& summary) {
        m_adapters->refresh();
        m_window->statusBar()->showMessage(summary, 15000);
    });
    dialog->open();
    return dialog;
}

ui::FuseDialog* Workbench::openFuseDialog(const QList<qint64>& adapterIds) {
    const QList<ui::FuseSource> sources = sourcesOf(adapterIds);
    if (sources.size() < 2)
        return nullptr;
    auto* dialog = new ui::FuseDialog(sources, m_window.get());
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto* controller = new FusionController(dialog, m_databasePath, dialog);
    connect(controller, &FusionController::fused, this, [this](qint64 id, const QString& summary) {
        m_adapters->refresh();
        m_adapters->selectAdapter(id);
        refreshStoredVersions();
        m_window->statusBar()->showMessage(summary, 15000);
    });
    dialog->open();
    return dialog;
}

} // namespace rslora::app
