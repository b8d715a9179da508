#include "app/gui/MergeExportController.h"

#include "ui/ExportMergedDialog.h"

#include "app/shared/MergedModelRecord.h"
#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/ModelExport.h"
#include "storage/Store.h"

#include <QDir>
#include <QLocale>

#include <exception>
#include <filesystem>
#include <limits>

namespace rslora::app {

namespace ef = engine::fusion;

MergeExportController::MergeExportController(ui::ExportMergedDialog* dialog, const QString& databasePath, QObject* parent)
    : QObject(parent), m_dialog(dialog), m_databasePath(databasePath), m_job(new BackgroundJob(this)) {
    connect(dialog, &ui::ExportMergedDialog::exportRequested, this, &MergeExportController::runExport);
    connect(dialog, &ui::ExportMergedDialog::cancelRequested, m_job, &BackgroundJob::cancel);
    showJobIn(m_job, dialog);
}

QString MergeExportController::exportAndRecord(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                               const ui::MergeExportSettings& settings, const BackgroundJob::Progress& progress) {
    storage::Store store(databasePath.toStdString()); // this thread's own connection
    ef::MergeRequest request;
    request.modelDir = settings.modelDir.toStdString();
    request.outDir = settings.outDir.toStdString();
    // Empty: the base model's own dtype, as `rslora merge` without --dtype.
    if (!settings.dtype.isEmpty())
        request.dtype = ef::parseMergeDtype(settings.dtype.toStdString());
    request.adapterStoreRoot = store.adapterRoot();
    // 0 in the dialog means one file: no shard limit.
    request.maxShardBytes = settings.maxShardBytes > 0 ? static_cast<uint64_t>(settings.maxShardBytes) : std::numeric_limits<uint64_t>::max();
    std::vector<MergedSource> recorded;
    for (int i = 0; i < sources.size(); ++i) {
        const double weight = i < settings.weights.size() ? settings.weights[i] : 1.0;
        ef::WeightedAdapter w;
        w.weight = weight;
        MergedSource m;
        m.label = sources[i].label.toStdString();
        m.path = sources[i].path.toStdString();
        m.weight = weight;
        if (sources[i].adapterId > 0) {
            const storage::AdapterRecord record = store.adapters().require(sources[i].adapterId);
            storage::AdapterRepository::verifyFiles(record);
            m.adapterId = record.id;
            m.path = record.path;
            w.baseModelSha256 = record.baseModel.sha256;
        }
        w.factors = ef::readAdapterFactors(m.path, ef::TrainedBiasUse::Read);
        w.factors.label = m.label;
        request.adapters.push_back(std::move(w));
        recorded.push_back(m);
    }
    const ef::MergeReport report = ef::exportMergedModel(request, [&progress](int64_t done, int64_t total) { return progress(done, total); });
    // The folder is complete and in place: a failure to record it must not read as a failed merge.
    try {
        recordMergedModel(store, report, request.modelDir, recorded);
    } catch (const std::exception& e) {
        throw Error("the merged model was written to " + std::filesystem::absolute(report.outDir).string() +
                        "; recording it in the store failed: " + e.what(),
                    "the folder is complete and can be used as it is; only its record in the store is missing");
    }
    return tr("Merged %1 adapter(s) into %2: %3 tensors (%4 changed), %5 in %6 file(s), %7, %8 s")
        .arg(sources.size())
        .arg(QDir::toNativeSeparators(QString::fromStdString(report.outDir.string())))
        .arg(report.tensors)
        .arg(report.mergedTensors)
        .arg(QLocale().formattedDataSize(static_cast<qint64>(report.fileBytes)))
        .arg(report.shards.size())
        .arg(QString::fromStdString(report.dtype))
        .arg(report.seconds, 0, 'f', 1);
}

void MergeExportController::runExport(const ui::MergeExportSettings& settings) {
    const QList<ui::FuseSource> sources = m_dialog->sources();
    QPointer<ui::ExportMergedDialog> dialog = m_dialog;
    QPointer<MergeExportController> self(this);
    const QString databasePath = m_databasePath;
    const bool started = m_job->start([=](const BackgroundJob::Progress& progress) -> std::function<void()> {
        const QString summary = exportAndRecord(databasePath, sources, settings, progress);
        return [self, dialog, summary, out = settings.outDir] {
            if (dialog)
                dialog->showDone(summary, out);
            if (self)
                Q_EMIT self->exported(summary);
        };
    });
    if (started)
        m_dialog->setBusy(tr("Merging and writing the model folder…"));
}

} // namespace rslora::app
