// Synchronous metric insertion on one connection: key interning, the points, latest_metrics and the
// run's last step, all in the caller's transaction. MetricsWriter (buffered, threaded) and the bundle
// importer build on it.
#pragma once

#include "storage/Records.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rslora::storage {

class Database;

class MetricsIngest {
public:
    struct Point {
        int64_t runId;
        int64_t keyId;   // from keyId()
        int64_t step;
        double wallTime;
        double value;
    };

    explicit MetricsIngest(Database& db) : m_db(db) {}

    // The id of a metric key, created when new. Cached per connection.
    int64_t keyId(std::string_view key);
    // Inserts in one transaction (a savepoint when the caller holds one). A point with the same run,
    // key, step and wall time as a stored one replaces its value. Points of runs that no longer exist
    // are dropped (and counted in the return value's second member). With `heartbeat`, the runs'
    // heartbeat is refreshed as well; their last_step always advances.
    // Returns {inserted, dropped}.
    std::pair<size_t, size_t> insert(const std::vector<Point>& points, bool heartbeat);
    std::pair<size_t, size_t> insert(const std::vector<MetricPoint>& points, bool heartbeat = false);
    // Removes a run's points after `step` (a resumed run's lost timeline) and rebuilds its summaries
    // and last step from what remains, in one transaction. Returns the points removed.
    size_t discardAfter(int64_t runId, int64_t step);
    // Heartbeat only (a run that is alive but reported nothing since the last flush).
    void heartbeat(const std::vector<int64_t>& runIds);

private:
    Database& m_db;
    std::unordered_map<std::string, int64_t> m_keys;
};

} // namespace rslora::storage
