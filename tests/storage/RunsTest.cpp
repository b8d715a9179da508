// Runs, params, tags and queries over them; awkward names survive every round trip.
#include "common/Error.h"
#include "storage/Naming.h"
#include "storage/Store.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>
#include <functional>
#include <unistd.h>

using namespace rslora::storage;
namespace fs = std::filesystem;

namespace {

const char* kAwkward[] = {
    "plain",
    "it's \"quoted\"",
    "'; DROP TABLE runs; --",
    "slash/and\\backslash",
    "line one\nline two\r\n",
    "ünïcødé — 中文 — 😀",
    "comma, separated, \"csv\"",
    "  leading and trailing  ",
    "",
};

} // namespace

class RunsTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::unique_ptr<Store> m_store;

private slots:
    void init() {
        static int n = 0;
        m_store = std::make_unique<Store>(fs::path(m_tmp.path().toStdString()) / ("runs" + std::to_string(++n) + ".sqlite"));
    }
    void cleanup() { m_store.reset(); }

    void awkwardNamesRoundTrip_data() {
        QTest::addColumn<QString>("name");
        int i = 0;
        for (const char* s : kAwkward)
            QTest::addRow("name%d", i++) << QString::fromUtf8(s);
    }
    void awkwardNamesRoundTrip() {
        QFETCH(QString, name);
        std::string s = name.toStdString();
        RunRecord r;
        r.name = s;
        r.notes = s;
        r.baseModel = {s, "abc"};
        r.dataset = {s, ""};
        nlohmann::json config = {{s, s}, {"nested", {{s, 1}}}};
        r.configJson = config.dump();
        m_store->runs().create(r);
        m_store->runs().setTag(r.id, s, s);
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{r.id, s, 1, 2.0, 3.0}});

        RunRecord back = m_store->runs().require(r.id);
        QCOMPARE(back.name, s);
        QCOMPARE(back.notes, s);
        QCOMPARE(back.baseModel.ref, s);
        QCOMPARE(back.dataset.ref, s);
        QCOMPARE(nlohmann::json::parse(back.configJson), config);
        QCOMPARE(m_store->runs().tags(r.id).at(s), s);
        Params p = m_store->runs().params(r.id);
        QCOMPARE(p.at(s), s);
        QCOMPARE(p.at("nested." + s), std::string("1"));
        QCOMPARE(m_store->metrics().keys(r.id), std::vector<std::string>{s});
        QCOMPARE(m_store->metrics().series(r.id, s).values, std::vector<double>{3.0});
        if (!s.empty()) {
            QCOMPARE(m_store->runs().resolve(s).id, r.id);
            RunFilter f;
            f.nameContains = s;
            QCOMPARE(m_store->runs().list(f).size(), size_t(1));
        }
        // The injection attempt did nothing.
        QCOMPARE(m_store->runs().count(), int64_t(1));
    }

    void createFillsDefaults() {
        RunRecord r;
        r.name = "defaults";
        m_store->runs().create(r);
        QCOMPARE(r.uuid.size(), size_t(36));
        QVERIFY(r.createdAt > 1.6e9);
        RunRecord back = m_store->runs().require(r.id);
        QCOMPARE(back.status, RunStatus::Queued);
        QCOMPARE(back.projectId, int64_t(1));
        QVERIFY(!back.endTime);
    }

    void statusLifecycle() {
        RunRecord r;
        m_store->runs().create(r);
        m_store->runs().markStarted(r.id, "cuda:0");
        RunRecord running = m_store->runs().require(r.id);
        QCOMPARE(running.status, RunStatus::Running);
        QCOMPARE(running.pid.value_or(0), int64_t(::getpid()));
        QCOMPARE(running.host, hostName());
        QCOMPARE(running.device, std::string("cuda:0"));
        QVERIFY(running.startTime && running.heartbeat);
        m_store->runs().setStatus(r.id, RunStatus::Paused);
        QVERIFY(!m_store->runs().require(r.id).endTime);
        m_store->runs().setStatus(r.id, RunStatus::Failed, "out of memory at step 12");
        RunRecord failed = m_store->runs().require(r.id);
        QCOMPARE(failed.status, RunStatus::Failed);
        QVERIFY(failed.endTime);
        QCOMPARE(failed.errorMessage, std::string("out of memory at step 12"));
    }

    void paramsAreTheFlattenedConfig() {
        RunRecord r;
        r.configJson = R"({"lora": {"rank": 8, "alpha": 16.5, "targets": ["q_proj", "v_proj"], "init": "spectral"},
                          "seed": 3, "fp16": false, "note": null, "empty": {}})";
        m_store->runs().create(r);
        Params p = m_store->runs().params(r.id);
        QCOMPARE(p.at("lora.rank"), std::string("8"));
        QCOMPARE(p.at("lora.alpha"), std::string("16.5"));
        QCOMPARE(p.at("lora.targets"), std::string(R"(["q_proj","v_proj"])"));
        QCOMPARE(p.at("lora.init"), std::string("spectral"));
        QCOMPARE(p.at("fp16"), std::string("false"));
        QCOMPARE(p.at("note"), std::string("null"));
        QCOMPARE(p.at("empty"), std::string("{}"));
        m_store->runs().setConfig(r.id, R"({"lora": {"rank": 16}})");
        QCOMPARE(m_store->runs().params(r.id), (Params{{"lora.rank", "16"}}));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().setConfig(r.id, "{not json"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().setConfig(r.id, "[1, 2]"));
        QCOMPARE(m_store->runs().params(r.id), (Params{{"lora.rank", "16"}}));
    }

    void paramsDiffShowsOnlyDifferences() {
        RunRecord a, b, c;
        a.configJson = R"({"lr": 0.001, "rank": 8, "seed": 1, "init": "lora"})";
        b.configJson = R"({"lr": 0.001, "rank": 16, "seed": 2, "init": "lora"})";
        c.configJson = R"({"lr": 0.001, "rank": 8, "seed": 3, "init": "lora", "dpo": {"beta": 0.1}})";
        m_store->runs().create(a);
        m_store->runs().create(b);
        m_store->runs().create(c);
        auto diff = m_store->queries().paramsDiff({a.id, b.id, c.id});
        QCOMPARE(diff.size(), size_t(3));
        QCOMPARE(diff[0].key, std::string("dpo.beta"));
        QVERIFY(!diff[0].values[0] && !diff[0].values[1]);
        QCOMPARE(diff[0].values[2].value(), std::string("0.1"));
        QCOMPARE(diff[1].key, std::string("rank"));
        QCOMPARE(diff[1].values[1].value(), std::string("16"));
        QCOMPARE(diff[2].key, std::string("seed"));
        QCOMPARE(m_store->queries().paramsDiff({a.id, b.id, c.id}, true).size(), size_t(5));
        QVERIFY(m_store->queries().paramsDiff({a.id, a.id}).empty());
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->queries().paramsDiff({a.id, 999}));
    }

    void filtersByStatusTagAndProject() {
        int64_t project = m_store->runs().ensureProject("medical");
        QCOMPARE(m_store->runs().ensureProject("medical"), project);
        for (int i = 0; i < 6; ++i) {
            RunRecord r;
            r.name = "run" + std::to_string(i);
            r.projectId = i < 2 ? project : 0;
            r.status = i % 2 ? RunStatus::Finished : RunStatus::Failed;
            m_store->runs().create(r);
            if (i >= 3)
                m_store->runs().setTag(r.id, "sweep", i == 5 ? "rank" : "seed");
        }
        RunFilter f;
        f.statuses = {RunStatus::Finished};
        QCOMPARE(m_store->runs().list(f).size(), size_t(3));
        f = {};
        f.tag = std::make_pair(std::string("sweep"), std::string());
        QCOMPARE(m_store->runs().list(f).size(), size_t(3));
        f.tag->second = "rank";
        QCOMPARE(m_store->runs().list(f).size(), size_t(1));
        QCOMPARE(m_store->runs().list(f)[0].name, std::string("run5"));
        f = {};
        f.projectId = project;
        QCOMPARE(m_store->runs().list(f).size(), size_t(2));
        f = {};
        f.limit = 2;
        auto newest = m_store->runs().list(f);
        QCOMPARE(newest.size(), size_t(2));
        QCOMPARE(newest[0].name, std::string("run5"));
        f.newestFirst = false;
        f.offset = 1;
        QCOMPARE(m_store->runs().list(f)[0].name, std::string("run1"));
    }

    void resolveByIdUuidPrefixAndName() {
        RunRecord a, b;
        a.name = "same";
        b.name = "same";
        m_store->runs().create(a);
        m_store->runs().create(b);
        QCOMPARE(m_store->runs().resolve(std::to_string(a.id)).id, a.id);
        QCOMPARE(m_store->runs().resolve("#" + std::to_string(b.id)).id, b.id);
        QCOMPARE(m_store->runs().resolve(a.uuid).id, a.id);
        QCOMPARE(m_store->runs().resolve(a.uuid.substr(0, 8)).id, a.id);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().resolve("same")); // ambiguous
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().resolve("nope"));
    }

    void deleteCascadesButKeepsAdapters() {
        RunRecord r;
        r.configJson = R"({"a": 1})";
        m_store->runs().create(r);
        m_store->runs().setTag(r.id, "k", "v");
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{r.id, "loss", 0, 1, 1}, {r.id, "loss", 1, 2, 0.5}});
        ArtifactRecord art;
        art.runId = r.id;
        art.kind = "checkpoint";
        art.path = "/tmp/ckpt";
        m_store->artifacts().add(art);
        NewAdapter n;
        n.task = "t";
        n.sourceRunId = r.id;
        AdapterRecord a = m_store->adapters().create(n);
        m_store->runs().remove(r.id);
        QVERIFY(!m_store->runs().get(r.id));
        for (const char* table : {"params", "run_tags", "metrics", "latest_metrics", "artifacts"}) {
            Statement st(m_store->database(), std::string("SELECT count(*) FROM ") + table);
            QVERIFY(st.step());
            QVERIFY2(st.getInt(0) == 0, table);
        }
        QVERIFY(!m_store->adapters().require(a.id).sourceRunId);
    }

    void runsWithLatestAndBestRun() {
        double losses[] = {0.9, 0.4, 0.6};
        std::vector<int64_t> ids;
        for (double last : losses) {
            RunRecord r;
            m_store->runs().create(r);
            ids.push_back(r.id);
            m_store->metricsIngest().insert(std::vector<MetricPoint>{
                {r.id, "loss", 0, 1, 2.0}, {r.id, "loss", 10, 2, last}, {r.id, "loss", 5, 3, 0.05 * r.id},
                {r.id, "acc", 10, 2, 1 - last}});
        }
        auto rows = m_store->queries().runsWithLatest({}, {"loss"});
        QCOMPARE(rows.size(), size_t(3));
        for (const auto& row : rows) {
            QCOMPARE(row.latest.size(), size_t(1));
            const LatestMetric* m = row.metric("loss");
            QVERIFY(m);
            QCOMPARE(m->step, int64_t(10)); // the point with the highest step wins, not the last inserted
            QCOMPARE(m->count, int64_t(3));
            QCOMPARE(m->maxValue, 2.0);
            QCOMPARE(m->minValue, std::min(0.05 * row.run.id, losses[row.run.id - ids[0]]));
        }
        auto best = m_store->queries().bestRuns("loss", false, MetricAggregate::Last);
        QCOMPARE(best.size(), size_t(1));
        QCOMPARE(best[0].run.id, ids[1]);
        QCOMPARE(best[0].value, 0.4);
        auto bestAcc = m_store->queries().bestRuns("acc", true, MetricAggregate::Max, {}, 3);
        QCOMPARE(bestAcc.size(), size_t(3));
        QCOMPARE(bestAcc[0].run.id, ids[1]);
        auto bestMin = m_store->queries().bestRuns("loss", false, MetricAggregate::Min);
        QCOMPARE(bestMin[0].run.id, ids[0]); // 0.05 * id is smallest for the first run
    }

    void interruptedRunOfDeadProcessIsMarkedOnOpen() {
        fs::path p = m_store->path();
        RunRecord r;
        r.status = RunStatus::Running;
        r.host = hostName();
        r.pid = 999999999; // no such process
        r.heartbeat = nowSeconds() - 5;
        r.lastStep = 40;
        m_store->runs().create(r);
        m_store->metricsIngest().insert(std::vector<MetricPoint>{{r.id, "loss", 41, 1, 1}});
        RunRecord alive;
        alive.status = RunStatus::Running;
        alive.host = hostName();
        alive.pid = ::getpid();
        alive.heartbeat = nowSeconds();
        m_store->runs().create(alive);
        RunRecord remote;
        remote.status = RunStatus::Paused;
        remote.host = "some-other-host";
        remote.pid = 1;
        remote.heartbeat = nowSeconds() - 3600;
        m_store->runs().create(remote);
        m_store.reset();

        m_store = std::make_unique<Store>(p);
        QCOMPARE(m_store->recoveredRuns(), (std::vector<int64_t>{r.id, remote.id}));
        RunRecord back = m_store->runs().require(r.id);
        QCOMPARE(back.status, RunStatus::Interrupted);
        QCOMPARE(back.lastStep.value_or(-1), int64_t(41));
        QVERIFY(back.endTime);
        QVERIFY2(back.errorMessage.find("last step 41") != std::string::npos, back.errorMessage.c_str());
        QCOMPARE(m_store->runs().require(alive.id).status, RunStatus::Running);
        QCOMPARE(m_store->runs().require(remote.id).status, RunStatus::Interrupted);
    }

    // Runs queued in a workbench that died before starting them are marked interrupted ("not
    // started") on the next open; runs queued by a live process, or by another host (whose pid
    // cannot be checked and which sends no heartbeat while waiting), stay queued.
    void queuedRunOfDeadProcessIsMarkedNotStarted() {
        fs::path p = m_store->path();
        RunRecord orphan;
        orphan.status = RunStatus::Queued;
        orphan.host = hostName();
        orphan.pid = 999999999; // no such process
        orphan.heartbeat = nowSeconds() - 5;
        m_store->runs().create(orphan);
        RunRecord mine;
        m_store->runs().create(mine);
        m_store->runs().markQueued(mine.id);
        QCOMPARE(m_store->runs().require(mine.id).pid.value_or(0), int64_t(::getpid()));
        RunRecord remote;
        remote.status = RunStatus::Queued;
        remote.host = "some-other-host";
        remote.pid = 1;
        remote.heartbeat = nowSeconds() - 3600;
        m_store->runs().create(remote);
        m_store.reset();

        m_store = std::make_unique<Store>(p);
        QCOMPARE(m_store->recoveredRuns(), (std::vector<int64_t>{orphan.id}));
        const RunRecord back = m_store->runs().require(orphan.id);
        QCOMPARE(back.status, RunStatus::Interrupted);
        // Said of whatever queued it (a workbench, or `rslora sweep` on the command line).
        QCOMPARE(back.errorMessage, "not started: it was queued and its process 999999999 on " + hostName() + " is gone");
        QCOMPARE(m_store->runs().require(mine.id).status, RunStatus::Queued);
        QCOMPARE(m_store->runs().require(remote.id).status, RunStatus::Queued);
    }

    // Issue: `train --run-id N` / `--resume latest` / the workbench's Resume took over a run another
    // process was still training (and deleting it threw its result away). A run held by a live
    // process is refused, naming the run and the process, and its row is left exactly as it was.
    void runsOfLiveProcessesAreNotTakenOverOrDeleted_data() {
        QTest::addColumn<QString>("status");
        QTest::addRow("running") << "running";
        QTest::addRow("paused") << "paused";
        QTest::addRow("queued") << "queued";
    }
    void runsOfLiveProcessesAreNotTakenOverOrDeleted() {
        QFETCH(QString, status);
        QProcess owner;
        owner.start("sleep", {"60"});
        QVERIFY(owner.waitForStarted());
        const int64_t pid = owner.processId();
        RunRecord r;
        r.name = "held";
        r.status = runStatusFromString(status.toStdString());
        r.host = hostName();
        r.pid = pid;
        r.heartbeat = nowSeconds() + 1; // after the process started: not a reused pid
        m_store->runs().create(r);
        const RunRecord before = m_store->runs().require(r.id);
        const std::string expected = "is " + status.toStdString() + (status == "queued" ? " by" : " in") + " process " +
                                     std::to_string(pid) + " on " + hostName();
        auto refused = [&](const std::function<void()>& f, const char* doing) {
            try {
                f();
            } catch (const rslora::Error& e) {
                const std::string m = e.what();
                return m.find("run #" + std::to_string(r.id) + " (\"held\") " + expected) != std::string::npos &&
                       m.find(doing) != std::string::npos;
            }
            return false;
        };
        QVERIFY(refused([&] { m_store->runs().markStarted(r.id, "cpu"); }, "starting it now would take it from that process"));
        QVERIFY(refused([&] { m_store->runs().markQueued(r.id); }, "queueing it"));
        QVERIFY(refused([&] { m_store->runs().remove(r.id); }, "deleting it"));
        const RunRecord after = m_store->runs().require(r.id);
        QCOMPARE(after.status, before.status);
        QCOMPARE(after.pid, before.pid);
        QCOMPARE(after.heartbeat, before.heartbeat);
        QCOMPARE(after.device, before.device);
        QVERIFY(!after.endTime);

        // Once the owner is gone, the run is anyone's to continue or delete.
        owner.kill();
        QVERIFY(owner.waitForFinished());
        m_store->runs().markStarted(r.id, "cpu");
        QCOMPARE(m_store->runs().require(r.id).pid.value_or(0), int64_t(::getpid()));
    }

    // This process's own running run is not started or queued a second time; the run it queued
    // itself it starts.
    void ownRunningRunIsNotClaimedAgain() {
        RunRecord r;
        m_store->runs().create(r);
        m_store->runs().markQueued(r.id);
        m_store->runs().markStarted(r.id);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().markStarted(r.id));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().markQueued(r.id));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().remove(r.id));
        m_store->runs().setStatus(r.id, RunStatus::Stopped);
        m_store->runs().remove(r.id);
        QVERIFY(!m_store->runs().get(r.id));
    }

    // Issue: `--run-id` on a finished run trained it again in place.
    void finishedRunIsNotStartedAgain() {
        RunRecord r;
        r.name = "done";
        m_store->runs().create(r);
        m_store->runs().markStarted(r.id);
        m_store->runs().setStatus(r.id, RunStatus::Finished);
        const RunRecord before = m_store->runs().require(r.id);
        try {
            m_store->runs().markStarted(r.id);
            QFAIL("a finished run was started again");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("has finished") != std::string::npos, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(rslora::Error, m_store->runs().markQueued(r.id));
        const RunRecord after = m_store->runs().require(r.id);
        QCOMPARE(after.status, RunStatus::Finished);
        QCOMPARE(after.endTime, before.endTime);
    }

    // Issue: a resumed run that finished kept the error text of the attempt before.
    void startingAgainClearsTheEarlierError() {
        RunRecord r;
        m_store->runs().create(r);
        m_store->runs().markStarted(r.id);
        m_store->runs().setStatus(r.id, RunStatus::Failed, "out of memory at step 12");
        m_store->runs().markStarted(r.id);
        RunRecord again = m_store->runs().require(r.id);
        QCOMPARE(again.errorMessage, std::string());
        QVERIFY(!again.endTime);
        m_store->runs().setStatus(r.id, RunStatus::Finished);
        QCOMPARE(m_store->runs().require(r.id).errorMessage, std::string());
    }
};

QTEST_GUILESS_MAIN(RunsTest)
#include "RunsTest.moc"
