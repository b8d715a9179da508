// Feeds the Sweeps view from the store (group statistics through SweepGroup and SweepSummary, the
// curves as mean ± std over each group's finished runs) and carries out its stop, resume and delete
// on the whole group through the run queue.
#pragma once

#include "ui/SweepResultsView.h"

#include <QList>
#include <QObject>
#include <QPair>
#include <QStringList>

#include <cstdint>
#include <string>

namespace rslora::storage {
class Store;
}

namespace rslora::app {

class BackgroundJob;
class RunController;

class SweepResultsController : public QObject {
    Q_OBJECT
public:
    SweepResultsController(storage::Store* store, RunController* runs, ui::SweepResultsView* view, QObject* parent = nullptr);

    // Re-reads the groups and the chosen group's statistics and curves.
    void refresh();
    // Each combination's finished runs' series of `metric`, step by step: mean and sample std of the
    // runs that have that step (engine statistics), labelled with the combination.
    static QList<ui::SweepBand> bands(storage::Store& store, int64_t groupId, const std::string& metric);
    // What Resume group did, for the status bar.
    struct Resumed {
        int queued = 0;
        int evaluations = 0;        // finished runs to evaluate again
        int held = 0;               // runs another live process holds (queued, training or paused there)
        QStringList holders;        // "process 31546 on vm", each once
        QStringList refused;        // runs the store refused to queue, with its reason
        QString text(qint64 groupId) const;
    };
    // The whole group: waiting runs leave the queue, the training one stops with a checkpoint. Runs
    // another live process holds stay with it; the message says where to stop them. Returns the
    // status-bar text (also emitted through changed()).
    QString stop(qint64 groupId);
    // Queues every run of the group that has not finished and is not queued or training already,
    // here or in another live process (those are counted as held, never taken). Finished runs
    // without their evaluation (SweepGroup::unevaluated) are evaluated again.
    Resumed resume(qint64 groupId);
    // A run that finished: when it belongs to a sweep that asks for evaluations (exact match, multiple
    // choice, preference), its adapter version is evaluated on a worker thread, one run after another,
    // and the results stored against it, as `rslora sweep` does.
    void evaluateFinished(qint64 runId, qint64 adapterId);
    bool evaluating() const;
    // Blocks until every evaluation asked for has ended (tests, the showcase).
    void waitForEvaluations();
    // Deletes the group and its runs; refused (false, *why) while one of them is queued or training here.
    bool remove(qint64 groupId, QString* why = nullptr);

Q_SIGNALS:
    // Runs were queued, stopped or deleted (the Runs view refreshes); `text` for the status bar.
    void changed(const QString& text);

private:
    void load(qint64 groupId);
    void startNextEvaluation();
    bool isMine(qint64 runId) const;

    storage::Store* m_store = nullptr;
    RunController* m_runs = nullptr;
    ui::SweepResultsView* m_view = nullptr;
    BackgroundJob* m_job = nullptr;
    QList<QPair<qint64, qint64>> m_toEvaluate; // (run, adapter version), in the order the runs ended
};

} // namespace rslora::app
