// Reading metrics for plots and tables: whole or ranged series, optionally downsampled so that every
// bucket keeps its extremes, and the latest value of every key.
#pragma once

#include "storage/Records.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::storage {

class Database;

struct SeriesQuery {
    std::optional<int64_t> minStep;   // inclusive
    std::optional<int64_t> maxStep;   // inclusive
    size_t maxPoints = 0;             // 0 = every point; else downsampleMinMax to at most this many
};

class MetricsReader {
public:
    explicit MetricsReader(Database& db) : m_db(db) {}

    // Points in step order (then wall-time order for repeated steps). An unknown key gives an empty
    // series.
    MetricSeries series(int64_t runId, const std::string& key, const SeriesQuery& query = {});
    // Keys the run has, sorted.
    std::vector<std::string> keys(int64_t runId);
    // Every key in the store, sorted.
    std::vector<std::string> allKeys();
    std::vector<LatestMetric> latest(int64_t runId);
    std::optional<LatestMetric> latest(int64_t runId, const std::string& key);
    std::map<int64_t, std::vector<LatestMetric>> latest(const std::vector<int64_t>& runIds);
    int64_t count(int64_t runId);
    // Rows of the metrics table for the run, counted without the key join or the summary table.
    int64_t storedPoints(int64_t runId);
    // Streams every point of a run (key, step, time order per key) without building a vector.
    void forEach(int64_t runId, const std::function<void(const MetricPoint&)>& visit);

private:
    Database& m_db;
};

// Downsamples to at most `maxPoints` (>= 4): the first and last points stay; the rest is cut into
// equal-count buckets, each contributing its minimum and maximum in step order, and its first NaN
// when it holds one (so divergence stays visible). Series that fit are returned unchanged.
MetricSeries downsampleMinMax(const MetricSeries& series, size_t maxPoints);

} // namespace rslora::storage
