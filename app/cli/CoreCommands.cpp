// `rslora version`, `rslora doctor` and `rslora selftest`: what this build is, how the machine will
// run it, and whether it computes correctly on a device.
#include "app/cli/Commands.h"

#include "common/Paths.h"
#include "engine/Runtime.h"
#include "engine/SelfTest.h"
#include "rslora/BuildInfo.h"
#include "storage/Database.h"
#include "storage/Migrations.h"
#include "storage/StoreHealth.h"

#include <iostream>
#include <nlohmann/json.hpp>

namespace rslora::cli {

int& exitCode() {
    static int code = 0;
    return code;
}

namespace {

// The store's part of the doctor's report: PRAGMA integrity_check on a read-only connection, so a
// damaged file is described without being opened as a store (which refuses it) or modified.
struct StoreReport {
    std::string path;
    bool exists = false;
    int schemaVersion = 0;
    std::vector<std::string> problems; // integrity_check findings, or why the file could not be read
    bool ok() const { return problems.empty(); }
};

StoreReport checkStore(const std::filesystem::path& path) {
    StoreReport r;
    r.path = path.string();
    std::error_code ec;
    r.exists = std::filesystem::exists(path, ec);
    if (!r.exists)
        return r;
    try {
        storage::Database::Options o;
        o.create = false;
        o.readOnly = true;
        storage::Database db(path, o);
        r.problems = storage::StoreHealth::findings(db, true);
        if (r.problems.empty())
            r.schemaVersion = storage::Migrations::version(db);
    } catch (const Error& e) {
        r.problems.push_back(e.what());
    }
    return r;
}

nlohmann::json storeJson(const StoreReport& r) {
    return {{"path", r.path}, {"exists", r.exists}, {"schema_version", r.schemaVersion},
            {"integrity", r.ok() ? "ok" : "damaged"}, {"problems", r.problems}};
}

void printDoctor(bool asJson, const std::string& dbOption) {
    const std::filesystem::path dbPath = dbOption.empty() ? defaultDatabasePath() : std::filesystem::path(dbOption);
    const StoreReport store = checkStore(dbPath);
    engine::applyThreadSettings({});
    engine::RuntimeInfo info = engine::runtimeInfo();
    if (asJson) {
        nlohmann::json j = {
            {"version", RSLORA_VERSION},
            {"torch", info.torchVersion},
            {"blas", {{"name", info.blasName}, {"path", info.blasPath}, {"config", info.blasConfig},
                      {"reference", info.referenceBlas}, {"threads", info.blasThreads}}},
            {"threads", {{"intra_op", info.intraOpThreads}, {"inter_op", info.interOpThreads},
                         {"hardware", info.hardwareThreads}, {"omp_wait_policy", info.ompWaitPolicy},
                         {"openblas_thread_timeout", info.blasThreadTimeout}}},
            {"cuda", {{"available", info.cudaAvailable}, {"devices", info.cudaDevices}}},
            {"data_directory", dataDirectory().string()},
            {"database", dbPath.string()},
            {"store", storeJson(store)},
            {"resources", resourcesDirectory().string()},
        };
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        std::cout << "rslora " << RSLORA_VERSION << " (" << RSLORA_BUILD_TYPE << ", " << RSLORA_COMPILER << ")\n"
                  << "LibTorch         " << info.torchVersion << "\n"
                  << "BLAS             " << info.blasName << (info.blasPath.empty() ? "" : "  [" + info.blasPath + "]") << "\n";
        if (!info.blasConfig.empty())
            std::cout << "BLAS build       " << info.blasConfig << "\n";
        std::cout << "threads          LibTorch intra-op " << info.intraOpThreads << ", inter-op " << info.interOpThreads
                  << ", BLAS " << (info.blasThreads < 0 ? std::string("?") : std::to_string(info.blasThreads))
                  << ", cores " << info.hardwareThreads << "\n"
                  << "OMP_WAIT_POLICY  " << (info.ompWaitPolicy.empty() ? "(unset: OpenMP spin-waits)" : info.ompWaitPolicy) << "\n"
                  << "OPENBLAS_THREAD_TIMEOUT " << (info.blasThreadTimeout.empty() ? "(unset: OpenBLAS workers spin ~2^28 cycles)" : info.blasThreadTimeout) << "\n"
                  << "devices          cpu";
        for (const auto& d : info.cudaDevices)
            std::cout << ", " << d;
        std::cout << (info.cudaAvailable ? "" : "  (no CUDA)") << "\n"
                  << "data directory   " << dataDirectory().string() << "\n"
                  << "database         " << dbPath.string() << "\n"
                  << "resources        " << resourcesDirectory().string() << "\n"
                  << "store integrity  "
                  << (!store.exists ? std::string("(not created yet)")
                      : store.ok()   ? "ok (PRAGMA integrity_check, schema version " + std::to_string(store.schemaVersion) + ")"
                                     : "DAMAGED, " + std::to_string(store.problems.size()) + " problem(s):")
                  << "\n";
        for (const auto& p : store.problems)
            std::cout << "  " << p << "\n";
    }
    if (info.referenceBlas) {
        std::cerr << "warning: LibTorch is using the reference BLAS (" << info.blasPath
                  << "), which makes training steps about 30x slower.\n"
                     "hint: sudo apt-get install libopenblas0-pthread\n";
        exitCode() = 2;
    }
    if (!store.ok()) {
        std::cerr << "error: " << storage::StoreHealth::damagedMessage(dbPath, store.problems, true) << "\n"
                  << "hint: " << storage::StoreHealth::recoveryHint(dbPath) << "\n";
        exitCode() = 1;
    }
}

} // namespace

void registerCoreCommands(CLI::App& app) {
    auto* version = app.add_subcommand("version", "Print the version and build facts");
    version->callback([] {
        std::cout << "rslora " << RSLORA_VERSION << " (" << RSLORA_BUILD_TYPE << ", " << RSLORA_COMPILER << ")\n";
    });

    auto* doctor = app.add_subcommand("doctor", "Check devices, threads, the BLAS in use and the store's integrity");
    auto* json = doctor->add_flag("--json", "Machine-readable output");
    static std::string doctorDb;
    doctor->add_option("--db", doctorDb, "Experiment database to check (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    doctor->callback([json] { printDoctor(json->count() > 0, doctorDb); });

    auto* selftest = app.add_subcommand("selftest", "Check that this build computes correctly on a device (seconds, nothing downloaded)");
    static std::string device = "cpu";
    static bool selftestJson = false;
    selftest->add_option("--device", device, "cpu, cuda or cuda:N (default cpu)");
    selftest->add_flag("--json", selftestJson, "Machine-readable output");
    selftest->callback([] {
        engine::applyThreadSettings({});
        const auto checks = engine::runSelfTest(device);
        bool ok = !checks.empty();
        nlohmann::json j = nlohmann::json::array();
        for (const auto& c : checks) {
            ok = ok && c.ok;
            j.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
            if (!selftestJson)
                std::cout << (c.ok ? "ok    " : "FAIL  ") << c.name << ": " << c.detail << "\n";
        }
        if (selftestJson)
            std::cout << nlohmann::json{{"device", device}, {"ok", ok}, {"checks", j}}.dump(2) << "\n";
        else
            std::cout << (ok ? "selftest passed" : "selftest FAILED") << "\n";
        if (!ok)
            exitCode() = 1;
    });
}

} // namespace rslora::cli
