#include "app/shared/RunRecorder.h"

#include "app/shared/AdapterDescription.h"
#include "app/shared/DiskReserve.h"

#include "common/Error.h"
#include "common/Log.h"
#include "common/Sha256.h"
#include "engine/Trainer.h"
#include "models/ModelFingerprint.h"
#include "storage/Database.h"
#include "storage/MetricsWriter.h"
#include "storage/Store.h"
#include "storage/Transaction.h"
#include "storage/VersionFiles.h"

#include <nlohmann/json.hpp>

namespace rslora::app {

RunRecorder::RunRecorder(const std::filesystem::path& databasePath, int64_t runId)
    : m_store(std::make_unique<storage::Store>(databasePath)), m_runId(runId) {
    storage::RunRecord run = m_store->runs().require(runId);
    m_config = engine::TrainConfig::fromJson(nlohmann::json::parse(run.configJson));
    m_writer = std::make_unique<storage::MetricsWriter>(databasePath);
}

RunRecorder::~RunRecorder() {
    try {
        if (m_writer) {
            m_writer->flush();
            m_writer->unwatch(m_runId);
        }
    } catch (...) {
        // Destructors never throw; the writer already reported through the log.
    }
}

std::string RunRecorder::methodVariant(const engine::TrainConfig& c) {
    if (c.mode == engine::TrainMode::Full)
        return "full";
    if (c.adapter.parameterization == engine::Parameterization::RandomSubspace)
        return "subspace";
    if (c.adapter.init == engine::InitMode::Spectral)
        return "spectral";
    return c.adapter.scaling == engine::ScalingMode::AlphaOverSqrtR ? "rslora" : "lora";
}

std::filesystem::path RunRecorder::runFolder(const std::filesystem::path& databasePath, int64_t runId, const std::string& uuid) {
    return std::filesystem::absolute(databasePath).parent_path() / "runs"
           / ("run-" + std::to_string(runId) + (uuid.empty() ? "" : "-" + uuid.substr(0, 8)));
}

int64_t RunRecorder::createQueuedRun(storage::Store& store, engine::TrainConfig& config, const std::string& name) {
    storage::RunRecord run;
    run.name = name;
    run.status = storage::RunStatus::Queued;
    run.configJson = config.toJson().dump();
    run.seed = static_cast<int64_t>(config.seed);
    run.device = config.device;
    run.baseModel.ref = config.modelPath;
    try {
        run.baseModel.sha256 = models::modelFingerprint(config.modelPath);
    } catch (const std::exception&) {
        // A missing model fails the run with its own message when it starts.
    }
    run.dataset.ref = config.trainData;
    storage::Transaction tx(store.database());
    const int64_t id = store.runs().create(run);
    if (config.outputDir.empty()) {
        config.outputDir = runFolder(store.path(), id, run.uuid).string();
        store.runs().setConfig(id, config.toJson().dump());
    }
    store.runs().markQueued(id);
    tx.commit();
    return id;
}

engine::RunIdentity RunRecorder::identity() const {
    const storage::RunRecord run = m_store->runs().require(m_runId);
    return {run.uuid, "run #" + std::to_string(m_runId) + " \"" + run.name + "\""};
}

void RunRecorder::start(const std::string& device) {
    // Reserves of runs that no longer run (a killed process leaves its file) are removed first.
    const std::filesystem::path db = m_store->path();
    const std::string prefix = db.filename().string() + ".reserve-";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(db.parent_path(), ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() <= prefix.size() || name.rfind(prefix, 0) != 0
            || name.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
            continue;
        const auto run = m_store->runs().get(std::stoll(name.substr(prefix.size())));
        if (!run || storage::isTerminal(run->status) || run->status == storage::RunStatus::Queued)
            std::filesystem::remove(e.path(), ec);
    }
    // Claimed first: a run another process holds is refused here, before this process writes
    // anything of it (its reserve file included).
    m_store->runs().markStarted(m_runId, device);
    m_started = true;
    // The training file as this start reads it (a queued run's file may change before it starts; a
    // resumed run records the file it continues with).
    if (!m_config.trainData.empty()) {
        try {
            storage::RunRecord run = m_store->runs().require(m_runId);
            run.dataset.ref = m_config.trainData;
            run.dataset.sha256 = Sha256::fileHex(m_config.trainData);
            m_store->runs().update(run);
        } catch (const Error& e) {
            // An unreadable file fails the run with its own message when the trainer reads it.
            logWarning(std::string("cannot record the training data's SHA-256: ") + e.what());
        }
    }
    m_reserve = std::make_unique<DiskReserve>(db.string() + ".reserve-" + std::to_string(m_runId), 1 << 20);
    m_writer->watch(m_runId);
}

void RunRecorder::setConfig(const engine::TrainConfig& config) {
    const std::string json = config.toJson().dump();
    if (json == m_config.toJson().dump())
        return;
    m_store->runs().setConfig(m_runId, json);
    m_config = config;
}

void RunRecorder::write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) {
    for (const auto& [key, value] : metrics)
        m_writer->add(m_runId, key, step, value);
}

void RunRecorder::flush() { m_writer->flush(); }

void RunRecorder::discardAfter(int64_t step) {
    m_writer->flush();
    const size_t removed = m_store->metricsIngest().discardAfter(m_runId, step);
    if (removed > 0)
        logInfo("run #" + std::to_string(m_runId) + ": " + std::to_string(removed) + " metric points logged after step "
                + std::to_string(step) + " (after the checkpoint it resumes from) are replaced by the resumed run's");
}

void RunRecorder::writeParams(const std::vector<std::pair<std::string, std::string>>& params) {
    storage::Params p(params.begin(), params.end());
    m_store->runs().setParams(m_runId, p);
}

void RunRecorder::fail(const std::string& message) {
    if (!m_started) {
        // start() was refused (the run is another process's) or never called: the row is not ours.
        logError("run #" + std::to_string(m_runId) + " was not started by this process; its record is left as it is: " + message);
        return;
    }
    try {
        m_writer->flush();
    } catch (const std::exception& e) {
        logError(std::string("run #") + std::to_string(m_runId) + ": " + e.what());
    }
    recordFailure(message);
}

void RunRecorder::recordFailure(const std::string& message) {
    try {
        m_store->runs().setStatus(m_runId, storage::RunStatus::Failed, message);
    } catch (const storage::DatabaseError& e) {
        // Only a full disk is helped by the space set aside; any other failure is reported as it is.
        if (!e.isDiskFull() || !m_reserve || !m_reserve->release())
            throw;
        logWarning("run #" + std::to_string(m_runId) + ": the store's disk is full (" + e.what()
                   + "); freed the space set aside for this and recording the failure again");
        m_store->runs().setStatus(m_runId, storage::RunStatus::Failed, message);
    }
}

std::optional<int64_t> RunRecorder::finish(const engine::TrainResult& r, const std::string& task,
                                           std::optional<int64_t> parentAdapterId) {
    return finishWith(r, task, parentAdapterId, nullptr);
}

std::optional<int64_t> RunRecorder::finish(const engine::TrainResult& r, const std::string& task,
                                           const VersionLineage& lineage) {
    return finishWith(r, task, std::nullopt, &lineage);
}

std::optional<int64_t> RunRecorder::finishWith(const engine::TrainResult& r, const std::string& task,
                                               std::optional<int64_t> parentAdapterId, const VersionLineage* lineage) {
    try {
        m_writer->flush();
        const storage::RunStatus status = r.status == engine::TrainStatus::Completed ? storage::RunStatus::Finished
                                          : r.status == engine::TrainStatus::Stopped ? storage::RunStatus::Stopped
                                                                                     : storage::RunStatus::Failed;
        std::optional<int64_t> adapterId;
        // A run's final adapter is one version; stops and hand-overs leave checkpoints. Its files are
        // copied and hashed before the transaction, which then holds the write lock for rows only.
        const bool version = r.status == engine::TrainStatus::Completed && AdapterDescription::hasAdapter(m_config, r);
        storage::StagedAdapter staged;
        if (version)
            staged = storage::stageAdapterFolder(*m_store, r.adapterDir);
        storage::Transaction tx(m_store->database());
        m_store->runs().setStatus(m_runId, status, r.message);
        if (r.steps > 0)
            m_store->runs().noteStepReached(m_runId, r.steps);
        if (!r.lastCheckpoint.empty()) {
            storage::ArtifactRecord a;
            a.runId = m_runId;
            a.kind = "checkpoint";
            a.path = r.lastCheckpoint;
            a.step = r.steps;
            m_store->artifacts().add(a);
        }
        if (version) {
            const storage::RunRecord run = m_store->runs().require(m_runId);
            storage::NewAdapter n = AdapterDescription::fromTraining(m_config, r, task, parentAdapterId.has_value());
            n.sourceRunId = m_runId;
            if (lineage && !lineage->stage.empty())
                n.stage = lineage->stage;
            if (!run.baseModel.sha256.empty())
                n.baseModel = run.baseModel;
            const storage::RegisteredVersion v = storage::registerAdapterVersion(*m_store, n, staged);
            if (!v.requestedTask.empty())
                logInfo("task \"" + v.requestedTask + "\" holds versions of another base model; this version of "
                        + models::modelLabel(n.baseModel.ref, n.baseModel.sha256) + " starts task \"" + v.record.task + "\"");
            adapterId = v.record.id;
            if (parentAdapterId) {
                storage::LineageEdge e;
                e.childId = v.record.id;
                e.parentId = *parentAdapterId;
                e.kind = storage::LineageKind::TrainedFrom;
                m_store->lineage().add(e);
            }
            if (lineage) {
                for (storage::LineageEdge e : lineage->parents) {
                    e.childId = v.record.id;
                    m_store->lineage().add(e);
                }
                for (const auto& [key, value] : lineage->tags)
                    m_store->adapters().setTag(v.record.id, key, value);
            }
            if (auto ev = AdapterDescription::finalEvaluation(m_config, r)) {
                ev->adapterId = v.record.id;
                ev->runId = m_runId;
                m_store->evaluations().record(*ev);
            }
        }
        tx.commit();
        return adapterId;
    } catch (const std::exception& e) {
        const std::string why = std::string("cannot record the end of the run in the store: ") + e.what();
        try {
            recordFailure(why);
        } catch (const std::exception& again) {
            logError("run #" + std::to_string(m_runId) + ": " + why + "; marking it failed failed too: " + again.what());
        }
        throw Error(why);
    }
}

} // namespace rslora::app
