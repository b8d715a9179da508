// Run groups (sweeps) in the store: members in order, resolving by id and name, the results query
// (latest metrics overlaid by the newest adapter's evaluations), and deleting a whole group.
#include "common/Error.h"
#include "storage/Migrations.h"
#include "storage/Store.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace rslora::storage;

class GroupsTest : public QObject {
    Q_OBJECT
private slots:
    void groupRoundTripAndResults()
    {
        QTemporaryDir dir;
        Store store(dir.filePath("s.sqlite").toStdString());
        QCOMPARE(store.schemaVersion(), 5);
        RunGroupRecord g;
        g.name = "rank sweep";
        g.specJson = R"({"axes":[["adapter.r",[4,8]]],"seeds":2})";
        g.configJson = R"({"adapter":{"r":8}})";
        g.configPath = "c.yaml";
        const int64_t gid = store.groups().create(g);
        QVERIFY(gid > 0 && !g.uuid.empty());
        std::vector<int64_t> runIds;
        for (int pos = 0; pos < 4; ++pos) {
            RunRecord run;
            run.name = "run " + std::to_string(pos);
            run.configJson = R"({"adapter":{"r":)" + std::to_string(pos % 2 ? 8 : 4) + "}}";
            runIds.push_back(store.runs().create(run));
            RunGroupMember m;
            m.groupId = gid;
            m.position = pos;
            m.runId = runIds.back();
            m.combinationIndex = pos % 2;
            m.combinationJson = R"([["adapter.r",)" + std::to_string(pos % 2 ? 8 : 4) + "]]";
            m.seedIndex = pos / 2;
            store.groups().addMember(m);
        }
        // A run joins one group only.
        RunGroupMember again;
        again.groupId = gid;
        again.position = 9;
        again.runId = runIds[0];
        QVERIFY_THROWS_EXCEPTION(rslora::Error, store.groups().addMember(again));

        const auto members = store.groups().members(gid);
        QCOMPARE(int(members.size()), 4);
        QCOMPARE(members[3].runId, runIds[3]);
        QCOMPARE(members[3].combinationIndex, 1);
        QCOMPARE(members[3].seedIndex, 1);
        QCOMPARE(members[2].combinationJson, std::string(R"([["adapter.r",4]])"));
        QCOMPARE(store.groups().memberOf(runIds[1])->position, 1);
        QCOMPARE(store.groups().resolve("rank sweep").id, gid);
        QCOMPARE(store.groups().resolve("#" + std::to_string(gid)).configPath, std::string("c.yaml"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, store.groups().resolve("nope"));

        // Run 1: a train loss series, an eval loss series, and an adapter with two evaluations (one of
        // them eval/loss: the stored evaluation wins over the series' last value).
        store.metricsIngest().insert(std::vector<MetricPoint>{{runIds[1], "train/loss", 1, 1.0, 2.0},
                                                              {runIds[1], "train/loss", 2, 2.0, 1.5},
                                                              {runIds[1], "eval/loss", 2, 2.0, 1.9}});
        NewAdapter older;
        older.task = "t";
        older.sourceRunId = runIds[1];
        const AdapterRecord a1 = store.adapters().create(older);
        NewAdapter newer = older;
        const AdapterRecord a2 = store.adapters().create(newer);
        EvaluationRecord e;
        e.adapterId = a1.id;
        e.runId = runIds[1]; // recorded by the member run itself
        e.dataset = "mc.csv";
        e.metric = "mc/accuracy";
        e.value = 0.25;
        store.evaluations().record(e);
        e.adapterId = a2.id;
        e.value = 0.5;
        store.evaluations().record(e);
        e.metric = "eval/loss";
        e.value = 1.8;
        store.evaluations().record(e);
        // Recorded by anything else (rslora eval --record on another file): not the group's number.
        e.runId.reset();
        e.dataset = "other.csv";
        e.metric = "mc/accuracy";
        e.value = 0.99;
        store.evaluations().record(e);
        const auto results = store.queries().groupResults(gid);
        QCOMPARE(int(results.size()), 4);
        QCOMPARE(results[1].values.at("train/loss"), 1.5);
        QCOMPARE(results[1].values.at("mc/accuracy"), 0.5);
        QCOMPARE(results[1].values.at("eval/loss"), 1.8);
        QVERIFY(results[0].values.empty());
        QCOMPARE(results[2].run.name, std::string("run 2"));

        // A second group survives the first one's deletion.
        RunGroupRecord other;
        other.name = "other";
        const int64_t gid2 = store.groups().create(other);
        RunRecord lone;
        lone.name = "lone";
        const int64_t loneId = store.runs().create(lone);
        store.groups().addMember({gid2, 0, loneId, 0, "[]", 0});

        QCOMPARE(store.groups().remove(gid), 4);
        QVERIFY(!store.groups().get(gid));
        for (int64_t id : runIds)
            QVERIFY(!store.runs().get(id));
        QCOMPARE(store.adapters().get(a2.id)->sourceRunId, std::optional<int64_t>());
        QCOMPARE(int(store.groups().list().size()), 1);
        QCOMPARE(int(store.groups().members(gid2).size()), 1);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, store.groups().remove(gid));
        // Deleting a member run alone leaves the group without it.
        store.runs().remove(loneId);
        QVERIFY(store.groups().members(gid2).empty());
        QCOMPARE(store.integrityCheck(), std::string("ok"));
    }
};

QTEST_GUILESS_MAIN(GroupsTest)
#include "GroupsTest.moc"
