// Metrics: NaN and Inf stored faithfully, latest values and extremes, ranged and downsampled
// series that keep extremes, and the buffered MetricsWriter.
#include "common/Error.h"
#include "storage/Database.h"
#include "storage/MetricsWriter.h"
#include "storage/Store.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <limits>
#include <fstream>
#include <random>
#include <thread>

using namespace rslora::storage;
namespace fs = std::filesystem;

namespace {
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

bool sameValue(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

MetricSeries makeSeries(const std::vector<double>& values) {
    MetricSeries s;
    for (size_t i = 0; i < values.size(); ++i) {
        s.steps.push_back(static_cast<int64_t>(i));
        s.wallTimes.push_back(1000.0 + i);
        s.values.push_back(values[i]);
    }
    s.totalPoints = static_cast<int64_t>(values.size());
    return s;
}
} // namespace

class MetricsTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path m_path;
    std::unique_ptr<Store> m_store;
    int64_t m_run = 0;

private slots:
    void init() {
        static int n = 0;
        m_path = fs::path(m_tmp.path().toStdString()) / ("metrics" + std::to_string(++n) + ".sqlite");
        m_store = std::make_unique<Store>(m_path);
        RunRecord r;
        m_run = m_store->runs().create(r);
    }
    void cleanup() { m_store.reset(); }

    void specialValuesRoundTrip() {
        std::vector<double> values = {1.5, kNaN, kInf, -kInf, -0.0, 1e-310, std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::lowest(), 0.1 + 0.2};
        std::vector<MetricPoint> pts;
        for (size_t i = 0; i < values.size(); ++i)
            pts.push_back({m_run, "v", static_cast<int64_t>(i), 1.7e9 + i * 0.125, values[i]});
        m_store->metricsIngest().insert(pts);
        m_store.reset();
        m_store = std::make_unique<Store>(m_path); // from disk, not a cache
        MetricSeries s = m_store->metrics().series(m_run, "v");
        QCOMPARE(s.size(), values.size());
        for (size_t i = 0; i < values.size(); ++i) {
            QVERIFY2(sameValue(s.values[i], values[i]), qPrintable(QString("index %1").arg(i)));
            QCOMPARE(s.wallTimes[i], 1.7e9 + i * 0.125);
        }
        QVERIFY(std::signbit(s.values[4])); // -0.0 keeps its sign
        auto latest = m_store->metrics().latest(m_run, "v");
        QVERIFY(latest);
        QCOMPARE(latest->value, 0.1 + 0.2);
        QCOMPARE(latest->maxValue, kInf);   // extremes of the non-NaN values
        QCOMPARE(latest->minValue, -kInf);
        QCOMPARE(latest->count, int64_t(values.size()));
    }

    void latestOfAllNaNSeriesIsNaN() {
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{m_run, "bad", 0, 1, kNaN}, {m_run, "bad", 1, 2, kNaN}});
        auto l = m_store->metrics().latest(m_run, "bad");
        QVERIFY(l && std::isnan(l->value) && std::isnan(l->minValue) && std::isnan(l->maxValue));
        // Later finite values start the extremes.
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{m_run, "bad", 2, 3, 4.0}});
        l = m_store->metrics().latest(m_run, "bad");
        QCOMPARE(l->minValue, 4.0);
        QCOMPARE(l->maxValue, 4.0);
        QCOMPARE(l->step, int64_t(2));
    }

    void seriesRangeAndOrder() {
        std::vector<MetricPoint> pts;
        for (int i = 99; i >= 0; --i) // inserted backwards
            pts.push_back({m_run, "loss", i, 1.0 * i, 100.0 - i});
        pts.push_back({m_run, "loss", 50, 1000.0, -1}); // a resumed run repeats step 50 later
        m_store->metricsIngest().insert(pts);
        MetricSeries all = m_store->metrics().series(m_run, "loss");
        QCOMPARE(all.size(), size_t(101));
        QVERIFY(std::is_sorted(all.steps.begin(), all.steps.end()));
        QCOMPARE(all.values[51], -1.0);
        SeriesQuery q;
        q.minStep = 10;
        q.maxStep = 19;
        MetricSeries part = m_store->metrics().series(m_run, "loss", q);
        QCOMPARE(part.size(), size_t(10));
        QCOMPARE(part.steps.front(), int64_t(10));
        QCOMPARE(part.steps.back(), int64_t(19));
        QVERIFY(m_store->metrics().series(m_run, "unknown").steps.empty());
        // Re-inserting the same (step, wall time) replaces the value, it does not duplicate.
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{m_run, "loss", 10, 10.0, 7.0}});
        QCOMPARE(m_store->metrics().series(m_run, "loss", q).values[0], 7.0);
        QCOMPARE(m_store->metrics().series(m_run, "loss", q).size(), size_t(10));
    }

    void downsamplingKeepsExtremes_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("maxPoints");
        QTest::addColumn<bool>("withNaN");
        QTest::newRow("1e5 to 1000") << 100000 << 1000 << false;
        QTest::newRow("1e5 to 1000, NaNs") << 100000 << 1000 << true;
        QTest::newRow("10007 to 7") << 10007 << 7 << false;
        QTest::newRow("fits") << 500 << 1000 << false;
    }
    void downsamplingKeepsExtremes() {
        QFETCH(int, n);
        QFETCH(int, maxPoints);
        QFETCH(bool, withNaN);
        std::mt19937 rng(7);
        std::normal_distribution<double> noise(0, 1);
        std::vector<double> v(n);
        for (int i = 0; i < n; ++i)
            v[i] = std::exp(-i / 20000.0) + 0.1 * noise(rng);
        v[n / 3] = 50;       // a spike
        v[2 * n / 3] = -50;  // a dip
        if (withNaN)
            v[n / 2] = kNaN;
        MetricSeries in = makeSeries(v);
        MetricSeries out = downsampleMinMax(in, static_cast<size_t>(maxPoints));
        QVERIFY(out.size() <= static_cast<size_t>(std::max(maxPoints, 4)));
        if (n <= maxPoints) {
            QCOMPARE(out.size(), in.size());
            return;
        }
        QVERIFY(std::is_sorted(out.steps.begin(), out.steps.end()));
        QCOMPARE(out.steps.front(), int64_t(0));
        QCOMPARE(out.steps.back(), int64_t(n - 1));
        QCOMPARE(out.totalPoints, int64_t(n));
        double mx = -kInf, mn = kInf;
        bool sawNaN = false;
        for (double x : out.values) {
            if (std::isnan(x))
                sawNaN = true;
            else {
                mx = std::max(mx, x);
                mn = std::min(mn, x);
            }
        }
        QCOMPARE(mx, 50.0);
        QCOMPARE(mn, -50.0);
        QCOMPARE(sawNaN, withNaN);
        // Every kept point is a real point of the input.
        for (size_t i = 0; i < out.size(); ++i)
            QVERIFY(sameValue(out.values[i], v[static_cast<size_t>(out.steps[i])]));
        // The envelope survives: every input point has, within one bucket's width of steps, a kept
        // point at least as high and one at least as low.
        const int64_t width = 3 * int64_t(n) / (maxPoints - 2) + 2;
        for (size_t i = 0; i < v.size(); i += 7) {
            if (std::isnan(v[i]))
                continue;
            auto lo = std::lower_bound(out.steps.begin(), out.steps.end(), int64_t(i) - width) - out.steps.begin();
            bool above = false, below = false;
            for (size_t j = size_t(lo); j < out.size() && out.steps[j] <= int64_t(i) + width; ++j) {
                above = above || out.values[j] >= v[i];
                below = below || out.values[j] <= v[i];
            }
            QVERIFY2(above && below, qPrintable(QString("point %1 is outside the kept envelope").arg(i)));
        }
    }

    void storedSeriesDownsamplesOnRequest() {
        std::vector<MetricPoint> pts;
        for (int i = 0; i < 20000; ++i)
            pts.push_back({m_run, "loss", i, 1.0 * i, i == 12345 ? 99.0 : std::sin(i * 0.01)});
        m_store->metricsIngest().insert(pts);
        SeriesQuery q;
        q.maxPoints = 400;
        MetricSeries s = m_store->metrics().series(m_run, "loss", q);
        QVERIFY(s.size() <= 400 && s.size() > 100);
        QCOMPARE(s.totalPoints, int64_t(20000));
        QCOMPARE(*std::max_element(s.values.begin(), s.values.end()), 99.0);
    }

    void writerFlushesAndHeartbeats() {
        m_store->runs().markStarted(m_run);
        double hb0 = m_store->runs().require(m_run).heartbeat.value();
        MetricsWriter::Options o;
        o.flushInterval = std::chrono::milliseconds(50);
        MetricsWriter w(m_path, o);
        int key = w.keyHandle("train/loss");
        for (int i = 0; i < 10000; ++i)
            w.add(m_run, key, i, 1.7e9 + i, i % 1000 == 0 ? kNaN : 1.0 / (i + 1));
        w.add(m_run, "grad/A", 3, 1.0);
        w.flush();
        auto stats = w.stats();
        QCOMPARE(stats.added, uint64_t(10001));
        QCOMPARE(stats.committed, uint64_t(10001));
        QVERIFY(stats.lastError.empty());
        MetricSeries s = m_store->metrics().series(m_run, "train/loss");
        QCOMPARE(s.size(), size_t(10000));
        QVERIFY(std::isnan(s.values[0]) && std::isnan(s.values[5000]));
        QCOMPARE(s.values[9999], 1.0 / 10000);
        RunRecord r = m_store->runs().require(m_run);
        QCOMPARE(r.lastStep.value_or(-1), int64_t(9999));
        QVERIFY(r.heartbeat.value() >= hb0);
    }

    void writerFlushesWithinTheIntervalWithoutBeingAsked() {
        MetricsWriter::Options o;
        o.flushInterval = std::chrono::milliseconds(100);
        MetricsWriter w(m_path, o);
        w.add(m_run, "loss", 0, 1.0);
        // No flush() call: the background thread commits on its own.
        QTRY_COMPARE_WITH_TIMEOUT(m_store->metrics().count(m_run), int64_t(1), 5000);
    }

    void writerDropsPointsOfDeletedRuns() {
        RunRecord other;
        m_store->runs().create(other);
        MetricsWriter w(m_path);
        w.add(other.id, "loss", 0, 1, 1);
        w.flush();
        m_store->runs().remove(other.id);
        w.add(other.id, "loss", 1, 2, 1);
        w.add(m_run, "loss", 1, 2, 1);
        w.flush(); // no failure, no endless retry
        QCOMPARE(w.stats().dropped, uint64_t(1));
        QCOMPARE(m_store->metrics().count(m_run), int64_t(1));
    }

    // Issue: one flush that found the store locked past the busy timeout (another connection holding
    // BEGIN IMMEDIATE, e.g. a long import) failed the training run. The writer keeps the points and
    // retries; flush() returns once the lock is gone, and reports only a lock held past busyPatience.
    void writerWaitsOutALockedStore() {
        MetricsWriter::Options o;
        o.busyTimeout = std::chrono::milliseconds(100);
        o.flushInterval = std::chrono::milliseconds(50);
        MetricsWriter w(m_path, o);
        Database other(m_path);
        other.configure();
        other.exec("BEGIN IMMEDIATE");
        w.add(m_run, "loss", 1, 1.7e9, 0.5);
        w.add(m_run, "loss", 2, 1.7e9 + 1, 0.25);
        std::thread release([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(1200)); // a dozen busy timeouts
            other.exec("COMMIT");
        });
        w.flush();
        release.join();
        QCOMPARE(m_store->metrics().count(m_run), int64_t(2));
        QCOMPARE(w.stats().dropped, uint64_t(0));
        // Cleared by the writer thread once the rest of that flush (the heartbeat) is done too.
        QTRY_COMPARE_WITH_TIMEOUT(w.stats().lastError, std::string(), 5000);

        // Held longer than the writer's patience: flush() says so, the points stay buffered and are
        // committed once the store is free again.
        o.busyPatience = std::chrono::milliseconds(300);
        MetricsWriter impatient(m_path, o);
        other.exec("BEGIN IMMEDIATE");
        impatient.add(m_run, "loss", 3, 1.7e9 + 2, 0.125);
        try {
            impatient.flush();
            QFAIL("a flush on a store locked past busyPatience succeeded");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("the store stayed locked for") != std::string::npos, e.what());
        }
        other.exec("COMMIT");
        impatient.flush();
        QCOMPARE(m_store->metrics().count(m_run), int64_t(3));
    }

    void writerOnForeignFileThrows() {
        fs::path p = fs::path(m_tmp.path().toStdString()) / "not-a-store.txt";
        std::ofstream(p) << "hello";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, MetricsWriter w(p));
    }
};

QTEST_GUILESS_MAIN(MetricsTest)
#include "MetricsTest.moc"
