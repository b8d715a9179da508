#include "app/gui/FusionController.h"

#include "ui/FuseDialog.h"
#include "ui/GridSearchPanel.h"

#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/Fusion.h"
#include "engine/fusion/GridSearch.h"
#include "storage/Records.h"

#include <cmath>

namespace rslora::app {

namespace ef = engine::fusion;

FusionController::FusionController(ui::FuseDialog* dialog, const QString& databasePath, QObject* parent)
    : QObject(parent), m_dialog(dialog), m_databasePath(databasePath), m_job(new BackgroundJob(this)) {
    connect(dialog, &ui::FuseDialog::previewRequested, this, &FusionController::runPreview);
    connect(dialog, &ui::FuseDialog::gridRequested, this, &FusionController::runGrid);
    connect(dialog, &ui::FuseDialog::cancelRequested, m_job, &BackgroundJob::cancel);
    connectJob();
}

void FusionController::connectJob() {
    connect(m_job, &BackgroundJob::progress, this, [this](long long done, long long total) {
        if (m_dialog)
            m_dialog->showProgress(static_cast<int>(done), static_cast<int>(total));
    });
    connect(m_job, &BackgroundJob::failed, this, [this](const QString& message) {
        if (!m_dialog)
            return;
        m_dialog->setIdle();
        m_dialog->showError(message);
    });
    connect(m_job, &BackgroundJob::cancelled, this, [this] {
        if (!m_dialog)
            return;
        m_dialog->setIdle();
        m_dialog->showMessage(tr("Cancelled; nothing was written."));
    });
    connect(m_job, &BackgroundJob::succeeded, this, [this] {
        if (m_dialog)
            m_dialog->setIdle();
    });
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
        adapters.push_back(ef::readAdapterFactors(s.path.toStdString()));
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

ui::GridOutcome FusionController::gridSearch(const QList<ui::FuseSource>& sources, const ui::GridSettings& settings,
                                             const BackgroundJob::Progress& progress) {
    ef::GridRequest request;
    request.modelPath = modelDirOf(sources).toStdString();
    if (settings.axes.size() != sources.size())
        throw Error("the grid has " + std::to_string(settings.axes.size()) + " ranges for " + std::to_string(sources.size()) + " adapters");
    for (int i = 0; i < sources.size(); ++i) {
        request.adapters.push_back({sources[i].path.toStdString(), sources[i].label.toStdString()});
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
    return outcome;
}

void FusionController::runGrid(const ui::GridSettings& settings) {
    const QList<ui::FuseSource> sources = m_dialog->sources();
    QPointer<ui::FuseDialog> dialog = m_dialog;
    const bool started = m_job->start([sources, settings, dialog](const BackgroundJob::Progress& progress) -> std::function<void()> {
        ui::GridOutcome outcome = gridSearch(sources, settings, progress);
        return [dialog, outcome] {
            if (!dialog)
                return;
            dialog->grid()->showOutcome(outcome);
            dialog->showMessage(tr("Grid search done: %n points scored.", nullptr, static_cast<int>(outcome.scores.size())));
        };
    });
    if (started)
        m_dialog->setBusy(tr("Loading the base model and the adapters, then scoring every point…"));
}

} // namespace rslora::app
