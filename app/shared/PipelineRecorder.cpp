// Pipeline stages in the experiment store (see PipelineRecorder.h).
#include "app/shared/PipelineRecorder.h"

#include "app/shared/AdapterReference.h"
#include "common/Error.h"
#include "engine/Trainer.h"
#include "storage/AdapterRepository.h"
#include "storage/Naming.h"
#include "storage/RunRepository.h"
#include "storage/Store.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <map>

namespace rslora::app {

namespace fs = std::filesystem;
using engine::pipeline::StageContext;

PipelineRecorder::PipelineRecorder(fs::path databasePath)
    : m_db(std::move(databasePath)), m_store(std::make_unique<storage::Store>(m_db))
{
}

PipelineRecorder::~PipelineRecorder() = default;

std::string PipelineRecorder::stageTask(const std::string& pipeline, const std::string& stage)
{
    return pipeline + "_" + stage;
}

fs::path PipelineRecorder::defaultOutputDir(const fs::path& databasePath, const std::string& pipeline)
{
    return fs::absolute(databasePath).parent_path() / "pipelines" / storage::sanitizeId(pipeline);
}

std::string PipelineRecorder::checkFrom(const std::string& reference)
{
    try {
        resolveFrom(reference);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

namespace {

// A `from: TASK@vN` whose task is gone: versions keep the folder they were stored in
// (<adapter root>/TASK/vN-<uuid>) when their task is renamed, so versions stored under TASK that now
// belong to another task name the rename. "" when the task exists or nothing was stored under it.
std::string renamedTaskProblem(storage::Store& store, const std::string& reference)
{
    const auto ref = engine::pipeline::parseVersionReference(reference);
    if (!ref)
        return {};
    storage::AdapterFilter all;
    all.includeDeleted = true;
    std::string now;
    std::optional<storage::AdapterRecord> same;
    for (const auto& a : store.adapters().list(all)) {
        if (a.task == ref->task)
            return {}; // the task is there; the resolver's message stands
        if (a.deletedAt || a.path.empty()
            || fs::path(a.path) != storage::adapterFolder(store.adapterRoot(), ref->task, a.version, a.uuid))
            continue;
        if (now.empty())
            now = a.task;
        if (a.version == ref->version && !same)
            same = a;
    }
    if (now.empty())
        return {};
    std::string out = "no task \"" + ref->task + "\" in " + store.path().string() + ": its versions were moved to task \""
                      + now + "\" (renamed, as by `rslora adapters rename-task " + ref->task + " " + now + "`)";
    if (same)
        out += "; version " + std::to_string(ref->version) + " is now " + same->task + "@v" + std::to_string(same->version)
               + " (adapter #" + std::to_string(same->id) + "): write from: " + same->task + "@v"
               + std::to_string(same->version);
    else
        out += ", which holds no version " + std::to_string(ref->version) + " stored as " + reference;
    return out;
}

} // namespace

std::pair<fs::path, std::optional<int64_t>> PipelineRecorder::resolveFrom(const std::string& reference)
{
    ResolvedAdapter r;
    try {
        r = resolveAdapterArgument(reference, m_store.get(), "from:");
    } catch (const Error&) {
        if (const std::string renamed = renamedTaskProblem(*m_store, reference); !renamed.empty())
            throw Error("from: " + reference + ": " + renamed);
        throw;
    }
    if (!r.record)
        throw Error("'" + reference + "' is not a version in " + m_store->path().string());
    return {r.path, r.record->id};
}

VersionLineage PipelineRecorder::lineageOf(const StageContext& ctx, const std::string& pipeline)
{
    VersionLineage l;
    l.stage = ctx.spec ? ctx.spec->name : std::string();
    l.tags[kPipelineTag] = pipeline;
    l.tags[kPipelineStageTag] = std::to_string(ctx.index + 1);
    for (size_t i = 0; i < ctx.below.size(); ++i) {
        const auto& b = ctx.below[i];
        if (!b.adapterId)
            continue;
        storage::LineageEdge e;
        e.parentId = *b.adapterId;
        e.kind = storage::LineageKind::TrainedFrom;
        e.weight = b.weight;
        e.method = b.mergedIntoBase ? kRelationMergedIntoBase : kRelationStackedOn;
        e.detailsJson = nlohmann::json{{"relation", e.method},
                                       {"pipeline", pipeline},
                                       {"stage", b.stage},
                                       {"position", i + 1},
                                       {"weight", b.weight}}
                            .dump();
        l.parents.push_back(e);
    }
    return l;
}

engine::pipeline::StageRecording PipelineRecorder::stageStarting(const StageContext& ctx)
{
    engine::TrainConfig config = ctx.config;
    int64_t id = 0;
    if (ctx.runId && m_store->runs().get(*ctx.runId))
        id = *ctx.runId; // an earlier session's run of this stage continues
    if (id == 0) {
        id = RunRecorder::createQueuedRun(*m_store, config, ctx.pipeline + " / " + ctx.spec->name);
        storage::RunRecord run = m_store->runs().require(id);
        run.projectId = m_store->runs().ensureProject(ctx.pipeline);
        m_store->runs().update(run);
        m_store->runs().setTag(id, kPipelineTag, ctx.pipeline);
        m_store->runs().setTag(id, kPipelineStageTag, std::to_string(ctx.index + 1));
    }
    m_recorder = std::make_unique<RunRecorder>(m_db, id);
    m_recorder->start(config.device);
    if (onStageRun)
        onStageRun(ctx, id);
    return {m_recorder.get(), m_recorder->identity(), id};
}

std::optional<int64_t> PipelineRecorder::finishedEarlier(const StageContext& ctx)
{
    if (!ctx.runId)
        return std::nullopt;
    const auto run = m_store->runs().get(*ctx.runId);
    if (!run || run->status != storage::RunStatus::Finished)
        return std::nullopt;
    return m_store->queries().newestAdapterOf(run->id);
}

std::optional<int64_t> PipelineRecorder::stageFinished(const StageContext& ctx, const engine::TrainResult& r)
{
    if (!m_recorder)
        return std::nullopt;
    const auto id = m_recorder->finish(r, stageTask(ctx.pipeline, ctx.spec->name), lineageOf(ctx, ctx.pipeline));
    m_recorder.reset();
    if (onStageEnd)
        onStageEnd(ctx, r, id);
    return id;
}

void PipelineRecorder::stageFailed(const StageContext&, const std::string& message)
{
    if (m_recorder)
        m_recorder->fail(message);
    m_recorder.reset();
}

void PipelineRecorder::stageSkipped(const StageContext& ctx, const std::string& why)
{
    if (onStageSkipped)
        onStageSkipped(ctx, why);
}

std::vector<storage::RunRecord> PipelineRecorder::runsUpTo(storage::Store& store, const storage::RunRecord& run)
{
    const storage::Tags tags = store.runs().tags(run.id);
    const auto pipeline = tags.find(kPipelineTag);
    if (pipeline == tags.end())
        return {};
    storage::RunFilter filter;
    filter.tag = std::make_pair(std::string(kPipelineTag), pipeline->second);
    filter.projectId = run.projectId;
    filter.newestFirst = false;
    // One stage number may have several runs (the pipeline run again): take the newest at or before
    // this run for each stage below it.
    std::map<int, storage::RunRecord> byStage;
    auto stageOf = [&store](int64_t id) {
        const storage::Tags t = store.runs().tags(id);
        const auto it = t.find(kPipelineStageTag);
        return it == t.end() ? 0 : std::atoi(it->second.c_str());
    };
    const int mine = stageOf(run.id);
    for (const storage::RunRecord& r : store.runs().list(filter)) {
        const int stage = stageOf(r.id);
        if (stage <= 0 || stage > mine || r.id > run.id)
            continue;
        byStage[stage] = r;
    }
    std::vector<storage::RunRecord> out;
    for (const auto& [stage, r] : byStage)
        out.push_back(r);
    return out;
}

} // namespace rslora::app
