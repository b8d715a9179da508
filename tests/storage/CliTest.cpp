// `rslora runs ...` and `rslora adapters ...` as a script uses them: --db, --json output that parses,
// exit codes and messages for bad input.
#include "common/Sha256.h"
#include "storage/Store.h"
#include "StoreDamage.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <signal.h>
#include <sys/resource.h>

using namespace rslora::storage;
namespace fs = std::filesystem;

class CliTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_cli;
    QString m_db;
    int64_t m_runA = 0, m_runB = 0;

    struct Result {
        int code;
        QByteArray out, err;
    };
    Result run(QStringList args, bool withDb = true) {
        if (withDb)
            args << "--db" << m_db;
        QProcess p;
        p.start(m_cli, args);
        if (!p.waitForFinished(60000))
            return {-1, {}, "timeout"};
        return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
                p.readAllStandardError()};
    }
    QJsonDocument runJson(const QStringList& args, bool withDb = true) {
        Result r = run(QStringList(args) << "--json", withDb);
        if (r.code != 0)
            qWarning() << args << r.err;
        QJsonParseError e{};
        QJsonDocument d = QJsonDocument::fromJson(r.out, &e);
        if (e.error != QJsonParseError::NoError)
            qWarning() << "not JSON:" << e.errorString() << r.out.left(400);
        return d;
    }

private slots:
    void initTestCase() {
        m_cli = qEnvironmentVariable("RSLORA_CLI");
        if (m_cli.isEmpty() || !QFileInfo(m_cli).isExecutable())
            QSKIP("RSLORA_CLI does not name the rslora executable (run through ctest)");
        m_db = m_tmp.filePath("cli.sqlite");
        Store s(m_db.toStdString());
        RunRecord a, b;
        a.name = "rank 8 \"quoted\"";
        a.configJson = R"({"lora": {"rank": 8}, "lr": 0.001})";
        a.status = RunStatus::Finished;
        b.name = "rank 16 ünï";
        b.configJson = R"({"lora": {"rank": 16}, "lr": 0.001})";
        b.status = RunStatus::Failed;
        m_runA = s.runs().create(a);
        m_runB = s.runs().create(b);
        s.runs().setTag(m_runA, "sweep", "rank");
        std::vector<MetricPoint> pts;
        for (int i = 0; i < 100; ++i) {
            pts.push_back({m_runA, "loss", i, 1.7e9 + i, 1.0 / (i + 1)});
            pts.push_back({m_runB, "loss", i, 1.7e9 + i, i == 99 ? NAN : 2.0 / (i + 1)});
        }
        // Per-module series as training records them: in key order they come before the loss.
        for (const char* module : {"k_proj", "o_proj", "q_proj", "v_proj", "up_proj"})
            pts.push_back({m_runB, std::string("grad_a/model.layers.0.self_attn.") + module, 99, 1.7e9 + 99, 0.5});
        s.metricsIngest().insert(pts);
        for (int i = 0; i < 3; ++i) {
            NewAdapter n;
            n.task = "medical";
            n.rank = 8;
            n.method = "rslora";
            n.sourceRunId = m_runA;
            AdapterRecord ad = s.adapters().create(n);
            fs::create_directories(ad.path);
            std::ofstream(fs::path(ad.path) / "adapter_config.json") << "{\"r\": 8}";
        }
    }

    void runsListJson() {
        QJsonDocument d = runJson({"runs", "list"});
        QVERIFY(d.isArray());
        QCOMPARE(d.array().size(), 2);
        QJsonObject newest = d.array()[0].toObject();
        QCOMPARE(newest["id"].toInteger(), m_runB);
        QCOMPARE(newest["name"].toString(), QString("rank 16 ünï"));
        QCOMPARE(newest["status"].toString(), QString("failed"));
        QVERIFY(newest["latest"].toObject()["loss"].toObject()["value"].isNull()); // NaN -> null
        QCOMPARE(newest["latest"].toObject()["loss"].toObject()["step"].toInt(), 99);
        QJsonDocument filtered = runJson({"runs", "list", "--tag", "sweep=rank"});
        QCOMPARE(filtered.array().size(), 1);
        QCOMPARE(runJson({"runs", "list", "--status", "finished"}).array().size(), 1);
    }

    void runsListText() {
        Result r = run({"runs", "list"});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("rank 8 \"quoted\""));
        // Every run's line shows its loss first, not the per-module series that sort before it.
        const QList<QByteArray> lines = r.out.split('\n');
        QVERIFY2(lines.size() >= 3 && lines[1].contains("rank 16") && lines[1].contains("   loss=nan  grad_a/"),
                 r.out.constData());
        QVERIFY2(lines[2].contains("   loss=0.01"), r.out.constData());
    }

    // `runs show` prints every key whole: cut to a width, the five per-module series read as one.
    void runsShowKeysInFull() {
        Result r = run({"runs", "show", QString::number(m_runB)});
        QCOMPARE(r.code, 0);
        for (const char* module : {"k_proj", "o_proj", "q_proj", "v_proj", "up_proj"})
            QVERIFY2(r.out.contains(QByteArray("  grad_a/model.layers.0.self_attn.") + module + " "), r.out.constData());
    }

    void runsShowAndDiff() {
        QJsonObject show = runJson({"runs", "show", QString::number(m_runA)}).object();
        QCOMPARE(show["config"].toObject()["lora"].toObject()["rank"].toInt(), 8);
        QCOMPARE(show["params"].toObject()["lora.rank"].toString(), QString("8"));
        QCOMPARE(show["adapters"].toArray().size(), 3);
        QJsonObject diff = runJson({"runs", "diff", QString::number(m_runA), QString::number(m_runB)}).object();
        QJsonArray params = diff["params"].toArray();
        QCOMPARE(params.size(), 1);
        QCOMPARE(params[0].toObject()["key"].toString(), QString("lora.rank"));
        QCOMPARE(params[0].toObject()["values"].toArray()[1].toString(), QString("16"));
        QCOMPARE(run({"runs", "diff", QString::number(m_runA), QString::number(m_runB)}).code, 0);
        QJsonObject series = runJson({"runs", "metrics", QString::number(m_runA), "loss", "--max-points", "10"}).object();
        QVERIFY(series["step"].toArray().size() <= 10);
        QCOMPARE(series["total_points"].toInt(), 100);
        // A misspelt key is refused by name (it printed an empty series and succeeded).
        const Result missing = run({"runs", "metrics", QString::number(m_runA), "los"});
        QVERIFY2(missing.code != 0 && missing.out.isEmpty()
                     && missing.err.contains(QString("run #%1 has no metric 'los' (did you mean 'loss'?)").arg(m_runA).toUtf8()),
                 missing.err.constData());
        // A negative count is refused (it wrapped to a huge one and downsampled nothing).
        QVERIFY(run({"runs", "metrics", QString::number(m_runA), "loss", "--max-points", "-5"}).code != 0);
    }

    void adaptersLifecycle() {
        QJsonArray list = runJson({"adapters", "list", "--task", "medical"}).array();
        QCOMPARE(list.size(), 3);
        QCOMPARE(list[0].toObject()["version"].toInt(), 1);
        QJsonObject r1 = runJson({"adapters", "release", "medical:v1"}).object();
        QCOMPARE(r1["status"].toString(), QString("released"));
        QVERIFY(r1["current"].toBool());
        runJson({"adapters", "release", "medical:v2"});
        QJsonObject back = runJson({"adapters", "rollback", "medical"}).object();
        QCOMPARE(back["version"].toInt(), 1);
        QJsonObject cur = runJson({"adapters", "show", "medical@current"}).object();
        QCOMPARE(cur["version"].toInt(), 1);
        QJsonObject arch = runJson({"adapters", "archive", "medical:v1"}).object();
        QCOMPARE(arch["status"].toString(), QString("archived"));
        QCOMPARE(runJson({"adapters", "show", "medical@current"}).object()["version"].toInt(), 2);
        QCOMPARE(runJson({"adapters", "list", "--status", "archived"}).array().size(), 1);
        QJsonObject renamed = runJson({"adapters", "rename", "medical:v3", "my/adapter \"x\""}).object();
        QCOMPARE(renamed["name"].toString(), QString("my/adapter \"x\""));
        QJsonObject tree = runJson({"adapters", "tree", "medical"}).object();
        QCOMPARE(tree["nodes"].toArray().size(), 3);
        QCOMPARE(run({"adapters", "tree", "medical"}).code, 0);
        QCOMPARE(run({"adapters", "list"}).code, 0);
    }

    void exportImportDelete() {
        QString dir = m_tmp.filePath("bundle");
        QJsonObject ex = runJson({"runs", "export", QString::number(m_runA), dir}).object();
        QCOMPARE(ex["metrics"].toInt(), 100);
        QCOMPARE(ex["adapters"].toInt(), 3);
        QVERIFY(QFileInfo::exists(dir + "/run.json"));
        Result again = run({"runs", "import", dir});
        QCOMPARE(again.code, 1); // already there
        QVERIFY2(again.err.contains("already in the store"), again.err.constData());
        QJsonObject imp = runJson({"runs", "import", dir, "--as-new"}).object();
        qint64 copy = imp["run_id"].toInteger();
        QVERIFY(copy > m_runB);
        QCOMPARE(imp["metrics"].toInt(), 100);
        QCOMPARE(imp["adapter_ids"].toArray().size(), 3);
        Result refuse = run({"runs", "delete", QString::number(copy)});
        QCOMPARE(refuse.code, 1);
        QVERIFY(refuse.err.contains("--yes"));
        QJsonObject del = runJson({"runs", "delete", QString::number(copy), "--yes"}).object();
        QCOMPARE(del["deleted"].toArray()[0].toInteger(), copy);
        QCOMPARE(runJson({"runs", "list"}).array().size(), 2);
    }

    void clearErrors() {
        Result r = run({"runs", "show", "does-not-exist"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no run matches"), r.err.constData());
        Result s = run({"runs", "list", "--status", "exploded"});
        QCOMPARE(s.code, 1);
        QVERIFY(s.err.contains("unknown run status"));
        QString junk = m_tmp.filePath("junk.sqlite");
        QFile f(junk);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not a database at all, just some text that is long enough to matter........"
                "...........................................................................");
        f.close();
        QByteArray before = [&] { QFile g(junk); g.open(QIODevice::ReadOnly); return g.readAll(); }();
        Result j = run({"runs", "list", "--db", junk}, false);
        QCOMPARE(j.code, 1);
        QVERIFY2(j.err.contains("not an SQLite database"), j.err.constData());
        QFile g(junk);
        QVERIFY(g.open(QIODevice::ReadOnly));
        QCOMPARE(g.readAll(), before);
    }

    // A write the file system refuses (here a file-size limit, as a full disk refuses it; SIGXFSZ
    // ignored) fails with what to look at, and the store keeps what it had.
    void refusedWriteSaysWhy() {
        const QString db = m_tmp.filePath("limited.sqlite");
        int64_t id = 0;
        {
            Store s(db.toStdString());
            RunRecord r;
            r.name = "kept";
            id = s.runs().create(r);
        }
        QProcess p;
        p.setChildProcessModifier([] {
            ::signal(SIGXFSZ, SIG_IGN);
            const rlimit limit{4096, 4096};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        });
        p.start(m_cli, {"runs", "delete", QString::number(id), "--yes", "--db", db});
        QVERIFY(p.waitForFinished(60000));
        const QByteArray err = p.readAllStandardError();
        QVERIFY2(p.exitCode() != 0 && err.contains("disk I/O error")
                     && err.contains("hint: the file system refused a read or write of the store: a full disk, a file-size limit"),
                 err.constData());
        QCOMPARE(Store(db.toStdString()).runs().require(id).name, std::string("kept"));
    }

    void damagedStoreIsRefusedWithRecovery() {
        fs::path p = m_tmp.filePath("damaged.sqlite").toStdString();
        storetest::writeStoreWithMetrics(p);
        storetest::flipLeafPageBytes(p);
        const QString db = QString::fromStdString(p.string());
        for (const QStringList& args : {QStringList{"runs", "list"}, QStringList{"runs", "show", "1", "--json"},
                                        QStringList{"runs", "export", "1", m_tmp.filePath("from-damaged")}}) {
            Result r = run(QStringList(args) << "--db" << db, false);
            QVERIFY2(r.code == 1, qPrintable(args.join(' ')));
            QVERIFY2(r.err.contains("is damaged") && r.err.contains(".recover") && r.err.contains("last good copy"),
                     r.err.constData());
            QVERIFY(r.out.isEmpty());
        }
        QVERIFY(!QFileInfo::exists(m_tmp.filePath("from-damaged")));
        Result doc = run({"doctor", "--db", db, "--json"}, false);
        QCOMPARE(doc.code, 1);
        QJsonObject store = QJsonDocument::fromJson(doc.out).object()["store"].toObject();
        QCOMPARE(store["integrity"].toString(), QString("damaged"));
        QVERIFY(!store["problems"].toArray().isEmpty());
        QVERIFY2(doc.err.contains("integrity_check"), doc.err.constData());
        Result healthy = run({"doctor", "--json"});
        QCOMPARE(QJsonDocument::fromJson(healthy.out).object()["store"].toObject()["integrity"].toString(),
                 QString("ok"));
    }

    // Names are stored as the user typed them; bytes that are not UTF-8 must not abort --json.
    void jsonSurvivesInvalidUtf8() {
        int64_t id = 0;
        {
            Store s(m_db.toStdString());
            RunRecord r;
            r.name = std::string("latin1 caf\xE9");
            id = s.runs().create(r);
        }
        Result r = run({"runs", "show", QString::number(id), "--json"});
        QCOMPARE(r.code, 0);
        QJsonParseError e{};
        QJsonObject o = QJsonDocument::fromJson(r.out, &e).object();
        QCOMPARE(e.error, QJsonParseError::NoError);
        QCOMPARE(o["name"].toString(), QString("latin1 caf") + QChar(0xFFFD));
        Store s(m_db.toStdString());
        s.runs().remove(id);
    }

    // runs delete says what happens to the run's adapters; importing the run's bundle links the kept
    // ones again and says so; adapters list keeps long methods and names apart.
    void deleteThenImportRelinksKeptAdapters() {
        const QString db = m_tmp.filePath("relink.sqlite");
        const std::string method = "rsLoRA alpha/sqrt(r) scaling, spectral init, random subspace k=64, balanced";
        int64_t runId = 0;
        {
            Store s(db.toStdString());
            RunRecord r;
            r.name = "to delete";
            r.status = RunStatus::Finished;
            runId = s.runs().create(r);
            NewAdapter n;
            n.task = "facts_train";
            n.method = method;
            n.rank = 8;
            n.name = "facts_r8_final";
            n.sourceRunId = runId;
            AdapterRecord a = s.adapters().create(n);
            fs::create_directories(a.path);
            std::ofstream(fs::path(a.path) / "adapter_model.safetensors", std::ios::binary) << "weights";
            s.adapters().setFiles(a.id, a.path, rslora::Sha256::directoryHex(a.path));
        }
        Result list = run({"adapters", "list", "--db", db}, false);
        QVERIFY2(list.out.contains(QByteArray::fromStdString(method) + "  facts_r8_final"), list.out.constData());
        const QString bundle = m_tmp.filePath("relink-bundle");
        QCOMPARE(run({"runs", "export", QString::number(runId), bundle, "--db", db}, false).code, 0);
        Result del = run({"runs", "delete", QString::number(runId), "--yes", "--db", db}, false);
        QCOMPARE(del.code, 0);
        QVERIFY2(del.out.contains("kept its adapter versions facts_train:v1"), del.out.constData());
        Result imp = run({"runs", "import", bundle, "--db", db}, false);
        QVERIFY2(imp.code == 0, imp.err.constData());
        QVERIFY2(imp.out.contains("re-linked facts_train:v1"), imp.out.constData());
        QJsonObject shown = runJson({"adapters", "show", "facts_train:v1", "--db", db}, false).object();
        QVERIFY(shown["source_run_id"].toInteger() > runId);
        QJsonObject gone =
            runJson({"runs", "delete", QString::number(shown["source_run_id"].toInteger()), "--yes", "--with-adapters",
                     "--db", db},
                    false)
                .object();
        QCOMPARE(gone["adapters_deleted"].toArray().size(), 1);
        QCOMPARE(runJson({"adapters", "list", "--db", db}, false).array().size(), 0);
        Result help = run({"runs", "delete", "--help"}, false);
        QVERIFY2(help.out.contains("no undo") && help.out.contains("--with-adapters"), help.out.constData());
    }

    void environmentPicksTheDatabase() {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("RSLORA_DB", m_db);
        p.setProcessEnvironment(env);
        p.start(m_cli, {"runs", "list", "--json"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(QJsonDocument::fromJson(p.readAllStandardOutput()).array().size(), 2);
    }
};

QTEST_GUILESS_MAIN(CliTest)
#include "CliTest.moc"
