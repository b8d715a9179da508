// Schema, migrations and the open sequence: fresh files, upgrades, refusal of newer, foreign and
// damaged files without touching them, RAII transactions.
#include "common/AtomicFile.h"
#include "common/Sha256.h"
#include "storage/Migrations.h"
#include "storage/Store.h"
#include "storage/Transaction.h"
#include "StoreDamage.h"

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <linux/capability.h>
#include <sqlite3.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace rslora::storage;
namespace fs = std::filesystem;

namespace {

void writeBytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
}

// Runs SQL on a raw connection, bypassing the store (to build odd files).
void rawExec(const fs::path& p, const std::string& sql) {
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open(p.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    QVERIFY2(rc == SQLITE_OK, err ? err : "");
    sqlite3_close(db);
}

// While it lives, this process (when root) lacks the capabilities that let it write files and folders
// regardless of their permission bits, as any other user does. They stay permitted, so they return.
class WithoutFileOverride {
public:
    WithoutFileOverride() {
        if (::syscall(SYS_capget, &m_header, m_saved) != 0)
            return;
        __user_cap_data_struct reduced[2] = {m_saved[0], m_saved[1]};
        reduced[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER));
        m_changed = ::syscall(SYS_capset, &m_header, reduced) == 0;
    }
    ~WithoutFileOverride() {
        if (m_changed)
            ::syscall(SYS_capset, &m_header, m_saved);
    }
    WithoutFileOverride(const WithoutFileOverride&) = delete;
    WithoutFileOverride& operator=(const WithoutFileOverride&) = delete;

private:
    __user_cap_header_struct m_header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct m_saved[2]{};
    bool m_changed = false;
};

std::string openError(const fs::path& p) {
    try {
        Store s(p);
    } catch (const rslora::Error& e) {
        return e.fullMessage();
    }
    return {};
}

} // namespace

class DatabaseTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path file(const char* name) { return fs::path(m_tmp.path().toStdString()) / name; }

private slots:
    void freshStoreHasLatestSchemaAndPragmas() {
        Store s(file("fresh.sqlite"));
        QCOMPARE(s.schemaVersion(), latestSchemaVersion());
        QCOMPARE(s.database().pragmaInt("application_id"), kApplicationId);
        QCOMPARE(s.database().pragmaInt("foreign_keys"), int64_t(1));
        Statement jm(s.database(), "PRAGMA journal_mode");
        QVERIFY(jm.step());
        QCOMPARE(QString::fromStdString(jm.getText(0)), QString("wal"));
        QCOMPARE(QString::fromStdString(s.integrityCheck()), QString("ok"));
        QCOMPARE(s.runs().projects().size(), size_t(1));
    }

    void createsMissingFolders() {
        fs::path p = file("a/b/c/store.sqlite");
        Store s(p);
        QVERIFY(fs::exists(p));
        QCOMPARE(s.adapterRoot(), p.parent_path() / "adapters");
    }

    void migratesOlderStoreKeepingData() {
        fs::path p = file("v1.sqlite");
        int64_t runId = 0;
        {
            Database db(p);
            Migrations::checkIdentity(db);
            db.configure();
            Migrations::migrate(db, 1);
            QCOMPARE(Migrations::version(db), 1);
            RunRepository runs(db);
            RunRecord r;
            r.name = "made at v1";
            runId = runs.create(r);
            // Version 1 has no adapters table.
            QVERIFY_THROWS_EXCEPTION(rslora::Error, Statement(db, "SELECT * FROM adapters"));
        }
        Store s(p);
        QCOMPARE(s.schemaVersion(), latestSchemaVersion());
        QCOMPARE(QString::fromStdString(s.runs().require(runId).name), QString("made at v1"));
        NewAdapter n;
        n.task = "t";
        QCOMPARE(s.adapters().create(n).version, int64_t(1));
    }

    // Migration 3 rebuilds runs (for AUTOINCREMENT): every row of every table that refers to a run
    // survives, and afterwards a deleted run's id is never handed out again.
    void migrationThreeKeepsDataAndStopsIdReuse() {
        fs::path p = file("v2.sqlite");
        int64_t first = 0, last = 0, adapterId = 0;
        {
            Database db(p);
            Migrations::checkIdentity(db);
            db.configure();
            Migrations::migrate(db, 2);
            RunRepository runs(db);
            RunRecord a, b;
            a.name = "kept";
            a.configJson = R"({"lora": {"rank": 8}})";
            b.name = "newest";
            first = runs.create(a);
            last = runs.create(b);
            runs.setTag(first, "sweep", "rank");
            MetricsIngest ingest(db);
            ingest.insert(std::vector<MetricPoint>{{first, "loss", 1, 1.7e9, 0.5}, {first, "loss", 2, 1.7e9 + 1, 0.25}});
            // Written as schema 2 had it (today's repository writes columns of later migrations).
            db.exec("INSERT INTO adapters (uuid, task, name, version, created_at, source_run_id) VALUES "
                    "('u-1', 't', 't_v1', 1, 1.7e9, " + std::to_string(first) + ")");
            adapterId = db.lastInsertId();
            ArtifactRepository artifacts(db);
            ArtifactRecord art;
            art.runId = first;
            art.kind = "checkpoint";
            art.path = "/ckpt/step-2";
            artifacts.add(art);
        }
        Store s(p);
        QCOMPARE(s.schemaVersion(), latestSchemaVersion());
        QCOMPARE(s.runs().count(), int64_t(2));
        QCOMPARE(s.runs().params(first).at("lora.rank"), std::string("8"));
        QCOMPARE(s.runs().tags(first).at("sweep"), std::string("rank"));
        QCOMPARE(s.metrics().storedPoints(first), int64_t(2));
        QCOMPARE(s.metrics().latest(first, "loss")->count, int64_t(2));
        QCOMPARE(s.adapters().require(adapterId).sourceRunId.value_or(0), first);
        QCOMPARE(s.artifacts().forRun(first).size(), size_t(1));
        QCOMPARE(s.database().pragmaInt("foreign_keys"), int64_t(1));
        QCOMPARE(QString::fromStdString(s.integrityCheck()), QString("ok"));
        {
            Statement fk(s.database(), "PRAGMA foreign_key_check");
            QVERIFY(!fk.step());
        }
        // Deleting the newest run and creating another must not reuse its id.
        s.runs().remove(last);
        RunRecord c;
        c.name = "after delete";
        QCOMPARE(s.runs().create(c), last + 1);
        // Deleting a run still cascades to its own rows only.
        s.runs().remove(first);
        QCOMPARE(s.metrics().storedPoints(first), int64_t(0));
        QVERIFY(!s.adapters().require(adapterId).sourceRunId);
    }

    void migrationListIsAppendOnlyAndContiguous() {
        int expected = 1;
        for (const Migration& m : migrations())
            QCOMPARE(m.version, expected++);
    }

    void refusesNewerStoreUntouched() {
        fs::path p = file("newer.sqlite");
        { Store s(p); }
        rawExec(p, "PRAGMA user_version = 99");
        std::string before = rslora::Sha256::fileHex(p);
        std::string err = openError(p);
        QVERIFY2(err.find("schema version 99") != std::string::npos, err.c_str());
        QVERIFY2(err.find("newer") != std::string::npos, err.c_str());
        QVERIFY2(err.find("up to " + std::to_string(latestSchemaVersion())) != std::string::npos, err.c_str());
        QCOMPARE(rslora::Sha256::fileHex(p), before);
    }

    void refusesForeignSqliteUntouched() {
        fs::path p = file("foreign.sqlite");
        rawExec(p, "CREATE TABLE photos(id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos VALUES (1, 'x.jpg');");
        std::string before = rslora::Sha256::fileHex(p);
        std::string err = openError(p);
        QVERIFY2(err.find("another program") != std::string::npos, err.c_str());
        QVERIFY2(err.find("untouched") != std::string::npos, err.c_str());
        QCOMPARE(rslora::Sha256::fileHex(p), before);
        // Still the other program's data.
        rawExec(p, "SELECT path FROM photos");
    }

    void refusesNonDatabaseFilesUntouched_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("text") << QByteArray("name,value\nloss,0.5\n");
        QTest::newRow("short") << QByteArray("SQLite");
        QTest::newRow("binary") << QByteArray(4096, '\x7f');
        QByteArray headerOnly("SQLite format 3");
        headerOnly.append('\0');
        headerOnly.append(QByteArray(200, '\xff'));
        QTest::newRow("header then garbage") << headerOnly;
    }
    void refusesNonDatabaseFilesUntouched() {
        QFETCH(QByteArray, bytes);
        fs::path p = file("junk.sqlite");
        writeBytes(p, bytes.toStdString());
        std::string err = openError(p);
        QVERIFY2(!err.empty(), "opening junk must fail");
        QVERIFY2(err.find(p.string()) != std::string::npos, err.c_str());
        QCOMPARE(QByteArray::fromStdString(rslora::readFile(p)), bytes);
        fs::remove(p);
    }

    void refusesDamagedStoreUntouched() {
        fs::path p = file("damaged.sqlite");
        {
            Store s(p);
            RunRecord r;
            r.name = "x";
            s.runs().create(r);
            s.database().exec("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        std::string bytes = rslora::readFile(p);
        // Keep the header, wreck the schema page after it.
        for (size_t i = 100; i < std::min<size_t>(bytes.size(), 4096); ++i)
            bytes[i] = static_cast<char>(0xA5);
        writeBytes(p, bytes);
        fs::remove(fs::path(p.string() + "-wal"));
        fs::remove(fs::path(p.string() + "-shm"));
        std::string err = openError(p);
        QVERIFY2(!err.empty(), "a damaged store must not open");
        QVERIFY2(err.find("damaged") != std::string::npos || err.find("malformed") != std::string::npos, err.c_str());
        QCOMPARE(rslora::readFile(p), bytes);
    }

    // 16 flipped bytes in one page of the metrics table, as a failing disk leaves them: the schema
    // still reads, so only PRAGMA quick_check on open notices it.
    void refusesStoreWithFlippedMetricsPage() {
        fs::path p = file("flipped.sqlite");
        storetest::writeStoreWithMetrics(p);
        storetest::flipLeafPageBytes(p);
        std::string bytes = rslora::readFile(p);
        std::string err = openError(p);
        QVERIFY2(!err.empty(), "a store with a damaged page must not open");
        QVERIFY2(err.find("is damaged") != std::string::npos, err.c_str());
        QVERIFY2(err.find("quick_check") != std::string::npos, err.c_str());
        QVERIFY2(err.find(".recover") != std::string::npos, err.c_str());
        QVERIFY2(err.find("last good copy") != std::string::npos, err.c_str());
        QCOMPARE(rslora::readFile(p), bytes); // refused without a write
        Store::Options ro;
        ro.readOnly = true;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, Store(p, ro));
    }

    void transactionRollsBackInDestructor() {
        Store s(file("tx.sqlite"));
        RunRecord r;
        r.name = "kept";
        s.runs().create(r);
        try {
            Transaction tx(s.database());
            s.runs().rename(r.id, "lost");
            throw std::runtime_error("boom");
        } catch (const std::runtime_error&) {
        }
        QCOMPARE(QString::fromStdString(s.runs().require(r.id).name), QString("kept"));
        QVERIFY(!s.database().inTransaction());
    }

    void nestedTransactionIsASavepoint() {
        Store s(file("nested.sqlite"));
        RunRecord r;
        r.name = "a";
        s.runs().create(r);
        Transaction outer(s.database());
        s.runs().rename(r.id, "b");
        {
            Transaction inner(s.database());
            QVERIFY(inner.nested());
            s.runs().rename(r.id, "c");
        } // rolled back to the savepoint
        QCOMPARE(QString::fromStdString(s.runs().require(r.id).name), QString("b"));
        outer.commit();
        QCOMPARE(QString::fromStdString(s.runs().require(r.id).name), QString("b"));
    }

    void checkConstraintGuardsStatus() {
        Store s(file("check.sqlite"));
        RunRecord r;
        s.runs().create(r);
        QVERIFY_THROWS_EXCEPTION(DatabaseError, s.database().exec("UPDATE runs SET status = 'exploded'"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, runStatusFromString("exploded"));
    }

    // A store in a folder this process cannot write (a read-only mount, someone else's folder): it is
    // read (SQLite alone cannot even read it there, lacking its -shm file), a write is refused naming
    // the folder, and nothing is created beside it. A new store there, or under a file, is refused by name.
    void readOnlyFolderIsRead() {
        const fs::path dir = file("read-only folder");
        fs::create_directories(dir);
        const fs::path p = dir / "store.sqlite";
        int64_t id = 0;
        {
            Store s(p);
            RunRecord r;
            r.name = "kept";
            id = s.runs().create(r);
        }
        QVERIFY(!fs::exists(p.string() + "-shm"));
        const std::string bytes = rslora::readFile(p);
        fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
        {
            const WithoutFileOverride asUser; // root writes anywhere otherwise
            Store s(p);
            QVERIFY(s.database().readOnly());
            QCOMPARE(s.database().readOnlyReason(), "its folder " + dir.string() + " is not writable");
            QCOMPARE(s.runs().require(id).name, std::string("kept"));
            try {
                s.runs().rename(id, "changed");
                QFAIL("a store in a read-only folder was written");
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.hint()).find("the store is only read here: its folder " + dir.string() +
                                                    " is not writable; to change it, copy the file") == 0,
                         e.fullMessage().c_str());
            }
            const std::string created = openError(dir / "new.sqlite");
            QVERIFY2(created.find("cannot create database " + (dir / "new.sqlite").string() + ": its folder " +
                                  dir.string() + " is not writable") == 0,
                     created.c_str());
            QVERIFY(!fs::exists(dir / "new.sqlite"));
        }
        fs::permissions(dir, fs::perms::owner_all);
        QCOMPARE(rslora::readFile(p), bytes);
        QVERIFY(!fs::exists(p.string() + "-wal") && !fs::exists(p.string() + "-shm"));
        // A missing folder is made; one that cannot be (a file has its parent's name) is said so.
        const std::string underFile = openError(p / "sub" / "x.sqlite");
        QVERIFY2(underFile.find("cannot create database " + (p / "sub" / "x.sqlite").string() + ": cannot create its folder") == 0,
                 underFile.c_str());
        Store made(file("made") / "deeper" / "x.sqlite");
        QVERIFY(fs::exists(file("made") / "deeper" / "x.sqlite"));
    }

    void readOnlyOpenDoesNotCreate() {
        fs::path p = file("missing.sqlite");
        Store::Options o;
        o.readOnly = true;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, Store(p, o));
        QVERIFY(!fs::exists(p));
    }
};

QTEST_GUILESS_MAIN(DatabaseTest)
#include "DatabaseTest.moc"
