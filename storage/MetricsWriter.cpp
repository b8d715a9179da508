#include "storage/MetricsWriter.h"

#include "common/Error.h"
#include "common/Log.h"
#include "storage/Database.h"
#include "storage/MetricsIngest.h"
#include "storage/Naming.h"
#include "storage/Records.h"
#include "storage/Store.h"

#include <algorithm>

namespace rslora::storage {

using Clock = std::chrono::steady_clock;

MetricsWriter::MetricsWriter(const std::filesystem::path& databasePath, Options options) : m_options(options) {
    m_pending.reserve(4096);
    if (m_options.maxPointsPerTransaction == 0)
        m_options.maxPointsPerTransaction = 1;
    m_thread = std::thread(&MetricsWriter::threadMain, this, databasePath);
    std::unique_lock<std::mutex> lk(m_mutex);
    m_progress.wait(lk, [this] { return m_opened; });
    if (!m_openError.empty()) {
        lk.unlock();
        m_thread.join();
        throw rslora::Error("metrics writer: " + m_openError);
    }
}

MetricsWriter::~MetricsWriter() {
    {
        std::lock_guard<std::mutex> lk(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_progress.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

int MetricsWriter::keyHandle(std::string_view key) {
    std::lock_guard<std::mutex> lk(m_mutex);
    auto it = m_keyIndex.find(key);
    if (it != m_keyIndex.end())
        return it->second;
    int handle = static_cast<int>(m_keyNames.size());
    m_keyNames.emplace_back(key);
    m_keyIndex.emplace(std::string(key), handle);
    return handle;
}

void MetricsWriter::add(int64_t runId, int key, int64_t step, double wallTime, double value) {
    enqueue({runId, key, step, wallTime, value});
}

void MetricsWriter::add(int64_t runId, std::string_view key, int64_t step, double wallTime, double value) {
    enqueue({runId, keyHandle(key), step, wallTime, value});
}

void MetricsWriter::add(int64_t runId, std::string_view key, int64_t step, double value) {
    enqueue({runId, keyHandle(key), step, nowSeconds(), value});
}

void MetricsWriter::add(const MetricPoint& p) { add(p.runId, p.key, p.step, p.wallTime, p.value); }

void MetricsWriter::enqueue(const Pending& p) {
    std::unique_lock<std::mutex> lk(m_mutex);
    if (m_pending.size() >= m_options.maxPending) {
        if (!m_stats.lastError.empty()) {
            // The store keeps failing: losing the newest points beats stalling the training loop.
            ++m_addedSeq;
            ++m_doneSeq;
            ++m_stats.added;
            ++m_stats.dropped;
            return;
        }
        m_wake.notify_one();
        m_progress.wait(lk, [this] { return m_pending.size() < m_options.maxPending || m_stop; });
    }
    m_pending.push_back(p);
    ++m_addedSeq;
    ++m_stats.added;
    if (m_pending.size() == m_options.maxPending / 2)
        m_wake.notify_one();
}

void MetricsWriter::watch(int64_t runId) {
    std::lock_guard<std::mutex> lk(m_mutex);
    m_watched.insert(runId);
}

void MetricsWriter::unwatch(int64_t runId) {
    std::lock_guard<std::mutex> lk(m_mutex);
    m_watched.erase(runId);
}

void MetricsWriter::flush() {
    std::unique_lock<std::mutex> lk(m_mutex);
    uint64_t target = m_addedSeq;
    uint64_t failures = m_failures;
    ++m_flushRequests;
    m_wake.notify_one();
    m_progress.wait(lk, [&] { return m_doneSeq >= target || m_failures > failures || m_stop; });
    if (m_doneSeq < target)
        throw rslora::Error("metrics writer: cannot commit metrics to the store: " + m_stats.lastError);
}

MetricsWriter::Stats MetricsWriter::stats() const {
    std::lock_guard<std::mutex> lk(m_mutex);
    return m_stats;
}

void MetricsWriter::threadMain(std::filesystem::path path) {
    std::unique_ptr<Store> store;
    try {
        Store::Options o;
        o.busyTimeout = m_options.busyTimeout;
        o.recoverInterrupted = false; // a training process is not the place to judge other runs
        store = std::make_unique<Store>(path, o);
    } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(m_mutex);
        m_openError = e.what();
        m_opened = true;
        m_progress.notify_all();
        return;
    }
    {
        std::lock_guard<std::mutex> lk(m_mutex);
        m_opened = true;
    }
    m_progress.notify_all();

    MetricsIngest ingest(store->database());
    std::vector<int64_t> keyIds;           // handle -> metric_keys.id
    std::vector<Pending> batch;
    std::vector<MetricsIngest::Point> points;
    uint64_t servedRequests = 0;
    auto nextFlush = Clock::now() + m_options.flushInterval;
    auto lastHeartbeat = Clock::time_point{};
    std::string lastLogged;
    bool locked = false;                          // the last flushes failed on a locked store
    auto lockedSince = Clock::time_point{};       // since the first of them
    auto backOff = std::chrono::milliseconds(100);

    for (;;) {
        std::vector<std::string> newNames;
        std::vector<int64_t> watched;
        bool stopping;
        {
            std::unique_lock<std::mutex> lk(m_mutex);
            m_wake.wait_until(lk, nextFlush, [&] {
                return m_stop || m_flushRequests > servedRequests || m_pending.size() >= m_options.maxPending / 2;
            });
            servedRequests = m_flushRequests;
            stopping = m_stop;
            batch.swap(m_pending);
            for (size_t i = keyIds.size(); i < m_keyNames.size(); ++i)
                newNames.push_back(m_keyNames[i]);
            watched.assign(m_watched.begin(), m_watched.end());
        }
        // Progress for add() calls that waited on a full buffer.
        m_progress.notify_all();
        auto started = Clock::now();
        nextFlush = started + m_options.flushInterval;
        size_t done = 0; // points of `batch` committed so far
        try {
            for (const std::string& name : newNames)
                keyIds.push_back(ingest.keyId(name));
            // Bounded transactions: a backlog is committed oldest first in slices, so each commit
            // stays short (other writers wait less) and progress is durable slice by slice.
            while (done < batch.size()) {
                size_t n = std::min(m_options.maxPointsPerTransaction, batch.size() - done);
                points.clear();
                for (size_t i = done; i < done + n; ++i) {
                    const Pending& p = batch[i];
                    points.push_back({p.runId, keyIds[static_cast<size_t>(p.key)], p.step, p.wallTime, p.value});
                }
                std::pair<size_t, size_t> result = ingest.insert(points, true);
                done += n;
                {
                    std::lock_guard<std::mutex> lk(m_mutex);
                    m_doneSeq += n;
                    m_stats.committed += result.first;
                    m_stats.dropped += result.second;
                }
                m_progress.notify_all();
            }
            if (!watched.empty() && (!batch.empty() || started - lastHeartbeat >= m_options.heartbeatInterval)) {
                ingest.heartbeat(watched);
                lastHeartbeat = started;
            }
            std::lock_guard<std::mutex> lk(m_mutex);
            ++m_stats.flushes;
            m_stats.lastFlushSeconds = std::chrono::duration<double>(Clock::now() - started).count();
            m_stats.lastError.clear();
            batch.clear();
            lastLogged.clear();
            locked = false;
            backOff = std::chrono::milliseconds(100);
        } catch (const std::exception& e) {
            std::string why = e.what();
            if (why != lastLogged)
                rslora::logWarning("storage: metrics flush failed (will retry): " + why);
            lastLogged = why;
            // Another connection holding the write lock (a long import, a backup) is waited out:
            // the batch is kept and retried with back-off, and flush() keeps waiting, for up to
            // busyPatience; a run is not failed over one busy flush.
            const auto* dbError = dynamic_cast<const DatabaseError*>(&e);
            const auto now = Clock::now();
            bool waitLonger = false;
            if (dbError && dbError->isBusy()) {
                if (!locked)
                    lockedSince = now;
                locked = true;
                waitLonger = now - lockedSince < m_options.busyPatience;
                if (!waitLonger)
                    why += " (the store stayed locked for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - lockedSince).count()) +
                           " s)";
            } else {
                locked = false;
            }
            if (waitLonger) {
                nextFlush = now + backOff;
                backOff = std::min(backOff * 2, std::chrono::milliseconds(2000));
            }
            std::lock_guard<std::mutex> lk(m_mutex);
            // Keep the order: the uncommitted rest goes back in front of what arrived meanwhile.
            m_pending.insert(m_pending.begin(), batch.begin() + static_cast<std::ptrdiff_t>(done), batch.end());
            batch.clear();
            m_stats.lastError = why;
            if (waitLonger)
                continue;
            ++m_failures;
            if (stopping) {
                rslora::logError("storage: " + std::to_string(m_pending.size()) +
                                 " metric points could not be stored before shutdown: " + why);
                m_stats.dropped += m_pending.size();
                m_doneSeq += m_pending.size();
                m_pending.clear();
            }
        }
        m_progress.notify_all();
        if (stopping) {
            std::lock_guard<std::mutex> lk(m_mutex);
            if (m_pending.empty())
                break;
        }
    }
}

} // namespace rslora::storage
