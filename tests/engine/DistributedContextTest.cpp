// torchrun's variables read into a DistributedContext (defaults, bad values named), and the
// sharding of a global micro-batch over the ranks.
#include "engine/distributed/BatchShard.h"
#include "engine/distributed/DistributedContext.h"
#include "engine/distributed/ProcessGroup.h"

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>

using namespace rslora::engine::distributed;

class DistributedContextTest : public QObject {
    Q_OBJECT

    static QString errorOf(const std::map<std::string, std::string>& env)
    {
        try {
            DistributedContext::fromVariables(env);
        } catch (const std::exception& e) {
            return QString::fromStdString(e.what());
        }
        return {};
    }

private slots:
    void defaultsAreOneProcess()
    {
        const auto c = DistributedContext::fromVariables({});
        QCOMPARE(c.worldSize, 1);
        QCOMPARE(c.rank, 0);
        QVERIFY(!c.distributed());
        QCOMPARE(c.timeoutSeconds, kDefaultTimeoutSeconds);
    }

    void torchrunVariables()
    {
        const auto c = DistributedContext::fromVariables({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                                          {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "node0"},
                                                          {"MASTER_PORT", "29400"}, {"RSLORA_COLLECTIVE_TIMEOUT", "30"}});
        QCOMPARE(c.rank, 3);
        QCOMPARE(c.worldSize, 4);
        QCOMPARE(c.localRank, 1);
        QVERIFY(!c.singleNode());
        QCOMPARE(c.masterAddr, std::string("node0"));
        QCOMPARE(c.masterPort, 29400);
        QCOMPARE(c.timeoutSeconds, 30);
        QCOMPARE(c.describe(), std::string("rank 3 of 4"));
        // Without LOCAL_WORLD_SIZE every rank is on this machine when the master is.
        QVERIFY(DistributedContext::fromVariables({{"RANK", "1"}, {"WORLD_SIZE", "2"}}).singleNode());
        QVERIFY(DistributedContext::fromVariables({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "localhost"}}).singleNode());
        QVERIFY(DistributedContext::fromVariables({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.1.1"}}).singleNode());
        // A launcher that sets only RANK, WORLD_SIZE and a remote MASTER_ADDR: the ranks may be on
        // several machines, so Gloo must not be bound to the loopback interface.
        QVERIFY(!DistributedContext::fromVariables({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "10.0.0.7"}}).singleNode());
        QVERIFY(DistributedContext::fromVariables({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"},
                                                   {"MASTER_ADDR", "node0"}}).singleNode());
    }

    // Variables that contradict each other are refused, naming them (and a WORLD_SIZE left unset).
    void inconsistentVariablesAreNamed()
    {
        QCOMPARE(errorOf({{"RANK", "1"}}), QString("RANK=1 is not below WORLD_SIZE=1 (WORLD_SIZE is not set)"));
        QCOMPARE(errorOf({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_WORLD_SIZE", "4"}}),
                 QString("LOCAL_WORLD_SIZE=4 is larger than WORLD_SIZE=2"));
        QCOMPARE(errorOf({{"LOCAL_WORLD_SIZE", "2"}}), QString("LOCAL_WORLD_SIZE=2 is larger than WORLD_SIZE=1 (WORLD_SIZE is not set)"));
        QCOMPARE(errorOf({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}}),
                 QString("LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2"));
    }

    // Each rank of a job trains on its LOCAL_RANK's GPU when the config says only "cuda".
    void rankDeviceFollowsTheLocalRank()
    {
        const auto c = DistributedContext::fromVariables({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}});
        QCOMPARE(c.rankDevice("cuda"), std::string("cuda:1"));
        QCOMPARE(c.rankDevice("cuda:0"), std::string("cuda:0")); // an explicit index is the user's choice
        QCOMPARE(c.rankDevice("cpu"), std::string("cpu"));
        const auto single = DistributedContext::fromVariables({});
        QCOMPARE(single.rankDevice("cuda"), std::string("cuda")); // not data-parallel: unchanged
    }

    void badValuesAreNamed_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("rank not a number") << "RANK" << "one" << "environment variable RANK='one' is not an integer >= 0";
        QTest::newRow("negative world") << "WORLD_SIZE" << "-2" << "environment variable WORLD_SIZE='-2' is not an integer >= 1";
        QTest::newRow("rank beyond world") << "RANK" << "2" << "RANK=2 is not below WORLD_SIZE=2";
        QTest::newRow("port too large") << "MASTER_PORT" << "70000" << "MASTER_PORT=70000 is not a TCP port";
        QTest::newRow("timeout zero") << "RSLORA_COLLECTIVE_TIMEOUT" << "0"
                                      << "environment variable RSLORA_COLLECTIVE_TIMEOUT='0' is not an integer >= 1";
    }
    void badValuesAreNamed()
    {
        QFETCH(QString, name);
        QFETCH(QString, value);
        QFETCH(QString, message);
        std::map<std::string, std::string> env{{"WORLD_SIZE", "2"}, {"RANK", "0"}};
        env[name.toStdString()] = value.toStdString();
        const QString err = errorOf(env);
        QVERIFY2(err.contains(message), qPrintable(err));
    }

    // A store file in a folder that does not exist is named at once (c10d opens it only at the
    // rendezvous, and its error read like a rank that did not arrive), before any waiting.
    void storeFileInAMissingFolderIsNamed()
    {
        DistributedContext c;
        c.worldSize = 2;
        c.localWorldSize = 2;
        c.timeoutSeconds = 60;
        c.storeFile = "/nonexistent-rslora-folder/store";
        QElapsedTimer clock;
        clock.start();
        QString err;
        try {
            ProcessGroup group(c);
        } catch (const std::exception& e) {
            err = QString::fromStdString(e.what());
        }
        QVERIFY2(err.contains("RSLORA_STORE_FILE=/nonexistent-rslora-folder/store: the folder /nonexistent-rslora-folder does not exist"),
                 qPrintable(err));
        // At once: well before the 60 s timeout a rendezvous would wait, however loaded the machine.
        QVERIFY2(clock.elapsed() < 30000, qPrintable(QString("took %1 ms").arg(clock.elapsed())));
        QTemporaryDir dir;
        c.storeFile = dir.path().toStdString();
        err.clear();
        try {
            ProcessGroup group(c);
        } catch (const std::exception& e) {
            err = QString::fromStdString(e.what());
        }
        QVERIFY2(err.contains(" is a folder: the rendezvous needs a file name"), qPrintable(err));
    }

    void shardsCoverTheBatchInOrder()
    {
        const std::vector<size_t> batch{10, 11, 12, 13, 14, 15, 16};
        std::vector<size_t> joined;
        for (int r = 0; r < 3; ++r) {
            const auto part = shardRows(batch, r, 3);
            QVERIFY(part.size() == 2 || part.size() == 3);
            joined.insert(joined.end(), part.begin(), part.end());
        }
        QCOMPARE(joined, batch);
        QCOMPARE(shardRows(batch, 1, 2), (std::vector<size_t>{13, 14, 15, 16}));
        QCOMPARE(shardRows(batch, 0, 1), batch);
    }
};

QTEST_GUILESS_MAIN(DistributedContextTest)
#include "DistributedContextTest.moc"
