#include "app/gui/FusionController.h"

#include "ui/FuseDialog.h"
#include "ui/GridSearchPanel.h"

#include "common/Error.h"
#include "app/shared/FusionRecorder.h"
#include "app/shared/GridEvaluationStore.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"
#include "engine/fusion/GridSearch.h"
#include "storage/Records.h"
#include "storage/Store.h"

#include <QDir>
#include <QFileInfo>
#include <QUuid>

#include <filesystem>

#include <cmath>

namespace rslora::app {

namespace ef = engine::fusion;

FusionController::FusionController(ui::FuseDialog* dialog, const QString& databasePath, QObject* parent)
    : QObject(parent), m_dialog(dialog), m_databasePath(databasePath), m_job(new BackgroundJob(this)) {
    connect(dialog, &ui::FuseDialog::previewRequested, this, &FusionController::runPreview);
    connect(dialog, &ui::FuseDialog::fuseRequested, this, &FusionController::runFuse);
    connect(dialog, &ui::FuseDialog::gridRequested, this, &FusionController::runGrid);
    connect(dialog, &ui::FuseDialog::cancelRequested, m_job, &BackgroundJob::cancel);
    showJobIn(m_job, dialog);
}

ui::FuseSource FusionController::sourceFor(const storage::AdapterRecord& record) {
    ui::FuseSource s;
    s.adapterId = record.id;
    s.label = QString("%1 v%2").arg(QString::fromStdString(record.task)).arg(record.version);
    s.path = QString::fromStdString(record.path);
    s.baseModel = QString::fromStdString(record.baseModel.ref);
    s.baseFingerprint = QString::fromStdString(record.baseModel.sha256);
    s.rank = record.rank.value_or(0);
    return s;
}

QString FusionController::modelDirOf(const QList<ui::FuseSource>& sources) {
    for (const ui::FuseSource& s : sources)
        if (!s.baseModel.isEmpty())
            return s.baseModel;
    QStringList labels;
    for (const ui::FuseSource& s : sources)
        labels << s.label;
    throw Error("no base model is recorded with " + labels.join(", ").toStdString(),
                "score the weights with `rslora fuse --grid --model DIR ...` instead");
}

ef::FusionPlan FusionController::planFor(const QList<ui::FuseSource>& sources, const ui::FuseSettings& settings) {
    ef::FusionPlan plan;
    plan.method = ef::parseFusionMethod(settings.method.toStdString());
    plan.weights.assign(settings.weights.begin(), settings.weights.end());
    plan.rank = settings.rank;
    plan.energy = settings.energy;
    if (settings.density)
        plan.density = *settings.density;
    if (settings.drop)
        plan.drop = *settings.drop;
    if (settings.seed)
        plan.seed = *settings.seed;
    for (const ui::FuseSource& s : sources)
        plan.baseFingerprints.push_back(s.baseFingerprint.toStdString());
    // Trained biases (bias "lora_only") are fused against the base recorded with the versions.
    plan.baseModelDir = modelDirOf(sources).toStdString();
    return plan;
}

ui::FusePreview FusionController::previewOf(const ef::FusionReport& report) {
    ui::FusePreview p;
    for (const ef::ModuleReport& m : report.modules)
        p.modules.push_back({QString::fromStdString(m.module), m.rank, m.relativeError});
    p.overallError = report.relativeError;
    p.exactRank = report.exactRank;
    p.resultRank = report.rank;
    return p;
}

namespace {
std::vector<ef::AdapterFactors> readSources(const QList<ui::FuseSource>& sources) {
    std::vector<ef::AdapterFactors> adapters;
    for (const ui::FuseSource& s : sources) {
        adapters.push_back(ef::readAdapterFactors(s.path.toStdString(), ef::TrainedBiasUse::Read));
        adapters.back().label = s.label.toStdString();
    }
    return adapters;
}
} // namespace

ui::FusePreview FusionController::preview(const QList<ui::FuseSource>& sources, const ui::FuseSettings& settings,
                                          const BackgroundJob::Progress& progress) {
    const ef::FusionPlan plan = planFor(sources, settings);
    const std::vector<ef::AdapterFactors> adapters = readSources(sources);
    const ef::FusionResult result = ef::fuse(plan, adapters, [&progress](int done, int total) { return progress(done, total); });
    return previewOf(result.report);
}

void FusionController::runPreview(const ui::FuseSettings& settings) {
    const QList<ui::FuseSource> sources = m_dialog->sources();
    QPointer<ui::FuseDialog> dialog = m_dialog;
    const bool started = m_job->start([sources, settings, dialog](const BackgroundJob::Progress& progress) -> std::function<void()> {
        ui::FusePreview p = preview(sources, settings, progress);
        return [dialog, p, settings] {
            if (!dialog)
                return;
            dialog->showPreview(p);
            dialog->showMessage(tr("Preview of %1: nothing was written.").arg(settings.method));
        };
    });
    if (started)
        m_dialog->setBusy(tr("Fusing in memory to measure the error…"));
}

namespace {
// The sources as the shared fusion code takes them: stored versions re-read (and their files
// verified) through this thread's connection.
std::vector<ResolvedAdapter> resolve(storage::Store& store, const QList<ui::FuseSource>& sources, const QVector<double>& weights) {
    std::vector<ResolvedAdapter> resolved;
    for (int i = 0; i < sources.size(); ++i) {
        ResolvedAdapter r;
        r.path = sources[i].path.toStdString();
        r.weight = i < weights.size() ? weights[i] : 1.0;
        r.label = sources[i].label.toStdString();
        if (sources[i].adapterId > 0) {
            r.record = store.adapters().require(sources[i].adapterId);
            r.path = r.record->path;
            r.label = r.record->task + "@v" + std::to_string(r.record->version);
            storage::AdapterRepository::verifyFiles(*r.record);
        }
        resolved.push_back(std::move(r));
    }
    return resolved;
}
} // namespace

FusionController::Fused FusionController::fuseAndRegister(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                                          const ui::FuseSettings& settings, const BackgroundJob::Progress& progress) {
    storage::Store store(databasePath.toStdString()); // this thread's own connection
    const std::vector<ResolvedAdapter> resolved = resolve(store, sources, settings.weights);
    ef::FusionPlan plan = planFor(sources, settings);
    plan.weights = fusionWeights(resolved);
    plan.baseFingerprints = baseFingerprints(resolved);
    const std::vector<ef::AdapterFactors> adapters = readFusionSources(resolved);
    const ef::FusionResult result = ef::fuse(plan, adapters, [&progress](int done, int total) { return progress(done, total); });

    // Written beside the store, then copied into it by the registration; removed either way.
    const std::filesystem::path staging = std::filesystem::path(databasePath.toStdString()).parent_path() / "fusion-staging"
                                          / QUuid::createUuid().toString(QUuid::WithoutBraces).toStdString();
    struct RemoveStaging {
        std::filesystem::path dir;
        ~RemoveStaging() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
            std::filesystem::remove(dir.parent_path(), ec); // only when empty
        }
    } cleanup{staging};
    ef::writeFusedAdapter(result, plan, fusionSourceRecords(resolved), staging);
    // Cancel (or the dialog closed) while the result was written: the version is not registered. Once
    // registered it stays, and the dialog says so.
    const long long modules = static_cast<long long>(result.report.modules.size());
    if (!progress(modules, modules))
        throw Error("the fusion was cancelled before its version was registered; nothing was kept");
    FusionRegistration registration;
    if (!settings.task.isEmpty())
        registration.task = settings.task.toStdString();
    registration.name = settings.outputName.toStdString();
    const storage::AdapterRecord version = registerFusedAdapter(store, staging, plan, result, resolved, registration);
    Fused fused;
    fused.adapterId = version.id;
    fused.summary = tr("Fused %1 versions by %2 into %3 (%4 v%5): rank %6, relative error %7")
                        .arg(sources.size())
                        .arg(settings.method)
                        .arg(QString::fromStdString(version.name), QString::fromStdString(version.task))
                        .arg(version.version)
                        .arg(result.report.rank)
                        .arg(result.report.relativeError, 0, 'g', 4);
    return fused;
}

void FusionController::runFuse(const ui::FuseSettings& settings) {
    const QList<ui::FuseSource> sources = m_dialog->sources();
    QPointer<ui::FuseDialog> dialog = m_dialog;
    QPointer<FusionController> self(this);
    const QString databasePath = m_databasePath;
    const bool started = m_job->start([=](const BackgroundJob::Progress& progress) -> std::function<void()> {
        const Fused fused = fuseAndRegister(databasePath, sources, settings, progress);
        return [self, dialog, fused] {
            if (dialog)
                dialog->showMessage(fused.summary);
            if (self)
                Q_EMIT self->fused(fused.adapterId, fused.summary);
        };
    });
    if (started)
        m_dialog->setBusy(tr("Fusing and registering the new version…"));
}

ui::GridOutcome FusionController::gridSearch(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                             const ui::GridSettings& settings, const BackgroundJob::Progress& progress) {
    ef::GridRequest request;
    request.modelPath = modelDirOf(sources).toStdString();
    if (settings.axes.size() != sources.size())
        throw Error("the grid has " + std::to_string(settings.axes.size()) + " ranges for " + std::to_string(sources.size()) + " adapters");
    for (int i = 0; i < sources.size(); ++i) {
        request.adapters.push_back({sources[i].path.toStdString(), sources[i].label.toStdString()});
        // The first recorded base is the model loaded: every version must have been trained on it.
        request.baseFingerprints.push_back(sources[i].baseFingerprint.toStdString());
        const ui::GridAxis& axis = settings.axes[i];
        const std::string what = "weight range of " + sources[i].label.toStdString();
        request.values.push_back(axis.from == axis.to ? std::vector<double>{axis.from} : ef::weightRange(axis.from, axis.to, axis.step, what));
    }
    request.metric = ef::parseGridMetric(settings.metric.toStdString());
    request.dataPath = settings.dataFile.toStdString();
    const ef::GridResult result = ef::runGridSearch(request, [&progress](int done, int total) { return progress(done, total); });
    ui::GridOutcome outcome;
    outcome.metric = QString::fromLatin1(ef::gridMetricName(result.metric));
    outcome.higherIsBetter = !ef::lowerIsBetter(result.metric);
    for (const ef::GridPoint& p : result.points) {
        outcome.weights << QVector<double>(p.weights.begin(), p.weights.end());
        outcome.scores << p.score.value;
    }
    outcome.best = result.points.empty() ? -1 : static_cast<int>(result.best);
    // Kept with the stored versions that took part, as `rslora fuse --grid` keeps them.
    storage::Store store(databasePath.toStdString());
    outcome.recorded = storeGridEvaluations(store, result, resolve(store, sources, {}));
    return outcome;
}

void FusionController::runGrid(const ui::GridSettings& settings) {
    const QList<ui::FuseSource> sources = m_dialog->sources();
    QPointer<ui::FuseDialog> dialog = m_dialog;
    const QString databasePath = m_databasePath;
    const bool started = m_job->start([sources, settings, dialog, databasePath](const BackgroundJob::Progress& progress) -> std::function<void()> {
        ui::GridOutcome outcome = gridSearch(databasePath, sources, settings, progress);
        return [dialog, outcome] {
            if (!dialog)
                return;
            dialog->grid()->showOutcome(outcome);
            dialog->showMessage(tr("Grid search done: %1 points scored; the result is kept as evaluations of %2 stored version(s).")
                                    .arg(outcome.scores.size())
                                    .arg(outcome.recorded));
        };
    });
    if (started)
        m_dialog->setBusy(tr("Loading the base model and the adapters, then scoring every point…"));
}

} // namespace rslora::app
