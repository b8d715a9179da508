#include "app/gui/DetachedStarts.h"
#include "app/gui/CliLauncher.h"
#include "app/gui/DetachedRunWatch.h"

#include "app/shared/PipelineRecorder.h"
#include "common/Error.h"
#include "engine/TrainConfig.h"
#include "engine/pipeline/PipelineConfig.h"
#include "storage/ProcessProbe.h"
#include "storage/Store.h"

#include <QDir>

#include <nlohmann/json.hpp>

#include <utility>

namespace rslora::app {

DetachedStarts::DetachedStarts(QString databasePath, storage::Store* store, DetachedRunWatch* watch,
                               std::function<void(const QString&)> status)
    : m_databasePath(std::move(databasePath)), m_store(store), m_watch(watch), m_status(std::move(status)) {}

bool DetachedStarts::startPipeline(const QString& pipelineJson, QString* error) {
    try {
        // Relative paths in the form mean the workbench's folder; the saved file lives elsewhere.
        const engine::pipeline::PipelineConfig config = engine::pipeline::PipelineConfig::fromJson(
            nlohmann::json::parse(pipelineJson.toStdString()), "pipeline", QDir::currentPath().toStdString());
        const QString name = QString::fromStdString(config.name);
        const QString busy = pipelineAlreadyTraining(name);
        if (!busy.isEmpty())
            throw Error(tr("pipeline \"%1\" is already training (%2): wait for it to end (its stages appear in the Runs view) "
                           "before starting it again, or rename this one to train both").arg(name, busy).toStdString());
        const CliLauncher::Launched l = CliLauncher(m_databasePath).startPipeline(config);
        const QString label = tr("Pipeline \"%1\"").arg(name);
        m_watch->watch(l.pid, label, l.log, "pipeline:" + name);
        m_status(tr("%1 (%2 stages) is training in its own process; the Training view follows its stages, the Runs view "
                    "lists them. Config: %3, output: %4")
                     .arg(label)
                     .arg(config.stages.size())
                     .arg(l.config, l.log));
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
}

QString DetachedStarts::pipelineAlreadyTraining(const QString& name) const {
    // Started here (it may not have recorded a stage yet, or be between two stages)...
    if (const auto w = m_watch->running("pipeline:" + name))
        return tr("started here at %1, process %2, output %3").arg(w->started.toString("HH:mm:ss")).arg(w->pid).arg(w->logPath);
    // ...or elsewhere: a stage of it is training in a live process (the CLI, an earlier workbench).
    storage::RunFilter filter;
    filter.tag = std::make_pair(std::string(kPipelineTag), name.toStdString());
    filter.statuses = {storage::RunStatus::Running, storage::RunStatus::Paused};
    for (const storage::RunRecord& r : m_store->runs().list(filter))
        if (r.pid && storage::processAlive(*r.pid))
            return tr("its run #%1 \"%2\" in process %3").arg(r.id).arg(QString::fromStdString(r.name)).arg(*r.pid);
    return {};
}

bool DetachedStarts::startDataParallel(const engine::TrainConfig& config, int processes, const QString& runName, QString* error) {
    try {
        // Start pressed twice (or its shortcut repeated) would train the same run twice side by side.
        const QString key = QString("launch:%1:%2").arg(processes).arg(QString::fromStdString(config.toJson().dump()));
        if (const auto w = m_watch->running(key))
            throw Error(tr("a data-parallel run with exactly these settings is already training (started here at %1, process %2, "
                           "output %3): wait for it to end, or change a setting to start another")
                            .arg(w->started.toString("HH:mm:ss")).arg(w->pid).arg(w->logPath).toStdString());
        const CliLauncher::Launched l = CliLauncher(m_databasePath).startDataParallel(config, processes, runName);
        m_watch->watch(l.pid, tr("Data-parallel run %1").arg(runName), l.log, key);
        m_status(tr("Data-parallel run: %1 processes are training %2 (rslora launch); it appears in the Training and "
                    "Runs views. Config: %3, output: %4")
                     .arg(processes)
                     .arg(runName)
                     .arg(l.config, l.log));
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
}

} // namespace rslora::app
