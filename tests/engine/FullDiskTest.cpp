// A full disk as the writers meet it: `rslora train` (its checkpoint, and the store recording it),
// `rslora merge` (the merged model), `rslora fuse` (the fused adapter), `rslora adapters add` (a
// version's files in the store) and `rslora runs export` (a bundle) run under a file-size limit
// (RLIMIT_FSIZE, SIGXFSZ ignored, so writes fail with EFBIG as on a full disk). Each fails with a message naming the file it was writing, and nothing half-written is
// visible under a final name; files written before stay as they were.
#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>
#include <sys/resource.h>

namespace {

struct Outcome {
    int code = -1;
    QString out, err;
};

// Runs the rslora executable; with `limitBytes` > 0 no file it writes may grow past that size.
Outcome runCli(const QStringList& args, rlim_t limitBytes)
{
    QProcess p;
    p.setChildProcessModifier([limitBytes] {
        if (limitBytes > 0) {
            ::signal(SIGXFSZ, SIG_IGN);
            const rlimit limit{limitBytes, limitBytes};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
    });
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QByteArray fileHash(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256);
}

} // namespace

class FullDiskTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_model, m_config, m_adapter;
    QByteArray m_adapterHash;
    rlim_t m_bigLimit = 0; // the size of the store under big/, with room for a few pages more

private slots:
    void initTestCase()
    {
        const QString cli = QString::fromLocal8Bit(qgetenv("RSLORA_CLI"));
        QVERIFY2(QFileInfo::exists(cli), "RSLORA_CLI names no rslora executable");
        const QString resources = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES"));
        m_model = resources + "/demo/model";
        m_config = resources + "/demo/demo-config.json";
        QVERIFY2(QFileInfo::exists(m_config), qPrintable(m_config));
        // A run without a limit: its adapter is the "previous file" the limited runs must not touch.
        const Outcome o = runCli({"train", m_config, "--no-store", "--quiet", "--set", "training.max_steps=2", "--set",
                                  "output.dir=" + m_dir.filePath("before")},
                                 0);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        m_adapter = m_dir.filePath("before/adapter");
        m_adapterHash = fileHash(m_adapter + "/adapter_model.safetensors");
        QVERIFY(!m_adapterHash.isEmpty());
    }

    void checkpointOfATrainingRun()
    {
        const QString out = m_dir.filePath("limited-run");
        const Outcome o = runCli({"train", m_config, "--no-store", "--quiet", "--set", "training.max_steps=2", "--set",
                                  "output.dir=" + out},
                                 16 * 1024);
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("cannot write " + out + "/checkpoints/") && o.err.contains("state.safetensors") &&
                     o.err.contains("File too large"),
                 qPrintable(o.err));
        // No checkpoint folder and no adapter folder under a final name.
        QCOMPARE(QDir(out + "/checkpoints").entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden), QStringList());
        QVERIFY(!QFileInfo::exists(out + "/adapter"));
    }

    void mergedModelExport()
    {
        const QString out = m_dir.filePath("merged");
        const Outcome o = runCli({"merge", "--model", m_model, "--adapter", m_adapter, "--out", out, "--no-store"}, 16 * 1024);
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("cannot write ") && o.err.contains("model.safetensors") && o.err.contains("File too large"),
                 qPrintable(o.err));
        QVERIFY(!QFileInfo::exists(out));
        // The staging folder is gone too.
        QCOMPARE(QDir(m_dir.path()).entryList({".merged*"}, QDir::AllEntries | QDir::Hidden), QStringList());
    }

    // A recorded run under a limit no larger than the store file: the store keeps the earlier run,
    // marks the new one failed and passes its integrity check.
    void storeOfARecordedRun()
    {
        const QString db = m_dir.filePath("store.sqlite");
        Outcome o = runCli({"train", m_config, "--quiet", "--db", db, "--set", "training.max_steps=2", "--set",
                            "output.dir=" + m_dir.filePath("recorded")},
                           0);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        o = runCli({"train", m_config, "--quiet", "--db", db, "--set", "training.max_steps=2", "--set",
                    "output.dir=" + m_dir.filePath("recorded-limited")},
                   static_cast<rlim_t>(QFileInfo(db).size()));
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("cannot write ") && o.err.contains("File too large"), qPrintable(o.err));
        o = runCli({"runs", "list", "--db", db, "--json"}, 0);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QVERIFY2(o.out.contains("\"status\": \"finished\"") && o.out.contains("\"status\": \"failed\""), qPrintable(o.out));
        o = runCli({"doctor", "--db", db}, 0);
        QVERIFY2(o.out.contains("store integrity  ok"), qPrintable(o.out + o.err));
    }

    // `rslora fuse` writing the fused adapter: the message names the weights file, and neither the
    // folder nor its staging copy is left.
    void fusedAdapterSave()
    {
        const QString out = m_dir.filePath("fused");
        const Outcome o = runCli({"fuse", "--no-store", "--adapter", m_adapter, "--adapter", m_adapter + ":0.5", "--method",
                                  "svd", "--out", out},
                                 16 * 1024);
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("cannot write ") && o.err.contains("adapter_model.safetensors") &&
                     o.err.contains("File too large"),
                 qPrintable(o.err));
        QVERIFY(!QFileInfo::exists(out));
        QCOMPARE(QDir(m_dir.path()).entryList({".fused*"}, QDir::AllEntries | QDir::Hidden), QStringList());
    }

    // `rslora adapters add` copying a version's files into the store: the message names the file
    // that did not fit, no version is recorded, no folder is left under the store's adapter root,
    // and the versions stored before still verify.
    void adapterVersionFiles()
    {
        // A store smaller than its adapter (rank 64), so that a limit of the store's size lets the
        // store open and stops the adapter's weights.
        QDir().mkpath(m_dir.filePath("big"));
        const QString db = m_dir.filePath("big/store.sqlite");
        Outcome o = runCli({"train", m_config, "--quiet", "--db", db, "--set", "training.max_steps=1", "--set", "adapter.r=64",
                            "--set", "output.dir=" + m_dir.filePath("big/run")},
                           0);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        m_bigLimit = rlim_t(std::max<qint64>(QFileInfo(db).size(), 64 * 1024) + 64 * 1024);
        QVERIFY2(QFileInfo(m_dir.filePath("big/run/adapter/adapter_model.safetensors")).size() > qint64(m_bigLimit),
                 "the adapter must be larger than the limit");
        const QStringList before = QDir(m_dir.filePath("big/adapters")).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
        o = runCli({"adapters", "add", m_dir.filePath("big/run/adapter"), "--db", db, "--task", "limited"}, m_bigLimit);
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("adapter_model.safetensors") && o.err.contains("File too large"), qPrintable(o.err));
        QCOMPARE(QDir(m_dir.filePath("big/adapters")).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot), before);
        o = runCli({"adapters", "list", "--db", db, "--json"}, 0);
        QVERIFY2(o.code == 0 && !o.out.contains("limited"), qPrintable(o.out + o.err));
        o = runCli({"doctor", "--db", db}, 0);
        QVERIFY2(o.out.contains("store integrity  ok"), qPrintable(o.out + o.err));
    }

    // `rslora runs export` writing a bundle: the message names the file, no bundle folder is left
    // (not even half of one), and an earlier export of the same run stays as it was.
    void bundleExport()
    {
        const QString db = m_dir.filePath("big/store.sqlite");
        const QString earlier = m_dir.filePath("bundle-before"), limited = m_dir.filePath("bundle-limited");
        Outcome o = runCli({"runs", "export", "1", earlier, "--db", db}, 0);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QStringList files;
        for (QDirIterator it(earlier, QDir::Files, QDirIterator::Subdirectories); it.hasNext();)
            files << it.next();
        files.sort();
        QVERIFY(!files.isEmpty());
        QByteArray hashes;
        for (const QString& f : files)
            hashes += fileHash(f);
        o = runCli({"runs", "export", "1", limited, "--db", db}, m_bigLimit);
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(".safetensors") && o.err.contains("File too large"), qPrintable(o.err));
        QVERIFY(!QFileInfo::exists(limited));
        QCOMPARE(QDir(m_dir.path()).entryList({".bundle-limited*"}, QDir::AllEntries | QDir::Hidden), QStringList());
        QByteArray after;
        for (const QString& f : files)
            after += fileHash(f);
        QCOMPARE(after, hashes);
    }

    void earlierFilesStayIntact()
    {
        QCOMPARE(fileHash(m_adapter + "/adapter_model.safetensors"), m_adapterHash);
        QVERIFY(QFileInfo::exists(m_dir.filePath("before/checkpoints/step-2")));
    }
};

QTEST_GUILESS_MAIN(FullDiskTest)
#include "FullDiskTest.moc"
