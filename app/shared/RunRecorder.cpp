#include "app/shared/RunRecorder.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "engine/Trainer.h"
#include "storage/MetricsWriter.h"
#include "storage/Store.h"

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

int64_t RunRecorder::createQueuedRun(storage::Store& store, const engine::TrainConfig& config, const std::string& name) {
    storage::RunRecord run;
    run.name = name;
    run.status = storage::RunStatus::Queued;
    run.configJson = config.toJson().dump();
    run.seed = static_cast<int64_t>(config.seed);
    run.device = config.device;
    run.baseModel.ref = config.modelPath;
    run.dataset.ref = config.trainData;
    const int64_t id = store.runs().create(run);
    store.runs().markQueued(id);
    return id;
}

void RunRecorder::start(const std::string& device) {
    m_store->runs().markStarted(m_runId, device);
    m_writer->watch(m_runId);
}

void RunRecorder::write(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) {
    for (const auto& [key, value] : metrics)
        m_writer->add(m_runId, key, step, value);
}

void RunRecorder::flush() { m_writer->flush(); }

void RunRecorder::writeParams(const std::vector<std::pair<std::string, std::string>>& params) {
    storage::Params p(params.begin(), params.end());
    m_store->runs().setParams(m_runId, p);
}

void RunRecorder::fail(const std::string& message) {
    m_writer->flush();
    m_store->runs().setStatus(m_runId, storage::RunStatus::Failed, message);
}

std::optional<int64_t> RunRecorder::finish(const engine::TrainResult& r, const std::string& task,
                                           std::optional<int64_t> parentAdapterId) {
    m_writer->flush();
    const storage::RunStatus status = r.status == engine::TrainStatus::Completed ? storage::RunStatus::Finished
                                      : r.status == engine::TrainStatus::Stopped ? storage::RunStatus::Stopped
                                                                                 : storage::RunStatus::Failed;
    m_store->runs().setStatus(m_runId, status, r.message);
    if (!r.lastCheckpoint.empty()) {
        storage::ArtifactRecord a;
        a.runId = m_runId;
        a.kind = "checkpoint";
        a.path = r.lastCheckpoint;
        a.step = r.steps;
        m_store->artifacts().add(a);
    }
    if (r.adapterDir.empty() || m_config.mode == engine::TrainMode::Full)
        return std::nullopt;
    storage::NewAdapter n;
    n.task = task.empty() ? std::filesystem::path(m_config.trainData).stem().string() : task;
    if (n.task.empty())
        n.task = "adapter";
    n.variant = methodVariant(m_config);
    n.path = r.adapterDir;
    n.sha256 = Sha256::directoryHex(r.adapterDir);
    const auto& a = m_config.adapter;
    n.method = std::string(engine::scalingModeName(a.scaling)) + ", " + engine::initModeName(a.init) + " init";
    if (a.parameterization == engine::Parameterization::RandomSubspace)
        n.method += ", random subspace k=" + std::to_string(a.subspaceDim);
    if (a.balancing.enabled)
        n.method += ", balanced";
    if (a.loraPlusRatio != 1.0)
        n.method += ", LoRA+";
    n.rank = a.rank;
    n.alpha = a.alpha;
    n.targets = a.targetModules;
    n.trainableParams = r.parameters.trainable;
    n.stage = parentAdapterId ? "stage" : "sft";
    n.sourceRunId = m_runId;
    n.sourceStep = r.steps;
    storage::AdapterRecord rec = m_store->adapters().create(n);
    if (parentAdapterId) {
        storage::LineageEdge e;
        e.childId = rec.id;
        e.parentId = *parentAdapterId;
        e.kind = storage::LineageKind::TrainedFrom;
        m_store->lineage().add(e);
    }
    if (r.finalEval) {
        storage::EvaluationRecord ev;
        ev.adapterId = rec.id;
        ev.runId = m_runId;
        ev.dataset = m_config.validationData.empty() ? m_config.trainData + " (held out)" : m_config.validationData;
        ev.metric = "eval/loss";
        ev.value = r.finalEval->loss;
        m_store->evaluations().record(ev);
    }
    return rec.id;
}

} // namespace rslora::app
