// Domain values of the experiment store. Rows become these plain structs inside storage/; callers
// (UI, CLI, engine sinks) never see SQL. Times are seconds since the Unix epoch (UTC) as doubles.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

enum class RunStatus { Queued, Running, Paused, Finished, Failed, Interrupted, Stopped };

// "queued", "running", ... as stored in runs.status (the CHECK constraint lists the same words).
const char* toString(RunStatus status);
// Throws rslora::Error naming the accepted words for anything else.
RunStatus runStatusFromString(const std::string& text);
// Finished, failed, interrupted and stopped runs are over; end_time is set when one gets there.
bool isTerminal(RunStatus status);

enum class AdapterStatus { Draft, Released, Archived };
const char* toString(AdapterStatus status);
AdapterStatus adapterStatusFromString(const std::string& text);

enum class LineageKind { TrainedFrom, MergedFrom, ConvertedFrom };
const char* toString(LineageKind kind); // "trained-from", "merged-from", "converted-from"
LineageKind lineageKindFromString(const std::string& text);

struct ProjectRecord {
    int64_t id = 0;
    std::string name;
    std::string description;
    double createdAt = 0;
};

// A content-addressed reference to a base model or a dataset: where it was and what it hashed to.
struct ContentRef {
    std::string ref;    // path, hub id or built-in name as the user gave it
    std::string sha256; // empty when unknown
    bool operator==(const ContentRef& o) const { return ref == o.ref && sha256 == o.sha256; }
};

struct RunRecord {
    int64_t id = 0;
    std::string uuid;               // stable across machines (bundles keep it)
    int64_t projectId = 0;          // 0 on create: the "default" project
    std::string name;
    RunStatus status = RunStatus::Queued;
    double createdAt = 0;
    std::optional<double> startTime;
    std::optional<double> endTime;
    std::string configJson = "{}";  // the TrainConfig as JSON, verbatim
    std::optional<int64_t> seed;
    ContentRef baseModel;
    ContentRef dataset;
    std::string device;             // "cpu", "cuda:0", ...
    std::string host;
    std::string notes;
    std::string errorMessage;
    std::optional<int64_t> pid;     // the process that runs it, while it runs
    std::optional<double> heartbeat;
    std::optional<int64_t> lastStep;
};

// One metric observation. NaN and +-Inf values are kept as such.
struct MetricPoint {
    int64_t runId = 0;
    std::string key;
    int64_t step = 0;
    double wallTime = 0;
    double value = 0;
};

// Last point of a (run, key) plus the running extremes of its finite values.
struct LatestMetric {
    std::string key;
    int64_t step = 0;
    double wallTime = 0;
    double value = 0;
    double minValue = 0;   // NaN when the series has no finite value
    double maxValue = 0;
    int64_t count = 0;
};

// A series as parallel arrays, the shape plotting wants.
struct MetricSeries {
    std::string key;
    std::vector<int64_t> steps;
    std::vector<double> wallTimes;
    std::vector<double> values;
    int64_t totalPoints = 0;   // points in the stored range before downsampling
    size_t size() const { return steps.size(); }
};

struct AdapterRecord {
    int64_t id = 0;
    std::string uuid;
    std::string task;
    std::string variant;
    std::string name;                    // default <task>_<variant>_v<N>_<YYYYMMDD>, editable
    int64_t version = 0;                 // N, increasing per task, never reused
    double createdAt = 0;
    std::string path;                    // the adapter folder
    std::string sha256;                  // over the folder's files (rslora::Sha256::directoryHex)
    std::string method;                  // one-line method summary, e.g. "rslora scaling, spectral init"
    std::optional<int64_t> rank;
    std::optional<double> alpha;
    std::vector<std::string> targets;    // target module names or patterns
    std::optional<int64_t> trainableParams;
    std::string stage;                   // "sft", "domain", "dpo", "merged", ...
    std::optional<int64_t> sourceRunId;
    std::optional<int64_t> sourceStep;
    ContentRef baseModel;                // the base model folder and its fingerprint (models::modelFingerprint)
    AdapterStatus status = AdapterStatus::Draft;
    bool current = false;                // the version the task currently serves
    std::optional<double> deletedAt;     // soft-deleted when set
    std::string notes;
};

struct LineageEdge {
    int64_t id = 0;
    int64_t childId = 0;
    int64_t parentId = 0;
    LineageKind kind = LineageKind::TrainedFrom;
    std::optional<double> weight;        // merged-from: the fusion weight
    std::string method;                  // merged-from: "exact", "svd", "ties", ...; converted-from: target format
    std::string detailsJson;             // anything else, as JSON ("" when none)
    double createdAt = 0;
};

// The adapters of one task plus every lineage edge touching them (parents may lie in other tasks and
// are included as nodes too). Merges make it a DAG; roots are nodes without a parent among nodes.
struct AdapterGraph {
    std::vector<AdapterRecord> nodes;
    std::vector<LineageEdge> edges;
    std::vector<int64_t> roots() const;
    std::vector<int64_t> childrenOf(int64_t adapterId) const;
    std::vector<int64_t> parentsOf(int64_t adapterId) const;
    const AdapterRecord* find(int64_t adapterId) const;
};

struct EvaluationRecord {
    int64_t id = 0;
    int64_t adapterId = 0;
    std::optional<int64_t> runId;        // the run that evaluated it, if any
    std::string dataset;
    std::string datasetSha256;
    std::string metric;
    double value = 0;                    // NaN allowed
    double createdAt = 0;
    std::string detailsJson;
};

// A group of runs made together (a sweep): its spec and base config, and its members in run order.
struct RunGroupRecord {
    int64_t id = 0;
    std::string uuid;
    std::string kind = "sweep";         // CHECK in sweep, pipeline
    std::string name;
    double createdAt = 0;
    std::string specJson = "{}";        // what was varied (SweepSpec::toJson)
    std::string configJson = "{}";      // the base config, before the swept values
    std::string configPath;             // the file it came from, as given
};

struct RunGroupMember {
    int64_t groupId = 0;
    int position = 0;                   // run order in the group
    int64_t runId = 0;
    int combinationIndex = 0;           // runs of one combination differ only in their seed
    std::string combinationJson = "[]"; // [[key, value], ...] in axis order
    int seedIndex = 0;
};

struct ArtifactRecord {
    int64_t id = 0;
    int64_t runId = 0;
    std::optional<int64_t> adapterId;
    std::string kind;                    // "checkpoint", "export", "merged", "log", "other"
    std::string path;
    std::string sha256;
    std::optional<int64_t> sizeBytes;
    std::optional<int64_t> step;
    double createdAt = 0;
    std::string detailsJson;
};

using Tags = std::map<std::string, std::string>;
using Params = std::map<std::string, std::string>;

} // namespace rslora::storage
