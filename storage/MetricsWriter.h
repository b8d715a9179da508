// Buffered metric ingest for a training process: add() is cheap and thread-safe; a background thread
// owning its own connection commits everything buffered in one transaction at least once per flush
// interval, and keeps the heartbeat of the runs it writes for. A killed process loses at most the
// points added since the last flush; the database itself stays consistent (WAL).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rslora::storage {

struct MetricPoint;

class MetricsWriter {
public:
    struct Options {
        std::chrono::milliseconds flushInterval{500};   // a flush at least this often (the issue asks <= 1 s)
        std::chrono::milliseconds heartbeatInterval{2000}; // heartbeat of watched runs without new points
        size_t maxPending = 1'000'000;   // add() waits when this many points are waiting (or drops them
                                         // when the store keeps failing), so memory stays bounded
        size_t maxPointsPerTransaction = 50'000; // a backlog is committed in slices of this size
        std::chrono::milliseconds busyTimeout{15000};
        // How long a locked store (another connection holding the write lock past busyTimeout, e.g.
        // a long import) is retried with back-off, keeping the points, before flush() reports it.
        // Other failures (a full disk) are reported at once and retried in the background.
        std::chrono::milliseconds busyPatience{std::chrono::minutes(10)};
    };

    struct Stats {
        uint64_t added = 0;
        uint64_t committed = 0;
        uint64_t dropped = 0;     // points whose run was deleted, or lost to a failing store
        uint64_t flushes = 0;
        double lastFlushSeconds = 0;
        std::string lastError;    // empty after a successful flush
    };

    // Opens the store at `databasePath` on the writer's own thread (migrating it if needed); throws
    // rslora::Error when it cannot.
    explicit MetricsWriter(const std::filesystem::path& databasePath, Options options);
    explicit MetricsWriter(const std::filesystem::path& databasePath) : MetricsWriter(databasePath, Options{}) {}
    // Commits what is left and stops the thread; never throws (failures are logged).
    ~MetricsWriter();
    MetricsWriter(const MetricsWriter&) = delete;
    MetricsWriter& operator=(const MetricsWriter&) = delete;

    // A handle for a key, to skip the name lookup in add() on hot paths.
    int keyHandle(std::string_view key);
    void add(int64_t runId, int keyHandle, int64_t step, double wallTime, double value);
    void add(int64_t runId, std::string_view key, int64_t step, double wallTime, double value);
    // Wall time: now.
    void add(int64_t runId, std::string_view key, int64_t step, double value);
    void add(const MetricPoint& point);

    // Keeps the run's heartbeat fresh while it lives, also between points.
    void watch(int64_t runId);
    void unwatch(int64_t runId);

    // Blocks until every point added before the call is committed; throws rslora::Error when the
    // store failed meanwhile, or stayed locked longer than busyPatience (the points stay buffered
    // and are retried).
    void flush();
    Stats stats() const;

private:
    struct Pending {
        int64_t runId;
        int key;
        int64_t step;
        double wallTime;
        double value;
    };

    void threadMain(std::filesystem::path path);
    void enqueue(const Pending& p);

    Options m_options;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;      // to the writer thread
    std::condition_variable m_progress;  // to add() and flush() callers
    std::vector<Pending> m_pending;
    std::map<std::string, int, std::less<>> m_keyIndex;
    std::deque<std::string> m_keyNames;
    std::set<int64_t> m_watched;
    uint64_t m_addedSeq = 0;             // points handed to add()
    uint64_t m_doneSeq = 0;              // points committed or dropped
    uint64_t m_flushRequests = 0;
    uint64_t m_failures = 0;             // flush failures so far (a locked store only once past busyPatience)
    bool m_stop = false;
    bool m_opened = false;
    std::string m_openError;
    Stats m_stats;
    std::thread m_thread;
};

} // namespace rslora::storage
