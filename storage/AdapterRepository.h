// Adapter versions: numbering per task, default names, release / rollback / archive / soft delete,
// tags, and search by task, tag, method, rank, status and evaluation metric.
#pragma once

#include "storage/Records.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

struct AdapterFilter {
    std::string task;                    // exact; empty = all tasks
    std::vector<AdapterStatus> statuses; // empty = all
    std::string method;                  // substring of the method summary; empty = all
    std::optional<int64_t> rank;
    std::optional<std::pair<std::string, std::string>> tag; // an empty value matches any value
    std::optional<int64_t> sourceRunId;
    bool includeDeleted = false;
    bool currentOnly = false;
    // Keep adapters with an evaluation of `metric` (on `dataset` when not empty) and, when given,
    // value >= minValue / <= maxValue. With orderByMetric, best first (higherIsBetter decides).
    std::string metric;
    std::string dataset;
    std::optional<double> minValue;
    std::optional<double> maxValue;
    bool orderByMetric = false;
    bool higherIsBetter = true;
    int limit = 0;
};

// What create() needs; everything else gets defaults (name, version, path, uuid, time).
struct NewAdapter {
    std::string task;
    std::string variant;
    std::string name;                    // empty: <task>_<variant>_v<N>_<YYYYMMDD>, "_2", "_3" ... added
                                         // when another live version has that name; given: refused when taken
    std::string path;                    // empty: adapterFolder(root, task, N, uuid) (created by the caller)
    std::string sha256;
    std::string method;
    std::optional<int64_t> rank;
    std::optional<double> alpha;
    std::vector<std::string> targets;
    std::optional<int64_t> trainableParams;
    std::string stage;
    std::optional<int64_t> sourceRunId;
    std::optional<int64_t> sourceStep;
    ContentRef baseModel;
    AdapterStatus status = AdapterStatus::Draft;
    std::string notes;
    std::string uuid;                    // empty: a new one (imports keep theirs)
    double createdAt = 0;                // 0: now
    std::optional<int64_t> version;      // empty: the task's next; given: refused below the task's next
};

struct TaskSummary {
    std::string task;
    int64_t versions = 0;                // not counting soft-deleted ones
    std::optional<int64_t> currentVersion;
    int64_t latestVersion = 0;
};

class AdapterRepository {
public:
    AdapterRepository(Database& db, const std::filesystem::path& adapterRoot) : m_db(db), m_root(adapterRoot) {}

    // Assigns the next version of the task (max + 1, deleted versions included, so numbers are never
    // reused) inside an IMMEDIATE transaction, so concurrent processes never collide.
    AdapterRecord create(const NewAdapter& adapter);
    std::optional<AdapterRecord> get(int64_t id);
    AdapterRecord require(int64_t id);
    // "12" / "#12" (id), a name, "task:vN" / "task:N" / "task@vN" / "task@N", "task@current", or a uuid. Throws when
    // nothing or more than one adapter matches.
    AdapterRecord resolve(const std::string& reference);
    std::optional<AdapterRecord> findByUuid(const std::string& uuid);
    // The live (not soft-deleted) adapter with exactly this name.
    std::optional<AdapterRecord> findByName(const std::string& name);
    std::vector<AdapterRecord> list(const AdapterFilter& filter = {});
    std::vector<TaskSummary> tasks();
    std::optional<AdapterRecord> current(const std::string& task);
    int64_t nextVersion(const std::string& task);
    // The distinct base model fingerprints of a task's versions (deleted ones included; unknown ones not).
    std::vector<std::string> baseModelsOf(const std::string& task);

    // A name as the store takes it for a version or a task (`what`: "adapter name", "task name"):
    // throws rslora::Error when it is empty, holds a line break, tab or another control character
    // (C0, DEL or C1), is not valid UTF-8 (one name stays on one line of every listing), is blank or
    // has a space at either end, or (an adapter name) is digits that commands would read as an id.
    static void checkName(const std::string& what, const std::string& name);
    // Refused for a name checkName() refuses or that another live version has.
    void rename(int64_t id, const std::string& name);
    // Every version of task `from` (deleted ones too, so their numbers move along) becomes a version of
    // `to`; names, numbers, folders, lineage and the current version stay. Refused when `to` is empty or
    // the same, or when a task of that name has versions already (deleted ones count: numbers would
    // collide), or for a name checkName() refuses.
    void renameTask(const std::string& from, const std::string& to);
    // What a live process still does with a version: "run #7 ("name") is running in process 12 on host
    // and stacks on it (adapter.stack_on)" for each queued, running or paused run whose owner lives and whose
    // config stacks on the version's folder. softDelete() refuses a version with any.
    std::vector<std::string> liveRunsUsing(int64_t id);
    void setNotes(int64_t id, const std::string& notes);
    void setFiles(int64_t id, const std::string& path, const std::string& sha256);
    void setStage(int64_t id, const std::string& stage);
    // Makes `runId` the version's source run again (its run was deleted and is imported back), with
    // the evaluations that lost their run in that delete.
    void relinkSourceRun(int64_t id, int64_t runId, std::optional<int64_t> sourceStep);
    // Status released without becoming current (an imported version released where it came from).
    void markReleased(int64_t id);

    // Throws rslora::Error when the version's folder is missing or its files no longer hash to the
    // recorded sha256 (a version without a recorded hash has nothing to compare and passes). Every
    // place that releases, exports or loads a stored version calls this first.
    static void verifyFiles(const AdapterRecord& adapter);

    // Status released and current version of its task (the previous current one stays released).
    // Verifies the files first (verifyFiles).
    void release(int64_t id);
    // Makes another released version current (an older one, or a newer one again after a rollback);
    // a never-released draft is refused (release it instead). Without a target, the newest released
    // version below the current one becomes current. Verifies the target's files first.
    // Returns the adapter that is now current.
    AdapterRecord rollback(const std::string& task, std::optional<int64_t> targetId = std::nullopt);
    // Status archived; when it was current, the newest remaining released version becomes current.
    void archive(int64_t id);
    // Back to released (not current).
    void unarchive(int64_t id);
    // Hidden from lists; files stay. When it was current, the same fallback as archive(). Refused while
    // a live run stacks on it (liveRunsUsing).
    void softDelete(int64_t id);
    void restore(int64_t id);

    void setTag(int64_t id, const std::string& key, const std::string& value = {});
    void removeTag(int64_t id, const std::string& key);
    Tags tags(int64_t id);

private:
    // The versions of `task` not deleted, oldest first (for resolve()'s messages).
    std::vector<int64_t> taskVersions(const std::string& task);
    void setCurrentLocked(int64_t id, const std::string& task);
    void fallBackCurrent(const std::string& task);
    Database& m_db;
    std::filesystem::path m_root;
};

} // namespace rslora::storage
