// exportRun(): a stored run as a bundle folder (the format importBundle() reads).
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "storage/RecordJson.h"
#include "storage/RunBundle.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

// {key: {"step": [...], "wall_time": [...], "value": [...]}} for tools that prefer JSON to CSV.
// JSON has no NaN or Inf: those values are null here (metrics.csv keeps them).
void writeMetricsJson(Store& store, int64_t runId, const fs::path& file) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const std::string& key : store.metrics().keys(runId)) {
        nlohmann::ordered_json series = toJson(store.metrics().series(runId, key));
        series.erase("key");
        series.erase("total_points");
        out[key] = std::move(series);
    }
    writeFileAtomic(file, out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

} // namespace

ExportResult exportRun(Store& store, int64_t runId, const fs::path& dir, const ExportOptions& options) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw rslora::Error("cannot export to " + dir.string() + ": it is a file, not a folder", "choose a new folder name");
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw rslora::Error("cannot export to " + dir.string() + ": it exists and is not an empty folder",
                            "choose a new folder name");
    for (fs::path above = dir.parent_path(); !above.empty() && above != above.parent_path(); above = above.parent_path())
        if (fs::exists(above, ec)) {
            if (!fs::is_directory(above, ec))
                throw rslora::Error("cannot export to " + dir.string() + ": " + above.string() + " is a file, not a folder");
            break;
        }
    ExportResult result;
    // One read transaction: the run, its metrics and adapters from the same snapshot.
    Transaction snapshot(store.database(), Transaction::Mode::Deferred);
    RunRecord run = store.runs().require(runId);
    std::string project;
    if (auto p = store.runs().project(run.projectId); p && p->name != "default")
        project = p->name;

    if (fs::exists(dir, ec))
        fs::remove(dir, ec); // empty: AtomicDirectory wants to create it itself
    AtomicDirectory out(dir, AtomicDirectory::OnExisting::NoReplace); // another export finished meanwhile keeps its bundle
    {
        RunBundleWriter writer(out.stagingPath());
        writer.writeRun(run, store.runs().tags(runId), store.runs().params(runId), project);
        std::vector<MetricPoint> batch;
        store.metrics().forEach(runId, [&](const MetricPoint& p) {
            batch.push_back(p);
            if (batch.size() >= 20000) {
                writer.appendMetrics(batch);
                result.metrics += batch.size();
                batch.clear();
            }
        });
        writer.appendMetrics(batch);
        result.metrics += batch.size();
        // Every stored point must have been read: a point whose key cannot be resolved (a damaged
        // file) would otherwise drop out of the bundle without a word.
        const int64_t stored = store.metrics().storedPoints(runId);
        if (static_cast<int64_t>(result.metrics) != stored)
            throw rslora::Error("cannot export run " + std::to_string(runId) + ": read " +
                                    std::to_string(result.metrics) + " of its " + std::to_string(stored) +
                                    " metric points from " + store.path().string(),
                                "the store may be damaged; nothing was written to " + dir.string() +
                                    ". Check it with: rslora doctor --db " + store.path().string());

        if (options.includeAdapters) {
            AdapterFilter f;
            f.sourceRunId = runId;
            f.includeDeleted = true;
            for (const AdapterRecord& a : store.adapters().list(f)) {
                if (a.deletedAt) {
                    result.warnings.push_back("adapter \"" + a.name + "\" (" + a.task + ":v" + std::to_string(a.version) +
                                              ") left out: it is deleted; `rslora adapters restore " + a.task + ":v" +
                                              std::to_string(a.version) + "` before exporting brings it along");
                    continue;
                }
                if (a.path.empty() || !fs::is_directory(a.path)) {
                    result.warnings.push_back("adapter \"" + a.name + "\" left out: its folder " + a.path +
                                              " is missing");
                    continue;
                }
                BundleAdapter b;
                b.record = a;
                b.tags = store.adapters().tags(a.id);
                for (const LineageEdge& e : store.lineage().parents(a.id)) {
                    auto parent = store.adapters().get(e.parentId);
                    if (parent)
                        b.parents.push_back({parent->uuid, e.kind, e.weight, e.method, e.detailsJson});
                }
                for (const EvaluationRecord& e : store.evaluations().forAdapter(a.id))
                    b.evaluations.push_back({e.dataset, e.datasetSha256, e.metric, e.value});
                // A bundle must carry the version as recorded, never files that changed since.
                AdapterRepository::verifyFiles(a);
                writer.addAdapter(std::move(b), a.path); // an unrecorded hash is computed from the copy
                ++result.adapters;
            }
        }
        for (const ArtifactRecord& a : store.artifacts().forRun(runId)) {
            BundleArtifact b;
            b.record = a;
            if (a.adapterId)
                if (auto owner = store.adapters().get(*a.adapterId))
                    b.adapterUuid = owner->uuid;
            writer.addArtifact(std::move(b));
        }
        writer.sync();
    }
    if (options.metricsJson)
        writeMetricsJson(store, runId, out.stagingPath() / "metrics.json");
    snapshot.commit();
    out.commit();
    return result;
}

} // namespace rslora::storage
