// Storage benchmark (not run by CI): sustained metric ingest through MetricsWriter, reading a
// 1,000,000-point series whole and downsampled, and the run-list query. Prints one line per figure.
//   rslora_bench_storage [--points N] [--keys K] [--db PATH] [--reads-only]
// --reads-only reruns the read figures on a database left by an earlier run with --db (the file is
// then kept), e.g. under `chrt -f 10` to see the time on an otherwise busy machine's free core.
#include "storage/MetricsWriter.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <time.h>
#include <unistd.h>

using namespace rslora::storage;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// CPU seconds of the calling thread / of the whole process: on a shared machine wall time includes
// waiting for a core, so both are printed.
double threadCpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
double processCpu() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
} // namespace

int main(int argc, char** argv) {
    int64_t points = 5'000'000;
    int keys = 5;
    fs::path db = fs::temp_directory_path() / ("rslora-bench-" + std::to_string(::getpid()) + ".sqlite");
    bool keep = false, readsOnly = false;
    for (int i = 1; i < argc; ++i) {
        bool hasValue = i + 1 < argc;
        if (!std::strcmp(argv[i], "--reads-only"))
            readsOnly = true;
        else if (!std::strcmp(argv[i], "--points") && hasValue)
            points = std::atoll(argv[++i]);
        else if (!std::strcmp(argv[i], "--keys") && hasValue)
            keys = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--db") && hasValue)
            db = argv[++i], keep = true;
        else {
            std::fprintf(stderr, "usage: rslora_bench_storage [--points N] [--keys K] [--db PATH] [--reads-only]\n");
            return 2;
        }
    }
    try {
        int64_t runId = 1;
        if (!readsOnly) {
            Store store(db);
            RunRecord r;
            r.name = "bench";
            runId = store.runs().create(r);
            store.runs().markStarted(runId);
        }

        // 1. Ingest: one producer thread adding as fast as it can; flushes every 500 ms.
        auto t0 = Clock::now();
        double c0 = processCpu();
        if (!readsOnly) {
            MetricsWriter writer(db);
            std::vector<int> handles;
            for (int k = 0; k < keys; ++k)
                handles.push_back(writer.keyHandle("metric/" + std::to_string(k)));
            int64_t steps = points / keys;
            for (int64_t s = 0; s < steps; ++s)
                for (int k = 0; k < keys; ++k)
                    writer.add(runId, handles[static_cast<size_t>(k)], s, 1.7e9 + s * 1e-3,
                               std::exp(-s * 1e-6) + 1e-3 * k + (s % 1000 == 0 ? NAN : 0.0));
            writer.flush();
            auto st = writer.stats();
            double dt = since(t0);
            std::printf("ingest: %llu points in %.2f s = %.0f points/s sustained (%llu flushes, process CPU %.2f s)\n",
                        static_cast<unsigned long long>(st.committed), dt, st.committed / dt,
                        static_cast<unsigned long long>(st.flushes), processCpu() - c0);
        }

        // 2. Read a 1,000,000-point series (the first key has points/keys points).
        Store store(db);
        std::string key = "metric/0";
        for (int rep = 0; rep < 3; ++rep) {
            auto t = Clock::now();
            double c = threadCpu();
            MetricSeries s = store.metrics().series(runId, key);
            std::printf("read full series: %zu points in %.1f ms (CPU %.1f ms)\n", s.size(), since(t) * 1e3,
                        (threadCpu() - c) * 1e3);
        }
        for (int rep = 0; rep < 2; ++rep) {
            auto t = Clock::now();
            double c = threadCpu();
            SeriesQuery q;
            q.maxPoints = 2000;
            MetricSeries s = store.metrics().series(runId, key, q);
            std::printf("read downsampled: %lld points -> %zu in %.1f ms (CPU %.1f ms)\n",
                        static_cast<long long>(s.totalPoints), s.size(), since(t) * 1e3, (threadCpu() - c) * 1e3);
        }
        {
            auto t = Clock::now();
            SeriesQuery q;
            q.minStep = 400000;
            q.maxStep = 410000;
            MetricSeries s = store.metrics().series(runId, key, q);
            std::printf("read 10k-step window: %zu points in %.2f ms\n", s.size(), since(t) * 1e3);
        }

        if (readsOnly)
            return 0;
        // 3. The run list with latest metrics over 1,000 runs.
        {
            Transaction tx(store.database());
            for (int i = 0; i < 1000; ++i) {
                RunRecord r;
                r.name = "run " + std::to_string(i);
                r.configJson = "{\"lr\": " + std::to_string(1e-4 * (i + 1)) + ", \"rank\": " + std::to_string(8 << (i % 3)) + "}";
                store.runs().create(r);
                std::vector<MetricPoint> pts;
                for (int k = 0; k < 4; ++k)
                    pts.push_back({r.id, "metric/" + std::to_string(k), 100, 1.7e9, 0.5 + i * 1e-3});
                store.metricsIngest().insert(pts);
            }
            tx.commit();
        }
        auto t = Clock::now();
        auto rows = store.queries().runsWithLatest();
        std::printf("runs with latest metrics: %zu runs in %.1f ms\n", rows.size(), since(t) * 1e3);
        t = Clock::now();
        auto best = store.queries().bestRuns("metric/1", false, MetricAggregate::Last, {}, 5);
        std::printf("best 5 runs by a metric: %.1f ms\n", since(t) * 1e3);
        std::printf("database: %s (%.1f MB)\n", db.c_str(), fs::file_size(db) / 1e6);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: %s\n", e.what());
        return 1;
    }
    if (keep)
        return 0;
    std::error_code ec;
    fs::remove(db, ec);
    fs::remove(db.string() + "-wal", ec);
    fs::remove(db.string() + "-shm", ec);
    return 0;
}
