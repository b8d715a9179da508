// Drives the Playground view: keeps one resident generation session (the base model loaded once and
// shared by every column), attaches the stored versions the columns pick, runs all columns as one
// mixed-adapter batch on a worker thread, streams their tokens to the view and cancels on Stop. It also
// offers the store's versions and the runs whose data gives examples.
#pragma once

#include "ui/PlaygroundTypes.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace rslora::engine {
class GenerationSession;
}
namespace rslora::storage {
class Store;
}
namespace rslora::ui {
class PlaygroundView;
}

namespace rslora::app {

class BackgroundJob;

class PlaygroundController : public QObject {
    Q_OBJECT
public:
    PlaygroundController(storage::Store* store, ui::PlaygroundView* view, QObject* parent = nullptr);
    ~PlaygroundController() override;

    // Re-reads the versions and runs from the store into the view.
    void refresh();
    // Starts generating `request`; false (and the view told why) when it cannot start.
    bool start(const ui::PlaygroundRequest& request);
    void stop();
    bool running() const;
    // Blocks until the running generation delivered its results (tests, shutdown).
    void waitForFinished();
    // The next example of a run's data into the view.
    void pullExample(qint64 runId);
    // The model folder the session holds (empty before the first generation).
    QString loadedModel() const;
    // How often the base model was loaded (the columns share it: once per model folder).
    int modelLoads() const { return m_modelLoads; }

private:
    storage::Store* m_store = nullptr;
    ui::PlaygroundView* m_view = nullptr;
    BackgroundJob* m_job = nullptr;
    // Shared with the worker; only touched by the job running at the time.
    std::shared_ptr<engine::GenerationSession> m_session;
    std::string m_sessionModel;
    int m_modelLoads = 0;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    std::map<qint64, std::size_t> m_exampleIndex; // next example per run
};

} // namespace rslora::app
