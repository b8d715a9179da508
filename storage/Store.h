// The experiment store: one SQLite file holding every run, metric and adapter version. Opening it runs
// the fixed sequence (identify the file, WAL, foreign keys, busy timeout, migrate, mark runs of dead
// processes interrupted); the repositories below turn rows into the structs of Records.h.
// A Store is one connection: use it from one thread at a time, and open one Store per thread.
#pragma once

#include "storage/AdapterRepository.h"
#include "storage/ArtifactRepository.h"
#include "storage/Database.h"
#include "storage/EvaluationRepository.h"
#include "storage/GroupRepository.h"
#include "storage/LineageRepository.h"
#include "storage/MetricsIngest.h"
#include "storage/MetricsReader.h"
#include "storage/Queries.h"
#include "storage/RunRepository.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

namespace rslora::storage {

class Store {
public:
    struct Options {
        bool create = true;
        bool readOnly = false;
        std::chrono::milliseconds busyTimeout{15000};
        bool recoverInterrupted = true;     // mark runs of dead processes interrupted on open
        double staleHeartbeatSeconds = 300; // for runs of other hosts (whose pid cannot be checked)
        std::filesystem::path adapterRoot;  // default: <folder of the database>/adapters
        // PRAGMA quick_check before anything else (once per file and process): a damaged file is
        // refused with how to recover instead of showing garbled or partial data.
        bool checkIntegrity = true;
    };

    // Throws rslora::Error with an actionable message for a foreign, damaged or newer file, which is
    // never modified.
    explicit Store(const std::filesystem::path& path, Options options);
    explicit Store(const std::filesystem::path& path) : Store(path, Options{}) {}
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::filesystem::path& path() const { return m_db->path(); }
    // Where adapter versions get their folders (adapterFolder(root, task, version, uuid)).
    const std::filesystem::path& adapterRoot() const { return m_adapterRoot; }
    int schemaVersion();
    // Runs this open marked interrupted.
    const std::vector<int64_t>& recoveredRuns() const { return m_recovered; }
    // Marks runs of dead processes interrupted now (done on open unless disabled); returns their ids.
    std::vector<int64_t> recoverInterrupted();

    Database& database() { return *m_db; }
    RunRepository& runs() { return m_runs; }
    AdapterRepository& adapters() { return m_adapters; }
    LineageRepository& lineage() { return m_lineage; }
    EvaluationRepository& evaluations() { return m_evaluations; }
    ArtifactRepository& artifacts() { return m_artifacts; }
    // Groups of runs made together (sweeps).
    GroupRepository& groups() { return m_groups; }
    MetricsReader& metrics() { return m_metricsReader; }
    // Synchronous metric writes (imports, tests, small tools). Training uses MetricsWriter.
    MetricsIngest& metricsIngest() { return m_ingest; }
    Queries& queries() { return m_queries; }

    // PRAGMA integrity_check; "ok" when healthy.
    std::string integrityCheck();

private:
    Options m_options;
    std::unique_ptr<Database> m_db;
    std::filesystem::path m_adapterRoot;
    RunRepository m_runs;
    AdapterRepository m_adapters;
    LineageRepository m_lineage;
    EvaluationRepository m_evaluations;
    ArtifactRepository m_artifacts;
    MetricsReader m_metricsReader;
    MetricsIngest m_ingest;
    Queries m_queries;
    GroupRepository m_groups;
    std::vector<int64_t> m_recovered;
};

} // namespace rslora::storage
