#include "storage/Migrations.h"

#include "storage/Database.h"
#include "storage/Transaction.h"

#include <string>

namespace rslora::storage {
namespace {

// Seconds since the epoch as SQLite computes it (unixepoch() needs SQLite 3.38).
#define RSLORA_NOW "((julianday('now') - 2440587.5) * 86400.0)"

// Version 1: the experiment record (MLflow's core trimmed): projects, runs, params, tags, metrics.
const char* kV1 = R"sql(
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
);
INSERT INTO projects (id, name, created_at) VALUES (1, 'default', )sql" RSLORA_NOW R"sql();

CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    uuid              TEXT NOT NULL UNIQUE,
    project_id        INTEGER NOT NULL DEFAULT 1 REFERENCES projects(id) ON DELETE RESTRICT,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'paused', 'finished', 'failed', 'interrupted', 'stopped')),
    created_at        REAL NOT NULL,
    start_time        REAL,
    end_time          REAL,
    config_json       TEXT NOT NULL DEFAULT '{}',
    seed              INTEGER,
    base_model        TEXT NOT NULL DEFAULT '',
    base_model_sha256 TEXT NOT NULL DEFAULT '',
    dataset           TEXT NOT NULL DEFAULT '',
    dataset_sha256    TEXT NOT NULL DEFAULT '',
    device            TEXT NOT NULL DEFAULT '',
    host              TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    pid               INTEGER,
    heartbeat         REAL,
    last_step         INTEGER
);
CREATE INDEX runs_project ON runs (project_id, created_at);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE params (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX params_key ON params (key, value);

CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_tags_key ON run_tags (key, value);

CREATE TABLE metric_keys (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- value NULL encodes NaN (SQLite cannot store NaN); +-Inf are stored as REAL infinities. Metric
-- values have no declared type on purpose: REAL affinity would store -0.0 as the integer 0.
CREATE TABLE metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key_id    INTEGER NOT NULL REFERENCES metric_keys(id),
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    value,
    PRIMARY KEY (run_id, key_id, step, wall_time)
) WITHOUT ROWID;

CREATE TABLE latest_metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key_id    INTEGER NOT NULL REFERENCES metric_keys(id),
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    value,
    min_value,
    max_value,
    count     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, key_id)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_key ON latest_metrics (key_id);
)sql";

// Version 2: the adapter registry: versions, tags, lineage, evaluations, artifacts.
const char* kV2 = R"sql(
CREATE TABLE adapters (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT NOT NULL UNIQUE,
    task             TEXT NOT NULL,
    variant          TEXT NOT NULL DEFAULT '',
    name             TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    created_at       REAL NOT NULL,
    path             TEXT NOT NULL DEFAULT '',
    sha256           TEXT NOT NULL DEFAULT '',
    method           TEXT NOT NULL DEFAULT '',
    rank             INTEGER,
    alpha            REAL,
    targets_json     TEXT NOT NULL DEFAULT '[]',
    trainable_params INTEGER,
    stage            TEXT NOT NULL DEFAULT '',
    source_run_id    INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    source_step      INTEGER,
    status           TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'released', 'archived')),
    is_current       INTEGER NOT NULL DEFAULT 0 CHECK (is_current IN (0, 1)),
    deleted_at       REAL,
    notes            TEXT NOT NULL DEFAULT '',
    UNIQUE (task, version),
    CHECK (is_current = 0 OR (status = 'released' AND deleted_at IS NULL))
);
CREATE UNIQUE INDEX adapters_current ON adapters (task) WHERE is_current = 1;
CREATE UNIQUE INDEX adapters_live_name ON adapters (name) WHERE deleted_at IS NULL;
CREATE INDEX adapters_source_run ON adapters (source_run_id);
CREATE INDEX adapters_method ON adapters (method, rank);

CREATE TABLE adapter_tags (
    adapter_id INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (adapter_id, key)
) WITHOUT ROWID;
CREATE INDEX adapter_tags_key ON adapter_tags (key, value);

CREATE TABLE lineage (
    id           INTEGER PRIMARY KEY,
    child_id     INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
    parent_id    INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('trained-from', 'merged-from', 'converted-from')),
    weight       REAL,
    method       TEXT NOT NULL DEFAULT '',
    details_json TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL,
    CHECK (child_id <> parent_id),
    UNIQUE (child_id, parent_id, kind)
);
CREATE INDEX lineage_parent ON lineage (parent_id);

-- value NULL encodes NaN, and has no declared type, as in metrics.
CREATE TABLE evaluations (
    id             INTEGER PRIMARY KEY,
    adapter_id     INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
    run_id         INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    dataset        TEXT NOT NULL,
    dataset_sha256 TEXT NOT NULL DEFAULT '',
    metric         TEXT NOT NULL,
    value,
    created_at     REAL NOT NULL,
    details_json   TEXT NOT NULL DEFAULT '',
    UNIQUE (adapter_id, dataset, metric)
);
CREATE INDEX evaluations_metric ON evaluations (metric, dataset, value);

CREATE TABLE artifacts (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    adapter_id   INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('checkpoint', 'export', 'merged', 'log', 'other')),
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL DEFAULT '',
    size_bytes   INTEGER,
    step         INTEGER,
    created_at   REAL NOT NULL,
    details_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX artifacts_run ON artifacts (run_id);
CREATE INDEX artifacts_adapter ON artifacts (adapter_id);
)sql";

// Version 3: run ids are never reused after a delete (AUTOINCREMENT keeps the highest id ever
// handed out), so a deleted run's id cannot later name another run in scripts, bundles or notes.
// SQLite cannot add AUTOINCREMENT to a table, so runs is rebuilt with the same columns and rows.
const char* kV3 = R"sql(
CREATE TABLE runs_v3 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid              TEXT NOT NULL UNIQUE,
    project_id        INTEGER NOT NULL DEFAULT 1 REFERENCES projects(id) ON DELETE RESTRICT,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'paused', 'finished', 'failed', 'interrupted', 'stopped')),
    created_at        REAL NOT NULL,
    start_time        REAL,
    end_time          REAL,
    config_json       TEXT NOT NULL DEFAULT '{}',
    seed              INTEGER,
    base_model        TEXT NOT NULL DEFAULT '',
    base_model_sha256 TEXT NOT NULL DEFAULT '',
    dataset           TEXT NOT NULL DEFAULT '',
    dataset_sha256    TEXT NOT NULL DEFAULT '',
    device            TEXT NOT NULL DEFAULT '',
    host              TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    pid               INTEGER,
    heartbeat         REAL,
    last_step         INTEGER
);
INSERT INTO runs_v3 (id, uuid, project_id, name, status, created_at, start_time, end_time, config_json, seed,
                     base_model, base_model_sha256, dataset, dataset_sha256, device, host, notes, error_message,
                     pid, heartbeat, last_step)
    SELECT id, uuid, project_id, name, status, created_at, start_time, end_time, config_json, seed,
           base_model, base_model_sha256, dataset, dataset_sha256, device, host, notes, error_message,
           pid, heartbeat, last_step FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE INDEX runs_project ON runs (project_id, created_at);
CREATE INDEX runs_status ON runs (status);
)sql";

// Version 4: the base model each adapter version was trained on (path and fingerprint), so versions of
// different bases are told apart; filled from the source run for existing rows.
const char* kV4 = R"sql(
ALTER TABLE adapters ADD COLUMN base_model TEXT NOT NULL DEFAULT '';
ALTER TABLE adapters ADD COLUMN base_model_sha256 TEXT NOT NULL DEFAULT '';
UPDATE adapters SET
    base_model = coalesce((SELECT r.base_model FROM runs r WHERE r.id = adapters.source_run_id), ''),
    base_model_sha256 = coalesce((SELECT r.base_model_sha256 FROM runs r WHERE r.id = adapters.source_run_id), '');
CREATE INDEX adapters_base_model ON adapters (task, base_model_sha256);
)sql";

// Version 5: groups of runs made together (sweeps): the group with its spec and base config, and its
// member runs in order with the swept combination each trained. Deleting a run removes its membership.
const char* kV5 = R"sql(
CREATE TABLE run_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL DEFAULT 'sweep' CHECK (kind IN ('sweep', 'pipeline')),
    name        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    spec_json   TEXT NOT NULL DEFAULT '{}',
    config_json TEXT NOT NULL DEFAULT '{}',
    config_path TEXT NOT NULL DEFAULT ''
);
CREATE TABLE run_group_members (
    group_id          INTEGER NOT NULL REFERENCES run_groups(id) ON DELETE CASCADE,
    position          INTEGER NOT NULL CHECK (position >= 0),
    run_id            INTEGER NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
    combination_index INTEGER NOT NULL DEFAULT 0,
    combination_json  TEXT NOT NULL DEFAULT '[]',
    seed_index        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, position)
);
)sql";

#undef RSLORA_NOW

const char* kNewerHint = "install a newer rslora-workbench, or point --db (or RSLORA_DB) at another file; "
                         "the file was left untouched";

} // namespace

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> list = {
        {1, "experiment record: projects, runs, params, tags, metrics", kV1},
        {2, "adapter registry: adapters, tags, lineage, evaluations, artifacts", kV2},
        {3, "run ids are never reused (runs rebuilt with AUTOINCREMENT)", kV3, true},
        {4, "adapters record their base model", kV4},
        {5, "run groups (sweeps) and their member runs", kV5},
    };
    return list;
}

int latestSchemaVersion() { return migrations().back().version; }

int Migrations::version(Database& db) { return static_cast<int>(db.pragmaInt("user_version")); }

void Migrations::checkIdentity(Database& db) {
    // These reads are the first time SQLite parses the file: a damaged file fails here, unchanged.
    int64_t appId = db.pragmaInt("application_id");
    int64_t userVersion = db.pragmaInt("user_version");
    int64_t objects = 0;
    {
        Statement st(db, "SELECT count(*) FROM sqlite_master");
        if (st.step())
            objects = st.getInt(0);
    }
    const std::string file = db.path().string();
    if (appId == 0 && userVersion == 0 && objects == 0)
        return; // empty: ours to initialize
    if (appId != kApplicationId)
        throw rslora::Error("database " + file + " belongs to another program (an SQLite file without the " +
                                "workbench's application id, holding " + std::to_string(objects) + " schema objects)",
                            "point --db (or RSLORA_DB) at a workbench store or a new file; the file was left untouched");
    if (userVersion > latestSchemaVersion())
        throw rslora::Error("database " + file + " has schema version " + std::to_string(userVersion) +
                                ", but this program knows versions up to " + std::to_string(latestSchemaVersion()) +
                                ": it was written by a newer rslora-workbench",
                            kNewerHint);
}

void Migrations::migrate(Database& db, int target) {
    if (target < 0)
        target = latestSchemaVersion();
    for (const Migration& m : migrations()) {
        if (m.version > target)
            break;
        if (version(db) >= m.version)
            continue;
        // PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it.
        struct ForeignKeysOff {
            Database& db;
            bool on;
            ~ForeignKeysOff() {
                try {
                    if (on)
                        db.exec("PRAGMA foreign_keys = ON");
                } catch (const rslora::Error&) {
                    // The connection is closed right after a failed migration anyway.
                }
            }
        } fkGuard{db, m.rebuildsReferencedTable && db.pragmaInt("foreign_keys") != 0};
        if (fkGuard.on)
            db.exec("PRAGMA foreign_keys = OFF");
        Transaction tx(db);
        int current = version(db); // another process may have migrated while we waited for the lock
        if (current > latestSchemaVersion())
            throw rslora::Error("database " + db.path().string() + " was upgraded to schema version " +
                                    std::to_string(current) + " by a newer program meanwhile",
                                kNewerHint);
        if (current >= m.version)
            continue;
        if (current != m.version - 1)
            throw rslora::Error("database " + db.path().string() + " has schema version " + std::to_string(current) +
                                ", expected " + std::to_string(m.version - 1) + " before migration " +
                                std::to_string(m.version));
        if (current == 0)
            db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
        db.exec(m.sql);
        if (m.rebuildsReferencedTable) {
            Statement check(db, "PRAGMA foreign_key_check");
            if (check.step())
                throw rslora::Error("database " + db.path().string() + ": migration " + std::to_string(m.version) +
                                        " would break a reference from table " + check.getText(0) +
                                        "; nothing was changed",
                                    "run `rslora doctor` on the file and report this");
        }
        db.exec("PRAGMA user_version = " + std::to_string(m.version));
        tx.commit();
    }
}

} // namespace rslora::storage
