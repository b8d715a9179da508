// Groups of runs made together (sweeps): the group row, its member runs in order, and deleting a
// whole group with its runs.
#pragma once

#include "storage/Records.h"

#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

class GroupRepository {
public:
    explicit GroupRepository(Database& db) : m_db(db) {}

    // Inserts the group (uuid and createdAt filled in when empty); returns its id.
    int64_t create(RunGroupRecord& group);
    void addMember(const RunGroupMember& member);
    std::optional<RunGroupRecord> get(int64_t id);
    // "12" or "#12" (id), or a name only one group has; throws rslora::Error saying what matched.
    RunGroupRecord resolve(const std::string& reference);
    // Newest first; `kind` empty: every kind.
    std::vector<RunGroupRecord> list(const std::string& kind = {});
    std::vector<RunGroupMember> members(int64_t groupId);
    std::optional<RunGroupMember> memberOf(int64_t runId);
    // Deletes the group and every member run (params, tags, metrics and artifacts with them; their
    // adapter versions stay, as when a run is deleted), in one transaction. Returns the runs deleted.
    // Refused, deleting nothing, while a live process holds one of the runs (RunRepository::remove).
    int remove(int64_t groupId);

private:
    Database& m_db;
};

} // namespace rslora::storage
