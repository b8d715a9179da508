// Starting `rslora` in a process of its own session, so that it outlives the workbench: a pipeline,
// a data-parallel run, a run handed over when the window closes. Each records into the workbench's
// store; the config it trains is written to a file first.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/pipeline/PipelineConfig.h"

#include <QString>
#include <QStringList>

namespace rslora::app {

class CliLauncher {
public:
    explicit CliLauncher(QString databasePath) : m_databasePath(std::move(databasePath)) {}

    // The rslora executable: $RSLORA_CLI, else beside the workbench (app/cli in a build tree);
    // empty when there is none.
    static QString executable();
    // Starts `rslora ARGS` detached, its stdout and stderr appended to `logPath`; returns its process
    // id. Throws rslora::Error saying why it could not start.
    static qint64 start(const QStringList& args, const QString& logPath);

    struct Launched {
        QString config; // the file it trains
        QString log;    // its output (the file's stem + ".log")
        qint64 pid = 0;
    };
    // Writes the pipeline to <data folder>/pipelines/<name>-<time>.json and trains it (`rslora train
    // FILE`) into the folder of the same stem unless it names an output folder.
    Launched startPipeline(const engine::pipeline::PipelineConfig& config) const;
    // Writes the config to <data folder>/launches/ and trains it with `processes` workers (`rslora
    // launch`, the ranks meeting through a file beside it).
    Launched startDataParallel(const engine::TrainConfig& config, int processes, const QString& runName) const;

private:
    QString m_databasePath;
};

} // namespace rslora::app
