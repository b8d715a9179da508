#include "storage/RunRepository.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "storage/Database.h"
#include "storage/Naming.h"
#include "storage/RunOwner.h"
#include "storage/Transaction.h"

#include <nlohmann/json.hpp>
#include <unistd.h>
#include <variant>

namespace rslora::storage {
namespace {

const char* kColumns = "id, uuid, project_id, name, status, created_at, start_time, end_time, config_json, seed, "
                       "base_model, base_model_sha256, dataset, dataset_sha256, device, host, notes, error_message, "
                       "pid, heartbeat, last_step";

RunRecord readRun(const Statement& s) {
    RunRecord r;
    r.id = s.getInt(0);
    r.uuid = s.getText(1);
    r.projectId = s.getInt(2);
    r.name = s.getText(3);
    r.status = runStatusFromString(s.getText(4));
    r.createdAt = s.getDouble(5);
    r.startTime = s.getOptDouble(6);
    r.endTime = s.getOptDouble(7);
    r.configJson = s.getText(8);
    r.seed = s.getOptInt(9);
    r.baseModel = {s.getText(10), s.getText(11)};
    r.dataset = {s.getText(12), s.getText(13)};
    r.device = s.getText(14);
    r.host = s.getText(15);
    r.notes = s.getText(16);
    r.errorMessage = s.getText(17);
    r.pid = s.getOptInt(18);
    r.heartbeat = s.getOptDouble(19);
    r.lastStep = s.getOptInt(20);
    return r;
}

void flattenInto(const nlohmann::json& j, const std::string& prefix, Params& out) {
    if (j.is_object() && !j.empty()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            flattenInto(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    } else if (j.is_string()) {
        out[prefix] = j.get<std::string>();
    } else {
        out[prefix] = j.dump();
    }
}

bool looksLikeHex(const std::string& s) {
    return s.find_first_not_of("0123456789abcdef-") == std::string::npos;
}

using Binds = std::vector<std::variant<int64_t, std::string>>;

// WHERE clause for a filter; every value goes to `binds`, never into the SQL text.
std::string buildWhere(const RunFilter& f, Binds& binds) {
    std::string w = " WHERE 1";
    if (f.projectId) {
        w += " AND r.project_id = ?";
        binds.emplace_back(*f.projectId);
    }
    if (!f.statuses.empty()) {
        w += " AND r.status IN (";
        for (size_t i = 0; i < f.statuses.size(); ++i) {
            w += i ? ",?" : "?";
            binds.emplace_back(std::string(toString(f.statuses[i])));
        }
        w += ")";
    }
    if (!f.nameContains.empty()) {
        w += " AND instr(r.name, ?) > 0";
        binds.emplace_back(f.nameContains);
    }
    if (f.tag) {
        w += " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.key = ?";
        binds.emplace_back(f.tag->first);
        if (!f.tag->second.empty()) {
            w += " AND t.value = ?";
            binds.emplace_back(f.tag->second);
        }
        w += ")";
    }
    if (!f.ids.empty()) {
        w += " AND r.id IN (";
        for (size_t i = 0; i < f.ids.size(); ++i) {
            w += i ? ",?" : "?";
            binds.emplace_back(f.ids[i]);
        }
        w += ")";
    }
    return w;
}

void bindVariants(Statement& st, const Binds& binds) {
    int i = 0;
    for (const auto& b : binds) {
        if (std::holds_alternative<int64_t>(b))
            st.bind(++i, std::get<int64_t>(b));
        else
            st.bind(++i, std::get<std::string>(b));
    }
}

} // namespace

Params flattenConfig(const std::string& configJson) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(configJson.empty() ? std::string("{}") : configJson);
    } catch (const nlohmann::json::exception& e) {
        throw rslora::Error(std::string("run config is not valid JSON: ") + jsonErrorText(e));
    }
    if (!j.is_object())
        throw rslora::Error("run config must be a JSON object, found " + std::string(j.type_name()));
    Params out;
    flattenInto(j, "", out);
    return out;
}

int64_t RunRepository::create(RunRecord& run) {
    Params params = flattenConfig(run.configJson);
    if (run.uuid.empty())
        run.uuid = newUuid();
    if (run.createdAt == 0)
        run.createdAt = nowSeconds();
    if (run.projectId == 0)
        run.projectId = 1;
    Transaction tx(m_db);
    auto st = m_db.cached(
        "INSERT INTO runs (uuid, project_id, name, status, created_at, start_time, end_time, config_json, seed, "
        "base_model, base_model_sha256, dataset, dataset_sha256, device, host, notes, error_message, pid, heartbeat, "
        "last_step) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    st->bindAll(run.uuid, run.projectId, run.name, toString(run.status), run.createdAt, run.startTime, run.endTime,
                run.configJson, run.seed, run.baseModel.ref, run.baseModel.sha256, run.dataset.ref,
                run.dataset.sha256, run.device, run.host, run.notes, run.errorMessage, run.pid, run.heartbeat,
                run.lastStep);
    st->run();
    run.id = m_db.lastInsertId();
    setParams(run.id, params);
    tx.commit();
    return run.id;
}

std::optional<RunRecord> RunRepository::get(int64_t id) {
    static const std::string sql = std::string("SELECT ") + kColumns + " FROM runs WHERE id = ?";
    auto st = m_db.cached(sql.c_str());
    st->bind(1, id);
    if (!st->step())
        return std::nullopt;
    return readRun(*st);
}

RunRecord RunRepository::require(int64_t id) {
    auto r = get(id);
    if (!r)
        throw rslora::Error("no run with id " + std::to_string(id) + " in " + m_db.path().string());
    return *r;
}

std::optional<RunRecord> RunRepository::findByUuid(const std::string& uuid) {
    auto st = m_db.cached("SELECT id FROM runs WHERE uuid = ?");
    st->bind(1, uuid);
    if (!st->step())
        return std::nullopt;
    return get(st->getInt(0));
}

RunRecord RunRepository::resolve(const std::string& reference) {
    std::string ref = reference;
    if (!ref.empty() && ref[0] == '#')
        ref.erase(0, 1);
    if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos && ref.size() < 16) {
        if (auto r = get(std::stoll(ref)))
            return *r;
    }
    std::vector<int64_t> ids;
    if (ref.size() >= 6 && looksLikeHex(ref)) {
        Statement st(m_db, "SELECT id FROM runs WHERE substr(uuid, 1, length(?1)) = ?1");
        st.bind(1, ref);
        while (st.step())
            ids.push_back(st.getInt(0));
    }
    if (ids.empty()) {
        Statement st(m_db, "SELECT id FROM runs WHERE name = ?");
        st.bind(1, reference);
        while (st.step())
            ids.push_back(st.getInt(0));
    }
    if (ids.empty())
        throw rslora::Error("no run matches \"" + reference + "\" (an id, a uuid or its prefix, or a name) in " +
                                m_db.path().string(),
                            "list them with: rslora runs list");
    if (ids.size() > 1)
        throw rslora::Error(std::to_string(ids.size()) + " runs match \"" + reference + "\"",
                            "use the run id or uuid instead");
    return require(ids.front());
}

std::vector<RunRecord> RunRepository::list(const RunFilter& filter) {
    Binds binds;
    std::string sql = std::string("SELECT ") + kColumns + " FROM runs r" + buildWhere(filter, binds) +
                      (filter.newestFirst ? " ORDER BY r.created_at DESC, r.id DESC" : " ORDER BY r.created_at, r.id");
    if (filter.limit > 0 || filter.offset > 0) {
        sql += " LIMIT ? OFFSET ?";
        binds.emplace_back(static_cast<int64_t>(filter.limit > 0 ? filter.limit : -1));
        binds.emplace_back(static_cast<int64_t>(filter.offset));
    }
    Statement st(m_db, sql);
    bindVariants(st, binds);
    std::vector<RunRecord> out;
    while (st.step())
        out.push_back(readRun(st));
    return out;
}

int64_t RunRepository::count(const RunFilter& filter) {
    Binds binds;
    Statement st(m_db, "SELECT count(*) FROM runs r" + buildWhere(filter, binds));
    bindVariants(st, binds);
    return st.step() ? st.getInt(0) : 0;
}

void RunRepository::update(const RunRecord& run) {
    Params params = flattenConfig(run.configJson);
    Transaction tx(m_db);
    auto st = m_db.cached(
        "UPDATE runs SET project_id = ?, name = ?, status = ?, start_time = ?, end_time = ?, config_json = ?, seed = ?, "
        "base_model = ?, base_model_sha256 = ?, dataset = ?, dataset_sha256 = ?, device = ?, host = ?, notes = ?, "
        "error_message = ?, pid = ?, heartbeat = ?, last_step = ? WHERE id = ?");
    st->bindAll(run.projectId ? run.projectId : 1, run.name, toString(run.status), run.startTime, run.endTime,
                run.configJson, run.seed, run.baseModel.ref, run.baseModel.sha256, run.dataset.ref,
                run.dataset.sha256, run.device, run.host, run.notes, run.errorMessage, run.pid, run.heartbeat,
                run.lastStep, run.id);
    st->run();
    if (m_db.changes() == 0)
        throw rslora::Error("no run with id " + std::to_string(run.id) + " to update");
    setParams(run.id, params);
    tx.commit();
}

void RunRepository::rename(int64_t id, const std::string& name) {
    auto st = m_db.cached("UPDATE runs SET name = ? WHERE id = ?");
    st->bindAll(name, id);
    st->run();
}

void RunRepository::setNotes(int64_t id, const std::string& notes) {
    auto st = m_db.cached("UPDATE runs SET notes = ? WHERE id = ?");
    st->bindAll(notes, id);
    st->run();
}

void RunRepository::setConfig(int64_t id, const std::string& configJson) {
    Params params = flattenConfig(configJson);
    Transaction tx(m_db);
    auto st = m_db.cached("UPDATE runs SET config_json = ? WHERE id = ?");
    st->bindAll(configJson, id);
    st->run();
    setParams(id, params);
    tx.commit();
}

void RunRepository::setStatus(int64_t id, RunStatus status, const std::string& error) {
    auto st = m_db.cached(
        "UPDATE runs SET status = ?1, "
        "end_time = CASE WHEN ?2 THEN coalesce(end_time, ?3) ELSE end_time END, "
        "error_message = CASE WHEN ?4 <> '' THEN ?4 ELSE error_message END WHERE id = ?5");
    st->bindAll(toString(status), static_cast<int64_t>(isTerminal(status)), nowSeconds(), error, id);
    st->run();
    if (m_db.changes() == 0)
        throw rslora::Error("no run with id " + std::to_string(id));
}

void RunRepository::noteStepReached(int64_t id, int64_t step) {
    auto st = m_db.cached("UPDATE runs SET last_step = max(coalesce(last_step, 0), ?1) WHERE id = ?2");
    st->bindAll(step, id);
    st->run();
}

void RunRepository::refuseIfHeld(const RunRecord& run, const std::string& doing) {
    const RunOwner owner = RunOwner::of(run);
    if (!owner.alive())
        return;
    throw rslora::Error(owner.describe(run) + ", which is still alive: " + doing + " it now would take it from that process",
                        run.status == RunStatus::Queued
                            ? "cancel it in that workbench's queue first, or wait until it has run"
                            : "stop it first (Ctrl-C where it runs, or Stop in the workbench), or wait for it to end; "
                              "`rslora runs show " + std::to_string(run.id) + "` shows its state");
}

RunRecord RunRepository::requireClaimable(int64_t id, const std::string& doing) {
    RunRecord run = require(id);
    if (run.status == RunStatus::Finished)
        throw rslora::Error("run #" + std::to_string(id) + (run.name.empty() ? "" : " (\"" + run.name + "\")") +
                                " has finished; a finished run is not trained again",
                            "start a new run of its config instead; only an interrupted, stopped or failed run can be resumed");
    // The process that queued a run starts it.
    if (!(run.status == RunStatus::Queued && RunOwner::of(run).thisProcess))
        refuseIfHeld(run, doing);
    return run;
}

void RunRepository::markStarted(int64_t id, const std::string& device) {
    Transaction tx(m_db);
    const RunRecord run = requireClaimable(id, "starting");
    // Conditional on the row read above, so a run claimed meanwhile is never taken over.
    auto st = m_db.cached(
        "UPDATE runs SET status = 'running', start_time = coalesce(start_time, ?1), end_time = NULL, error_message = '', "
        "pid = ?2, host = ?3, heartbeat = ?1, device = CASE WHEN ?4 <> '' THEN ?4 ELSE device END "
        "WHERE id = ?5 AND status = ?6 AND pid IS ?7 AND heartbeat IS ?8");
    st->bindAll(nowSeconds(), static_cast<int64_t>(::getpid()), hostName(), device, id, toString(run.status), run.pid,
                run.heartbeat);
    st->run();
    if (m_db.changes() == 0)
        throw rslora::Error("run #" + std::to_string(id) + " changed while it was being started; not started");
    tx.commit();
}

void RunRepository::markQueued(int64_t id) {
    Transaction tx(m_db);
    const RunRecord run = requireClaimable(id, "queueing");
    auto st = m_db.cached("UPDATE runs SET status = 'queued', end_time = NULL, pid = ?1, host = ?2, heartbeat = ?3 "
                          "WHERE id = ?4 AND status = ?5 AND pid IS ?6 AND heartbeat IS ?7");
    st->bindAll(static_cast<int64_t>(::getpid()), hostName(), nowSeconds(), id, toString(run.status), run.pid, run.heartbeat);
    st->run();
    if (m_db.changes() == 0)
        throw rslora::Error("run #" + std::to_string(id) + " changed while it was being queued; not queued");
    tx.commit();
}

void RunRepository::heartbeat(int64_t id, std::optional<int64_t> lastStep) {
    auto st = m_db.cached("UPDATE runs SET heartbeat = ?1, last_step = CASE WHEN ?2 IS NOT NULL AND "
                          "(last_step IS NULL OR ?2 > last_step) THEN ?2 ELSE last_step END WHERE id = ?3");
    st->bindAll(nowSeconds(), lastStep, id);
    st->run();
}

void RunRepository::remove(int64_t id) {
    Transaction tx(m_db);
    const std::optional<RunRecord> run = get(id);
    if (!run)
        throw rslora::Error("no run with id " + std::to_string(id) + " to delete");
    refuseIfHeld(*run, "deleting");
    auto st = m_db.cached("DELETE FROM runs WHERE id = ?");
    st->bind(1, id);
    st->run();
    if (m_db.changes() == 0)
        throw rslora::Error("no run with id " + std::to_string(id) + " to delete");
    tx.commit();
}

void RunRepository::setParams(int64_t id, const Params& params) {
    Transaction tx(m_db);
    {
        auto del = m_db.cached("DELETE FROM params WHERE run_id = ?");
        del->bind(1, id);
        del->run();
    }
    auto ins = m_db.cached("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [k, v] : params) {
        ins->bindAll(id, k, v);
        ins->run();
    }
    tx.commit();
}

Params RunRepository::params(int64_t id) {
    auto st = m_db.cached("SELECT key, value FROM params WHERE run_id = ?");
    st->bind(1, id);
    Params out;
    while (st->step())
        out[st->getText(0)] = st->getText(1);
    return out;
}

void RunRepository::setTag(int64_t id, const std::string& key, const std::string& value) {
    auto st = m_db.cached("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
                          "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value");
    st->bindAll(id, key, value);
    st->run();
}

void RunRepository::removeTag(int64_t id, const std::string& key) {
    auto st = m_db.cached("DELETE FROM run_tags WHERE run_id = ? AND key = ?");
    st->bindAll(id, key);
    st->run();
}

Tags RunRepository::tags(int64_t id) {
    auto st = m_db.cached("SELECT key, value FROM run_tags WHERE run_id = ?");
    st->bind(1, id);
    Tags out;
    while (st->step())
        out[st->getText(0)] = st->getText(1);
    return out;
}

int64_t RunRepository::ensureProject(const std::string& name) {
    Transaction tx(m_db);
    {
        auto st = m_db.cached("INSERT INTO projects (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING");
        st->bindAll(name, nowSeconds());
        st->run();
    }
    auto st = m_db.cached("SELECT id FROM projects WHERE name = ?");
    st->bind(1, name);
    st->step();
    int64_t id = st->getInt(0);
    tx.commit();
    return id;
}

std::vector<ProjectRecord> RunRepository::projects() {
    auto st = m_db.cached("SELECT id, name, description, created_at FROM projects ORDER BY id");
    std::vector<ProjectRecord> out;
    while (st->step())
        out.push_back({st->getInt(0), st->getText(1), st->getText(2), st->getDouble(3)});
    return out;
}

std::optional<ProjectRecord> RunRepository::project(int64_t id) {
    auto st = m_db.cached("SELECT id, name, description, created_at FROM projects WHERE id = ?");
    st->bind(1, id);
    if (!st->step())
        return std::nullopt;
    return ProjectRecord{st->getInt(0), st->getText(1), st->getText(2), st->getDouble(3)};
}

} // namespace rslora::storage
