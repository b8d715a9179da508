// Drives a Fuse… dialog: its requests (error preview, fuse and register, grid search) become engine
// calls on a worker thread (BackgroundJob), their results go back to the dialog by value, and a
// fused version is announced so that the Adapters view can show and select it. The pieces of work
// are static functions too, so that tests compare them with the engine directly.
#pragma once

#include "app/gui/BackgroundJob.h"
#include "ui/FuseValues.h"

#include <QObject>
#include <QPointer>
#include <QString>

namespace rslora::storage {
struct AdapterRecord;
}

namespace rslora::ui {
class FuseDialog;
}

namespace rslora::engine::fusion {
struct FusionPlan;
struct FusionReport;
} // namespace rslora::engine::fusion

namespace rslora::app {

class FusionController : public QObject {
    Q_OBJECT
public:
    // `databasePath`: the store the fused version is registered in (the worker opens its own connection).
    FusionController(ui::FuseDialog* dialog, const QString& databasePath, QObject* parent = nullptr);

    BackgroundJob* job() const { return m_job; }

    // A stored version as the dialogs show it ("task vN", its folder, base model and rank).
    static ui::FuseSource sourceFor(const storage::AdapterRecord& record);
    // The base model folder of the sources (the first one recorded); throws naming the versions when none is.
    static QString modelDirOf(const QList<ui::FuseSource>& sources);
    // The engine's plan for what the user set (weights as typed, base fingerprints of the sources).
    static engine::fusion::FusionPlan planFor(const QList<ui::FuseSource>& sources, const ui::FuseSettings& settings);
    static ui::FusePreview previewOf(const engine::fusion::FusionReport& report);
    // Reads the sources and fuses them in memory: the error report the preview shows.
    static ui::FusePreview preview(const QList<ui::FuseSource>& sources, const ui::FuseSettings& settings,
                                   const BackgroundJob::Progress& progress);
    // What a fusion left: the new version and what to say about it.
    struct Fused {
        qint64 adapterId = 0;
        QString summary;
    };
    // Fuses the stored versions (re-read from the store at `databasePath` on this thread), writes the
    // fused folder and registers it as a new version with merged-from edges. A failure or a cancel
    // leaves no folder and no version behind.
    static Fused fuseAndRegister(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                 const ui::FuseSettings& settings, const BackgroundJob::Progress& progress);
    // Grid search over the sources' weights on validation data (the base loaded once).
    // The evaluations are stored with the versions that took part.
    static ui::GridOutcome gridSearch(const QString& databasePath, const QList<ui::FuseSource>& sources,
                                      const ui::GridSettings& settings, const BackgroundJob::Progress& progress);

Q_SIGNALS:
    // A new version was registered (after the dialog showed it).
    void fused(qint64 adapterId, const QString& summary);

private:
    void runPreview(const ui::FuseSettings& settings);
    void runFuse(const ui::FuseSettings& settings);
    void runGrid(const ui::GridSettings& settings);

    QPointer<ui::FuseDialog> m_dialog;
    QString m_databasePath;
    BackgroundJob* m_job = nullptr;
};

} // namespace rslora::app
