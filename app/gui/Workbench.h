// The composition root of the desktop application: opens the store, builds the main window and its
// views, owns the run controller, and wires views to the controller and the store.
#pragma once

#include <QList>
#include <QObject>
#include <QString>
#include <memory>
#include <vector>

namespace rslora::engine {
struct TrainConfig;
struct SweepSpec;
} // namespace rslora::engine

namespace rslora::storage {
class Store;
struct RunRecord;
}

namespace rslora::ui {
class AdaptersBrowser;
class ExportMergedDialog;
class FuseDialog;
struct FuseSource;
class MainWindow;
class PlaygroundView;
class RunForm;
class RunsBrowser;
class SweepDialog;
class SweepResultsView;
class TrainingPanel;
} // namespace rslora::ui

class QTimer;

namespace rslora::app {

class CloseGuard;
class DetachedRunWatch;
class PlaygroundController;
class RunController;
class RunStarter;
class RunStatusDisplay;
class DetachedStarts;
class StoredRunFeed;
class SweepResultsController;
struct JobOutcome;

class Workbench : public QObject {
    Q_OBJECT
public:
    // Opens (or creates) the database; throws rslora::Error when it cannot be used.
    explicit Workbench(const QString& databasePath, QObject* parent = nullptr);
    ~Workbench() override;

    ui::MainWindow* window() const { return m_window.get(); }
    ui::RunForm* form() const { return m_form; }
    ui::TrainingPanel* training() const { return m_training; }
    ui::RunsBrowser* runs() const { return m_runs; }
    ui::AdaptersBrowser* adapters() const { return m_adapters; }
    ui::PlaygroundView* playground() const { return m_playground; }
    ui::SweepResultsView* sweeps() const { return m_sweeps; }
    SweepResultsController* sweepResults() const { return m_sweepResults; }
    PlaygroundController* playgroundController() const { return m_playgroundController.get(); }
    RunController* controller() const { return m_controller.get(); }
    // The form's Start: the run's data checked on a worker thread, then the run queued.
    RunStarter* starter() const { return m_starter.get(); }
    storage::Store* store() const { return m_store.get(); }
    DetachedRunWatch* detachedRuns() const { return m_detached; }

    // Fills the form with the built-in demo's default run; false with *error when the demo is missing.
    bool loadDemo(QString* error = nullptr);
    // File > Open config… and the demo pipeline: a training or pipeline config into the New run
    // form, which is then shown; a warning naming the problem otherwise (the form unchanged). A
    // config with a sweep: block (Run > Studies) also opens the Sweep dialog holding that block.
    bool openConfig(const QString& path);
    // Shows a stored run's curves in the training view; a pipeline stage's run shows the pipeline's
    // stages up to it one after the other, their boundaries marked.
    void openStoredRun(qint64 runId);
    // Pipelines and data-parallel runs, trained in their own `rslora` processes.
    DetachedStarts* detachedStarts() const { return m_starts.get(); }
    // The versions the Stages editor offers as `from:` ("task@vN").
    void refreshStoredVersions();
    // Fuse… and Export merged model… on stored versions: opens the dialog (window-modal, deleted on
    // close) with its controller; returns it for tests and the screenshot mode.
    ui::FuseDialog* openFuseDialog(const QList<qint64>& adapterIds);
    ui::ExportMergedDialog* openExportMergedDialog(const QList<qint64>& adapterIds);
    // Sweep… (the New run form, the Run menu): the dialog on `config`, its run count and problems from
    // SweepGroup's own validation; window-modal, deleted on close; returned for tests and screenshots.
    ui::SweepDialog* openSweepDialog(const engine::TrainConfig& config);
    // Creates the group and its queued runs as `rslora sweep` does (SweepGroup) and queues them here,
    // one after another; returns the group's id. Throws rslora::Error when the sweep is invalid.
    qint64 queueSweep(const QString& name, const engine::TrainConfig& config, const engine::SweepSpec& spec);
    // Called from the window's close guard: true when it may close.
    bool confirmClose();
    // Test hook: what confirmClose() does without asking (0 = stop with checkpoint, 1 = keep headless).
    void setCloseChoice(int choice);
    // The rslora executable that continues a run headless: $RSLORA_CLI, else beside the workbench,
    // else the build tree's app/cli; empty when none is found.
    static QString cliExecutable();
    // What the close dialog asks, and what it says happens to the queued runs (empty: none queued).
    QString closeQuestion() const;
    QString closeQueueNote() const;
    // A new run's name: <dataset>_<model>_<rslora|lora>_r<rank>, the model by its folder name.
    static QString defaultRunName(const engine::TrainConfig& config);
    // A stored run's total steps: max_steps, else the last step of a finished run, else 0 (unknown).
    static qint64 totalSteps(const storage::RunRecord& run);

private:
    // The constructor's parts: the views and their controllers, then the wiring of each area.
    void createViews();
    void connectPlayground();
    void addRunMenu();
    void connectDetachedRuns();
    void connectSweeps();
    // The form's Start, the run controller and the Training view.
    void connectTraining();
    // The Runs and Adapters views, notices in the status bar, the rank preview.
    void connectBrowsers();
    // Runs queued when the workbench last closed wait again in the queue; `recovered` were marked
    // interrupted at start-up.
    void queueAgain(const std::vector<qint64>& queuedBefore, const std::vector<int64_t>& recovered);
    void connectMergeActions();
    QList<ui::FuseSource> sourcesOf(const QList<qint64>& adapterIds) const;
    // Takes over the runs a closed workbench left queued; returns their ids, oldest first.
    std::vector<qint64> adoptQueuedRuns();
    // Follows a run another live process trains in the Training view (at start-up, and while a
    // pipeline or data-parallel process started here lives), unless one is followed or this one trains.
    void attachExternalRuns();
    void onRunEnded(const JobOutcome& outcome);
    void notify(const QString& title, const QString& text, bool failure);

    std::unique_ptr<storage::Store> m_store;
    QString m_databasePath;
    std::unique_ptr<ui::MainWindow> m_window;
    std::unique_ptr<RunController> m_controller;
    std::unique_ptr<RunStarter> m_starter; // after the controller: goes (its check joined) before it
    ui::RunForm* m_form = nullptr;
    ui::TrainingPanel* m_training = nullptr;
    ui::RunsBrowser* m_runs = nullptr;
    ui::AdaptersBrowser* m_adapters = nullptr;
    ui::PlaygroundView* m_playground = nullptr;
    ui::SweepResultsView* m_sweeps = nullptr;
    SweepResultsController* m_sweepResults = nullptr;
    std::unique_ptr<PlaygroundController> m_playgroundController;
    RunStatusDisplay* m_runStatus = nullptr; // the status bar's run label and progress
    std::unique_ptr<CloseGuard> m_closeGuard;
    std::unique_ptr<StoredRunFeed> m_external;
    DetachedRunWatch* m_detached = nullptr; // pipelines and data-parallel runs started in their own process
    std::unique_ptr<DetachedStarts> m_starts;
    QTimer* m_followTimer = nullptr;
    bool m_runsShowQueued = false; // the Runs view read the started run before the worker marked it running
};

} // namespace rslora::app
