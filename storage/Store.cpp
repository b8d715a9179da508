#include "storage/Store.h"

#include "common/Error.h"
#include "common/Log.h"
#include "storage/Migrations.h"
#include "storage/Naming.h"
#include "storage/ProcessProbe.h"
#include "storage/StoreHealth.h"
#include "storage/Transaction.h"

#include <sqlite3.h>

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
    if (o.readOnly) {
        int v = Migrations::version(*db);
        if (v < latestSchemaVersion())
            throw rslora::Error("database " + path.string() + " has schema version " + std::to_string(v) +
                                    " and needs an upgrade to " + std::to_string(latestSchemaVersion()),
                                "open it once without read-only mode to upgrade it");
    } else {
        Migrations::migrate(*db);
    }
    return db;
}

fs::path defaultAdapterRoot(const fs::path& dbPath, const fs::path& given) {
    if (!given.empty())
        return given;
    fs::path dir = dbPath.parent_path();
    return (dir.empty() ? fs::path(".") : dir) / "adapters";
}

} // namespace

Store::Store(const fs::path& path, Options options)
    : m_options(options),
      m_db(openDatabase(path, options)),
      m_adapterRoot(defaultAdapterRoot(path, options.adapterRoot)),
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
    if (options.recoverInterrupted && !options.readOnly) {
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
    struct Candidate {
        int64_t id;
        std::optional<int64_t> pid;
        std::string host;
        std::optional<double> heartbeat;
        double since;
        bool queued;
    };
    const std::string here = hostName();
    const double now = nowSeconds();
    std::vector<int64_t> marked;
    // Read first without the write lock: most opens find nothing to do.
    std::vector<Candidate> candidates;
    {
        auto st = m_db->cached("SELECT id, pid, host, heartbeat, coalesce(heartbeat, start_time, created_at), "
                               "status = 'queued' FROM runs WHERE status IN ('running', 'paused', 'queued') ORDER BY id");
        while (st->step())
            candidates.push_back({st->getInt(0), st->getOptInt(1), st->getText(2), st->getOptDouble(3),
                                  st->getDouble(4), st->getInt(5) != 0});
    }
    std::unique_ptr<Transaction> tx;
    for (const Candidate& c : candidates) {
        bool dead;
        std::string why;
        if (c.pid && c.host == here) {
            auto started = processStartTime(*c.pid);
            // A live pid that started after the run's last heartbeat is a new process that reused it.
            bool reused = started && c.heartbeat && *started > *c.heartbeat + 2.0;
            dead = !processAlive(*c.pid) || reused;
            why = "process " + std::to_string(*c.pid) + " on " + c.host + (reused ? " was replaced" : " is gone");
        } else if (c.queued) {
            // A queued run sends no heartbeats while it waits: only its owner's pid can tell.
            continue;
        } else {
            dead = now - c.since > m_options.staleHeartbeatSeconds;
            why = "no heartbeat for " + std::to_string(static_cast<int64_t>(now - c.since)) + " s" +
                  (c.host.empty() ? std::string() : " from " + c.host);
        }
        if (!dead)
            continue;
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
        std::string message = c.queued ? "not started: it was queued in a workbench whose " + why
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
