#include "storage/AdapterRepository.h"

#include "common/Error.h"
#include "common/Sha256.h"
#include "storage/Database.h"
#include "storage/Naming.h"
#include "storage/RunOwner.h"
#include "storage/RunRepository.h"
#include "storage/Transaction.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <variant>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

#define RSLORA_ADAPTER_COLUMNS                                                                                   \
    "a.id, a.uuid, a.task, a.variant, a.name, a.version, a.created_at, a.path, a.sha256, a.method, a.rank, "   \
    "a.alpha, a.targets_json, a.trainable_params, a.stage, a.source_run_id, a.source_step, a.status, "          \
    "a.is_current, a.deleted_at, a.notes, a.base_model, a.base_model_sha256"

AdapterRecord readAdapter(const Statement& s) {
    AdapterRecord a;
    a.id = s.getInt(0);
    a.uuid = s.getText(1);
    a.task = s.getText(2);
    a.variant = s.getText(3);
    a.name = s.getText(4);
    a.version = s.getInt(5);
    a.createdAt = s.getDouble(6);
    a.path = s.getText(7);
    a.sha256 = s.getText(8);
    a.method = s.getText(9);
    a.rank = s.getOptInt(10);
    a.alpha = s.getOptDouble(11);
    auto targets = nlohmann::json::parse(s.getText(12), nullptr, false);
    if (targets.is_array())
        for (const auto& t : targets)
            if (t.is_string())
                a.targets.push_back(t.get<std::string>());
    a.trainableParams = s.getOptInt(13);
    a.stage = s.getText(14);
    a.sourceRunId = s.getOptInt(15);
    a.sourceStep = s.getOptInt(16);
    a.status = adapterStatusFromString(s.getText(17));
    a.current = s.getInt(18) != 0;
    a.deletedAt = s.getOptDouble(19);
    a.notes = s.getText(20);
    a.baseModel.ref = s.getText(21);
    a.baseModel.sha256 = s.getText(22);
    return a;
}

bool isUniqueViolation(const DatabaseError& e) { return e.code() == SQLITE_CONSTRAINT_UNIQUE; }

// The name with its control characters written as escapes (and, when it is not valid UTF-8, every
// byte above ASCII), for the error message.
std::string escapedName(const std::string& name, bool escapeHigh) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(name[i]);
        const unsigned char next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0;
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && escapeHigh))
            out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
        else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) { // a C1 control character, U+0080..U+009F
            out += std::string("\\u00") + hex[next >> 4] + hex[next & 15];
            ++i;
        } else
            out += static_cast<char>(c);
    }
    return out;
}

// What is wrong with a name ("" when nothing): the first control character or invalid UTF-8 sequence.
std::string nameProblem(const std::string& name) {
    for (std::size_t i = 0; i < name.size();) {
        const unsigned char c = static_cast<unsigned char>(name[i]);
        if (c == '\n' || c == '\r')
            return "holds a line break";
        if (c < 0x20 || c == 0x7f)
            return "holds a control character";
        if (c < 0x80) {
            ++i;
            continue;
        }
        // The length of a UTF-8 sequence and the smallest code point it may encode (no overlong forms).
        const int length = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c <= 0xef ? 3 : 0) : c >= 0xc2 ? 2 : 0;
        if (length == 0 || i + length > name.size())
            return "is not valid UTF-8";
        uint32_t cp = c & (0x7f >> length);
        for (int k = 1; k < length; ++k) {
            const unsigned char t = static_cast<unsigned char>(name[i + k]);
            if ((t & 0xc0) != 0x80)
                return "is not valid UTF-8";
            cp = (cp << 6) | (t & 0x3f);
        }
        if ((length == 3 && cp < 0x800) || (length == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return "is not valid UTF-8";
        if (cp >= 0x80 && cp <= 0x9f)
            return "holds a control character";
        i += length;
    }
    return {};
}

using Bind = std::variant<int64_t, double, std::string>;

} // namespace

int64_t AdapterRepository::nextVersion(const std::string& task) {
    auto st = m_db.cached("SELECT coalesce(max(version), 0) + 1 FROM adapters WHERE task = ?");
    st->bind(1, task);
    st->step();
    return st->getInt(0);
}

std::vector<std::string> AdapterRepository::baseModelsOf(const std::string& task) {
    auto st = m_db.cached("SELECT DISTINCT base_model_sha256 FROM adapters WHERE task = ? AND base_model_sha256 <> '' "
                          "ORDER BY 1");
    st->bind(1, task);
    std::vector<std::string> out;
    while (st->step())
        out.push_back(st->getText(0));
    return out;
}

AdapterRecord AdapterRepository::create(const NewAdapter& n) {
    if (n.task.empty())
        throw rslora::Error("an adapter needs a task name");
    Transaction tx(m_db);
    int64_t version = nextVersion(n.task);
    if (n.version) {
        if (*n.version < version)
            throw rslora::Error("cannot create version " + std::to_string(*n.version) + " of task \"" + n.task +
                                "\": its numbers up to " + std::to_string(version - 1) + " are taken (deleted versions keep theirs)");
        version = *n.version;
    }
    double created = n.createdAt > 0 ? n.createdAt : nowSeconds();
    std::string name = n.name;
    if (name.empty()) {
        // A default name never clashes: a version renamed or moved by rename-task keeps its name, so
        // "<task>_v1_<date>" may be taken by a version of another task. The next free "_2", "_3" ...
        // is chosen inside this (immediate) transaction, so no other writer can take it meanwhile.
        const std::string base = defaultAdapterName(n.task, n.variant, version, created);
        name = base;
        for (int64_t k = 2; findByName(name); ++k)
            name = base + "_" + std::to_string(k);
    } else if (auto taken = findByName(name)) {
        throw rslora::Error("cannot create adapter \"" + name + "\": adapter " + std::to_string(taken->id) + " (" +
                                taken->task + " v" + std::to_string(taken->version) + ") has that name",
                            "choose another name, or leave it empty for the default");
    }
    std::string uuid = n.uuid.empty() ? newUuid() : n.uuid;
    std::string path = n.path.empty() ? adapterFolder(m_root, n.task, version, uuid).string() : n.path;
    auto st = m_db.cached(
        "INSERT INTO adapters (uuid, task, variant, name, version, created_at, path, sha256, method, rank, alpha, "
        "targets_json, trainable_params, stage, source_run_id, source_step, status, notes, base_model, "
        "base_model_sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    st->bindAll(uuid, n.task, n.variant, name, version, created, path, n.sha256, n.method, n.rank, n.alpha,
                nlohmann::json(n.targets).dump(), n.trainableParams, n.stage, n.sourceRunId, n.sourceStep,
                toString(n.status == AdapterStatus::Released ? AdapterStatus::Draft : n.status), n.notes,
                n.baseModel.ref, n.baseModel.sha256);
    try {
        st->run();
    } catch (const DatabaseError& e) {
        if (isUniqueViolation(e))
            throw rslora::Error("cannot create adapter \"" + name + "\": an adapter with that name (or uuid) exists",
                                "choose another name, or leave it empty for the default");
        throw;
    }
    int64_t id = m_db.lastInsertId();
    if (n.status == AdapterStatus::Released)
        setCurrentLocked(id, n.task);
    tx.commit();
    return require(id);
}

std::optional<AdapterRecord> AdapterRepository::get(int64_t id) {
    auto st = m_db.cached("SELECT " RSLORA_ADAPTER_COLUMNS " FROM adapters a WHERE a.id = ?");
    st->bind(1, id);
    if (!st->step())
        return std::nullopt;
    return readAdapter(*st);
}

AdapterRecord AdapterRepository::require(int64_t id) {
    auto a = get(id);
    if (!a)
        throw rslora::Error("no adapter with id " + std::to_string(id) + " in " + m_db.path().string());
    return *a;
}

std::optional<AdapterRecord> AdapterRepository::findByUuid(const std::string& uuid) {
    auto st = m_db.cached("SELECT " RSLORA_ADAPTER_COLUMNS " FROM adapters a WHERE a.uuid = ?");
    st->bind(1, uuid);
    if (!st->step())
        return std::nullopt;
    return readAdapter(*st);
}

std::optional<AdapterRecord> AdapterRepository::findByName(const std::string& name) {
    auto st = m_db.cached("SELECT " RSLORA_ADAPTER_COLUMNS " FROM adapters a WHERE a.name = ? AND a.deleted_at IS NULL");
    st->bind(1, name);
    if (!st->step())
        return std::nullopt;
    return readAdapter(*st);
}

AdapterRecord AdapterRepository::resolve(const std::string& reference) {
    std::string ref = reference;
    if (!ref.empty() && ref[0] == '#')
        ref.erase(0, 1);
    if (!ref.empty() && ref.size() < 16 && ref.find_first_not_of("0123456789") == std::string::npos)
        if (auto a = get(std::stoll(ref)))
            return *a;
    std::vector<int64_t> ids;
    auto collect = [&](const char* sql, auto... values) {
        Statement st(m_db, sql);
        st.bindAll(values...);
        while (st.step())
            ids.push_back(st.getInt(0));
    };
    collect("SELECT id FROM adapters WHERE name = ? ORDER BY deleted_at IS NOT NULL, id DESC", reference);
    if (ids.size() > 1)
        ids.resize(1); // a live name is unique; older deleted namesakes lose
    if (ids.empty())
        collect("SELECT id FROM adapters WHERE uuid = ?", reference);
    if (ids.empty() && reference.size() > 8 && reference.compare(reference.size() - 8, 8, "@current") == 0) {
        if (auto a = current(reference.substr(0, reference.size() - 8)))
            return *a;
        throw rslora::Error("task \"" + reference.substr(0, reference.size() - 8) + "\" has no current adapter",
                            "release a version first: rslora adapters release <adapter>");
    }
    // "task:vN", "task:N", "task@vN" and "task@N" (the last separator wins).
    auto colon = reference.find_last_of(":@");
    bool versionSuffix = false;
    if (ids.empty() && colon != std::string::npos) {
        std::string v = reference.substr(colon + 1);
        if (!v.empty() && (v[0] == 'v' || v[0] == 'V'))
            v.erase(0, 1);
        versionSuffix = !v.empty() && v.size() < 12 && v.find_first_not_of("0123456789") == std::string::npos;
        if (versionSuffix)
            collect("SELECT id FROM adapters WHERE task = ? AND version = ?", reference.substr(0, colon),
                    static_cast<int64_t>(std::stoll(v)));
    }
    if (ids.empty()) {
        // A task's name, or a version its task does not have: say which versions the task has.
        const bool missingVersion = versionSuffix && taskVersions(reference).empty();
        const std::string task = missingVersion ? reference.substr(0, colon) : reference;
        const std::vector<int64_t> versions = taskVersions(task);
        if (!versions.empty()) {
            std::string names;
            for (int64_t v : versions)
                names += (names.empty() ? "" : ", ") + task + "@v" + std::to_string(v);
            const std::string currentHint = current(task) ? ", or " + task + "@current" : "; " + task + "@current once one is released";
            throw rslora::Error(missingVersion ? "task \"" + task + "\" has no version " + reference.substr(colon + 1) + " (its versions: " + names + ")"
                                               : "\"" + reference + "\" is a task, not an adapter version: name one of its versions (" +
                                                     names + currentHint + ")",
                                "list them with: rslora adapters list");
        }
        throw rslora::Error("no adapter matches \"" + reference + "\" (an id, a name, task:vN, task@vN, task@current or a uuid)",
                            "list them with: rslora adapters list");
    }
    return require(ids.front());
}

std::vector<AdapterRecord> AdapterRepository::list(const AdapterFilter& f) {
    std::vector<Bind> binds;
    std::string sql = "SELECT " RSLORA_ADAPTER_COLUMNS;
    bool byMetric = !f.metric.empty();
    if (byMetric) {
        sql += f.higherIsBetter ? ", max(e.value) AS score" : ", min(e.value) AS score";
        sql += " FROM adapters a JOIN evaluations e ON e.adapter_id = a.id AND e.metric = ?";
        binds.emplace_back(f.metric);
        if (!f.dataset.empty()) {
            sql += " AND e.dataset = ?";
            binds.emplace_back(f.dataset);
        }
    } else {
        sql += " FROM adapters a";
    }
    sql += " WHERE 1";
    if (!f.task.empty()) {
        sql += " AND a.task = ?";
        binds.emplace_back(f.task);
    }
    if (!f.statuses.empty()) {
        sql += " AND a.status IN (";
        for (size_t i = 0; i < f.statuses.size(); ++i) {
            sql += i ? ",?" : "?";
            binds.emplace_back(std::string(toString(f.statuses[i])));
        }
        sql += ")";
    }
    if (!f.method.empty()) {
        sql += " AND instr(a.method, ?) > 0";
        binds.emplace_back(f.method);
    }
    if (f.rank) {
        sql += " AND a.rank = ?";
        binds.emplace_back(*f.rank);
    }
    if (f.tag) {
        sql += " AND EXISTS (SELECT 1 FROM adapter_tags t WHERE t.adapter_id = a.id AND t.key = ?";
        binds.emplace_back(f.tag->first);
        if (!f.tag->second.empty()) {
            sql += " AND t.value = ?";
            binds.emplace_back(f.tag->second);
        }
        sql += ")";
    }
    if (f.sourceRunId) {
        sql += " AND a.source_run_id = ?";
        binds.emplace_back(*f.sourceRunId);
    }
    if (!f.includeDeleted)
        sql += " AND a.deleted_at IS NULL";
    if (f.currentOnly)
        sql += " AND a.is_current = 1";
    if (byMetric) {
        sql += " GROUP BY a.id HAVING score IS NOT NULL";
        if (f.minValue) {
            sql += " AND score >= ?";
            binds.emplace_back(*f.minValue);
        }
        if (f.maxValue) {
            sql += " AND score <= ?";
            binds.emplace_back(*f.maxValue);
        }
    }
    if (byMetric && f.orderByMetric)
        sql += f.higherIsBetter ? " ORDER BY score DESC, a.id" : " ORDER BY score ASC, a.id";
    else
        sql += " ORDER BY a.task, a.version";
    if (f.limit > 0) {
        sql += " LIMIT ?";
        binds.emplace_back(static_cast<int64_t>(f.limit));
    }
    Statement st(m_db, sql);
    int i = 0;
    for (const Bind& b : binds)
        std::visit([&](const auto& v) { st.bind(++i, v); }, b);
    std::vector<AdapterRecord> out;
    while (st.step())
        out.push_back(readAdapter(st));
    return out;
}

std::vector<TaskSummary> AdapterRepository::tasks() {
    auto st = m_db.cached(
        "SELECT task, sum(deleted_at IS NULL), max(CASE WHEN is_current = 1 THEN version END), max(version) "
        "FROM adapters GROUP BY task ORDER BY task");
    std::vector<TaskSummary> out;
    while (st->step())
        out.push_back({st->getText(0), st->getInt(1), st->getOptInt(2), st->getInt(3)});
    return out;
}

std::vector<int64_t> AdapterRepository::taskVersions(const std::string& task) {
    Statement st(m_db, "SELECT version FROM adapters WHERE task = ? AND deleted_at IS NULL ORDER BY version");
    st.bindAll(task);
    std::vector<int64_t> versions;
    while (st.step())
        versions.push_back(st.getInt(0));
    return versions;
}

std::optional<AdapterRecord> AdapterRepository::current(const std::string& task) {
    auto st = m_db.cached("SELECT " RSLORA_ADAPTER_COLUMNS " FROM adapters a WHERE a.task = ? AND a.is_current = 1");
    st->bind(1, task);
    if (!st->step())
        return std::nullopt;
    return readAdapter(*st);
}

void AdapterRepository::checkName(const std::string& what, const std::string& name) {
    if (name.empty())
        throw rslora::Error("the " + what + " cannot be empty");
    if (const std::string why = nameProblem(name); !why.empty())
        throw rslora::Error("the " + what + " \"" + escapedName(name, why == "is not valid UTF-8") + "\" " + why,
                            "type it on one line, without tabs or other control characters");
    if (name.find_first_not_of(' ') == std::string::npos)
        throw rslora::Error("the " + what + " cannot be blank (it holds only spaces)");
    if (name.front() == ' ' || name.back() == ' ')
        throw rslora::Error("the " + what + " \"" + name + "\" starts or ends with a space, which no listing shows",
                            "write it without the spaces at its ends");
    // resolve() reads digits (or "#" and digits) as an id first: such a name could not be named.
    const std::size_t digits = name[0] == '#' ? 1 : 0;
    if (what == "adapter name" && name.size() > digits && name.find_first_not_of("0123456789", digits) == std::string::npos)
        throw rslora::Error("the adapter name \"" + name + "\" is a number, which commands read as an adapter id",
                            "add a letter, e.g. \"v" + name.substr(digits) + "\"");
}

void AdapterRepository::rename(int64_t id, const std::string& name) {
    checkName("adapter name", name);
    auto st = m_db.cached("UPDATE adapters SET name = ? WHERE id = ?");
    st->bindAll(name, id);
    try {
        st->run();
    } catch (const DatabaseError& e) {
        if (isUniqueViolation(e))
            throw rslora::Error("cannot rename adapter " + std::to_string(id) + " to \"" + name +
                                "\": another adapter has that name");
        throw;
    }
    if (m_db.changes() == 0)
        throw rslora::Error("no adapter with id " + std::to_string(id));
}

void AdapterRepository::renameTask(const std::string& from, const std::string& to) {
    if (to.empty())
        throw rslora::Error("cannot rename task \"" + from + "\": a task name cannot be empty");
    checkName("task name", to);
    if (to == from)
        throw rslora::Error("task \"" + from + "\" has that name already");
    Transaction tx(m_db);
    auto count = m_db.cached("SELECT count(*) FROM adapters WHERE task = ?");
    count->bind(1, from);
    count->step();
    const int64_t versions = count->getInt(0);
    count->reset();
    if (versions == 0)
        throw rslora::Error("no task named \"" + from + "\" in this store", "the versions and their tasks: rslora adapters list");
    count->bind(1, to);
    count->step();
    const int64_t taken = count->getInt(0);
    count->reset();
    if (taken > 0)
        throw rslora::Error("cannot rename task \"" + from + "\" to \"" + to + "\": a task of that name exists (" +
                                std::to_string(taken) + " version" + (taken == 1 ? "" : "s") + ", deleted ones included)",
                            "choose another name");
    auto st = m_db.cached("UPDATE adapters SET task = ? WHERE task = ?");
    st->bindAll(to, from);
    st->run();
    tx.commit();
}

std::vector<std::string> AdapterRepository::liveRunsUsing(int64_t id) {
    const AdapterRecord a = require(id);
    std::vector<std::string> out;
    if (a.path.empty())
        return out;
    std::error_code ec;
    const fs::path folder = fs::weakly_canonical(a.path, ec);
    RunFilter live;
    live.statuses = {RunStatus::Queued, RunStatus::Running, RunStatus::Paused};
    for (const RunRecord& run : RunRepository(m_db).list(live)) {
        if (!RunOwner::of(run).alive())
            continue;
        const auto config = nlohmann::json::parse(run.configJson, nullptr, false);
        if (!config.is_object() || !config.contains("adapter") || !config["adapter"].is_object())
            continue;
        const auto stack = config["adapter"].value("stack_on", nlohmann::json::array());
        if (!stack.is_array())
            continue;
        for (const auto& entry : stack) {
            if (!entry.is_string())
                continue;
            std::error_code e2;
            const fs::path p = fs::weakly_canonical(entry.get<std::string>(), e2);
            if (p == folder || entry.get<std::string>() == a.path) {
                out.push_back(RunOwner::of(run).describe(run) + " and stacks on it (adapter.stack_on)");
                break;
            }
        }
    }
    return out;
}

void AdapterRepository::setNotes(int64_t id, const std::string& notes) {
    auto st = m_db.cached("UPDATE adapters SET notes = ? WHERE id = ?");
    st->bindAll(notes, id);
    st->run();
}

void AdapterRepository::setFiles(int64_t id, const std::string& path, const std::string& sha256) {
    auto st = m_db.cached("UPDATE adapters SET path = ?, sha256 = ? WHERE id = ?");
    st->bindAll(path, sha256, id);
    st->run();
}

void AdapterRepository::setStage(int64_t id, const std::string& stage) {
    auto st = m_db.cached("UPDATE adapters SET stage = ? WHERE id = ?");
    st->bindAll(stage, id);
    st->run();
}

void AdapterRepository::relinkSourceRun(int64_t id, int64_t runId, std::optional<int64_t> sourceStep) {
    Transaction tx(m_db);
    {
        auto st = m_db.cached("UPDATE adapters SET source_run_id = ?1, source_step = coalesce(?2, source_step) "
                              "WHERE id = ?3");
        st->bindAll(runId, sourceStep, id);
        st->run();
    }
    auto ev = m_db.cached("UPDATE evaluations SET run_id = ?1 WHERE adapter_id = ?2 AND run_id IS NULL");
    ev->bindAll(runId, id);
    ev->run();
    tx.commit();
}

void AdapterRepository::markReleased(int64_t id) {
    auto st = m_db.cached("UPDATE adapters SET status = 'released' WHERE id = ? AND deleted_at IS NULL");
    st->bind(1, id);
    st->run();
}

void AdapterRepository::setCurrentLocked(int64_t id, const std::string& task) {
    {
        auto clear = m_db.cached("UPDATE adapters SET is_current = 0 WHERE task = ? AND is_current = 1");
        clear->bind(1, task);
        clear->run();
    }
    auto set = m_db.cached("UPDATE adapters SET status = 'released', is_current = 1 WHERE id = ?");
    set->bind(1, id);
    set->run();
}

void AdapterRepository::fallBackCurrent(const std::string& task) {
    auto st = m_db.cached("SELECT id FROM adapters WHERE task = ? AND status = 'released' AND deleted_at IS NULL "
                          "ORDER BY version DESC LIMIT 1");
    st->bind(1, task);
    if (st->step()) {
        int64_t id = st->getInt(0);
        st->reset();
        setCurrentLocked(id, task);
    }
}

void AdapterRepository::verifyFiles(const AdapterRecord& a) {
    if (a.sha256.empty())
        return;
    const std::string ref = "adapter " + a.task + ":v" + std::to_string(a.version);
    std::error_code ec;
    if (a.path.empty() || !fs::is_directory(a.path, ec))
        throw rslora::Error(ref + " (\"" + a.name + "\"): its folder " + (a.path.empty() ? "(none)" : a.path) +
                            " is missing; restore the folder from a backup or an exported bundle");
    const std::string actual = Sha256::directoryHex(a.path);
    if (actual != a.sha256)
        throw rslora::Error(ref + ": files under " + a.path + " changed since it was recorded (sha256 " + actual +
                            ", expected " + a.sha256 + "); restore the original files (from a backup or an exported "
                            "bundle), or register the changed folder as a new version");
}

void AdapterRepository::release(int64_t id) {
    verifyFiles(require(id)); // before the write lock: hashing a large folder takes a while
    Transaction tx(m_db);
    AdapterRecord a = require(id);
    if (a.deletedAt)
        throw rslora::Error("adapter \"" + a.name + "\" is deleted; restore it before releasing it");
    setCurrentLocked(id, a.task);
    tx.commit();
}

AdapterRecord AdapterRepository::rollback(const std::string& task, std::optional<int64_t> targetId) {
    Transaction tx(m_db);
    int64_t target = 0;
    if (targetId) {
        AdapterRecord a = require(*targetId);
        if (a.task != task)
            throw rslora::Error("adapter \"" + a.name + "\" belongs to task \"" + a.task + "\", not \"" + task + "\"");
        if (a.deletedAt || a.status == AdapterStatus::Archived)
            throw rslora::Error("cannot roll back to \"" + a.name + "\": it is " +
                                (a.deletedAt ? "deleted" : "archived"),
                                a.deletedAt ? "restore it first" : "unarchive it first");
        if (a.status != AdapterStatus::Released)
            throw rslora::Error("cannot roll back " + task + " to v" + std::to_string(a.version) + " (\"" + a.name +
                                    "\"): it was never released, and a rollback goes back to a released version "
                                    "older than the current one",
                                "to serve it, release it: rslora adapters release " + task + ":v" +
                                    std::to_string(a.version));
        target = a.id;
    } else {
        auto cur = current(task);
        if (!cur) {
            AdapterFilter ofTask;
            ofTask.task = task;
            if (list(ofTask).empty())
                throw rslora::Error("no task named \"" + task + "\" in this store", "the versions and their tasks: rslora adapters list");
            throw rslora::Error("task \"" + task + "\" has no current adapter to roll back from");
        }
        auto st = m_db.cached("SELECT id FROM adapters WHERE task = ? AND status = 'released' AND deleted_at IS NULL "
                              "AND version < ? ORDER BY version DESC LIMIT 1");
        st->bindAll(task, cur->version);
        if (!st->step())
            throw rslora::Error("task \"" + task + "\" has no released version older than v" +
                                std::to_string(cur->version) + " to roll back to");
        target = st->getInt(0);
    }
    verifyFiles(require(target));
    setCurrentLocked(target, task);
    tx.commit();
    return require(target);
}

void AdapterRepository::archive(int64_t id) {
    Transaction tx(m_db);
    AdapterRecord a = require(id);
    auto st = m_db.cached("UPDATE adapters SET status = 'archived', is_current = 0 WHERE id = ?");
    st->bind(1, id);
    st->run();
    if (a.current)
        fallBackCurrent(a.task);
    tx.commit();
}

void AdapterRepository::unarchive(int64_t id) {
    auto st = m_db.cached("UPDATE adapters SET status = 'released' WHERE id = ? AND status = 'archived'");
    st->bind(1, id);
    st->run();
}

void AdapterRepository::softDelete(int64_t id) {
    Transaction tx(m_db);
    AdapterRecord a = require(id);
    if (!a.deletedAt) {
        const std::vector<std::string> users = liveRunsUsing(id);
        if (!users.empty()) {
            std::string list;
            for (const auto& u : users)
                list += (list.empty() ? "" : "; ") + u;
            throw rslora::Error("cannot delete adapter " + a.task + ":v" + std::to_string(a.version) + " (\"" + a.name +
                                    "\"): " + list,
                                "stop that run (or let it finish), then delete the version");
        }
    }
    auto st = m_db.cached("UPDATE adapters SET deleted_at = coalesce(deleted_at, ?), is_current = 0 WHERE id = ?");
    st->bindAll(nowSeconds(), id);
    st->run();
    if (a.current)
        fallBackCurrent(a.task);
    tx.commit();
}

void AdapterRepository::restore(int64_t id) {
    auto st = m_db.cached("UPDATE adapters SET deleted_at = NULL WHERE id = ?");
    st->bind(1, id);
    try {
        st->run();
    } catch (const DatabaseError& e) {
        if (isUniqueViolation(e))
            throw rslora::Error("cannot restore adapter " + std::to_string(id) +
                                ": a live adapter now has its name; rename one of them first");
        throw;
    }
}

void AdapterRepository::setTag(int64_t id, const std::string& key, const std::string& value) {
    auto st = m_db.cached("INSERT INTO adapter_tags (adapter_id, key, value) VALUES (?, ?, ?) "
                          "ON CONFLICT (adapter_id, key) DO UPDATE SET value = excluded.value");
    st->bindAll(id, key, value);
    st->run();
}

void AdapterRepository::removeTag(int64_t id, const std::string& key) {
    auto st = m_db.cached("DELETE FROM adapter_tags WHERE adapter_id = ? AND key = ?");
    st->bindAll(id, key);
    st->run();
}

Tags AdapterRepository::tags(int64_t id) {
    auto st = m_db.cached("SELECT key, value FROM adapter_tags WHERE adapter_id = ?");
    st->bind(1, id);
    Tags out;
    while (st->step())
        out[st->getText(0)] = st->getText(1);
    return out;
}

} // namespace rslora::storage
