// Child process for the storage crash and concurrency tests: writes to a store the way a training
// process or the GUI does, printing its progress on stdout so that the parent can kill it at a known
// point and check what survived.
#include "storage/MetricsWriter.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <time.h>

using namespace rslora::storage;

namespace {

int64_t monotonicNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Adds "loss" and "grad_norm" points as fast as a quick training loop would, forever; prints
// "added <step> <monotonic ns>" after each step added (every 50 steps).
int crashWriter(const char* db, int64_t runId, int flushMs) {
    {
        Store store(db);
        store.runs().markStarted(runId, "cpu");
    }
    MetricsWriter::Options o;
    o.flushInterval = std::chrono::milliseconds(flushMs);
    MetricsWriter writer(db, o);
    writer.watch(runId);
    int loss = writer.keyHandle("loss");
    int grad = writer.keyHandle("grad_norm");
    std::printf("ready\n");
    std::fflush(stdout);
    for (int64_t step = 0;; ++step) {
        double t = 1.7e9 + step * 1e-3;
        writer.add(runId, loss, step, t, 2.0 / (1.0 + step * 1e-3));
        writer.add(runId, grad, step, t, step % 97 == 0 ? NAN : std::sqrt(step + 1.0));
        if (step % 50 == 0) {
            std::printf("added %lld %lld\n", static_cast<long long>(step), static_cast<long long>(monotonicNs()));
            std::fflush(stdout);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
}

// Commits big transactions back to back; prints "committed <points>" after each commit.
int bigTransactions(const char* db, int64_t runId, int perTx) {
    Store store(db);
    MetricsIngest& ingest = store.metricsIngest();
    int64_t key = ingest.keyId("bulk");
    int64_t total = 0;
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) {
        std::vector<MetricsIngest::Point> points;
        for (int i = 0; i < perTx; ++i, ++total)
            points.push_back({runId, key, total, 1.7e9 + total, static_cast<double>(total)});
        ingest.insert(points, true);
        std::printf("committed %lld\n", static_cast<long long>(total));
        std::fflush(stdout);
    }
}

// One of several processes sharing a store: its own run with `points` steps of two keys through a
// MetricsWriter flushing every 20 ms, `adapters` new versions of the shared task "shared", tags,
// params and reads in between. Prints "ok <runId>" at the end.
int concurrent(const char* db, const char* label, int points, int adapters) {
    Store store(db);
    RunRecord run;
    run.name = label;
    run.configJson = std::string("{\"label\": \"") + label + "\", \"lora\": {\"rank\": 8}}";
    store.runs().create(run);
    store.runs().markStarted(run.id, "cpu");
    MetricsWriter::Options o;
    o.flushInterval = std::chrono::milliseconds(20);
    o.busyTimeout = std::chrono::milliseconds(20000);
    {
        MetricsWriter writer(db, o);
        writer.watch(run.id);
        int made = 0;
        for (int step = 0; step < points; ++step) {
            writer.add(run.id, "loss", step, 1.7e9 + step, 1.0 / (step + 1));
            writer.add(run.id, "acc", step, 1.7e9 + step, step * 1e-4);
            if (adapters > 0 && step % (points / adapters) == 0 && made < adapters) {
                NewAdapter n;
                n.task = "shared";
                n.variant = label;
                n.sourceRunId = run.id;
                n.sourceStep = step;
                AdapterRecord a = store.adapters().create(n);
                store.adapters().setTag(a.id, "writer", label);
                ++made;
            }
            if (step % 200 == 0)
                store.runs().setTag(run.id, "progress", std::to_string(step));
            if (step % 2000 == 0) {
                store.queries().runsWithLatest();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
        writer.flush();
    }
    store.runs().setStatus(run.id, RunStatus::Finished);
    std::printf("ok %lld\n", static_cast<long long>(run.id));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "crash-writer" && argc == 5)
            return crashWriter(argv[2], std::atoll(argv[3]), std::atoi(argv[4]));
        if (mode == "big-transactions" && argc == 5)
            return bigTransactions(argv[2], std::atoll(argv[3]), std::atoi(argv[4]));
        if (mode == "concurrent" && argc == 6)
            return concurrent(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
        std::fprintf(stderr, "usage: storage_child crash-writer DB RUN FLUSH_MS | big-transactions DB RUN N | "
                             "concurrent DB LABEL POINTS ADAPTERS\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "storage_child: %s\n", e.what());
        return 1;
    }
}
