// Data-parallel training through the real `rslora launch` and `rslora train` executables (2 ranks,
// 1 thread each, Gloo over a store file): two processes with a global batch of 8 train the adapter
// one process trains with batch 8 (plain LoRA; gradient balancing with LoRA+; float16 all-reduce;
// sensitivity rank allocation, whose probe batches the ranks share; DPO on the demo's preference
// pairs); two launchers as two nodes meeting over TCP on one machine do the same; ranks with
// different configs are refused naming the key; a rank killed mid-run ends the job naming it and
// leaves the last checkpoint loadable; a resume with the same world size is bitwise, with another it works
// (and says so once); an unresolvable rank-0 host fails at once; c10d's own log lines stay off the console;
// the job's warnings, evaluation results and summary are printed by rank 0 alone.
#include "engine/TrainConfig.h"
#include "engine/TrainData.h"
#include "engine/Trainer.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QElapsedTimer>
#include <QProcess>
#include <QScopeGuard>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

struct Outcome {
    int code = -1;
    QString out, err;
};

QString cli()
{
    return QString::fromLocal8Bit(qgetenv("RSLORA_CLI"));
}

Outcome runCli(const QStringList& args, const QMap<QString, QString>& env = {})
{
    QProcess p;
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    for (auto it = env.begin(); it != env.end(); ++it)
        e.insert(it.key(), it.value());
    p.setProcessEnvironment(e);
    p.start(cli(), args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

// A TCP port no one listens on now (the kernel's choice for port 0).
int freePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        ::close(fd);
    return port;
}

nlohmann::json adapterConfig(const fs::path& outputDir)
{
    std::ifstream in(outputDir / "adapter" / "adapter_config.json");
    return nlohmann::json::parse(in);
}

std::map<std::string, torch::Tensor> adapterTensors(const fs::path& outputDir)
{
    return models::loadSafeTensorsMap(outputDir / "adapter" / "adapter_model.safetensors");
}

double maxDifference(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b)
{
    if (a.size() != b.size() || a.empty())
        return 1e30;
    double d = 0.0;
    for (const auto& [k, t] : a) {
        auto it = b.find(k);
        if (it == b.end())
            return 1e30;
        d = std::max(d, (t - it->second).abs().max().item<double>());
    }
    return d;
}

// Empty when the adapter in `two` equals the one in `one` within `tolerance` and training moved it
// (B starts at zero, so a run that trained nothing would match trivially); else what is wrong.
QString sameTrainedAdapter(const fs::path& one, const fs::path& two, double tolerance, const char* label)
{
    const auto a = adapterTensors(one);
    const auto b = adapterTensors(two);
    double moved = 0.0;
    for (const auto& [k, t] : a)
        if (k.find("lora_B") != std::string::npos)
            moved = std::max(moved, t.abs().max().item<double>());
    if (!(moved > 1e-3))
        return QString("%1: the adapter did not move (max |B| = %2)").arg(label).arg(moved);
    const double diff = maxDifference(a, b);
    qInfo("%s: max |one process - two processes| = %.3g", label, diff);
    return diff < tolerance ? QString() : QString("%1: max |one - two| = %2").arg(label).arg(diff);
}

bool bitwiseEqual(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b)
{
    if (a.size() != b.size())
        return false;
    for (const auto& [k, t] : a)
        if (!b.count(k) || !torch::equal(t, b.at(k)))
            return false;
    return true;
}

// The newest checkpoint folder (step-N holding checkpoint.json) and its step; -1 when none.
std::pair<fs::path, int64_t> newestCheckpoint(const fs::path& checkpoints)
{
    std::pair<fs::path, int64_t> newest{{}, -1};
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(checkpoints, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("step-", 0) == 0 && fs::exists(e.path() / "checkpoint.json") && std::stoll(name.substr(5)) > newest.second)
            newest = {e.path(), std::stoll(name.substr(5))};
    }
    return newest;
}

} // namespace

class DataParallelTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    fs::path m_root;
    std::string m_config;

    QStringList launch(const QString& tag, const QStringList& trainArgs) const
    {
        QStringList a{"launch", "--nproc", "2", "--grace", "5", "--timeout", "60", "--store-file",
                      QString::fromStdString((m_root / ("store-" + tag.toStdString())).string()), "--", "train",
                      QString::fromStdString(m_config), "--no-store", "--quiet"};
        return a + trainArgs;
    }
    QString out(const QString& name) const { return QString::fromStdString((m_root / name.toStdString()).string()); }
    // The pid of rank 1 as the launcher announces it (0 if the job ended first); what the launcher
    // printed meanwhile is appended to `err`.
    static qint64 rankOnePid(QProcess& job, QString& err) { return rankPid(job, err, 1); }
    static qint64 rankPid(QProcess& job, QString& err, int rank)
    {
        const QRegularExpression started(QString("launch: rank %1 started \\(pid (\\d+)\\)").arg(rank));
        while (job.state() == QProcess::Running) {
            job.waitForReadyRead(1000);
            err += QString::fromUtf8(job.readAllStandardError());
            const auto m = started.match(err);
            if (m.hasMatch())
                return m.captured(1).toLongLong();
        }
        return 0;
    }

private slots:
    void initTestCase()
    {
        if (cli().isEmpty() || !QFileInfo::exists(cli()))
            QSKIP("RSLORA_CLI (the rslora executable) is not available");
        m_root = m_dir.path().toStdString();
        // Hidden 32: on the 16-wide model of other tests the rounding between the runs reached 1.8e-6.
        models::ModelConfig c;
        c.vocabSize = 40;
        c.hiddenSize = 32;
        c.intermediateSize = 64;
        c.numLayers = 2;
        c.numHeads = 4;
        c.numKvHeads = 2;
        c.headDim = 8;
        c.maxPositionEmbeddings = 64;
        c.eosTokenIds = {2};
        c.bosTokenId = 1;
        models::createCausalLM(c, 5)->saveModelFolder(m_root / "model");
        // Rows of different lengths and supervised spans: the two halves of a batch hold different
        // token counts, so the ranks' gradients must be weighted by their shares, not plainly averaged.
        std::ofstream data(m_root / "train.jsonl");
        for (int i = 0; i < 32; ++i) {
            const int n = 3 + i % 7;
            std::string ids = "1", labels = "-100";
            for (int t = 0; t < n; ++t) {
                const std::string id = std::to_string(4 + (i * 3 + t * 5) % 27);
                ids += ", " + id;
                labels += ", " + (t < n / 2 ? std::string("-100") : id);
            }
            data << "{\"input_ids\": [" << ids << ", 2], \"labels\": [" << labels << ", 2]}\n";
        }
        data.close();
        engine::TrainConfig t;
        t.modelPath = (m_root / "model").string();
        t.trainData = (m_root / "train.jsonl").string();
        t.outputDir = (m_root / "out").string();
        t.adapter.rank = 4;
        t.maxSteps = 4;
        t.saveEvery = 2;
        t.batchSize = 8;
        // Rounding differs between the runs (other padding, other summation order), and Adam carries
        // it into the weights in proportion to the learning rate: one process with batch 8 against
        // one with 2 micro-batches of 4 differed by 1e-6 at 5e-3 (measured), 2 processes by 1e-7 at 2e-3.
        t.learningRate = 2e-3;
        t.threads = 1;
        t.validationSplit = 0.0;
        m_config = (m_root / "run.json").string();
        t.save(m_config);
    }

    void twoProcessesTrainWhatOneTrains_data()
    {
        QTest::addColumn<QStringList>("options");
        QTest::addColumn<QString>("tag");
        QTest::addColumn<double>("tolerance");
        QTest::newRow("plain LoRA") << QStringList{} << "0" << 1e-6;
        QTest::newRow("balancing + LoRA+") << QStringList{"--set", "adapter.balance_gradients=true", "--set",
                                                          "adapter.loraplus_lr_ratio=4"} << "1" << 1e-6;
        // Gradients sent in float16: each rank's share rounded to 11 bits, and tiny gradients to
        // float16's subnormals, which Adam's normalised step turns into up to a learning rate's worth
        // per step on such coordinates (measured: 6.9e-5 after 4 steps at learning rate 2e-3).
        QTest::newRow("float16 all-reduce") << QStringList{"--set", "training.allreduce_dtype=float16"} << "2" << 2.5e-4;
        // Three probe batches: rank 0 scores the first and third, rank 1 the second; the table (and so
        // every adapter shape) must be the one process's, which the tensor comparison needs.
        QTest::newRow("sensitivity allocation") << QStringList{"--set", "adapter.rank_allocation=sensitivity", "--set", "adapter.r=8",
                                                               "--set", "adapter.sensitivity_probe_batches=3"}
                                                << "3" << 1e-6;
    }
    void twoProcessesTrainWhatOneTrains()
    {
        QFETCH(QStringList, options);
        QFETCH(QString, tag);
        QFETCH(double, tolerance);
        const Outcome one = runCli(QStringList{"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                               "output.dir=" + out("one-" + tag)} + options);
        QVERIFY2(one.code == 0, qPrintable(one.err + one.out));
        const Outcome two = runCli(launch("match" + tag, QStringList{"--set", "output.dir=" + out("two-" + tag)} + options));
        QVERIFY2(two.code == 0, qPrintable(two.err + two.out));
        QVERIFY2(two.out.contains("[rank 0] processes    2 (data-parallel, gloo)"), qPrintable(two.out));
        QVERIFY2(two.out.contains("[rank 1] status       completed (rank 1 of 2, steps 4)"), qPrintable(two.out));
        const QString differs = sameTrainedAdapter(m_root / ("one-" + tag).toStdString(), m_root / ("two-" + tag).toStdString(),
                                                   tolerance, QTest::currentDataTag());
        QVERIFY2(differs.isEmpty(), qPrintable(differs));
        const auto configOne = adapterConfig(m_root / ("one-" + tag).toStdString());
        QCOMPARE(QString::fromStdString(adapterConfig(m_root / ("two-" + tag).toStdString()).at("rank_pattern").dump()),
                 QString::fromStdString(configOne.at("rank_pattern").dump()));
        if (options.contains("adapter.rank_allocation=sensitivity")) {
            // The allocation gave different modules different ranks (a uniform table would prove nothing).
            std::set<int> ranks;
            for (const auto& [module, r] : configOne.at("rank_pattern").items())
                ranks.insert(r.get<int>());
            ranks.insert(configOne.at("r").get<int>());
            QVERIFY2(ranks.size() >= 2, configOne.dump().c_str());
        }
    }

    // DPO across ranks: each rank scores its shard of the pairs against the cached reference, the
    // pair count and the DPO metrics are summed over the ranks; the adapter is the one process's.
    void twoProcessesTrainDpoAsOne()
    {
        const QString demo = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES")) + "/demo/demo-dpo-config.json";
        QVERIFY2(QFileInfo::exists(demo), qPrintable(demo));
        const QStringList options{"--no-store", "--quiet", "--set", "training.max_steps=3", "--set", "training.batch_size=8",
                                  "--set", "training.warmup_steps=0", "--set", "model.threads=1", "--set", "data.validation=",
                                  "--set", "training.learning_rate=0.001", "--set", "dpo.reference=base"};
        const Outcome one = runCli(QStringList{"train", demo, "--set", "output.dir=" + out("dpo-one")} + options);
        QVERIFY2(one.code == 0, qPrintable(one.err + one.out));
        const Outcome two = runCli(QStringList{"launch", "--nproc", "2", "--timeout", "60", "--store-file", out("store-dpo"), "--",
                                               "train", demo, "--set", "output.dir=" + out("dpo-two")}
                                   + options);
        QVERIFY2(two.code == 0, qPrintable(two.err + two.out));
        QVERIFY2(two.out.contains("[rank 0] processes    2 (data-parallel, gloo)"), qPrintable(two.out));
        const QString differs = sameTrainedAdapter(m_root / "dpo-one", m_root / "dpo-two", 1e-6, "DPO");
        QVERIFY2(differs.isEmpty(), qPrintable(differs));
    }

    // Two launchers, one process each, as node 0 and node 1 of a job: they meet over rank 0's TCP
    // store (no store file), as two machines would, and train what one process trains.
    void twoNodesMeetOverTcp()
    {
        const int port = freePort();
        QVERIFY(port > 0);
        QProcess nodes[2];
        for (int n = 0; n < 2; ++n)
            nodes[n].start(cli(), {"launch", "--nproc", "1", "--nnodes", "2", "--node-rank", QString::number(n), "--master-addr",
                                   "127.0.0.1", "--master-port", QString::number(port), "--timeout", "60", "--", "train",
                                   QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("nodes")});
        for (auto& node : nodes)
            QVERIFY(node.waitForFinished(300000));
        for (int n = 0; n < 2; ++n) {
            const QString err = QString::fromUtf8(nodes[n].readAllStandardError()), o = QString::fromUtf8(nodes[n].readAllStandardOutput());
            QVERIFY2(nodes[n].exitCode() == 0, qPrintable(QString("node %1: ").arg(n) + err + o));
            QVERIFY2(o.contains(n == 0 ? QString("[rank 0] processes    2 (data-parallel, gloo)")
                                       : QString("[rank 1] status       completed (rank 1 of 2, steps 4)")),
                     qPrintable(o));
            // Each launcher speaks for its own machine's ranks (it said "all 1 ranks finished").
            QVERIFY2(err.contains(QString("launch: rank %1 of 2 finished on this machine (node %1 of 2)").arg(n)), qPrintable(err));
        }
        const Outcome one = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                    "output.dir=" + out("nodes-one")});
        QVERIFY2(one.code == 0, qPrintable(one.err + one.out));
        const QString differs = sameTrainedAdapter(m_root / "nodes-one", m_root / "nodes", 1e-6, "two nodes");
        QVERIFY2(differs.isEmpty(), qPrintable(differs));
    }

    // Ranks started by hand with torchrun's variables join on their own; different configs are refused.
    void mismatchedConfigsAreRefused()
    {
        const QString store = out("store-mismatch");
        QProcess ranks[2];
        for (int r = 0; r < 2; ++r) {
            QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
            e.insert("RANK", QString::number(r));
            e.insert("WORLD_SIZE", "2");
            e.insert("RSLORA_STORE_FILE", store);
            e.insert("RSLORA_COLLECTIVE_TIMEOUT", "60");
            ranks[r].setProcessEnvironment(e);
            ranks[r].start(cli(), {"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                   "output.dir=" + out("mismatch"), "--set",
                                   QString("training.learning_rate=%1").arg(r == 0 ? "0.01" : "0.02")});
        }
        for (auto& p : ranks) {
            QVERIFY(p.waitForFinished(120000));
            QVERIFY(p.exitCode() != 0);
            const QString err = QString::fromUtf8(p.readAllStandardError());
            QVERIFY2(err.contains("config differs between rank 0 and rank 1 (rank 0 -> rank 1: training.learning_rate: 0.01 -> 0.02)"),
                     qPrintable(err));
        }
        QVERIFY(!fs::exists(m_root / "mismatch" / "adapter"));
    }

    // A warning only one rank meets (here its own model.threads, which is per machine and may differ
    // between ranks) reaches the user once, labelled with that rank (ranks above 0 printed no warning
    // at all); a warning every rank meets is printed once, by rank 0.
    void warningsOfOneRankAreLabelled()
    {
        const int many = int(std::thread::hardware_concurrency()) + 1;
        const QString warning = QString("model.threads %1 is more than the %2 CPU cores of this machine")
                                    .arg(many)
                                    .arg(std::thread::hardware_concurrency());
        QProcess ranks[2];
        for (int r = 0; r < 2; ++r) {
            QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
            e.insert("RANK", QString::number(r));
            e.insert("WORLD_SIZE", "2");
            e.insert("RSLORA_STORE_FILE", out("store-warn-hand"));
            e.insert("RSLORA_COLLECTIVE_TIMEOUT", "60");
            ranks[r].setProcessEnvironment(e);
            ranks[r].start(cli(), {"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                   "output.dir=" + out("warn-hand"), "--set", QString("model.threads=%1").arg(r == 1 ? many : 1)});
        }
        QString err[2];
        for (int r = 0; r < 2; ++r) {
            QVERIFY(ranks[r].waitForFinished(180000));
            err[r] = QString::fromUtf8(ranks[r].readAllStandardError());
            QVERIFY2(ranks[r].exitCode() == 0, qPrintable(err[r]));
        }
        QVERIFY2(!err[0].contains("model.threads"), qPrintable(err[0]));
        QCOMPARE(err[1].count(warning), 1);
        QVERIFY2(err[1].contains("rank 1 of 2: warning: " + warning), qPrintable(err[1]));

        // Every rank meets it under rslora launch: said once, by rank 0.
        const Outcome job = runCli(launch("warn-all", {"--set", "output.dir=" + out("warn-all"), "--set",
                                                       QString("model.threads=%1").arg(many)}));
        QVERIFY2(job.code == 0, qPrintable(job.err + job.out));
        QCOMPARE(job.err.count(warning), 1);
        QVERIFY2(job.err.contains("[rank 0] warning: " + warning), qPrintable(job.err));
    }

    // A worker killed mid-run ends the job with its rank named; the newest checkpoint loads.
    void killedRankEndsTheJob()
    {
        QProcess job;
        job.start(cli(), launch("kill", {"--set", "output.dir=" + out("killed"), "--set", "training.max_steps=100000"}));
        QVERIFY(job.waitForStarted());
        QString err;
        const qint64 pid = rankOnePid(job, err);
        QVERIFY2(pid > 0, qPrintable(err));
        // Killed once a checkpoint of step 4 or later exists (the older ones are pruned as it goes).
        const fs::path checkpoints = m_root / "killed" / "checkpoints";
        while (job.state() == QProcess::Running && newestCheckpoint(checkpoints).second < 4)
            job.waitForReadyRead(200);
        QVERIFY2(newestCheckpoint(checkpoints).second >= 4, qPrintable(err + QString::fromUtf8(job.readAllStandardError())));
        QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
        QVERIFY(job.waitForFinished(120000));
        err += QString::fromUtf8(job.readAllStandardError());
        QVERIFY(job.exitCode() != 0);
        QVERIFY2(err.contains(QString("launch: rank 1 (pid %1) was killed by signal 9 (SIGKILL) after step ").arg(pid)), qPrintable(err));
        QVERIFY2(err.contains("[rank 0]") && err.contains("data-parallel"), qPrintable(err));

        // The newest complete checkpoint continues in one process (another world size).
        const auto [newest, newestStep] = newestCheckpoint(checkpoints);
        QVERIFY(newestStep >= 4);
        auto config = engine::TrainConfig::load(m_config);
        config.maxSteps = 100000;
        config.outputDir = (m_root / "killed").string();
        auto model = models::loadCausalLM(config.modelPath);
        engine::Trainer trainer(config, *model, engine::loadTokenizedJsonl(config.trainData));
        trainer.resumeFrom(newest);
        const auto saved = models::loadSafeTensorsMap(newest / "adapter" / "adapter_model.safetensors");
        QVERIFY(!saved.empty());
    }

    // Ctrl-C in a terminal signals the whole foreground process group. The ranks were in the
    // launcher's group, so each got the terminal's SIGINT and the launcher's forwarded one: the
    // second ended a rank mid-run ("killed by signal 2"). They stop together at a step, with a
    // checkpoint, and the job continues from it.
    void ctrlCInTheTerminalStopsTheJob()
    {
        QProcess job;
        job.setChildProcessModifier([] { ::setpgid(0, 0); }); // the launcher leads a group, as a shell job does
        job.start(cli(), launch("ctrl-c", {"--set", "output.dir=" + out("ctrl-c"), "--set", "training.max_steps=100000", "--set",
                                           "training.save_every=50"}));
        QVERIFY(job.waitForStarted());
        QString err;
        QVERIFY2(rankOnePid(job, err) > 0, qPrintable(err));
        const fs::path checkpoints = m_root / "ctrl-c" / "checkpoints";
        while (job.state() == QProcess::Running && newestCheckpoint(checkpoints).second < 50)
            job.waitForReadyRead(200);
        QCOMPARE(::kill(-pid_t(job.processId()), SIGINT), 0);
        QVERIFY(job.waitForFinished(120000));
        err += QString::fromUtf8(job.readAllStandardError());
        const QString printed = QString::fromUtf8(job.readAllStandardOutput());
        QVERIFY2(!err.contains("killed by signal"), qPrintable(err));
        // The user's stop is no fault of a rank: not reported as one ("exited with status 130 ...; ending the job").
        QVERIFY2(!err.contains("ending the job") && err.contains(QRegularExpression("launch: rank 1 \\(pid \\d+\\) stopped on the "
                                                                                    "interrupt after step \\d+")),
                 qPrintable(err));
        QVERIFY2(printed.contains("[rank 0] status       stopped: stopped at step"), qPrintable(printed + err));
        QCOMPARE(job.exitCode(), 130);
        // The step they stopped at is the newest checkpoint, and the run bundle says stopped.
        const auto m = QRegularExpression("stopped at step (\\d+)").match(printed);
        QVERIFY2(m.hasMatch(), qPrintable(printed));
        QCOMPARE(newestCheckpoint(checkpoints).second, m.captured(1).toLongLong());
        const auto bundle = nlohmann::json::parse(std::ifstream(m_root / "ctrl-c" / "run-bundle" / "run.json"));
        QCOMPARE(bundle["run"]["status"].get<std::string>(), std::string("stopped"));
    }

    // SIGINT sent to one rank (not to the launcher) stops every rank at the step they agree on; the
    // launcher reports the stop, not a fault of the rank ("exited with status 130 ...; ending the job").
    void stopRequestedAtOneRankIsNoFault()
    {
        QProcess job;
        job.start(cli(), launch("stop-one", {"--set", "output.dir=" + out("stop-one"), "--set", "training.max_steps=100000"}));
        QVERIFY(job.waitForStarted());
        QString err;
        const qint64 pid = rankPid(job, err, 0);
        QVERIFY2(pid > 0, qPrintable(err));
        const fs::path checkpoints = m_root / "stop-one" / "checkpoints";
        while (job.state() == QProcess::Running && newestCheckpoint(checkpoints).second < 2)
            job.waitForReadyRead(200);
        QCOMPARE(::kill(pid_t(pid), SIGINT), 0);
        QVERIFY(job.waitForFinished(120000));
        err += QString::fromUtf8(job.readAllStandardError());
        QCOMPARE(job.exitCode(), 130);
        QVERIFY2(!err.contains("ending the job") && !err.contains("hung"), qPrintable(err));
        for (int rank = 0; rank < 2; ++rank)
            QVERIFY2(err.contains(QRegularExpression(QString("launch: rank %1 \\(pid \\d+\\) stopped on a stop request after step \\d+")
                                                         .arg(rank))),
                     qPrintable(err));
        const auto bundle = nlohmann::json::parse(std::ifstream(m_root / "stop-one" / "run-bundle" / "run.json"));
        QCOMPARE(bundle["run"]["status"].get<std::string>(), std::string("stopped"));
    }

    // A rank that stops answering (SIGSTOP) makes rank 0's collective time out; the launcher ends the
    // job and names the stopped rank as hung, with its last step, and the store holds the run as
    // failed with rank 0's error (not left running).
    void hungRankIsNamed()
    {
        QProcess job;
        const QString db = out("hung.sqlite");
        QStringList args{"launch", "--nproc", "2", "--grace", "2", "--timeout", "10", "--store-file", out("store-hung"), "--", "train",
                         QString::fromStdString(m_config), "--db", db, "--quiet", "--set", "output.dir=" + out("hung"),
                         "--set", "training.max_steps=100000"};
        job.start(cli(), args);
        QVERIFY(job.waitForStarted());
        QString err;
        const qint64 pid = rankOnePid(job, err);
        QVERIFY2(pid > 0, qPrintable(err));
        const auto killStopped = qScopeGuard([pid] { ::kill(pid_t(pid), SIGKILL); }); // whatever the outcome
        const fs::path checkpoints = m_root / "hung" / "checkpoints";
        while (job.state() == QProcess::Running && newestCheckpoint(checkpoints).second < 2)
            job.waitForReadyRead(200);
        QCOMPARE(::kill(pid_t(pid), SIGSTOP), 0);
        QVERIFY(job.waitForFinished(120000));
        err += QString::fromUtf8(job.readAllStandardError());
        QVERIFY(job.exitCode() != 0);
        QVERIFY2(err.contains(QRegularExpression(QString("launch: rank 1 \\(pid %1\\) had not stopped 2 s after the failure, its last "
                                                         "step was \\d+: it hung; stopping it").arg(pid))),
                 qPrintable(err));
        QVERIFY2(err.contains("launch: rank 0 (pid "), qPrintable(err)); // rank 0 failed on the collective's timeout
        QVERIFY2(err.contains("[rank 0]") && err.contains("data-parallel"), qPrintable(err));
        const Outcome runs = runCli({"runs", "list", "--db", db, "--json"});
        QVERIFY2(runs.code == 0, qPrintable(runs.err));
        const auto list = nlohmann::json::parse(runs.out.toStdString());
        QCOMPARE(list.size(), size_t(1));
        QCOMPARE(list[0].at("status").get<std::string>(), std::string("failed"));
        const std::string error = list[0].at("error_message").get<std::string>();
        QVERIFY2(error.find("data-parallel") != std::string::npos, qPrintable(runs.out));
        // LibTorch's message alone, without the C++ stack trace its exceptions carry.
        QVERIFY2(error.find("frame #") == std::string::npos && error.find("Exception raised from") == std::string::npos,
                 error.c_str());
        QVERIFY2(!err.contains("frame #"), qPrintable(err));
    }

    // Rank 0, the one that records the run, stops answering: rank 1 fails on the timeout, the
    // launcher names rank 0 as hung, and rank 0, let run again to take the launcher's SIGTERM, records
    // the run as failed (it was left "running", read later as interrupted); its checkpoints stay loadable.
    void hungRankZeroIsRecordedFailed()
    {
        QProcess job;
        const QString db = out("hung0.sqlite");
        job.start(cli(), {"launch", "--nproc", "2", "--grace", "2", "--timeout", "10", "--store-file", out("store-hung0"), "--",
                          "train", QString::fromStdString(m_config), "--db", db, "--quiet", "--set", "output.dir=" + out("hung0"),
                          "--set", "training.max_steps=100000"});
        QVERIFY(job.waitForStarted());
        QString err;
        const qint64 pid = rankPid(job, err, 0);
        QVERIFY2(pid > 0, qPrintable(err));
        const auto killStopped = qScopeGuard([pid] { ::kill(pid_t(pid), SIGKILL); }); // whatever the outcome
        const fs::path checkpoints = m_root / "hung0" / "checkpoints";
        while (job.state() == QProcess::Running && newestCheckpoint(checkpoints).second < 2)
            job.waitForReadyRead(200);
        QCOMPARE(::kill(pid_t(pid), SIGSTOP), 0);
        QVERIFY(job.waitForFinished(120000));
        err += QString::fromUtf8(job.readAllStandardError());
        QVERIFY(job.exitCode() != 0);
        QVERIFY2(err.contains(QRegularExpression(QString("launch: rank 0 \\(pid %1\\) had not stopped 2 s after the failure, its last "
                                                         "step was \\d+: it hung; stopping it").arg(pid))),
                 qPrintable(err));
        const Outcome runs = runCli({"runs", "list", "--db", db, "--json"});
        QVERIFY2(runs.code == 0, qPrintable(runs.err));
        const auto list = nlohmann::json::parse(runs.out.toStdString());
        QCOMPARE(list.size(), size_t(1));
        QVERIFY2(list[0].at("status").get<std::string>() == "failed", qPrintable(err + runs.out));
        const auto [newest, step] = newestCheckpoint(checkpoints);
        QVERIFY(step >= 2);
        auto config = engine::TrainConfig::load(m_config);
        config.outputDir = out("hung0").toStdString();
        config.maxSteps = 100000;
        auto model = models::loadCausalLM(config.modelPath);
        engine::Trainer trainer(config, *model, engine::loadTokenizedJsonl(config.trainData));
        trainer.resumeFrom(newest);
    }

    // A --store-file in a folder that does not exist is refused before any rank starts (the ranks
    // failed at the rendezvous, after loading, with a hint about late ranks).
    void storeFileInAMissingFolderIsRefused()
    {
        const Outcome job = runCli({"launch", "--nproc", "2", "--store-file", out("missing/store"), "--", "train",
                                    QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("missing-out")});
        QVERIFY(job.code != 0);
        QVERIFY2(job.err.contains("--store-file " + out("missing/store") + ": the folder " + out("missing") + " does not exist"),
                 qPrintable(job.err));
        QVERIFY2(!job.err.contains("started (pid"), qPrintable(job.err));
    }

    // A port another program listens on is refused before any rank starts, naming the option (it
    // was rank 0's failure after the start, and rank 1, waiting to join, was called hung).
    void masterPortInUseIsRefused()
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        const auto closeSocket = qScopeGuard([fd] { ::close(fd); });
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        QCOMPARE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        QCOMPARE(::listen(fd, 4), 0);
        QCOMPARE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
        const QString port = QString::number(ntohs(a.sin_port));
        const Outcome job = runCli({"launch", "--nproc", "2", "--grace", "2", "--timeout", "20", "--master-port", port, "--", "train",
                                    QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("port")});
        QVERIFY(job.code != 0);
        QVERIFY2(job.err.contains("--master-port " + port + " is in use on this machine"), qPrintable(job.err));
        QVERIFY2(!job.err.contains("started (pid") && !job.err.contains("hung"), qPrintable(job.err));
        QVERIFY(!fs::exists(m_root / "port"));
    }

    // `rslora launch -- bench`: both ranks train their shards, rank 0 alone reports the job with the
    // all-reduce time per step.
    void benchUnderLaunchReportsTheAllReduce()
    {
        const Outcome job = runCli({"launch", "--nproc", "2", "--store-file", out("store-bench"), "--", "bench", "--shapes", "5m", "--steps", "1", "--warmup", "1",
                                    "--batch", "2", "--seq", "32", "--threads", "1", "--json"});
        QVERIFY2(job.code == 0, qPrintable(job.err + job.out));
        QString json;
        for (const QString& line : job.out.split('\n')) {
            QVERIFY2(!line.startsWith("[rank 1]"), qPrintable(job.out));
            if (line.startsWith("[rank 0] "))
                json += line.mid(9) + "\n";
        }
        const auto report = nlohmann::json::parse(json.toStdString());
        QCOMPARE(report.at("processes").get<int>(), 2);
        const auto& row = report.at("cases").at(0);
        QVERIFY(row.at("tokens_per_second").get<double>() > 0);
        QVERIFY(row.at("allreduce_seconds").get<double>() > 0);
        QVERIFY(row.at("allreduce_share").get<double>() < 1.0);
        // One backward per step on each rank: every bucket of the adapter gradients starts in it.
        QVERIFY(row.at("allreduce_buckets").get<int64_t>() >= 1);
        QCOMPARE(row.at("buckets_started_in_backward").get<int64_t>(), row.at("allreduce_buckets").get<int64_t>());
    }

    // From the step-2 checkpoint of a 2-process run: 2 processes again end bitwise where the
    // uninterrupted run ended; 1 process continues it too (to rounding) and says so.
    void resumeIsBitwiseAndWorksWithAnotherWorldSize()
    {
        const Outcome full = runCli(launch("full", {"--set", "output.dir=" + out("full")}));
        QVERIFY2(full.code == 0, qPrintable(full.err + full.out));
        QVERIFY(fs::exists(m_root / "full" / "checkpoints" / "step-2"));
        for (const char* name : {"again", "single"}) {
            fs::create_directories(m_root / name / "checkpoints");
            fs::copy(m_root / "full" / "checkpoints" / "step-2", m_root / name / "checkpoints" / "step-2",
                     fs::copy_options::recursive);
        }
        const Outcome again = runCli(launch("again", {"--set", "output.dir=" + out("again"), "--resume", "latest"}));
        QVERIFY2(again.code == 0, qPrintable(again.err + again.out));
        QVERIFY2(bitwiseEqual(adapterTensors(m_root / "full"), adapterTensors(m_root / "again")), "2-process resume is not bitwise");
        const Outcome single = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                       "output.dir=" + out("single"), "--resume", "latest"});
        QVERIFY2(single.code == 0, qPrintable(single.err + single.out));
        QVERIFY2(single.err.contains("(written by 2 data-parallel processes) with 1"), qPrintable(single.err));
        const double diff = maxDifference(adapterTensors(m_root / "full"), adapterTensors(m_root / "single"));
        QVERIFY2(diff < 1e-6, qPrintable(QString("max |2 processes - resumed in 1| = %1").arg(diff)));
        // Resumed by 3 processes: the job says so once (rank 0), not once per rank.
        fs::create_directories(m_root / "three" / "checkpoints");
        fs::copy(m_root / "full" / "checkpoints" / "step-2", m_root / "three" / "checkpoints" / "step-2", fs::copy_options::recursive);
        QStringList three = launch("three", {"--set", "output.dir=" + out("three"), "--resume", "latest"});
        three[2] = "3";
        const Outcome resumed = runCli(three);
        QVERIFY2(resumed.code == 0, qPrintable(resumed.err + resumed.out));
        QCOMPARE(resumed.err.count("(written by 2 data-parallel processes) with 3"), 1);
        QVERIFY2(resumed.err.contains("[rank 0] warning: resuming"), qPrintable(resumed.err));
    }

    // A clean run prints our lines only: none of c10d's own log lines (glog's "W1206 12:00:00.000 socket.cpp:601]
    // [c10d] ...", c10's "[W socket.cpp:...]") around the rendezvous.
    void cleanRunPrintsOurLinesOnly()
    {
        const int port = freePort();
        QVERIFY(port > 0);
        const Outcome job = runCli({"launch", "--nproc", "2", "--master-port", QString::number(port), "--timeout", "60", "--", "train",
                                    QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("clean"),
                                    "--set", "training.max_steps=2"});
        QVERIFY2(job.code == 0, qPrintable(job.err + job.out));
        for (const QString& line : (job.err + job.out).split('\n', Qt::SkipEmptyParts))
            QVERIFY2(line.startsWith("launch: ") || line.startsWith("[rank 0] ") || line.startsWith("[rank 1] "), qPrintable(line));
        QVERIFY2(!job.err.contains("[c10d]") && !job.err.contains(".cpp:") && !job.err.contains("InitGoogleLogging"), qPrintable(job.err));
    }

    // The job's lines come once, from rank 0: the config warning, the evaluation result, the summary;
    // rank 1 says only how it ended (stdout) and nothing on stderr in a clean run; no "[rank N]" line
    // is empty (each rank ended its progress output with one).
    void perRunLinesComeFromRankZeroOnly()
    {
        const QString demo = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES")) + "/demo/demo-config.json";
        QVERIFY2(QFileInfo::exists(demo), qPrintable(demo));
        const Outcome job = runCli({"launch", "--nproc", "2", "--timeout", "60", "--store-file", out("store-console"), "--", "train",
                                    demo, "--no-store", "--set", "output.dir=" + out("console"), "--set", "training.max_steps=10",
                                    "--set", "training.warmup_steps=10", "--set", "model.threads=1"});
        QVERIFY2(job.code == 0, qPrintable(job.err + job.out));
        const QString warning = "training.warmup_steps 10 is not shorter than the run (training.max_steps 10)";
        QCOMPARE(job.err.count(warning), 1);
        QVERIFY2(job.err.contains("[rank 0] warning: " + demo + ": " + warning), qPrintable(job.err));
        QCOMPARE(job.err.count(QRegularExpression("eval at step 10: loss")), 1);
        QVERIFY2(job.err.contains(QRegularExpression("\\[rank 0\\] eval at step 10: loss")), qPrintable(job.err));
        QCOMPARE(job.out.count("final loss"), 1);
        QCOMPARE(job.out.count("status       "), 2);
        QVERIFY2(job.out.contains("[rank 0] status       completed\n"), qPrintable(job.out));
        QVERIFY2(job.out.contains("[rank 1] status       completed (rank 1 of 2, steps 10)\n"), qPrintable(job.out));
        for (const QString& line : job.err.split('\n'))
            QVERIFY2(!line.startsWith("[rank 1]"), qPrintable(job.err));
        const QRegularExpression empty("^\\[rank \\d+\\]\\s*$", QRegularExpression::MultilineOption);
        QVERIFY2(!empty.match(job.err).hasMatch() && !empty.match(job.out).hasMatch(), qPrintable(job.err + job.out));
    }

    // A rank whose peers never come fails with our error alone; c10d's own lines about the same
    // timeout ("[c10d] The client socket has timed out ...", glog's note about its initialisation)
    // are not printed beside it, unless TORCH_CPP_LOG_LEVEL asks for them.
    void rendezvousTimeoutIsReportedOnce()
    {
        const int port = freePort();
        QVERIFY(port > 0);
        QMap<QString, QString> env{{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
                                   {"MASTER_PORT", QString::number(port)}, {"RSLORA_COLLECTIVE_TIMEOUT", "3"}};
        const QStringList args{"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("alone")};
        const Outcome alone = runCli(args, env);
        QVERIFY(alone.code != 0);
        QVERIFY2(alone.err.contains("error: cannot join the data-parallel group (rank 1 of 2) through the TCP store at 127.0.0.1:"),
                 qPrintable(alone.err));
        QVERIFY2(!alone.err.contains("[c10d]") && !alone.err.contains("InitGoogleLogging"), qPrintable(alone.err));
        env.insert("TORCH_CPP_LOG_LEVEL", "WARNING");
        const Outcome verbose = runCli(args, env);
        QVERIFY(verbose.code != 0);
        QVERIFY2(verbose.err.contains("[c10d]"), qPrintable(verbose.err));
    }

    // A --master-addr (or MASTER_ADDR) that does not resolve fails at once, naming the host; c10d
    // retried it as a late rank 0 until the rendezvous timeout.
    void unresolvableMasterAddressFailsAtOnce()
    {
        QElapsedTimer clock;
        clock.start();
        const Outcome job = runCli({"launch", "--nproc", "2", "--master-addr", "no-such-host.invalid", "--timeout", "120", "--", "train",
                                    QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("nohost")});
        QVERIFY(job.code != 0);
        QVERIFY2(job.err.contains("error: --master-addr 'no-such-host.invalid': the host name of rank 0's machine does not resolve"),
                 qPrintable(job.err));
        QVERIFY2(!job.err.contains("started (pid"), qPrintable(job.err));
        const Outcome rank = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "output.dir=" + out("nohost")},
                                    {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "no-such-host.invalid"},
                                     {"MASTER_PORT", QString::number(freePort())}, {"RSLORA_COLLECTIVE_TIMEOUT", "120"}});
        QVERIFY(rank.code != 0);
        QVERIFY2(rank.err.contains("error: MASTER_ADDR 'no-such-host.invalid': the host name of rank 0's machine does not resolve"),
                 qPrintable(rank.err));
        QVERIFY2(clock.elapsed() < 60000, qPrintable(QString("took %1 ms").arg(clock.elapsed())));
        QVERIFY(!fs::exists(m_root / "nohost" / "adapter"));
    }
};

QTEST_GUILESS_MAIN(DataParallelTest)
#include "DataParallelTest.moc"
