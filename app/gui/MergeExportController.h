// Drives an Export merged model… dialog: the export (base + Σ λᵢ ΔWᵢ written as a complete model
// folder) runs on a worker thread with its progress and Cancel; on success the folder is recorded in
// the store as a "merged" artifact of each version and the dialog offers to open it.
#pragma once

#include "app/gui/BackgroundJob.h"
#include "ui/FuseValues.h"

#include <QObject>
#include <QPointer>
#include <QString>

namespace rslora::ui {
class ExportMergedDialog;
}

namespace rslora::app {

class MergeExportController : public QObject {
    Q_OBJECT
public:
    MergeExportController(ui::ExportMergedDialog* dialog, const QString& databasePath, QObject* parent = nullptr);

    BackgroundJob* job() const { return m_job; }

    // Exports and records; returns what to tell the user. Throws (nothing left behind) on failure or cancel.
    static QString exportAndRecord(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                   const ui::MergeExportSettings& settings, const BackgroundJob::Progress& progress);

Q_SIGNALS:
    void exported(const QString& summary);

private:
    void runExport(const ui::MergeExportSettings& settings);

    QPointer<ui::ExportMergedDialog> m_dialog;
    QString m_databasePath;
    BackgroundJob* m_job = nullptr;
};

} // namespace rslora::app
