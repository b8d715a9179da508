// Starts training that runs in its own `rslora` process: a pipeline (`rslora train PIPELINE`) and a
// data-parallel run (`rslora launch --nproc N -- train`), with their output followed by a
// DetachedRunWatch; a pipeline that is still starting or training is not started a second time.
#pragma once

#include <QCoreApplication>
#include <QString>

#include <functional>

namespace rslora::engine {
struct TrainConfig;
}
namespace rslora::storage {
class Store;
}

namespace rslora::app {

class DetachedRunWatch;

class DetachedStarts {
    Q_DECLARE_TR_FUNCTIONS(DetachedStarts)
public:
    // `status` shows a started process's config and output files (the status bar).
    DetachedStarts(QString databasePath, storage::Store* store, DetachedRunWatch* watch,
                   std::function<void(const QString&)> status);

    // The pipeline is written to <data folder>/pipelines/ and trained by `rslora train` in its own
    // process, recorded in this store; false with *error when it cannot start, and when a pipeline of
    // that name is still starting or training (a second press of Start).
    bool startPipeline(const QString& pipelineJson, QString* error = nullptr);
    // What trains pipeline `name` now (a process started here, or a live run of it in the store), in
    // words; empty when nothing does.
    QString pipelineAlreadyTraining(const QString& name) const;
    // The config is written to <data folder>/launches/ and trained by `rslora launch --nproc N --
    // train` (ranks meeting through a file there) as `runName`, recorded in this store and followed
    // like any run of another process; false with *error when it cannot start, and when a run of
    // exactly this config and process count started here is still training (a second press of Start).
    bool startDataParallel(const engine::TrainConfig& config, int processes, const QString& runName, QString* error = nullptr);

private:
    QString m_databasePath;
    storage::Store* m_store;
    DetachedRunWatch* m_watch;
    std::function<void(const QString&)> m_status;
};

} // namespace rslora::app
