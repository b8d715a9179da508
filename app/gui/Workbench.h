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
}

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
class TrainingPanel;
} // namespace rslora::ui

class QLabel;
class QProgressBar;
class QTimer;

namespace rslora::app {

class PlaygroundController;
class RunController;
class StoredRunFeed;
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
    PlaygroundController* playgroundController() const { return m_playgroundController.get(); }
    RunController* controller() const { return m_controller.get(); }
    storage::Store* store() const { return m_store.get(); }

    // Fills the form with the built-in demo's default run; false with *error when the demo is missing.
    bool loadDemo(QString* error = nullptr);
    // File > Open config… and the demo pipeline: a training or pipeline config into the New run
    // form, which is then shown; a warning naming the problem otherwise (the form unchanged).
    bool openConfig(const QString& path);
    // For --screenshots: the demo run (shortened to `steps`) trained to the end, its run and adapter
    // selected in the browsers, so that every view shows real content.
    bool prepareShowcase(int steps, QString* error = nullptr);
    // Shows a stored run's curves in the training view; a pipeline stage's run shows the pipeline's
    // stages up to it one after the other, their boundaries marked.
    void openStoredRun(qint64 runId);
    // Start with stages in the form: the pipeline is written to <data folder>/pipelines/ and trained
    // by `rslora train` in its own process, recorded in this store; false with *error when it cannot start.
    bool startPipeline(const QString& pipelineJson, QString* error = nullptr);
    // The versions the Stages editor offers as `from:` ("task@vN").
    void refreshStoredVersions();
    // Renders every main view to DIR/<view>.png at the given size; false with *error on failure.
    bool saveScreenshots(const QString& dir, QString* error = nullptr);
    // Fuse… and Export merged model… on stored versions: opens the dialog (window-modal, deleted on
    // close) with its controller; returns it for tests and the screenshot mode.
    ui::FuseDialog* openFuseDialog(const QList<qint64>& adapterIds);
    ui::ExportMergedDialog* openExportMergedDialog(const QList<qint64>& adapterIds);
    // Called from the window's close guard: true when it may close.
    bool confirmClose();
    // Test hook: what confirmClose() does without asking (0 = stop with checkpoint, 1 = keep headless).
    void setCloseChoice(int choice) { m_closeChoice = choice; }
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
    void connectMergeActions();
    QList<ui::FuseSource> sourcesOf(const QList<qint64>& adapterIds) const;
    // Trains `config` through the run controller and waits for its end (the showcase only).
    bool runToEnd(const engine::TrainConfig& config, const QString& name, JobOutcome* outcome, QString* error);
    // The merge screens for --screenshots: a second demo version, the lineage, the dialogs.
    bool saveMergeScreenshots(const QString& dir, QString* error);
    // The Playground with the base model and the newest version side by side.
    bool savePlaygroundScreenshot(const QString& dir, QString* error);
    // Takes over the runs a closed workbench left queued; returns their ids, oldest first.
    std::vector<qint64> adoptQueuedRuns();
    void attachExternalRuns();
    // The runs of the pipeline `run` belongs to, in stage order, up to and including it; empty otherwise.
    std::vector<storage::RunRecord> pipelineRunsUpTo(const storage::RunRecord& run);
    void onRunEnded(const JobOutcome& outcome);
    void notify(const QString& title, const QString& text, bool failure);

    std::unique_ptr<storage::Store> m_store;
    QString m_databasePath;
    std::unique_ptr<ui::MainWindow> m_window;
    std::unique_ptr<RunController> m_controller;
    ui::RunForm* m_form = nullptr;
    ui::TrainingPanel* m_training = nullptr;
    ui::RunsBrowser* m_runs = nullptr;
    ui::AdaptersBrowser* m_adapters = nullptr;
    ui::PlaygroundView* m_playground = nullptr;
    std::unique_ptr<PlaygroundController> m_playgroundController;
    QLabel* m_statusRun = nullptr;
    QProgressBar* m_statusProgress = nullptr;
    int m_closeChoice = -1;
    std::unique_ptr<StoredRunFeed> m_external;
    QTimer* m_followTimer = nullptr;
};

} // namespace rslora::app
