#include "storage/MetricsIngest.h"

#include "common/Log.h"
#include "storage/Database.h"
#include "storage/Naming.h"
#include "storage/Transaction.h"

#include <cmath>
#include <map>
#include <set>

namespace rslora::storage {
namespace {

// What one batch contributes to latest_metrics for one (run, key).
struct Summary {
    int64_t step = 0;
    double wallTime = 0;
    double value = 0;
    double minValue = NAN;
    double maxValue = NAN;
    int64_t count = 0;
};

bool later(int64_t step, double time, const Summary& s) {
    return step > s.step || (step == s.step && time >= s.wallTime);
}

} // namespace

int64_t MetricsIngest::keyId(std::string_view key) {
    auto it = m_keys.find(std::string(key));
    if (it != m_keys.end())
        return it->second;
    Transaction tx(m_db);
    {
        auto ins = m_db.cached("INSERT INTO metric_keys (name) VALUES (?) ON CONFLICT (name) DO NOTHING");
        ins->bind(1, key);
        ins->run();
    }
    auto sel = m_db.cached("SELECT id FROM metric_keys WHERE name = ?");
    sel->bind(1, key);
    sel->step();
    int64_t id = sel->getInt(0);
    tx.commit();
    // Cached only after the commit: a rolled-back key must not outlive its transaction.
    m_keys.emplace(std::string(key), id);
    return id;
}

std::pair<size_t, size_t> MetricsIngest::insert(const std::vector<Point>& points, bool heartbeat) {
    if (points.empty())
        return {0, 0};
    Transaction tx(m_db);
    std::map<int64_t, bool> runExists;
    std::map<int64_t, int64_t> lastStep;
    std::map<std::pair<int64_t, int64_t>, Summary> summaries;
    {
        auto exists = m_db.cached("SELECT 1 FROM runs WHERE id = ?");
        for (const Point& p : points) {
            if (runExists.count(p.runId))
                continue;
            exists->bind(1, p.runId);
            runExists[p.runId] = exists->step();
            exists->reset();
        }
    }
    size_t inserted = 0, dropped = 0;
    {
        auto ins = m_db.cached("INSERT INTO metrics (run_id, key_id, step, wall_time, value) VALUES (?, ?, ?, ?, ?) "
                               "ON CONFLICT (run_id, key_id, step, wall_time) DO UPDATE SET value = excluded.value");
        for (const Point& p : points) {
            if (!runExists[p.runId]) {
                ++dropped;
                continue;
            }
            ins->bindAll(p.runId, p.keyId, p.step, p.wallTime, p.value);
            ins->run();
            ++inserted;
            Summary& s = summaries[{p.runId, p.keyId}];
            if (s.count == 0 || later(p.step, p.wallTime, s)) {
                s.step = p.step;
                s.wallTime = p.wallTime;
                s.value = p.value;
            }
            if (!std::isnan(p.value)) {
                s.minValue = std::isnan(s.minValue) ? p.value : std::min(s.minValue, p.value);
                s.maxValue = std::isnan(s.maxValue) ? p.value : std::max(s.maxValue, p.value);
            }
            ++s.count;
            auto ls = lastStep.find(p.runId);
            if (ls == lastStep.end())
                lastStep.emplace(p.runId, p.step);
            else
                ls->second = std::max(ls->second, p.step);
        }
    }
    {
        auto up = m_db.cached(
            "INSERT INTO latest_metrics (run_id, key_id, step, wall_time, value, min_value, max_value, count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key_id) DO UPDATE SET "
            "step = CASE WHEN excluded.step > step OR (excluded.step = step AND excluded.wall_time >= wall_time) "
            "  THEN excluded.step ELSE step END, "
            "value = CASE WHEN excluded.step > step OR (excluded.step = step AND excluded.wall_time >= wall_time) "
            "  THEN excluded.value ELSE value END, "
            "wall_time = CASE WHEN excluded.step > step OR (excluded.step = step AND excluded.wall_time >= wall_time) "
            "  THEN excluded.wall_time ELSE wall_time END, "
            "min_value = CASE WHEN min_value IS NULL THEN excluded.min_value WHEN excluded.min_value IS NULL "
            "  THEN min_value ELSE min(min_value, excluded.min_value) END, "
            "max_value = CASE WHEN max_value IS NULL THEN excluded.max_value WHEN excluded.max_value IS NULL "
            "  THEN max_value ELSE max(max_value, excluded.max_value) END, "
            "count = count + excluded.count");
        for (const auto& [k, s] : summaries) {
            up->bindAll(k.first, k.second, s.step, s.wallTime, s.value, s.minValue, s.maxValue, s.count);
            up->run();
        }
    }
    {
        auto run = m_db.cached("UPDATE runs SET last_step = CASE WHEN last_step IS NULL OR ?1 > last_step THEN ?1 "
                               "ELSE last_step END, heartbeat = CASE WHEN ?2 THEN ?3 ELSE heartbeat END WHERE id = ?4");
        double now = nowSeconds();
        for (const auto& [runId, step] : lastStep) {
            run->bindAll(step, static_cast<int64_t>(heartbeat), now, runId);
            run->run();
        }
    }
    tx.commit();
    for (const auto& [runId, ok] : runExists)
        if (!ok)
            rslora::logWarning("storage: dropped metrics of run " + std::to_string(runId) + ", which no longer exists");
    return {inserted, dropped};
}

std::pair<size_t, size_t> MetricsIngest::insert(const std::vector<MetricPoint>& points, bool heartbeat) {
    try {
        std::vector<Point> converted;
        converted.reserve(points.size());
        for (const MetricPoint& p : points)
            converted.push_back({p.runId, keyId(p.key), p.step, p.wallTime, p.value});
        return insert(converted, heartbeat);
    } catch (...) {
        // A key created inside a transaction that is now rolling back must not stay cached.
        m_keys.clear();
        throw;
    }
}

size_t MetricsIngest::discardAfter(int64_t runId, int64_t step) {
    Transaction tx(m_db);
    auto del = m_db.cached("DELETE FROM metrics WHERE run_id = ? AND step > ?");
    del->bindAll(runId, step);
    del->run();
    const size_t removed = static_cast<size_t>(m_db.changes());
    if (removed > 0) {
        auto clear = m_db.cached("DELETE FROM latest_metrics WHERE run_id = ?");
        clear->bindAll(runId);
        clear->run();
        // The latest point per key: the highest step, then the latest wall time.
        auto rebuild = m_db.cached(
            "INSERT INTO latest_metrics (run_id, key_id, step, wall_time, value, min_value, max_value, count) "
            "SELECT m.run_id, m.key_id, m.step, m.wall_time, m.value, s.mn, s.mx, s.n FROM metrics m "
            "JOIN (SELECT key_id, min(value) AS mn, max(value) AS mx, count(*) AS n FROM metrics WHERE run_id = ?1 "
            "      GROUP BY key_id) s ON s.key_id = m.key_id "
            "WHERE m.run_id = ?1 AND NOT EXISTS (SELECT 1 FROM metrics o WHERE o.run_id = m.run_id AND o.key_id = m.key_id "
            "  AND (o.step > m.step OR (o.step = m.step AND o.wall_time > m.wall_time)))");
        rebuild->bindAll(runId);
        rebuild->run();
        auto last = m_db.cached("UPDATE runs SET last_step = (SELECT max(step) FROM metrics WHERE run_id = ?1) WHERE id = ?1");
        last->bindAll(runId);
        last->run();
    }
    tx.commit();
    return removed;
}

void MetricsIngest::heartbeat(const std::vector<int64_t>& runIds) {
    if (runIds.empty())
        return;
    Transaction tx(m_db);
    auto st = m_db.cached("UPDATE runs SET heartbeat = ? WHERE id = ?");
    double now = nowSeconds();
    for (int64_t id : runIds) {
        st->bindAll(now, id);
        st->run();
    }
    tx.commit();
}

} // namespace rslora::storage
