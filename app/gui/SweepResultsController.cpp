// The Sweeps view's data and group actions.
#include "app/gui/SweepResultsController.h"

#include "app/gui/BackgroundJob.h"
#include "app/gui/RunController.h"
#include "app/shared/SweepGroup.h"

#include "common/Error.h"
#include "common/Log.h"
#include "engine/sweep/SampleStatistics.h"
#include "storage/RunOwner.h"
#include "storage/Store.h"

#include <QCoreApplication>
#include <QMessageBox>

#include <map>

namespace rslora::app {

SweepResultsController::SweepResultsController(storage::Store* store, RunController* runs, ui::SweepResultsView* view, QObject* parent)
    : QObject(parent), m_store(store), m_runs(runs), m_view(view) {
    m_job = new BackgroundJob(this);
    connect(m_job, &BackgroundJob::succeeded, this, &SweepResultsController::startNextEvaluation);
    connect(m_job, &BackgroundJob::failed, this, [this](const QString& message) {
        // The run itself finished; its evaluation failing is reported and the sweep goes on.
        logError("sweep evaluation failed: " + message.toStdString());
        Q_EMIT changed(tr("Evaluation failed: %1").arg(message));
        startNextEvaluation();
    });
    connect(view, &ui::SweepResultsView::groupChanged, this, &SweepResultsController::load);
    connect(view, &ui::SweepResultsView::curveMetricChanged, this, [this] { load(m_view->currentGroup()); });
    connect(view, &ui::SweepResultsView::stopRequested, this, &SweepResultsController::stop);
    connect(view, &ui::SweepResultsView::resumeRequested, this, [this](qint64 id) { Q_EMIT changed(resume(id).text(id)); });
    connect(view, &ui::SweepResultsView::deleteRequested, this, [this](qint64 id) {
        if (!qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS") &&
            QMessageBox::question(m_view, tr("Delete sweep #%1").arg(id),
                                  tr("Delete sweep #%1 and its %2 runs (their metrics and checkpoints)? Their adapter versions stay.")
                                      .arg(id).arg(m_store->groups().members(id).size())) != QMessageBox::Yes)
            return;
        QString why;
        if (!remove(id, &why))
            QMessageBox::warning(m_view, tr("Cannot delete sweep #%1").arg(id), why);
    });
}

void SweepResultsController::refresh() {
    QList<QPair<qint64, QString>> groups;
    for (const storage::RunGroupRecord& g : m_store->groups().list("sweep"))
        groups.append({g.id, QStringLiteral("#%1 %2").arg(g.id).arg(QString::fromStdString(g.name))});
    const qint64 before = m_view->currentGroup();
    m_view->setGroups(groups);
    // setGroups reloads when the chosen group changed; otherwise its numbers may have.
    if (m_view->currentGroup() == before && before != 0)
        load(before);
}

namespace {
QString runs(int n) { return n == 1 ? QObject::tr("1 run") : QObject::tr("%1 runs").arg(n); }
} // namespace

void SweepResultsController::load(qint64 groupId) {
    if (groupId == 0)
        return;
    std::vector<engine::SweepRunResult> results = SweepGroup::results(*m_store, groupId);
    int finished = 0, failed = 0, stopped = 0;
    QString training;
    for (auto& r : results) {
        finished += r.finished;
        failed += r.failed;
        if (m_runs->currentRunId() == r.runId)
            training = tr(" · run #%1 training").arg(r.runId);
        // Stopped (Stop group, Stop & save) or interrupted (the process ended): a run waiting for Resume
        // group, which the table shows only as not finished, like one still queued.
        else if (!r.finished && !r.failed)
            if (const auto run = m_store->runs().get(r.runId))
                stopped += run->status == storage::RunStatus::Stopped || run->status == storage::RunStatus::Interrupted;
    }
    // Runs deleted from the store still count among the runs the sweep was made with, as in
    // `rslora sweeps show`; the view names them.
    const int members = int(results.size());
    for (auto& m : SweepGroup::missing(*m_store, groupId))
        results.push_back(std::move(m));
    const int total = int(results.size()), deleted = total - members;
    QString counts = failed ? tr("%1 finished, %2 failed of %3").arg(finished).arg(failed).arg(runs(total))
                            : tr("%1 of %2 finished").arg(finished).arg(runs(total));
    if (deleted > 0)
        counts += tr(" (%1 deleted)").arg(deleted);
    if (stopped > 0)
        counts += tr(" · %1 stopped: Resume group continues %2").arg(stopped).arg(stopped == 1 ? tr("it") : tr("them"));
    m_view->setSummary(engine::SweepSummary::compute(results), counts + training);
    m_view->setBands(bands(*m_store, groupId, m_view->curveMetric().toStdString()));
}

QList<ui::SweepBand> SweepResultsController::bands(storage::Store& store, int64_t groupId, const std::string& metric) {
    std::map<int, std::map<int64_t, std::vector<double>>> byGroup; // combination → step → values
    std::map<int, std::string> labels;
    for (const auto& r : SweepGroup::results(store, groupId)) {
        engine::SweepPoint p;
        p.combination = r.combination;
        labels[r.combinationIndex] = p.combinationLabel();
        if (!r.finished)
            continue;
        const storage::MetricSeries s = store.metrics().series(r.runId, metric);
        for (size_t i = 0; i < s.size(); ++i)
            byGroup[r.combinationIndex][s.steps[i]].push_back(s.values[i]);
    }
    QList<ui::SweepBand> out;
    for (const auto& [combination, steps] : byGroup) {
        ui::SweepBand band;
        band.label = QString::fromStdString(labels[combination]);
        for (const auto& [step, values] : steps) {
            const engine::SampleSummary s = engine::summarize(values);
            if (s.n == 0)
                continue;
            band.steps.append(double(step));
            band.mean.append(s.mean);
            band.std.append(s.std);
        }
        out.append(band);
    }
    return out;
}

bool SweepResultsController::isMine(qint64 runId) const {
    if (m_runs->currentRunId() == runId)
        return true;
    for (const auto& [id, name] : m_runs->waiting())
        if (id == runId)
            return true;
    return false;
}

QString SweepResultsController::Resumed::text(qint64 groupId) const {
    // "0 runs queued" read as if something had gone wrong: say why there was nothing to do.
    if (queued == 0 && evaluations == 0 && held == 0 && refused.isEmpty())
        return tr("Sweep #%1: nothing to resume: every run of it has finished or is queued or training here already").arg(groupId);
    QString t = tr("Sweep #%1: %2 queued").arg(groupId).arg(runs(queued));
    if (evaluations)
        t += tr(", %1 finished to evaluate again").arg(runs(evaluations));
    if (held)
        t += tr("; %1 %2 held by another workbench or rslora (%3): stop or resume them there")
                 .arg(runs(held), held == 1 ? tr("is") : tr("are"), holders.join(", "));
    if (!refused.isEmpty())
        t += tr("; not queued: %1").arg(refused.join("; "));
    return t;
}

QString SweepResultsController::stop(qint64 groupId) {
    int cancelled = 0, held = 0;
    bool stopping = false;
    QStringList holders;
    for (const storage::RunGroupMember& m : m_store->groups().members(groupId)) {
        if (m_runs->currentRunId() == m.runId) {
            stopping = true;
            continue;
        }
        bool mine = false;
        for (const auto& [id, name] : m_runs->waiting())
            if (id == m.runId) {
                m_runs->cancelQueued(id);
                ++cancelled;
                mine = true;
                break;
            }
        if (mine)
            continue;
        // Another live process's runs cannot be stopped from here: say where they are.
        if (const auto run = m_store->runs().get(m.runId)) {
            const storage::RunOwner owner = storage::RunOwner::of(*run);
            if (owner.alive() && !owner.thisProcess) {
                ++held;
                if (!holders.contains(QString::fromStdString(owner.process)))
                    holders << QString::fromStdString(owner.process);
            }
        }
    }
    // Last, so that the queue does not start the group's next run when this one ends.
    if (stopping)
        m_runs->stop(true);
    QString text;
    if (cancelled == 0 && !stopping && held == 0) {
        // "stopped: 0 runs taken out of the queue; Resume group continues it" said of a finished group.
        text = tr("Sweep #%1: nothing to stop: none of its runs is training or waiting in the queue").arg(groupId);
    } else if (cancelled == 0 && !stopping && held > 0) {
        text = tr("Sweep #%1 is run by another workbench or rslora (%2): its %3 queued or training there; stop it in that "
                  "process (its Sweeps view, or Ctrl+C for rslora sweep). Nothing stopped here")
                   .arg(groupId).arg(holders.join(", "), runs(held) + (held == 1 ? tr(" is") : tr(" are")));
    } else {
        text = tr("Sweep #%1 stopped: %2 waiting taken out of the queue%3; Resume group continues it")
                   .arg(groupId).arg(runs(cancelled)).arg(stopping ? tr(", the training run stops with a checkpoint") : QString());
        if (held > 0)
            text += tr(". %1 %2 held by %3: stop them there").arg(runs(held), held == 1 ? tr("is") : tr("are"), holders.join(", "));
    }
    Q_EMIT changed(text);
    refresh();
    return text;
}

SweepResultsController::Resumed SweepResultsController::resume(qint64 groupId) {
    Resumed out;
    for (const storage::RunGroupMember& m : SweepGroup::pending(*m_store, groupId)) {
        if (isMine(m.runId))
            continue;
        try {
            const storage::RunRecord run = m_store->runs().require(m.runId);
            // A run another live process trains, holds paused or has queued stays with it.
            const storage::RunOwner owner = storage::RunOwner::of(run);
            if (owner.alive() && !owner.thisProcess) {
                ++out.held;
                if (!out.holders.contains(QString::fromStdString(owner.process)))
                    out.holders << QString::fromStdString(owner.process);
                continue;
            }
            m_runs->enqueueResume(m.runId);
            ++out.queued;
        } catch (const std::exception& e) {
            // Taken by another process since the check, deleted, or the store could not be written.
            out.refused << QString::fromStdString(e.what());
            logError("sweep " + std::to_string(groupId) + ": " + e.what());
        }
    }
    // Finished runs whose evaluation failed or was cut short are evaluated again.
    try {
        for (const auto& [runId, adapterId] : SweepGroup::unevaluated(*m_store, groupId))
            if (!m_toEvaluate.contains(qMakePair(qint64(runId), qint64(adapterId)))) {
                m_toEvaluate.append({runId, adapterId});
                ++out.evaluations;
            }
        startNextEvaluation();
    } catch (const std::exception& e) {
        logError("sweep " + std::to_string(groupId) + ": finished runs are not evaluated again: " + e.what());
    }
    refresh();
    return out;
}

void SweepResultsController::evaluateFinished(qint64 runId, qint64 adapterId) {
    const auto member = m_store->groups().memberOf(runId);
    if (!member || adapterId <= 0)
        return;
    try {
        if (!SweepGroup::evaluates(SweepGroup::spec(*m_store, member->groupId)))
            return;
    } catch (const std::exception& e) {
        logError("run " + std::to_string(runId) + " is not evaluated: " + e.what());
        return;
    }
    m_toEvaluate.append({runId, adapterId});
    startNextEvaluation();
}

void SweepResultsController::startNextEvaluation() {
    if (m_job->running() || m_toEvaluate.isEmpty())
        return;
    const auto [runId, adapterId] = m_toEvaluate.takeFirst();
    const std::filesystem::path db = m_store->path();
    engine::SweepSpec spec;
    try {
        const auto member = m_store->groups().memberOf(runId);
        if (!member)
            throw Error("the run was deleted");
        spec = SweepGroup::spec(*m_store, member->groupId);
    } catch (const std::exception& e) {
        logError("run " + std::to_string(runId) + " is not evaluated: " + e.what());
        startNextEvaluation();
        return;
    }
    m_job->start([this, db, spec, runId = runId, adapterId = adapterId](const BackgroundJob::Progress&) -> std::function<void()> {
        // The worker thread's own connection to the store.
        storage::Store::Options options;
        options.recoverInterrupted = false;
        storage::Store store(db, options);
        const std::string text = SweepGroup::evaluateRun(store, spec, runId, adapterId);
        return [this, runId, text] {
            logInfo("run " + std::to_string(runId) + " evaluated:\n" + text);
            Q_EMIT changed(tr("Run #%1 evaluated; the results are stored with its adapter version").arg(runId));
            if (m_view->isVisible())
                refresh();
        };
    });
}

bool SweepResultsController::evaluating() const { return m_job->running() || !m_toEvaluate.isEmpty(); }

void SweepResultsController::waitForEvaluations() {
    while (evaluating()) {
        m_job->waitForFinished();
        QCoreApplication::processEvents();
    }
}

bool SweepResultsController::remove(qint64 groupId, QString* why) {
    for (const storage::RunGroupMember& m : m_store->groups().members(groupId))
        if (isMine(m.runId)) {
            if (why)
                *why = tr("run #%1 of the sweep is queued or training; stop the group first").arg(m.runId);
            return false;
        }
    int n = 0;
    try {
        // Refused when another live process trains, holds paused or has queued one of the runs.
        n = m_store->groups().remove(groupId);
    } catch (const std::exception& e) {
        if (why)
            *why = QString::fromStdString(e.what());
        return false;
    }
    Q_EMIT changed(tr("Deleted sweep #%1 and its %2").arg(groupId).arg(runs(n)));
    refresh();
    return true;
}

} // namespace rslora::app
