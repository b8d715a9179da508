#include "storage/MetricsReader.h"

#include "storage/Database.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sqlite3.h>

namespace rslora::storage {

MetricSeries MetricsReader::series(int64_t runId, const std::string& key, const SeriesQuery& q) {
    MetricSeries s;
    s.key = key;
    auto st = m_db.cached(
        "SELECT m.step, m.wall_time, m.value FROM metrics m WHERE m.run_id = ?1 "
        "AND m.key_id = (SELECT id FROM metric_keys WHERE name = ?2) AND m.step BETWEEN ?3 AND ?4 "
        "ORDER BY m.step, m.wall_time");
    st->bindAll(runId, key, q.minStep.value_or(INT64_MIN), q.maxStep.value_or(INT64_MAX));
    if (auto l = latest(runId, key)) {
        s.steps.reserve(static_cast<size_t>(l->count));
        s.wallTimes.reserve(static_cast<size_t>(l->count));
        s.values.reserve(static_cast<size_t>(l->count));
    }
    // The hot loop of every plot: SQLite's C API directly, one type check per value.
    sqlite3_stmt* h = st->handle();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    while (st->step()) {
        s.steps.push_back(sqlite3_column_int64(h, 0));
        s.wallTimes.push_back(sqlite3_column_double(h, 1));
        s.values.push_back(sqlite3_column_type(h, 2) == SQLITE_NULL ? nan : sqlite3_column_double(h, 2));
    }
    s.totalPoints = static_cast<int64_t>(s.steps.size());
    if (q.maxPoints > 0 && s.steps.size() > q.maxPoints)
        return downsampleMinMax(s, q.maxPoints);
    return s;
}

std::vector<std::string> MetricsReader::keys(int64_t runId) {
    auto st = m_db.cached("SELECT k.name FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id "
                          "WHERE l.run_id = ? ORDER BY k.name");
    st->bind(1, runId);
    std::vector<std::string> out;
    while (st->step())
        out.push_back(st->getText(0));
    return out;
}

std::vector<std::string> MetricsReader::allKeys() {
    auto st = m_db.cached("SELECT name FROM metric_keys ORDER BY name");
    std::vector<std::string> out;
    while (st->step())
        out.push_back(st->getText(0));
    return out;
}

namespace {

LatestMetric readLatest(const Statement& s, int first) {
    LatestMetric m;
    m.key = s.getText(first);
    m.step = s.getInt(first + 1);
    m.wallTime = s.getDouble(first + 2);
    m.value = s.getDouble(first + 3);
    m.minValue = s.getDouble(first + 4);
    m.maxValue = s.getDouble(first + 5);
    m.count = s.getInt(first + 6);
    return m;
}

} // namespace

std::vector<LatestMetric> MetricsReader::latest(int64_t runId) {
    auto st = m_db.cached("SELECT k.name, l.step, l.wall_time, l.value, l.min_value, l.max_value, l.count "
                          "FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id WHERE l.run_id = ? "
                          "ORDER BY k.name");
    st->bind(1, runId);
    std::vector<LatestMetric> out;
    while (st->step())
        out.push_back(readLatest(*st, 0));
    return out;
}

std::optional<LatestMetric> MetricsReader::latest(int64_t runId, const std::string& key) {
    auto st = m_db.cached("SELECT k.name, l.step, l.wall_time, l.value, l.min_value, l.max_value, l.count "
                          "FROM latest_metrics l JOIN metric_keys k ON k.id = l.key_id "
                          "WHERE l.run_id = ? AND k.name = ?");
    st->bindAll(runId, key);
    if (!st->step())
        return std::nullopt;
    return readLatest(*st, 0);
}

std::map<int64_t, std::vector<LatestMetric>> MetricsReader::latest(const std::vector<int64_t>& runIds) {
    std::map<int64_t, std::vector<LatestMetric>> out;
    for (int64_t id : runIds)
        out[id] = latest(id);
    return out;
}

int64_t MetricsReader::count(int64_t runId) {
    auto st = m_db.cached("SELECT coalesce(sum(count), 0) FROM latest_metrics WHERE run_id = ?");
    st->bind(1, runId);
    st->step();
    return st->getInt(0);
}

int64_t MetricsReader::storedPoints(int64_t runId) {
    auto st = m_db.cached("SELECT count(*) FROM metrics WHERE run_id = ?");
    st->bind(1, runId);
    st->step();
    return st->getInt(0);
}

void MetricsReader::forEach(int64_t runId, const std::function<void(const MetricPoint&)>& visit) {
    auto st = m_db.cached("SELECT k.name, m.step, m.wall_time, m.value FROM metrics m "
                          "JOIN metric_keys k ON k.id = m.key_id WHERE m.run_id = ? ORDER BY m.key_id, m.step, m.wall_time");
    st->bind(1, runId);
    MetricPoint p;
    p.runId = runId;
    while (st->step()) {
        p.key = st->getText(0);
        p.step = st->getInt(1);
        p.wallTime = st->getDouble(2);
        p.value = st->getDouble(3);
        visit(p);
    }
}

MetricSeries downsampleMinMax(const MetricSeries& in, size_t maxPoints) {
    const size_t n = in.size();
    if (maxPoints < 4)
        maxPoints = 4;
    if (n <= maxPoints)
        return in;
    MetricSeries out;
    out.key = in.key;
    out.totalPoints = in.totalPoints;
    auto keep = [&](size_t i) {
        if (!out.steps.empty() && out.steps.back() == in.steps[i] && out.wallTimes.back() == in.wallTimes[i])
            return; // the same point chosen twice (min == max)
        out.steps.push_back(in.steps[i]);
        out.wallTimes.push_back(in.wallTimes[i]);
        out.values.push_back(in.values[i]);
    };
    bool anyNaN = false;
    for (double v : in.values)
        if (std::isnan(v)) {
            anyNaN = true;
            break;
        }
    // Interior points [1, n-1) into buckets of 2 (or 3 with NaNs) kept points each.
    const size_t perBucket = anyNaN ? 3 : 2;
    const size_t buckets = std::max<size_t>(1, (maxPoints - 2) / perBucket);
    const size_t interior = n - 2;
    out.steps.reserve(maxPoints);
    out.wallTimes.reserve(maxPoints);
    out.values.reserve(maxPoints);
    keep(0);
    for (size_t b = 0; b < buckets; ++b) {
        size_t lo = 1 + interior * b / buckets;
        size_t hi = 1 + interior * (b + 1) / buckets;
        if (lo >= hi)
            continue;
        size_t iMin = SIZE_MAX, iMax = SIZE_MAX, iNaN = SIZE_MAX;
        for (size_t i = lo; i < hi; ++i) {
            double v = in.values[i];
            if (std::isnan(v)) {
                if (iNaN == SIZE_MAX)
                    iNaN = i;
                continue;
            }
            if (iMin == SIZE_MAX || v < in.values[iMin])
                iMin = i;
            if (iMax == SIZE_MAX || v > in.values[iMax])
                iMax = i;
        }
        // Emit in step order so the polyline does not double back.
        size_t picks[3] = {iMin, iMax, iNaN};
        std::sort(std::begin(picks), std::end(picks));
        for (size_t i : picks)
            if (i != SIZE_MAX)
                keep(i);
    }
    keep(n - 1);
    return out;
}

} // namespace rslora::storage
