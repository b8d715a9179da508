// Portable run bundles (format in SCHEMA.md): a folder with run.json (run, config, params, tags,
// adapters), metrics.csv and adapters/<id>/ folders. RunBundleWriter writes one without any database
// (rslora train --no-store on another machine); importBundle() brings it into a store and
// exportRun() writes one from a store.
#pragma once

#include "storage/Records.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Store;

constexpr const char* kBundleFormat = "rslora-run-bundle";
constexpr int kBundleVersion = 1;

struct BundleParent {
    std::string uuid;                  // of an adapter in the same bundle or already in the store
    LineageKind kind = LineageKind::TrainedFrom;
    std::optional<double> weight;
    std::string method;
    std::string detailsJson;
};

struct BundleEvaluation {
    std::string dataset;
    std::string datasetSha256;
    std::string metric;
    double value = 0;
};

// An adapter version as a bundle carries it. `record.path` is ignored when written (the folder is
// adapters/<sanitizeId(name)>/ inside the bundle); id, version and current are informational.
struct BundleAdapter {
    AdapterRecord record;
    std::string dir;                   // relative to the bundle root, filled in by the writer/reader
    Tags tags;
    std::vector<BundleParent> parents;
    std::vector<BundleEvaluation> evaluations;
};

// A file the run produced besides its adapters (a checkpoint, an export): the record only, the file
// stays where it was (its path is as the writing machine saw it).
struct BundleArtifact {
    ArtifactRecord record;             // id, run_id and adapter_id are meaningless outside the store
    std::string adapterUuid;           // the adapter it belongs to, when one
};

struct BundleContents {
    RunRecord run;                     // id and pid are meaningless outside the store that wrote them
    std::string project;
    Params params;
    Tags tags;
    std::vector<BundleAdapter> adapters;
    std::vector<BundleArtifact> artifacts;
};

class RunBundleWriter {
public:
    enum class Existing {
        Continue, // an existing bundle in `dir` is continued (its adapters kept): a resumed run
        Refuse,   // a folder that already holds a bundle (or anything else) is refused: a new run
    };
    // Creates `dir` if needed. Continuing a bundle, an incomplete last line of metrics.csv (a writer
    // killed mid-append) is cut off, so appended rows start on a line of their own.
    explicit RunBundleWriter(const std::filesystem::path& dir, Existing existing = Existing::Continue);
    ~RunBundleWriter();
    RunBundleWriter(const RunBundleWriter&) = delete;
    RunBundleWriter& operator=(const RunBundleWriter&) = delete;

    // (Re)writes run.json atomically. A run without a uuid gets one (kept for later calls).
    // `params` empty: derived from the config on import.
    void writeRun(const RunRecord& run, const Tags& tags = {}, const Params& params = {},
                  const std::string& project = {});
    // Convenience for the end of a run: status, end time, error message; rewrites run.json.
    void setStatus(RunStatus status, const std::string& errorMessage = {});
    // Appends rows to metrics.csv with one write() per call; the point's runId is ignored. A process
    // killed meanwhile leaves at most one incomplete last line, which import skips.
    void appendMetrics(const std::vector<MetricPoint>& points);
    void appendMetric(const std::string& key, int64_t step, double wallTime, double value);
    // fdatasync of metrics.csv (durability against power loss; a killed process loses nothing written).
    void sync();
    // A run resumed from a checkpoint at `step`: the rows logged after it (a timeline that was lost)
    // are removed, metrics.csv rewritten atomically. Returns the rows removed.
    size_t discardMetricsAfter(int64_t step);

    // Where an adapter named `name` lives in the bundle: <dir>/adapters/<sanitizeId(name)>.
    std::filesystem::path adapterDirectory(const std::string& name) const;
    // Records an adapter version. Its files are copied from `source` into adapterDirectory(name)
    // (atomically) unless `source` is empty or already that folder. sha256 is computed when empty.
    void addAdapter(BundleAdapter adapter, const std::filesystem::path& source = {});
    // Records an artifact of the run (the file is not copied); rewrites run.json.
    void addArtifact(BundleArtifact artifact);

    const std::filesystem::path& directory() const { return m_dir; }
    const BundleContents& contents() const { return m_contents; }

private:
    void writeJson();
    std::filesystem::path m_dir;
    BundleContents m_contents;
    int m_metricsFd = -1;
};

// Parses run.json; throws rslora::Error naming the file and the field for anything malformed.
BundleContents readBundle(const std::filesystem::path& dir);

struct ImportOptions {
    bool asNew = false;                // import a run whose uuid exists as a new copy (new uuid)
    bool copyAdapters = true;          // copy adapter folders into the store's adapter root
    std::string project;               // override the bundle's project
};

struct ImportResult {
    int64_t runId = 0;
    size_t metrics = 0;
    std::vector<int64_t> adapterIds;          // every adapter of the bundle, as stored here
    std::vector<int64_t> relinkedAdapterIds;  // of those: versions kept here after their run was deleted
    size_t artifacts = 0;
    std::vector<std::string> warnings;
};

// Imports in one transaction: nothing is left behind when it fails (copied adapter folders are
// removed too). Unfinished runs (running / paused / queued) arrive as interrupted, adapter versions
// with the next version numbers of their tasks here, released ones released (not current). A version
// the store kept when the run was deleted (same uuid, no source run) is linked to the run again
// (restored if it was soft-deleted with the run) instead of being copied.
ImportResult importBundle(Store& store, const std::filesystem::path& dir, const ImportOptions& options = {});

struct ExportOptions {
    bool includeAdapters = true;       // copy the run's adapter versions (folders and records)
    bool metricsJson = false;          // also write metrics.json ({key: {step, wall_time, value}}, NaN as null)
};

struct ExportResult {
    size_t metrics = 0;
    size_t adapters = 0;
    std::vector<std::string> warnings; // e.g. an adapter whose folder is gone (left out)
};

// Writes run `runId` as a bundle folder `dir`, which must not exist yet (or be empty); the folder
// appears complete or not at all.
ExportResult exportRun(Store& store, int64_t runId, const std::filesystem::path& dir,
                       const ExportOptions& options = {});

} // namespace rslora::storage
