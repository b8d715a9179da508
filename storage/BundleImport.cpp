// importBundle(): a run bundle folder into the store, all or nothing.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/Sha256.h"
#include "storage/Csv.h"
#include "storage/Naming.h"
#include "storage/RunBundle.h"
#include "storage/StagedFolders.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <map>
#include <optional>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

size_t importMetrics(Store& store, const fs::path& file, int64_t runId, ImportResult& result) {
    if (!fs::exists(file)) {
        result.warnings.push_back(file.filename().string() + " is missing from the bundle: the run is imported without metrics");
        return 0;
    }
    CsvReader csv(file);
    std::vector<std::string> f;
    if (!csv.next(f) || f.size() != 4 || f[0] != "key" || f[1] != "step" || f[2] != "wall_time" || f[3] != "value")
        throw rslora::Error(file.string() + ": line 1: expected the header key,step,wall_time,value");
    MetricsIngest& ingest = store.metricsIngest();
    std::map<std::string, int64_t> keys;
    std::vector<MetricsIngest::Point> batch;
    size_t total = 0;
    auto flush = [&] {
        ingest.insert(batch, false);
        total += batch.size();
        batch.clear();
    };
    while (csv.next(f)) {
        if (f.size() == 1 && f[0].empty())
            continue; // blank line
        if (f.size() != 4)
            throw rslora::Error(file.string() + ": line " + std::to_string(csv.line()) + ": expected 4 fields, found " +
                                std::to_string(f.size()));
        try {
            auto it = keys.find(f[0]);
            if (it == keys.end())
                it = keys.emplace(f[0], ingest.keyId(f[0])).first;
            batch.push_back({runId, it->second, parseInt(f[1]), parseDouble(f[2]), parseDouble(f[3])});
        } catch (const rslora::Error& e) {
            throw rslora::Error(file.string() + ": line " + std::to_string(csv.line()) + ": " + e.what());
        }
        if (batch.size() >= 50000)
            flush();
    }
    flush();
    if (csv.truncated())
        result.warnings.push_back(file.string() + ": skipped an incomplete last line (the writer was interrupted)");
    return total;
}

// The stored version a bundle adapter is, when the store kept it after its run was deleted (no
// source run): imported again, the run takes it back. Throws for a duplicate of a version that
// still belongs to a run, unless importing as a copy (then: nullopt, and it becomes a new version).
std::optional<AdapterRecord> keptVersion(Store& store, const AdapterRecord& r, const ImportOptions& options) {
    if (r.uuid.empty())
        return std::nullopt;
    auto existing = store.adapters().findByUuid(r.uuid);
    if (!existing)
        return std::nullopt;
    const std::string which = "adapter " + r.uuid + " (\"" + r.name + "\") is already in the store as " +
                              existing->task + ":v" + std::to_string(existing->version);
    if (existing->sourceRunId) {
        if (options.asNew)
            return std::nullopt;
        throw rslora::Error(which + ", from run #" + std::to_string(*existing->sourceRunId),
                            "import the bundle as a copy with --as-new");
    }
    if (!r.sha256.empty() && !existing->sha256.empty() && r.sha256 != existing->sha256) {
        if (options.asNew)
            return std::nullopt;
        throw rslora::Error(which + " with other files (sha256 " + existing->sha256 + ", the bundle has " + r.sha256 +
                                ")",
                            "import the bundle as a copy with --as-new");
    }
    return existing;
}

} // namespace

ImportResult importBundle(Store& store, const fs::path& dir, const ImportOptions& options) {
    BundleContents b = readBundle(dir);
    ImportResult result;
    RunRecord run = b.run;
    if (run.uuid.empty())
        run.uuid = newUuid();
    if (auto existing = store.runs().findByUuid(run.uuid)) {
        if (!options.asNew)
            throw rslora::Error("run " + run.uuid + " from " + dir.string() + " is already in the store as run #" +
                                    std::to_string(existing->id) + " (\"" + existing->name + "\")",
                                "import it as a copy with --as-new, or delete the stored run first");
        run.uuid = newUuid();
    }

    // Check every adapter folder before touching anything. A hand-written run.json may leave out an
    // adapter's sha256: it is then computed from the bundle's folder, so that the version is stored
    // with the hash its files are verified against from then on (an empty one would verify anything).
    for (BundleAdapter& a : b.adapters) {
        fs::path folder = dir / a.dir;
        if (a.dir.find("..") != std::string::npos || fs::path(a.dir).is_absolute())
            throw rslora::Error(dir.string() + "/run.json: adapter \"" + a.record.name + "\" has the folder \"" + a.dir +
                                "\", which is outside the bundle");
        if (!fs::is_directory(folder))
            throw rslora::Error("bundle adapter \"" + a.record.name + "\": folder " + folder.string() + " is missing");
        const std::string actual = Sha256::directoryHex(folder);
        if (a.record.sha256.empty())
            a.record.sha256 = actual;
        else if (actual != a.record.sha256)
            throw rslora::Error("bundle adapter \"" + a.record.name + "\": the files in " + folder.string() +
                                    " hash to " + actual + ", but run.json says " + a.record.sha256,
                                "the bundle was changed or damaged after it was written");
    }
    // Versions the store kept when their run was deleted come back to the run instead of being
    // copied again; a version that still belongs to a stored run is a duplicate.
    std::vector<std::optional<AdapterRecord>> kept(b.adapters.size());
    for (size_t i = 0; i < b.adapters.size(); ++i)
        kept[i] = keptVersion(store, b.adapters[i].record, options);
    StagedFolders folders(store.adapterRoot());
    std::vector<fs::path> staged(b.adapters.size());
    if (options.copyAdapters)
        for (size_t i = 0; i < b.adapters.size(); ++i)
            if (!kept[i])
                staged[i] = folders.stage(dir / b.adapters[i].dir);

    Transaction tx(store.database());
    std::string project = options.project.empty() ? b.project : options.project;
    run.projectId = project.empty() ? 1 : store.runs().ensureProject(project);
    if (run.status == RunStatus::Running || run.status == RunStatus::Paused || run.status == RunStatus::Queued) {
        std::string was = toString(run.status);
        run.status = RunStatus::Interrupted;
        if (run.errorMessage.empty())
            run.errorMessage = "imported from a bundle whose run was still " + was + " when it was written";
    }
    run.pid.reset();
    run.heartbeat.reset();
    run.id = 0;
    result.runId = store.runs().create(run);
    if (!b.params.empty())
        store.runs().setParams(result.runId, b.params);
    for (const auto& [k, v] : b.tags)
        store.runs().setTag(result.runId, k, v);
    result.metrics = importMetrics(store, dir / "metrics.csv", result.runId, result);

    std::map<std::string, int64_t> byUuid; // bundle adapter uuid -> id here
    for (size_t i = 0; i < b.adapters.size(); ++i) {
        const BundleAdapter& a = b.adapters[i];
        if (kept[i]) {
            // Re-read inside the transaction: another process may have linked it meanwhile.
            AdapterRecord now = store.adapters().require(kept[i]->id);
            if (now.sourceRunId)
                throw rslora::Error("adapter " + now.uuid + " (\"" + now.name + "\") was linked to run #" +
                                    std::to_string(*now.sourceRunId) + " while the bundle was being imported");
            store.adapters().relinkSourceRun(now.id, result.runId, a.record.sourceStep);
            if (now.deletedAt)
                store.adapters().restore(now.id);
            byUuid[now.uuid] = now.id;
            result.adapterIds.push_back(now.id);
            result.relinkedAdapterIds.push_back(now.id);
            continue;
        }
        NewAdapter n;
        const AdapterRecord& r = a.record;
        n.task = r.task;
        n.variant = r.variant;
        n.name = r.name;
        n.sha256 = r.sha256;
        n.method = r.method;
        n.rank = r.rank;
        n.alpha = r.alpha;
        n.targets = r.targets;
        n.trainableParams = r.trainableParams;
        n.stage = r.stage;
        n.sourceRunId = result.runId;
        n.sourceStep = r.sourceStep;
        n.baseModel = r.baseModel;
        // Released comes back released (not current: which version serves a task is decided here).
        n.status = r.status == AdapterStatus::Archived ? AdapterStatus::Archived : AdapterStatus::Draft;
        n.notes = r.notes;
        n.createdAt = r.createdAt;
        n.uuid = r.uuid;
        if (!n.uuid.empty() && store.adapters().findByUuid(n.uuid))
            n.uuid.clear(); // a copy (--as-new): keptVersion() refused it otherwise
        if (!n.name.empty() && store.adapters().findByName(n.name)) {
            result.warnings.push_back("adapter name \"" + n.name + "\" is taken here; the import got the default name");
            n.name.clear();
        }
        if (!options.copyAdapters)
            n.path = fs::absolute(dir / a.dir).string();
        AdapterRecord created = store.adapters().create(n);
        if (r.status == AdapterStatus::Released)
            store.adapters().markReleased(created.id);
        if (options.copyAdapters) {
            fs::path placed = folders.place(staged[i], created.path);
            if (placed != fs::path(created.path))
                store.adapters().setFiles(created.id, placed.string(), created.sha256);
        }
        if (r.version > 0)
            store.adapters().setTag(created.id, "imported_version", std::to_string(r.version));
        for (const auto& [k, v] : a.tags)
            store.adapters().setTag(created.id, k, v);
        for (const BundleEvaluation& e : a.evaluations) {
            EvaluationRecord ev;
            ev.adapterId = created.id;
            ev.runId = result.runId;
            ev.dataset = e.dataset;
            ev.datasetSha256 = e.datasetSha256;
            ev.metric = e.metric;
            ev.value = e.value;
            store.evaluations().record(ev);
        }
        if (!r.uuid.empty())
            byUuid[r.uuid] = created.id;
        result.adapterIds.push_back(created.id);
    }
    // Lineage last, once every adapter of the bundle exists.
    for (size_t i = 0; i < b.adapters.size(); ++i) {
        if (kept[i])
            continue; // its edges stayed in the store with it
        for (const BundleParent& p : b.adapters[i].parents) {
            std::optional<int64_t> parent;
            if (auto it = byUuid.find(p.uuid); it != byUuid.end())
                parent = it->second;
            else if (auto existing = store.adapters().findByUuid(p.uuid))
                parent = existing->id;
            if (!parent) {
                result.warnings.push_back("adapter \"" + b.adapters[i].record.name + "\": parent " + p.uuid +
                                          " is neither in the bundle nor in the store; lineage edge left out");
                continue;
            }
            LineageEdge e;
            e.childId = result.adapterIds[i];
            e.parentId = *parent;
            e.kind = p.kind;
            e.weight = p.weight;
            e.method = p.method;
            e.detailsJson = p.detailsJson;
            store.lineage().add(e);
        }
    }
    for (const BundleArtifact& a : b.artifacts) {
        ArtifactRecord rec = a.record;
        rec.id = 0;
        rec.runId = result.runId;
        rec.adapterId.reset();
        if (!a.adapterUuid.empty()) {
            if (auto it = byUuid.find(a.adapterUuid); it != byUuid.end())
                rec.adapterId = it->second;
            else if (auto existing = store.adapters().findByUuid(a.adapterUuid))
                rec.adapterId = existing->id;
        }
        store.artifacts().add(rec);
        ++result.artifacts;
    }
    tx.commit();
    folders.commit(store.database());
    return result;
}

} // namespace rslora::storage
