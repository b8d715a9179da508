// kill -9 at seeded random moments of real `rslora` processes: a training run, a fuse, a merge, a
// sweep and a running server. After every kill the store opens and passes quick_check, no run is
// left "running", metrics printed a second before the kill are stored, checkpoints and adapter
// versions written before are complete and unchanged, no half-written folder shows under a final
// name, and continuing (train --resume, sweep --resume, the same fuse or merge again) ends with
// files bitwise equal to an uninterrupted run's.
#include "storage/AdapterRepository.h"
#include "storage/Database.h"
#include "storage/GroupRepository.h"
#include "storage/MetricsReader.h"
#include "storage/RunRepository.h"
#include "storage/Store.h"
#include "storage/StoreHealth.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

using namespace rslora;

namespace {

constexpr int kKills = 20;
constexpr unsigned kSeed = 20261204;

struct Outcome {
    int code = -1;
    QString out, err;
    qint64 ms = 0; // wall time
};

// What a killed process showed before the kill: the training steps it printed with the time each
// line arrived (ms after the start), and when the kill came.
struct Killed {
    bool finishedFirst = false; // the process ended on its own before the kill
    int code = -1;
    qint64 killAtMs = 0;
    qint64 firstOutputMs = -1; // when the first line on stderr arrived
    std::vector<std::pair<qint64, qint64>> steps; // (step, ms)
    QString out, err;
};

QProcessEnvironment childEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("OMP_NUM_THREADS", "1");
    env.insert("MKL_NUM_THREADS", "1");
    return env;
}

QString cli() { return QString::fromLocal8Bit(qgetenv("RSLORA_CLI")); }

// Starts rslora as a child that dies with this test: a test function stopped by Qt Test's time
// limit aborts the process without running QProcess's destructors, which would leave servers and
// training runs behind.
void startCli(QProcess& p, const QStringList& args)
{
    p.setProcessEnvironment(childEnvironment());
    p.setChildProcessModifier([] { prctl(PR_SET_PDEATHSIG, SIGKILL); });
    p.start(cli(), args);
}

Outcome runCli(const QStringList& args)
{
    QProcess p;
    QElapsedTimer clock;
    clock.start();
    startCli(p, args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError()), clock.elapsed()};
}

void readSteps(QProcess& p, const QElapsedTimer& clock, QString& pending, Killed& k)
{
    const QString chunk = QString::fromUtf8(p.readAllStandardError());
    k.err += chunk;
    pending += chunk;
    static const QRegularExpression stepLine("^step (\\d+)/");
    int nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
        const QString line = pending.left(nl);
        pending.remove(0, nl + 1);
        // A sweep starting its next member run: the steps printed so far were another run's.
        if (line.contains(QRegularExpression("sweep #\\d+: run #\\d+")))
            k.steps.clear();
        const auto m = stepLine.match(line);
        if (m.hasMatch())
            k.steps.emplace_back(m.captured(1).toLongLong(), clock.elapsed());
    }
}

// Starts rslora and sends SIGKILL `delayMs` after the start (or, with `fromFirstOutput`, after its
// first line on stderr: past the start-up, whose length varies most with the machine's load),
// reading its progress lines meanwhile.
Killed runAndKill(const QStringList& args, int delayMs, bool fromFirstOutput = false)
{
    Killed k;
    QProcess p;
    p.setReadChannel(QProcess::StandardError);
    QElapsedTimer clock;
    startCli(p, args);
    clock.start();
    p.waitForStarted();
    QString pending;
    auto due = [&] { return (fromFirstOutput ? (k.firstOutputMs < 0 ? 0 : k.firstOutputMs) : 0) + delayMs; };
    while ((clock.elapsed() < due() || (fromFirstOutput && k.firstOutputMs < 0)) && p.state() != QProcess::NotRunning) {
        p.waitForReadyRead(int(std::max<qint64>(1, std::min<qint64>(20, due() - clock.elapsed()))));
        readSteps(p, clock, pending, k);
        if (k.firstOutputMs < 0 && !k.err.isEmpty())
            k.firstOutputMs = clock.elapsed();
    }
    k.killAtMs = clock.elapsed();
    if (p.state() == QProcess::NotRunning) {
        k.finishedFirst = true;
    } else {
        p.kill();
    }
    p.waitForFinished(60000);
    k.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    readSteps(p, clock, pending, k);
    k.out = QString::fromUtf8(p.readAllStandardOutput());
    return k;
}

// Starts rslora and kills it as soon as it printed its first training step (before any checkpoint
// of a run saving every few steps). Returns what it printed on stderr.
QString killAtFirstStep(const QStringList& args)
{
    QProcess p;
    p.setReadChannel(QProcess::StandardError);
    startCli(p, args);
    QString err;
    while (!err.contains("step 1/") && p.waitForReadyRead(60000))
        err += QString::fromUtf8(p.readAllStandardError());
    p.kill();
    p.waitForFinished(10000);
    return err;
}

QByteArray fileHash(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256).toHex();
}

// A complete safetensors file: the header parses and the tensors' data ends exactly at the file's end.
QString safetensorsProblem(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return path + ": missing";
    const QByteArray all = f.readAll();
    if (all.size() < 8)
        return path + ": shorter than its header length";
    quint64 n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | quint8(all[i]);
    if (n > quint64(all.size()) - 8)
        return path + ": header longer than the file";
    const QJsonDocument doc = QJsonDocument::fromJson(all.mid(8, int(n)));
    if (!doc.isObject())
        return path + ": header is not a JSON object";
    qint64 end = 0;
    const QJsonObject tensors = doc.object();
    for (auto it = tensors.begin(); it != tensors.end(); ++it)
        if (it.key() != "__metadata__")
            end = std::max<qint64>(end, qint64(it.value().toObject().value("data_offsets").toArray().at(1).toDouble()));
    if (qint64(8 + n) + end != all.size())
        return path + ": data ends at " + QString::number(8 + n + end) + ", file has " + QString::number(all.size()) + " bytes";
    return {};
}

QString adapterProblem(const QString& dir)
{
    if (!QJsonDocument::fromJson([&] {
             QFile f(dir + "/adapter_config.json");
             return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
         }()).isObject())
        return dir + "/adapter_config.json: missing or not JSON";
    return safetensorsProblem(dir + "/adapter_model.safetensors");
}

QString modelProblem(const QString& dir)
{
    for (const char* name : {"config.json", "tokenizer.json"})
        if (!QFileInfo::exists(dir + "/" + name))
            return dir + "/" + name + ": missing";
    return safetensorsProblem(dir + "/model.safetensors");
}

// Visible (not hidden) entries of a folder.
QStringList visible(const QString& dir)
{
    return QDir(dir).entryList(QDir::AllEntries | QDir::NoDotAndDotDot);
}

// The store after a kill: it opens (quick_check runs on open), no run is left running, paused or
// queued, and every adapter version's files hash to the recorded sha256. Returns the problems.
QStringList storeProblems(const QString& db)
{
    QStringList problems;
    if (!QFileInfo::exists(db))
        return problems; // killed before the store was created
    try {
        storage::Store store(db.toStdString());
        for (const std::string& f : storage::StoreHealth::findings(store.database(), false))
            problems << "quick_check: " + QString::fromStdString(f);
        for (const auto& run : store.runs().list({}))
            if (run.status == storage::RunStatus::Running || run.status == storage::RunStatus::Paused ||
                run.status == storage::RunStatus::Queued)
                problems << QString("run #%1 is still %2").arg(run.id).arg(QString::fromStdString(storage::toString(run.status)));
        for (const auto& a : store.adapters().list({}))
            try {
                storage::AdapterRepository::verifyFiles(a);
            } catch (const std::exception& e) {
                problems << QString::fromStdString(e.what());
            }
    } catch (const std::exception& e) {
        problems << "the store does not open: " + QString::fromStdString(e.what());
    }
    return problems;
}

// Hidden staging folders of `name` in `dir` (".<name>.tmp-…", "..<name>.tmp-….tmp-…").
QStringList leftStaging(const QString& dir, const QString& name)
{
    return QDir(dir).entryList({"." + name + ".tmp-*", ".." + name + ".tmp-*"}, QDir::Dirs | QDir::Hidden | QDir::NoDotAndDotDot);
}

// How many versions the store holds in the task "fused".
int fusedVersions(const QString& db)
{
    storage::Store store(db.toStdString());
    storage::AdapterFilter filter;
    filter.task = "fused";
    return int(store.adapters().list(filter).size());
}

// A training run's output folder after a kill: every checkpoint under a final name is complete,
// and one seen after an earlier kill has not changed (hashes kept in `seen`); the final adapter,
// when present, is complete. Returns the problems.
QStringList runFolderProblems(const QString& out, std::map<QString, QByteArray>& seen)
{
    QStringList problems;
    for (const QString& name : visible(out + "/checkpoints")) {
        const QString dir = out + "/checkpoints/" + name;
        const QStringList infoFiles = QDir(dir).entryList({"*.json"}, QDir::Files);
        if (infoFiles.isEmpty())
            problems << dir + ": no info file";
        for (const QString& p : {safetensorsProblem(dir + "/state.safetensors"), adapterProblem(dir + "/adapter")})
            if (!p.isEmpty())
                problems << p;
        const QByteArray h = fileHash(dir + "/state.safetensors") + fileHash(dir + "/adapter/adapter_model.safetensors");
        auto [it, fresh] = seen.emplace(name, h);
        if (!fresh && it->second != h)
            problems << dir + ": changed after it was complete";
    }
    if (QFileInfo::exists(out + "/adapter")) {
        const QString p = adapterProblem(out + "/adapter");
        if (!p.isEmpty())
            problems << p;
    }
    return problems;
}

// At most one second of metrics lost: the last step stored is at least the last step the process
// printed a second or more before it was killed.
QString lostMetrics(const QString& db, int64_t runId, const Killed& k)
{
    qint64 due = -1;
    for (const auto& [step, ms] : k.steps)
        if (ms <= k.killAtMs - 1000)
            due = std::max(due, step);
    if (due < 0)
        return {};
    storage::Store store(db.toStdString());
    const auto latest = store.metrics().latest(runId, "train/loss");
    const qint64 stored = latest ? latest->step : -1;
    if (stored < due)
        return QString("run #%1: step %2 was printed %3 ms before the kill, the store's last step is %4")
            .arg(runId)
            .arg(due)
            .arg(k.killAtMs - [&] {
                for (const auto& [s, ms] : k.steps)
                    if (s == due)
                        return ms;
                return qint64(0);
            }())
            .arg(stored);
    return {};
}

// The newest run of the store (0 when none).
int64_t newestRun(const QString& db)
{
    if (!QFileInfo::exists(db))
        return 0;
    storage::Store store(db.toStdString());
    int64_t id = 0;
    for (const auto& r : store.runs().list({}))
        id = std::max(id, r.id);
    return id;
}

// A minimal HTTP/1.1 client: sends one request and reads until the server closes or `timeoutMs`
// passes. Returns the response (empty when the connection failed or was cut before any byte).
QByteArray httpPost(int port, const QByteArray& path, const QByteArray& body, int timeoutMs)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QByteArray response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const QByteArray req = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                               "Connection: close\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
        if (::send(fd, req.constData(), size_t(req.size()), MSG_NOSIGNAL) == req.size()) {
            QElapsedTimer t;
            t.start();
            char buf[4096];
            while (t.elapsed() < timeoutMs) {
                pollfd pfd{fd, POLLIN, 0};
                if (::poll(&pfd, 1, 50) <= 0)
                    continue;
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                response.append(buf, int(n));
            }
        }
    }
    ::close(fd);
    return response;
}

} // namespace

class KillFaultTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_config, m_model;
    QStringList m_trainSet;  // --set options of every training here

    // m_trainSet as --set options with one key's value replaced (a key given to two --set is refused).
    QStringList setOptions(const QString& replacement) const
    {
        const QString key = replacement.section('=', 0, 0) + "=";
        QStringList args;
        for (const QString& s : m_trainSet)
            args << "--set" << (s.startsWith(key) ? replacement : s);
        return args;
    }
    QString m_refDb;         // two finished runs (seed 42 and 7), two adapter versions
    QByteArray m_refAdapterHash;
    qint64 m_refTrainWorkMs = 0; // the uninterrupted run's time from its first output line to its end
    std::map<QString, QByteArray> m_refCheckpoints; // the uninterrupted run's checkpoints
    std::mt19937 m_random{kSeed};
    int m_killed = 0, m_endedFirst = 0;
    int m_answered = 0, m_cut = 0; // requests to killed servers: answered in full, cut off

    // Kill times are seeded fractions of an uninterrupted run's wall time `ms`, so that they land in
    // the same phases (start-up, loading, steps, saves) on a fast machine and a loaded one.
    int delay(qint64 ms, double lo, double hi) { return int(ms * std::uniform_real_distribution<double>(lo, hi)(m_random)); }

    QStringList trainArgs(const QString& db, const QString& out) const
    {
        QStringList a{"train", m_config, "--db", db, "--set", "output.dir=" + out};
        for (const QString& s : m_trainSet)
            a << "--set" << s;
        return a;
    }

private slots:
    void initTestCase()
    {
        QVERIFY2(QFileInfo::exists(cli()), "RSLORA_CLI names no rslora executable");
        const QString resources = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES"));
        m_model = resources + "/demo/model";
        m_config = resources + "/demo/demo-config.json";
        QVERIFY2(QFileInfo::exists(m_config), qPrintable(m_config));
        // Tiny and single-threaded: 24 steps of batch 4, a checkpoint every 3 steps, every step logged.
        m_trainSet = {"model.threads=1", "training.max_steps=24", "training.batch_size=4", "training.log_every=1",
                      "training.save_every=3", "training.warmup_steps=2", "data.validation="};
        m_refDb = m_dir.filePath("ref/store.sqlite");
        QDir().mkpath(m_dir.filePath("ref"));
        const Killed ref = runAndKill(trainArgs(m_refDb, m_dir.filePath("ref/run")), 600000);
        QVERIFY2(ref.finishedFirst && ref.code == 0, qPrintable(ref.err));
        m_refTrainWorkMs = ref.killAtMs - ref.firstOutputMs;
        m_refAdapterHash = fileHash(m_dir.filePath("ref/run/adapter/adapter_model.safetensors"));
        QVERIFY(!m_refAdapterHash.isEmpty());
        QVERIFY(runFolderProblems(m_dir.filePath("ref/run"), m_refCheckpoints).isEmpty());
        QCOMPARE(m_refCheckpoints.size(), size_t(2));
        const Outcome o = runCli(trainArgs(m_refDb, m_dir.filePath("ref/run7")) << "--quiet" << "--set" << "training.seed=7");
        QVERIFY2(o.code == 0, qPrintable(o.err));
    }

    // Training runs killed 20 times in all, each continued with --resume latest until it ends (then
    // the next run starts); every run's adapter and last checkpoints equal the uninterrupted run's
    // bit for bit, and so does every checkpoint seen between the kills that the uninterrupted run kept.
    void trainingRun()
    {
        int kills = 0, interruptedSeen = 0;
        for (int chain = 0; kills < kKills; ++chain) {
            const QString folder = m_dir.filePath(QString("train-%1").arg(chain));
            const QString db = folder + "/store.sqlite", out = folder + "/run";
            QDir().mkpath(folder);
            std::map<QString, QByteArray> seen;
            bool finished = false;
            while (!finished && kills < kKills) {
                QStringList args = trainArgs(db, out);
                if (newestRun(db) > 0)
                    args << "--resume" << "latest";
                const Killed k = runAndKill(args, delay(m_refTrainWorkMs, 0.0, 0.4), true);
                finished = k.finishedFirst;
                finished ? ++m_endedFirst : (++m_killed, ++kills);
                QVERIFY2(!finished || k.code == 0, qPrintable(k.err));
                const QStringList problems = storeProblems(db) + runFolderProblems(out, seen);
                QVERIFY2(problems.isEmpty(), qPrintable(QString("kill %1: ").arg(kills) + problems.join("\n")));
                if (const int64_t run = newestRun(db)) {
                    storage::Store store(db.toStdString());
                    const auto r = store.runs().require(run);
                    interruptedSeen += r.status == storage::RunStatus::Interrupted;
                    // Killed after the store recorded the end (while printing the summary): finished.
                    QVERIFY2(r.status == storage::RunStatus::Interrupted || r.status == storage::RunStatus::Finished,
                             qPrintable(QString::fromStdString(storage::toString(r.status))));
                    QVERIFY(!finished || r.status == storage::RunStatus::Finished);
                    finished = r.status == storage::RunStatus::Finished;
                    const QString lost = lostMetrics(db, run, k);
                    QVERIFY2(lost.isEmpty(), qPrintable(lost));
                }
            }
            if (!finished) {
                const Outcome o = runCli(trainArgs(db, out) << "--quiet" << "--resume" << "latest");
                QVERIFY2(o.code == 0, qPrintable(o.err));
            }
            QCOMPARE(fileHash(out + "/adapter/adapter_model.safetensors"), m_refAdapterHash);
            QVERIFY(runFolderProblems(out, seen).isEmpty());
            for (const auto& [name, hash] : m_refCheckpoints)
                QCOMPARE(seen[name], hash);
            for (const auto& [name, hash] : seen)
                if (m_refCheckpoints.count(name))
                    QCOMPARE(hash, m_refCheckpoints[name]);
            // The staging folders of killed saves are gone once a run ended.
            QCOMPARE(QDir(out + "/checkpoints").entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot).size(),
                     int(visible(out + "/checkpoints").size()));
            QVERIFY(storeProblems(db).isEmpty());
        }
        QVERIFY(interruptedSeen > 0);
    }

    void fuse()
    {
        const QString ref = m_dir.filePath("fused-ref");
        const QStringList base{"fuse", "--db", m_refDb, "--adapter", "facts_train@v1", "--adapter", "facts_train@v2",
                               "--method", "svd", "--rank", "8"};
        Outcome o = runCli(QStringList(base) << "--out" << ref << "--task" << "fused-ref");
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const QByteArray refHash = fileHash(ref + "/adapter_model.safetensors");
        for (int i = 0, kills = 0; kills < kKills; ++i) {
            const QString out = m_dir.filePath(QString("fused-%1").arg(i));
            const Killed k = runAndKill(QStringList(base) << "--out" << out << "--task" << "fused", delay(o.ms, 0.4, 1.0));
            k.finishedFirst ? ++m_endedFirst : (++m_killed, ++kills);
            QStringList problems = storeProblems(m_refDb);
            if (QFileInfo::exists(out)) {
                const QString p = adapterProblem(out);
                if (!p.isEmpty())
                    problems << p;
                else if (fileHash(out + "/adapter_model.safetensors") != refHash)
                    problems << out + ": differs from the uninterrupted fusion";
            }
            // A visible folder always has its version: the version is recorded before the folder
            // gets its name, so there are never more fused folders than fused versions.
            const int folders = QDir(m_dir.path()).entryList({"fused-*"}, QDir::Dirs).size() - 1; // less fused-ref
            if (folders > fusedVersions(m_refDb))
                problems << QString("%1 fused folders but %2 fused versions").arg(folders).arg(fusedVersions(m_refDb));
            QVERIFY2(problems.isEmpty(), qPrintable(QString("kill %1: ").arg(i) + problems.join("\n")));
            // The same fuse again into the folder of a killed one completes, and removes what the
            // killed one left under hidden names.
            if (!QFileInfo::exists(out) && i % 5 == 0) {
                o = runCli(QStringList(base) << "--out" << out << "--task" << "fused");
                QVERIFY2(o.code == 0, qPrintable(o.err));
                QCOMPARE(fileHash(out + "/adapter_model.safetensors"), refHash);
                QVERIFY2(leftStaging(m_dir.path(), QFileInfo(out).fileName()).isEmpty(),
                         qPrintable(leftStaging(m_dir.path(), QFileInfo(out).fileName()).join(", ")));
            }
        }
    }

    void mergeExport()
    {
        const QString ref = m_dir.filePath("merged-ref");
        const QStringList base{"merge", "--db", m_refDb, "--model", m_model, "--adapter", "facts_train@v1"};
        Outcome o = runCli(QStringList(base) << "--out" << ref);
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const QByteArray refHash = fileHash(ref + "/model.safetensors");
        const qint64 refMs = o.ms;
        for (int i = 0, kills = 0; kills < kKills; ++i) {
            const QString out = m_dir.filePath(QString("merged-%1").arg(i));
            const Killed k = runAndKill(QStringList(base) << "--out" << out, delay(refMs, 0.4, 1.0));
            k.finishedFirst ? ++m_endedFirst : (++m_killed, ++kills);
            QStringList problems = storeProblems(m_refDb);
            if (QFileInfo::exists(out)) {
                const QString p = modelProblem(out);
                if (!p.isEmpty())
                    problems << p;
                else if (fileHash(out + "/model.safetensors") != refHash)
                    problems << out + ": differs from the uninterrupted merge";
            }
            QVERIFY2(problems.isEmpty(), qPrintable(QString("kill %1: ").arg(i) + problems.join("\n")));
            // The same merge again into the folder of a killed one completes, and removes what the
            // killed one left under hidden names (a merged model's worth of disk).
            if (!QFileInfo::exists(out) && i % 5 == 0) {
                o = runCli(QStringList(base) << "--out" << out);
                QVERIFY2(o.code == 0, qPrintable(o.err));
                QCOMPARE(fileHash(out + "/model.safetensors"), refHash);
                QVERIFY2(leftStaging(m_dir.path(), QFileInfo(out).fileName()).isEmpty(),
                         qPrintable(leftStaging(m_dir.path(), QFileInfo(out).fileName()).join(", ")));
            }
        }
    }

    // A sweep of two seeds killed 20 times, continued with --resume GROUP; its adapters at the end
    // equal an uninterrupted sweep's.
    void sweep()
    {
        QStringList base{"sweep", m_config, "--seeds", "2", "--name", "killed"};
        base << setOptions("training.max_steps=9");
        const QString refDb = m_dir.filePath("sweep-ref/store.sqlite");
        QDir().mkpath(m_dir.filePath("sweep-ref"));
        const Killed ref = runAndKill(QStringList(base) << "--db" << refDb, 600000);
        QVERIFY2(ref.finishedFirst && ref.code == 0, qPrintable(ref.err));
        const qint64 refWorkMs = ref.killAtMs - ref.firstOutputMs;
        auto adapterHashes = [](const QString& dbPath) {
            QStringList hashes;
            storage::Store store(dbPath.toStdString());
            for (const auto& a : store.adapters().list({}))
                hashes << fileHash(QString::fromStdString(a.path) + "/adapter_model.safetensors");
            hashes.sort();
            return hashes;
        };
        const QStringList refHashes = adapterHashes(refDb);
        QCOMPARE(refHashes.size(), 2);

        int kills = 0;
        for (int chain = 0; kills < kKills; ++chain) {
            const QString folder = m_dir.filePath(QString("sweep-%1").arg(chain));
            const QString db = folder + "/store.sqlite";
            QDir().mkpath(folder);
            bool done = false;
            while (!done && kills < kKills) {
                QStringList args = QStringList(base) << "--db" << db;
                if (QFileInfo::exists(db) && [&] {
                        storage::Store store(db.toStdString());
                        return !store.groups().list().empty();
                    }())
                    args = QStringList{"sweep", "--resume", "killed", "--db", db};
                const Killed k = runAndKill(args, delay(refWorkMs, 0.0, 0.4), true);
                done = k.finishedFirst;
                done ? ++m_endedFirst : (++m_killed, ++kills);
                QVERIFY2(!done || k.code == 0, qPrintable(k.err));
                const QStringList problems = storeProblems(db);
                QVERIFY2(problems.isEmpty(), qPrintable(QString("sweep kill %1: ").arg(kills) + problems.join("\n")));
                // The member run that was training: the last "[i/n] sweep #g: run #r" line.
                const auto members = QRegularExpression("sweep #\\d+: run #(\\d+)").globalMatch(k.err);
                int64_t run = 0;
                for (auto it = members; it.hasNext();)
                    run = it.next().captured(1).toLongLong();
                if (run > 0) {
                    const QString lost = lostMetrics(db, run, k);
                    QVERIFY2(lost.isEmpty(), qPrintable(lost));
                }
            }
            if (!done) {
                const Outcome o = runCli({"sweep", "--resume", "killed", "--db", db, "--quiet"});
                QVERIFY2(o.code == 0, qPrintable(o.err));
            }
            QCOMPARE(adapterHashes(db), refHashes);
            QVERIFY(storeProblems(db).isEmpty());
        }
    }

    // A run killed before its first checkpoint: --resume latest starts it over as the same run (it
    // has nothing to continue from) and it ends with the uninterrupted run's adapter.
    void resumeOfARunKilledBeforeItsFirstCheckpoint()
    {
        const QString folder = m_dir.filePath("early-kill");
        const QString db = folder + "/store.sqlite", out = folder + "/run";
        QDir().mkpath(folder);
        QVERIFY(killAtFirstStep(trainArgs(db, out)).contains("step 1/"));
        QCOMPARE(visible(out + "/checkpoints"), QStringList());
        const Outcome o = runCli(trainArgs(db, out) << "--quiet" << "--resume" << "latest");
        QVERIFY2(o.code == 0, qPrintable(o.err));
        QCOMPARE(fileHash(out + "/adapter/adapter_model.safetensors"), m_refAdapterHash);
        storage::Store store(db.toStdString());
        QCOMPARE(store.runs().list({}).size(), size_t(1));
        QCOMPARE(store.runs().require(newestRun(db)).status, storage::RunStatus::Finished);
    }

    // A sweep member killed before its first checkpoint while a save's staging folder sits under
    // checkpoints/ (a save killed half-way looks so): the member starts over and the sweep ends.
    void sweepMemberWithOnlyAStagingFolder()
    {
        const QString folder = m_dir.filePath("sweep-staging");
        const QString db = folder + "/store.sqlite";
        QDir().mkpath(folder);
        QStringList args{"sweep", m_config, "--seeds", "2", "--name", "staged", "--db", db};
        args << setOptions("training.max_steps=4");
        const QString err = killAtFirstStep(args);
        QVERIFY2(err.contains("step 1/"), qPrintable(err));
        const auto m = QRegularExpression("sweep #\\d+: run #(\\d+)").match(err);
        QVERIFY2(m.hasMatch(), qPrintable(err));
        const QStringList runFolders = QDir(folder + "/runs").entryList({"run-" + m.captured(1) + "-*"}, QDir::Dirs);
        QCOMPARE(runFolders.size(), 1);
        const QString staging = folder + "/runs/" + runFolders[0] + "/checkpoints/.step-3.tmp-1-0";
        QVERIFY(QDir().mkpath(staging));
        QFile half(staging + "/state.safetensors");
        QVERIFY(half.open(QIODevice::WriteOnly));
        half.write("partial");
        half.close();
        const Outcome o = runCli({"sweep", "--resume", "staged", "--db", db, "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        storage::Store store(db.toStdString());
        for (const auto& member : store.groups().members(store.groups().resolve("staged").id)) {
            const auto run = store.runs().require(member.runId);
            QVERIFY2(run.status == storage::RunStatus::Finished, qPrintable(QString::fromStdString(run.errorMessage)));
        }
        QVERIFY(!QFileInfo::exists(staging));
    }

    // `rslora serve` killed while requests run: clients get an answer or a closed connection (never a
    // hang), the store it read stays healthy, and a new server starts on the last one's port at once.
    void runningServer()
    {
        int port = 0;
        for (int i = 0; i < kKills; ++i) {
            QProcess p;
            startCli(p, {"serve", m_model, "--db", m_refDb, "--adapter", "a=facts_train@v1", "--port", "0", "--quiet",
                            "--max-concurrent", "8"});
            QString out;
            while (!out.contains("\n") && p.waitForReadyRead(60000))
                out += QString::fromUtf8(p.readAllStandardOutput());
            const auto m = QRegularExpression(":(\\d+)/v1").match(out);
            if (!m.hasMatch())
                p.waitForFinished(5000);
            QVERIFY2(m.hasMatch(), qPrintable(out + QString::fromUtf8(p.readAllStandardError())));
            port = m.captured(1).toInt();
            std::atomic<int> answered{0}, cut{0};
            std::vector<std::thread> clients;
            for (int c = 0; c < 4; ++c)
                clients.emplace_back([&, c] {
                    const QByteArray body = QByteArray("{\"model\": \"") + (c % 2 ? "a" : "model") +
                                            "\", \"prompt\": \"The capital of\", \"max_tokens\": 48}";
                    const QByteArray r = httpPost(port, "/v1/completions", body, 30000);
                    (r.startsWith("HTTP/1.1 200") && r.contains("\"choices\"") ? answered : cut)++;
                });
            QTest::qWait(delay(1000, 0.02, 1.5));
            p.kill();
            QVERIFY(p.waitForFinished(10000));
            ++m_killed;
            for (auto& t : clients)
                t.join();
            QCOMPARE(answered + cut, 4);
            m_answered += answered;
            m_cut += cut;
            const QStringList problems = storeProblems(m_refDb);
            QVERIFY2(problems.isEmpty(), qPrintable(QString("kill %1: ").arg(i) + problems.join("\n")));
        }
        // A server started on the port of the one just killed gets it at once (no "address in use").
        QProcess p;
        startCli(p, {"serve", m_model, "--port", QString::number(port), "--quiet"});
        QString out;
        while (!out.contains("\n") && p.waitForReadyRead(60000))
            out += QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(out.contains(QString(":%1/v1").arg(port)), qPrintable(out + QString::fromUtf8(p.readAllStandardError())));
        const QByteArray r = httpPost(port, "/v1/completions", "{\"model\": \"model\", \"prompt\": \"Hi\", \"max_tokens\": 4}", 30000);
        p.terminate();
        p.waitForFinished(30000);
        QVERIFY2(r.startsWith("HTTP/1.1 200"), r.constData());
    }

    void cleanupTestCase()
    {
        qInfo("kill -9: %d processes killed, %d ended before their kill time; requests to killed servers: %d "
              "answered, %d cut off",
              m_killed, m_endedFirst, m_answered, m_cut);
    }
};

QTEST_GUILESS_MAIN(KillFaultTest)
#include "KillFaultTest.moc"
