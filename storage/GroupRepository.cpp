// Run groups and their members.
#include "storage/GroupRepository.h"

#include "common/Error.h"
#include "storage/Database.h"
#include "storage/Naming.h"
#include "storage/RunRepository.h"
#include "storage/Transaction.h"

namespace rslora::storage {
namespace {

#define RSLORA_GROUP_COLUMNS "id, uuid, kind, name, created_at, spec_json, config_json, config_path"
#define RSLORA_MEMBER_COLUMNS "group_id, position, run_id, combination_index, combination_json, seed_index"

RunGroupRecord readGroup(const Statement& s) {
    RunGroupRecord g;
    g.id = s.getInt(0);
    g.uuid = s.getText(1);
    g.kind = s.getText(2);
    g.name = s.getText(3);
    g.createdAt = s.getDouble(4);
    g.specJson = s.getText(5);
    g.configJson = s.getText(6);
    g.configPath = s.getText(7);
    return g;
}

RunGroupMember readMember(const Statement& s) {
    RunGroupMember m;
    m.groupId = s.getInt(0);
    m.position = int(s.getInt(1));
    m.runId = s.getInt(2);
    m.combinationIndex = int(s.getInt(3));
    m.combinationJson = s.getText(4);
    m.seedIndex = int(s.getInt(5));
    return m;
}

} // namespace

int64_t GroupRepository::create(RunGroupRecord& g) {
    if (g.uuid.empty())
        g.uuid = newUuid();
    if (g.createdAt == 0)
        g.createdAt = nowSeconds();
    auto st = m_db.cached("INSERT INTO run_groups (uuid, kind, name, created_at, spec_json, config_json, config_path) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)");
    st->bindAll(g.uuid, g.kind, g.name, g.createdAt, g.specJson, g.configJson, g.configPath);
    st->run();
    g.id = m_db.lastInsertId();
    return g.id;
}

void GroupRepository::addMember(const RunGroupMember& m) {
    auto st = m_db.cached("INSERT INTO run_group_members (" RSLORA_MEMBER_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?)");
    st->bindAll(m.groupId, int64_t(m.position), m.runId, int64_t(m.combinationIndex), m.combinationJson,
                int64_t(m.seedIndex));
    st->run();
}

std::optional<RunGroupRecord> GroupRepository::get(int64_t id) {
    auto st = m_db.cached("SELECT " RSLORA_GROUP_COLUMNS " FROM run_groups WHERE id = ?");
    st->bind(1, id);
    if (!st->step())
        return std::nullopt;
    return readGroup(*st);
}

RunGroupRecord GroupRepository::resolve(const std::string& reference) {
    std::string digits = !reference.empty() && reference[0] == '#' ? reference.substr(1) : reference;
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos && digits.size() < 18) {
        if (auto g = get(std::stoll(digits)))
            return *g;
        if (reference[0] == '#')
            throw Error("no run group with id " + digits, "`rslora sweeps list` shows the groups");
    }
    auto st = m_db.cached("SELECT " RSLORA_GROUP_COLUMNS " FROM run_groups WHERE name = ? ORDER BY id");
    st->bind(1, reference);
    std::vector<RunGroupRecord> found;
    while (st->step())
        found.push_back(readGroup(*st));
    if (found.empty())
        throw Error("no run group with id or name '" + reference + "'", "`rslora sweeps list` shows the groups");
    if (found.size() > 1)
        throw Error(std::to_string(found.size()) + " run groups are named '" + reference + "' (ids "
                        + std::to_string(found.front().id) + " … " + std::to_string(found.back().id) + ")",
                    "name the group by its id");
    return found.front();
}

std::vector<RunGroupRecord> GroupRepository::list(const std::string& kind) {
    auto st = m_db.cached("SELECT " RSLORA_GROUP_COLUMNS " FROM run_groups WHERE ?1 = '' OR kind = ?1 ORDER BY id DESC");
    st->bind(1, kind);
    std::vector<RunGroupRecord> out;
    while (st->step())
        out.push_back(readGroup(*st));
    return out;
}

std::vector<RunGroupMember> GroupRepository::members(int64_t groupId) {
    auto st = m_db.cached("SELECT " RSLORA_MEMBER_COLUMNS " FROM run_group_members WHERE group_id = ? ORDER BY position");
    st->bind(1, groupId);
    std::vector<RunGroupMember> out;
    while (st->step())
        out.push_back(readMember(*st));
    return out;
}

std::optional<RunGroupMember> GroupRepository::memberOf(int64_t runId) {
    auto st = m_db.cached("SELECT " RSLORA_MEMBER_COLUMNS " FROM run_group_members WHERE run_id = ?");
    st->bind(1, runId);
    if (!st->step())
        return std::nullopt;
    return readMember(*st);
}

int GroupRepository::remove(int64_t groupId) {
    Transaction tx(m_db);
    const std::optional<RunGroupRecord> group = get(groupId);
    if (!group)
        throw Error("no run group with id " + std::to_string(groupId) + " to delete");
    // A run still training (or queued) in a live process would train on without a row to finish in.
    RunRepository runRows(m_db);
    for (const RunGroupMember& m : members(groupId))
        if (const auto run = runRows.get(m.runId))
            RunRepository::refuseIfHeld(*run, "deleting " + group->kind + " #" + std::to_string(groupId) + " with");
    int runs = 0;
    {
        auto del = m_db.cached("DELETE FROM runs WHERE id IN (SELECT run_id FROM run_group_members WHERE group_id = ?)");
        del->bind(1, groupId);
        del->run();
        runs = int(m_db.changes());
    }
    auto st = m_db.cached("DELETE FROM run_groups WHERE id = ?");
    st->bind(1, groupId);
    st->run();
    tx.commit();
    return runs;
}

} // namespace rslora::storage
