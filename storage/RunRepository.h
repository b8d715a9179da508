// Runs, their params (the config flattened), tags and projects.
#pragma once

#include "storage/Records.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rslora::storage {

class Database;

struct RunFilter {
    std::optional<int64_t> projectId;
    std::vector<RunStatus> statuses;          // any of these; empty = all
    std::string nameContains;                 // case-sensitive substring; empty = all
    std::optional<std::pair<std::string, std::string>> tag; // key and value; an empty value matches any
    std::vector<int64_t> ids;                 // only these; empty = all
    int limit = 0;                            // 0 = no limit
    int offset = 0;
    bool newestFirst = true;
};

class RunRepository {
public:
    explicit RunRepository(Database& db) : m_db(db) {}

    // Inserts `run` (status, times and everything else as given); fills in id, uuid (when empty),
    // createdAt (when 0) and the default project. The params are the config flattened.
    int64_t create(RunRecord& run);
    std::optional<RunRecord> get(int64_t id);
    RunRecord require(int64_t id);            // throws rslora::Error when missing
    std::optional<RunRecord> findByUuid(const std::string& uuid);
    // "12" or "#12" (id), a full uuid or a unique prefix of at least 6 hex digits, or an exact name
    // that only one run has. Throws rslora::Error saying what matched.
    RunRecord resolve(const std::string& reference);
    std::vector<RunRecord> list(const RunFilter& filter = {});
    int64_t count(const RunFilter& filter = {});

    // Writes every field of `run` back (not id, uuid or createdAt).
    void update(const RunRecord& run);
    void rename(int64_t id, const std::string& name);
    void setNotes(int64_t id, const std::string& notes);
    // Replaces the config and re-derives the params from it. Throws when it is not JSON.
    void setConfig(int64_t id, const std::string& configJson);
    // Terminal statuses set end_time (once); `error` replaces the error message when not empty.
    void setStatus(int64_t id, RunStatus status, const std::string& error = {});
    // The run reached `step` (its end, or a stop between logged steps): last_step becomes at least
    // that, so the Runs view agrees with its checkpoint.
    void noteStepReached(int64_t id, int64_t step);
    // Status running, start time (first time only), this process's pid and host, a fresh heartbeat;
    // the error message of an earlier attempt is cleared. Refused (rslora::Error, row unchanged) for a
    // finished run, and for one that another live process holds (queued, running or paused; see
    // RunOwner): that run is its owner's until it ends. The process that queued a run may start it.
    void markStarted(int64_t id, const std::string& device = {});
    // Status queued, owned by this process (pid, host, heartbeat = now): if the process dies before
    // the run starts, the next open of the store marks it interrupted (not started). Refused like
    // markStarted.
    void markQueued(int64_t id);
    void heartbeat(int64_t id, std::optional<int64_t> lastStep = std::nullopt);
    // Deletes the run with its params, tags, metrics and artifacts; its adapters stay (source unset).
    // Refused for a run that a live process holds (queued, running or paused; see RunOwner).
    void remove(int64_t id);
    // Throws rslora::Error naming the run, its state and its process when a live process holds it
    // (RunOwner, this process included), saying that `doing` ("deleting") it would take it from that
    // process and how to stop it first.
    static void refuseIfHeld(const RunRecord& run, const std::string& doing);

    void setParams(int64_t id, const Params& params); // replaces all
    Params params(int64_t id);

    void setTag(int64_t id, const std::string& key, const std::string& value = {});
    void removeTag(int64_t id, const std::string& key);
    Tags tags(int64_t id);

    int64_t ensureProject(const std::string& name);
    std::vector<ProjectRecord> projects();
    std::optional<ProjectRecord> project(int64_t id);

private:
    // The run, when this process may start or queue it (markStarted); throws otherwise.
    RunRecord requireClaimable(int64_t id, const std::string& doing);

    Database& m_db;
};

// The config flattened for diff and search: nested objects become dotted keys ("lora.rank"),
// strings stay as they are, numbers, booleans, null and arrays become compact JSON text.
// Throws rslora::Error when the text is not a JSON object.
Params flattenConfig(const std::string& configJson);

} // namespace rslora::storage
