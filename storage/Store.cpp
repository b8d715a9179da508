#include "storage/Store.h"

#include "common/Error.h"
#include "common/Log.h"
#include "storage/Migrations.h"
#include "storage/Naming.h"
#include "storage/RunOwner.h"
#include "storage/StoreHealth.h"
#include "storage/Transaction.h"

#include <sqlite3.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

std::unique_ptr<Database> openDatabase(const fs::path& path, const Store::Options& o) {
    Database::Options dbo;
    dbo.create = o.create;
    dbo.readOnly = o.readOnly;
    dbo.busyTimeout = o.busyTimeout;
    auto db = std::make_unique<Database>(path, dbo);
    // Before anything writes: a foreign, newer or damaged file stays untouched.
    try {
        Migrations::checkIdentity(*db);
    } catch (const DatabaseError& e) {
        int primary = e.code() & 0xff;
        if (primary != SQLITE_CORRUPT && primary != SQLITE_NOTADB)
            throw;
        throw rslora::Error(StoreHealth::damagedMessage(path, {e.what()}, false), StoreHealth::recoveryHint(path));
    }
    if (o.checkIntegrity)
        StoreHealth::requireHealthy(*db);
    db->configure();
    if (db->readOnly()) {
        int v = Migrations::version(*db);
        if (v < latestSchemaVersion()) {
            if (!db->readOnlyReason().empty())
                throw rslora::Error("database " + path.string() + " has schema version " + std::to_string(v) +
                                        " and needs an upgrade to " + std::to_string(latestSchemaVersion()) +
                                        ", which cannot be written here: " + db->readOnlyReason(),
                                    "copy the file to a writable folder and pass that path with --db (or RSLORA_DB)");
            throw rslora::Error("database " + path.string() + " has schema version " + std::to_string(v) +
                                    " and needs an upgrade to " + std::to_string(latestSchemaVersion()),
                                "open it once without read-only mode to upgrade it");
        }
    } else {
        Migrations::migrate(*db);
    }
    return db;
}

// Absolute paths, so that what the store records (adapter folders) and what it reports are the same
// files from any working directory: a relative --db is relative to where the command ran.
fs::path absolutePath(const fs::path& p) {
    return p.empty() ? p : fs::absolute(p).lexically_normal();
}

fs::path defaultAdapterRoot(const fs::path& dbPath, const fs::path& given) {
    if (!given.empty())
        return absolutePath(given);
    return dbPath.parent_path() / "adapters";
}

} // namespace

Store::Store(const fs::path& path, Options options)
    : m_options(options),
      m_db(openDatabase(absolutePath(path), options)),
      m_adapterRoot(defaultAdapterRoot(m_db->path(), options.adapterRoot)),
      m_runs(*m_db),
      m_adapters(*m_db, m_adapterRoot),
      m_lineage(*m_db),
      m_evaluations(*m_db),
      m_artifacts(*m_db),
      m_metricsReader(*m_db),
      m_ingest(*m_db),
      m_queries(*m_db),
      m_groups(*m_db) {
    // Marking dead processes' runs is bookkeeping: a store that cannot be written (a full disk) must
    // still open for reading, so a failure here is logged, not thrown; the next open tries again.
    if (options.recoverInterrupted && !m_db->readOnly()) {
        try {
            m_recovered = recoverInterrupted();
        } catch (const std::exception& e) {
            rslora::logWarning("storage: cannot mark runs of ended processes interrupted in " + path.string() + " now: " +
                               e.what());
        }
    }
}

Store::~Store() = default;

int Store::schemaVersion() { return Migrations::version(*m_db); }

std::vector<int64_t> Store::recoverInterrupted() {
    const double now = nowSeconds();
    std::vector<int64_t> marked;
    // Read first without the write lock: most opens find nothing to do.
    RunFilter active;
    active.statuses = {RunStatus::Running, RunStatus::Paused, RunStatus::Queued};
    std::vector<RunRecord> candidates = m_runs.list(active);
    std::sort(candidates.begin(), candidates.end(), [](const RunRecord& a, const RunRecord& b) { return a.id < b.id; });
    std::unique_ptr<Transaction> tx;
    for (const RunRecord& c : candidates) {
        const RunOwner owner = RunOwner::of(c, m_options.staleHeartbeatSeconds);
        if (owner.state != RunOwner::State::Gone)
            continue;
        const bool queued = c.status == RunStatus::Queued;
        const std::string& why = owner.gone;
        if (!tx)
            tx = std::make_unique<Transaction>(*m_db);
        std::optional<int64_t> lastStep;
        {
            auto st = m_db->cached("SELECT max(coalesce(r.last_step, -1), coalesce((SELECT max(step) FROM "
                                   "latest_metrics WHERE run_id = r.id), -1)) FROM runs r WHERE r.id = ?");
            st->bind(1, c.id);
            if (st->step() && st->getInt(0) >= 0)
                lastStep = st->getInt(0);
        }
        std::string message = queued ? "not started: it was queued and its " + why
                                       : "interrupted: " + why + " before the run ended (last step " +
                                             (lastStep ? std::to_string(*lastStep) : std::string("none")) +
                                             (c.heartbeat ? ", last heartbeat " + isoTime(*c.heartbeat) : std::string()) + ")";
        // Only if nothing changed since the read: a heartbeat meanwhile means the run lives.
        auto up = m_db->cached("UPDATE runs SET status = 'interrupted', end_time = coalesce(end_time, ?1), "
                               "last_step = ?2, error_message = CASE WHEN error_message = '' THEN ?3 ELSE error_message "
                               "END WHERE id = ?4 AND status IN ('running', 'paused', 'queued') AND heartbeat IS ?5");
        up->bindAll(c.heartbeat.value_or(now), lastStep, message, c.id, c.heartbeat);
        up->run();
        if (m_db->changes() == 0)
            continue;
        marked.push_back(c.id);
        rslora::logInfo("storage: run " + std::to_string(c.id) + " " + message);
    }
    if (tx)
        tx->commit();
    return marked;
}

std::string Store::integrityCheck() {
    std::string out;
    for (const std::string& f : StoreHealth::findings(*m_db, true))
        out += (out.empty() ? "" : "\n") + f;
    return out.empty() ? "ok" : out;
}

} // namespace rslora::storage
