// `rslora train` end to end on a tiny saved model: a run writes a PEFT adapter and a run bundle;
// a config with a typo fails before any work with "did you mean"; `--resume latest` continues.
#include "common/Sha256.h"
#include "engine/TrainConfig.h"
#include "models/ModelLoader.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

using namespace rslora;
namespace fs = std::filesystem;

namespace {

struct Outcome {
    int code = -1;
    QString out, err;
};

Outcome runCli(const QStringList& args, const QString& workingDirectory = {})
{
    QProcess p;
    if (!workingDirectory.isEmpty())
        p.setWorkingDirectory(workingDirectory);
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(300000); // minutes: a bound for a hang only, reached on no machine however loaded
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

} // namespace

class CliTrainTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    std::string m_config;

private slots:
    void initTestCase()
    {
        if (qgetenv("RSLORA_CLI").isEmpty() || !QFileInfo::exists(QString::fromLocal8Bit(qgetenv("RSLORA_CLI"))))
            QSKIP("RSLORA_CLI (the rslora executable) is not available");
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
        const fs::path root = m_dir.path().toStdString();
        models::createCausalLM(c, 5)->saveModelFolder(root / "model");
        std::ofstream data(root / "train.jsonl");
        for (int i = 0; i < 16; ++i)
            data << "{\"input_ids\": [1, " << 4 + i % 30 << ", " << 5 + i % 29 << ", 3, " << 5 + i % 29 << ", 2], "
                 << "\"labels\": [-100, -100, -100, -100, " << 5 + i % 29 << ", 2]}\n";
        engine::TrainConfig t;
        t.modelPath = (root / "model").string();
        t.trainData = (root / "train.jsonl").string();
        t.outputDir = (root / "out").string();
        t.adapter.rank = 4;
        t.maxSteps = 4;
        t.saveEvery = 2;
        t.batchSize = 4;
        m_config = (root / "run.json").string();
        t.save(m_config);
    }

    void trainWritesAdapterAndBundle()
    {
        const Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const fs::path out = fs::path(m_dir.path().toStdString()) / "out";
        QVERIFY(fs::exists(out / "adapter" / "adapter_model.safetensors"));
        QVERIFY(fs::exists(out / "run-bundle" / "run.json"));
        QVERIFY(o.out.contains("trainable"));
    }

    // A --no-store bundle holds its run's adapter (files, hash and record) and imports with it.
    void bundleHoldsTheAdapterAndImports()
    {
        auto printed = [](const QString& out, const QString& label) {
            for (const QString& line : out.split('\n'))
                if (line.startsWith(label))
                    return line.mid(label.size()).trimmed().toStdString();
            return std::string();
        };
        const Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                                  "output.dir=" + m_dir.filePath("out-bundle")});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const fs::path bundle = printed(o.out, "run bundle"), adapter = printed(o.out, "saved");
        QVERIFY2(fs::exists(bundle / "run.json"), qPrintable(o.out));
        const auto doc = nlohmann::json::parse(std::ifstream(bundle / "run.json"));
        QVERIFY(doc["run"]["start_time"].is_number());
        // The training file's and the base model's identities, as a stored run records them (both empty).
        const std::string dataPath = doc["run"]["dataset"]["ref"].get<std::string>();
        QCOMPARE(doc["run"]["dataset"]["sha256"].get<std::string>(), Sha256::fileHex(dataPath));
        QCOMPARE(doc["run"]["base_model"]["sha256"].get<std::string>().size(), size_t(64));
        QCOMPARE(doc["adapters"].size(), size_t(1));
        const auto& a = doc["adapters"][0];
        const std::string hash = Sha256::directoryHex(adapter);
        QCOMPARE(a["sha256"].get<std::string>(), hash);
        QCOMPARE(Sha256::directoryHex(bundle / a["dir"].get<std::string>()), hash);
        QCOMPARE(a["rank"].get<int>(), 4);
        QVERIFY(!a["method"].get<std::string>().empty());
        QCOMPARE(doc["artifacts"][0]["kind"].get<std::string>(), std::string("checkpoint"));

        const QString db = m_dir.filePath("import.sqlite");
        const Outcome imp = runCli({"runs", "import", QString::fromStdString(bundle.string()), "--db", db, "--json"});
        QVERIFY2(imp.code == 0, qPrintable(imp.err));
        const auto ids = nlohmann::json::parse(imp.out.toStdString())["adapter_ids"];
        QCOMPARE(ids.size(), size_t(1));
        const Outcome show = runCli({"adapters", "show", QString::number(ids[0].get<int64_t>()), "--db", db, "--json"});
        QCOMPARE(nlohmann::json::parse(show.out.toStdString())["sha256"].get<std::string>(), hash);
    }

    // runs diff prints every differing value whole (values were cut to 20 characters, so two output
    // folders differing past the cut showed as the same text).
    void runsDiffShowsWholeValues()
    {
        const QString db = m_dir.filePath("diff.sqlite");
        QStringList dirs;
        for (const QString& leaf : {"a-long-output-folder-name-1", "a-long-output-folder-name-2"}) {
            dirs << m_dir.filePath(leaf);
            const Outcome o = runCli({"train", QString::fromStdString(m_config), "--quiet", "--db", db, "--set",
                                      "output.dir=" + dirs.back()});
            QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        }
        const Outcome diff = runCli({"runs", "diff", "1", "2", "--db", db});
        QVERIFY2(diff.code == 0, qPrintable(diff.err));
        const QStringList lines = diff.out.split('\n', Qt::SkipEmptyParts);
        const auto row = std::find_if(lines.begin(), lines.end(), [](const QString& l) { return l.startsWith("output.dir "); });
        QVERIFY2(row != lines.end(), qPrintable(diff.out));
        QVERIFY2(row->contains(dirs[0] + "  " + dirs[1]), qPrintable(diff.out));
        // Export and import count one adapter and one artifact in the singular.
        const Outcome exp = runCli({"runs", "export", "1", m_dir.filePath("diff-bundle"), "--db", db});
        QVERIFY2(exp.code == 0, qPrintable(exp.err));
        QVERIFY2(exp.out.trimmed().endsWith("metric points, 1 adapter"), qPrintable(exp.out));
        const Outcome imp = runCli({"runs", "import", m_dir.filePath("diff-bundle"), "--as-new", "--db", db});
        QVERIFY2(imp.code == 0, qPrintable(imp.err));
        QVERIFY2(imp.out.contains("metric points, 1 adapter, 1 artifact\n"), qPrintable(imp.out));
    }

    void resumeLatest()
    {
        // The same config continues from its newest checkpoint (the run had finished: nothing to do).
        Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--resume", "latest"});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY2(o.out.contains("steps        4"), qPrintable(o.out));
        // A config that trains something else does not continue that checkpoint; the keys are named.
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--resume", "latest",
                    "--set", "training.max_steps=6"});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("training.max_steps: 4 -> 6"), qPrintable(o.err));
    }

    // Relative paths in a config are taken from its folder, not from where rslora runs (before, a
    // config with relative paths trained only when started from its folder).
    void relativePathsFromTheConfigFolder()
    {
        const fs::path root = m_dir.path().toStdString();
        fs::create_directories(root / "configs");
        fs::create_directories(root / "elsewhere");
        auto j = nlohmann::json::parse(std::ifstream(m_config));
        j["model"]["path"] = "../model";
        j["data"]["train"] = "../train.jsonl";
        j["output"]["dir"] = "out-relative";
        std::ofstream(root / "configs" / "relative.json") << j.dump(2);
        const Outcome o = runCli({"train", "../configs/relative.json", "--no-store", "--quiet"},
                                 QString::fromStdString((root / "elsewhere").string()));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY(fs::exists(root / "configs" / "out-relative" / "adapter" / "adapter_model.safetensors"));
        QVERIFY(!fs::exists(root / "elsewhere" / "out-relative"));
    }

    // A relative path given with --set is the shell's: taken from the working folder, and recorded
    // as the absolute path it names (it was recorded as written, so a resume from another folder, or
    // the workbench, looked for it elsewhere).
    void setPathsFromTheWorkingFolder()
    {
        const fs::path root = m_dir.path().toStdString();
        fs::create_directories(root / "setdir");
        const Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "data.train=../train.jsonl",
                                  "--set", "output.dir=out-set"},
                                 QString::fromStdString((root / "setdir").string()));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY(fs::exists(root / "setdir" / "out-set" / "adapter" / "adapter_model.safetensors"));
        const auto saved = nlohmann::json::parse(std::ifstream(root / "setdir" / "out-set" / "train_config.json"));
        QCOMPARE(QString::fromStdString(saved["data"]["train"].get<std::string>()),
                 QString::fromStdString((root / "train.jsonl").lexically_normal().string()));
        QCOMPARE(QString::fromStdString(saved["output"]["dir"].get<std::string>()),
                 QString::fromStdString((root / "setdir" / "out-set").string()));
    }

    // The same for a pipeline: --set changes the base of every stage, a relative path taken from the
    // working folder.
    void pipelineSetPathsFromTheWorkingFolder()
    {
        const fs::path root = m_dir.path().toStdString();
        fs::create_directories(root / "pipe");
        fs::create_directories(root / "setdir");
        std::ofstream(root / "pipe" / "p.yaml") << "pipeline: {name: p, output_dir: out-p}\n"
                                                   "base:\n  model: {path: ../model}\n  adapter: {r: 2}\n"
                                                   "  training: {max_steps: 1, batch_size: 4}\n"
                                                   "stages:\n  - {name: a, data: ../train.jsonl}\n";
        const Outcome o = runCli({"train", QString::fromStdString((root / "pipe" / "p.yaml").string()), "--no-store", "--quiet", "--set",
                                  "data.validation=../train.jsonl"},
                                 QString::fromStdString((root / "setdir").string()));
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        const auto saved = nlohmann::json::parse(std::ifstream(root / "pipe" / "out-p" / "01-a" / "train_config.json"));
        QCOMPARE(QString::fromStdString(saved["data"]["validation"].get<std::string>()),
                 QString::fromStdString((root / "train.jsonl").lexically_normal().string()));
    }

    // A pipeline stopped with Ctrl-C names the command that continues it: with --no-store and the
    // --set overrides it ran with (without them the pipeline's state was looked for elsewhere, or
    // another config trained), and that command continues it to the end.
    void stoppedPipelineNamesTheSameCommand()
    {
        const fs::path root = m_dir.path().toStdString();
        fs::create_directories(root / "stop");
        const std::string yaml = (root / "stop" / "p.yaml").string();
        std::ofstream(yaml) << "pipeline: {name: p, output_dir: out-stop}\nbase:\n  model: {path: ../model}\n  adapter: {r: 2}\n"
                               "  training: {max_steps: 3000, batch_size: 4, save_every: 1000}\n"
                               "stages:\n  - {name: a, data: ../train.jsonl}\n";
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")),
                {"train", QString::fromStdString(yaml), "--no-store", "--quiet", "--set", "training.log_every=7"});
        QVERIFY(p.waitForStarted());
        // Ctrl-C as soon as the pipeline is announced (however long the start-up took on a loaded
        // machine): it is caught from then on, so the pipeline stops with its state kept. It was
        // caught only once the line was printed, and a SIGINT in between killed the process silently.
        QString out;
        QElapsedTimer clock;
        clock.start();
        while (!out.contains("stages into") && p.state() == QProcess::Running && clock.elapsed() < 300000) {
            p.waitForReadyRead(1000);
            out += QString::fromUtf8(p.readAllStandardOutput());
        }
        QVERIFY2(out.contains("stages into"), qPrintable(out + p.readAllStandardError()));
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(300000));
        out += QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 130, qPrintable(out + p.readAllStandardError()));
        QVERIFY2(out.contains("status       stopped"), qPrintable(out + p.readAllStandardError()));
        const QString again = "continue with: rslora train " + QString::fromStdString(yaml) +
                              " --resume latest --no-store --set training.log_every=7";
        QVERIFY2(out.contains(again), qPrintable(out));
        const Outcome o = runCli({"train", QString::fromStdString(yaml), "--resume", "latest", "--no-store", "--quiet", "--set",
                                  "training.log_every=7"});
        QVERIFY2(o.code == 0 && o.out.contains("status       completed"), qPrintable(QString::number(o.code) + o.out + o.err));
    }

    // A config kept in its output folder as train_config.json, the name under which a run saves the
    // config it trains, is not replaced by the run: refused before anything is written. The saved
    // config of a run, trained again as it is, rewrites the same bytes and is accepted.
    void configFileInOutputFolderIsNotOverwritten()
    {
        const fs::path root = m_dir.path().toStdString();
        fs::create_directories(root / "own");
        auto j = nlohmann::json::parse(std::ifstream(m_config));
        j["output"]["dir"] = ".";
        const std::string text = j.dump(1) + "\n";
        const fs::path mine = root / "own" / "train_config.json";
        std::ofstream(mine) << text;
        const Outcome o = runCli({"train", QString::fromStdString(mine.string()), "--no-store", "--quiet"});
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY2(o.err.contains("holds the config file being trained") && o.err.contains(QString::fromStdString(mine.string())),
                 qPrintable(o.err));
        std::ifstream in(mine);
        QCOMPARE(QString::fromStdString(std::string(std::istreambuf_iterator<char>(in), {})), QString::fromStdString(text));
        QVERIFY(!fs::exists(root / "own" / "adapter"));
        QVERIFY(!fs::exists(root / "own" / "checkpoints"));

        const Outcome again = runCli({"train", QString::fromStdString((root / "out" / "train_config.json").string()), "--no-store",
                                      "--quiet", "--resume", "latest"});
        QVERIFY2(again.code == 0, qPrintable(again.err + again.out));
    }

    // A file of the user's own named train_config.json in output.dir is not replaced by the config a
    // fresh run saves there: refused before anything is written, the file kept as it was. The config
    // a run saved there (one that ended before its first checkpoint) is replaced as before.
    void ownTrainConfigFileInOutputDirIsKept()
    {
        const fs::path root = m_dir.path().toStdString();
        const fs::path dir = root / "keeps-mine";
        fs::create_directories(dir);
        const std::string mine = "{\"notes\": \"my settings, not a run's\"}\n";
        std::ofstream(dir / "train_config.json") << mine;
        const QString outSet = QString::fromStdString("output.dir=" + dir.string());
        Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", outSet});
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY2(o.err.contains(QString::fromStdString("output.dir '" + dir.string() + "' already holds a file train_config.json ("
                                                       + (dir / "train_config.json").string() + ") that is not a config saved by a run")),
                 qPrintable(o.err));
        std::ifstream in(dir / "train_config.json");
        QCOMPARE(QString::fromStdString(std::string(std::istreambuf_iterator<char>(in), {})), QString::fromStdString(mine));
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(dir))
            left.push_back(e.path().filename().string());
        QCOMPARE(left, std::vector<std::string>{"train_config.json"});

        // A config saved by a run for this folder (of another config: a run killed before its first
        // checkpoint, started again with a change) is the run's to replace.
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", QString::fromStdString("output.dir=" + (root / "saved-by-run").string()),
                    "--set", "training.max_steps=1"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        for (const char* name : {"adapter", "checkpoints", "run-bundle"})
            fs::remove_all(root / "saved-by-run" / name);
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", QString::fromStdString("output.dir=" + (root / "saved-by-run").string()),
                    "--set", "training.max_steps=2"});
        QVERIFY2(o.code == 0, qPrintable(o.err));
        const auto saved = nlohmann::json::parse(std::ifstream(root / "saved-by-run" / "train_config.json"));
        QCOMPARE(saved["training"]["max_steps"].get<int>(), 2);
    }

    // A start refused for its output folder leaves nothing behind: no run bundle (an empty
    // run-bundle/adapters was left), no lock file, and no folder it created for the run.
    void refusedStartLeavesNothing()
    {
        const fs::path root = m_dir.path().toStdString();
        const fs::path dir = root / "refused";
        fs::create_directories(dir / "adapter");
        std::ofstream(dir / "adapter" / "notes.txt") << "mine";
        Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                            QString::fromStdString("output.dir=" + dir.string())});
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY2(o.err.contains("already holds a folder 'adapter'"), qPrintable(o.err));
        std::vector<std::string> left;
        for (const auto& e : fs::recursive_directory_iterator(dir))
            left.push_back(fs::relative(e.path(), dir).string());
        std::sort(left.begin(), left.end());
        QCOMPARE(left, (std::vector<std::string>{"adapter", "adapter/notes.txt"}));
        // A folder that did not exist is not left created (nor its parents).
        const fs::path fresh = root / "not-yet" / "run";
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--resume", "latest", "--set",
                    QString::fromStdString("output.dir=" + fresh.string())});
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY2(o.err.contains("no checkpoint to resume"), qPrintable(o.err));
        QVERIFY(!fs::exists(root / "not-yet"));
        // --resume naming no checkpoint says so, and creates nothing either.
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--resume", QString::fromStdString((root / "nowhere").string()),
                    "--set", QString::fromStdString("output.dir=" + fresh.string())});
        QVERIFY2(o.code != 0 && o.err.contains(QString::fromStdString("the checkpoint to resume from, '" + (root / "nowhere").string() + "', does not exist")),
                 qPrintable(o.err));
        o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--resume", QString::fromStdString((root / "model").string()),
                    "--set", QString::fromStdString("output.dir=" + fresh.string())});
        QVERIFY2(o.code != 0 && o.err.contains(QString::fromStdString("the folder to resume from, '" + (root / "model").string() + "', is not a checkpoint: it holds no checkpoint.json")),
                 qPrintable(o.err));
        QVERIFY(!fs::exists(root / "not-yet"));
        // An output.dir that is a file, or lies under one, is named as such.
        std::ofstream(root / "a-file") << "mine";
        for (const fs::path& bad : {root / "a-file", root / "a-file" / "sub"}) {
            o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set",
                        QString::fromStdString("output.dir=" + bad.string())});
            QVERIFY2(o.code != 0 && o.err.contains(QString::fromStdString("output.dir '" + bad.string() + "' cannot be a folder: "))
                         && o.err.contains("is a file"),
                     qPrintable(o.err));
        }
        // The same with the store: the failed run is recorded there, the folder is not left behind.
        o = runCli({"train", QString::fromStdString(m_config), "--quiet", "--db", m_dir.filePath("refused.sqlite"), "--set",
                    QString::fromStdString("output.dir=" + dir.string())});
        QVERIFY2(o.code != 0, qPrintable(o.out));
        QVERIFY(!fs::exists(dir / ".rslora-run.lock"));
    }

    // A value that validation refuses is named with the config file and, in a YAML file, its line
    // and column; a value given with --set says so.
    void refusedValuesNameFileAndLine()
    {
        const fs::path root = m_dir.path().toStdString();
        const std::string yaml = (root / "bad-values.yaml").string();
        std::ofstream(yaml) << "model: {path: model}\ndata: {train: train.jsonl}\ntraining:\n  max_steps: 2\n  learning_rate: .nan\n"
                               "  batch_size: 0\noutput: {dir: out-bad-values}\n";
        Outcome o = runCli({"train", QString::fromStdString(yaml), "--no-store", "--quiet"});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(QString::fromStdString(yaml) + ": the training config has 2 problems:"), qPrintable(o.err));
        QVERIFY2(o.err.contains("training.learning_rate must be > 0, found nan (line 5, column 3)"), qPrintable(o.err));
        QVERIFY2(o.err.contains("training.batch_size must be >= 1, found 0 (line 6, column 3)"), qPrintable(o.err));
        o = runCli({"train", QString::fromStdString(yaml), "--no-store", "--quiet", "--set", "training.learning_rate=0.1", "--set",
                    "training.batch_size=-2"});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains(QString::fromStdString(yaml) + ": training.batch_size must be >= 1, found -2 (--set training.batch_size)"),
                 qPrintable(o.err));
        QVERIFY(!fs::exists(root / "out-bad-values"));
    }

    // A warmup as long as the run trains, with a warning that the learning rate is never reached.
    void warmupLongerThanTheRunWarns()
    {
        const fs::path root = m_dir.path().toStdString();
        const Outcome o = runCli({"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "training.warmup_steps=10",
                                  "--set", QString::fromStdString("output.dir=" + (root / "out-warmup").string())});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY2(o.err.contains("training.warmup_steps 10 is not shorter than the run (training.max_steps 4): the learning rate never "
                                "reaches training.learning_rate"),
                 qPrintable(o.err));
    }

    // Samples longer than the model's context (max_seq_len above max_position_embeddings 64) train, with
    // a warning naming how many and how to cut them; short samples under the same max_seq_len say nothing.
    void samplesBeyondTheContextWarn()
    {
        const fs::path root = m_dir.path().toStdString();
        {
            std::ofstream data(root / "long.jsonl");
            for (int i = 0; i < 8; ++i) {
                const int n = i < 3 ? 80 : 10;
                data << "{\"input_ids\": [1";
                for (int k = 1; k < n; ++k)
                    data << ", " << 4 + (i + k) % 30;
                data << "], \"labels\": [-100";
                for (int k = 1; k < n; ++k)
                    data << ", " << 4 + (i + k) % 30;
                data << "]}\n";
            }
        }
        const QStringList common = {"train", QString::fromStdString(m_config), "--no-store", "--quiet", "--set", "data.max_seq_len=128"};
        Outcome o = runCli(common + QStringList{"--set", QString::fromStdString("data.train=" + (root / "long.jsonl").string()), "--set",
                                                QString::fromStdString("output.dir=" + (root / "out-long").string())});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY2(o.err.contains("3 of 8 samples are longer than the model's context (max_position_embeddings 64 in config.json; the "
                                "longest has 80 tokens, data.max_seq_len is 128)"),
                 qPrintable(o.err));
        QVERIFY2(o.err.contains("set data.max_seq_len to 64 to cut them"), qPrintable(o.err));
        o = runCli(common + QStringList{"--set", QString::fromStdString("output.dir=" + (root / "out-short").string())});
        QVERIFY2(o.code == 0, qPrintable(o.err + o.out));
        QVERIFY2(!o.err.contains("longer than the model's context"), qPrintable(o.err));
    }

    // data.chat_template naming a template the tokenizer does not have is refused before anything is
    // recorded or created, with the key, the model folder and the names it has (it said only "the
    // tokenizer has no chat template named ...", after the store had a failed run for it).
    void unknownChatTemplateNamesKeyAndChoices()
    {
        const QByteArray resources = qgetenv("RSLORA_RESOURCES");
        QVERIFY2(!resources.isEmpty(), "RSLORA_RESOURCES is not set");
        const fs::path out = fs::path(m_dir.path().toStdString()) / "out-template";
        const QString db = m_dir.filePath("template.sqlite");
        for (const QString& store : {QString("--no-store"), QString("--db=") + db}) {
            const Outcome o = runCli({"train", QString::fromLocal8Bit(resources) + "/demo/demo-config.json", store, "--quiet", "--set",
                                      "data.chat_template=chatml", "--set", "training.max_steps=1", "--set",
                                      QString::fromStdString("output.dir=" + out.string())});
            QVERIFY(o.code != 0);
            QVERIFY2(o.err.contains("demo-config.json: data.chat_template: the tokenizer of model.path '"), qPrintable(o.err));
            QVERIFY2(o.err.contains("has no chat template named \"chatml\"; its chat templates are \"default\" (set "
                                    "data.chat_template to one of them, or remove it to use \"default\") (--set data.chat_template)"),
                     qPrintable(o.err));
            QVERIFY(!fs::exists(out));
        }
        const Outcome runs = runCli({"runs", "list", "--json", "--db", db});
        QCOMPARE(runs.out.trimmed(), QString("[]"));
    }

    // Data the trainer would refuse is refused before a run row, a bundle or a run folder exists: a
    // record with a bad field deep in the file, data whose every sample max_seq_len leaves without a
    // response token, a 0-byte file, pre-tokenized data with a bad id on its last line (each left a
    // failed run in the store, found only after the run had started).
    void badDataLeavesNoRun()
    {
        const QByteArray resources = qgetenv("RSLORA_RESOURCES");
        QVERIFY2(!resources.isEmpty(), "RSLORA_RESOURCES is not set");
        const QString demo = QString::fromLocal8Bit(resources) + "/demo/demo-config.json";
        const fs::path root = m_dir.path().toStdString();
        const fs::path deep = root / "deep-bad.jsonl", empty = root / "empty.jsonl", lastId = root / "last-id.jsonl";
        {
            std::ifstream in(QString::fromLocal8Bit(resources).toStdString() + "/demo/data/facts_train.jsonl");
            std::ofstream out(deep);
            std::string line;
            for (int n = 1; std::getline(in, line); ++n)
                out << (n == 200 ? std::string("{\"instruction\": \"What is 2?\", \"output\": 2}") : line) << "\n";
            std::ofstream{empty};
            std::ofstream ids(lastId);
            for (int i = 0; i < 8; ++i)
                ids << "{\"input_ids\": [1, 4, 5, " << (i == 7 ? 40 : 6) << ", 2]}\n";
        }
        const QString db = m_dir.filePath("bad-data.sqlite");
        const fs::path out = root / "out-bad-data";
        struct Case {
            QString config;
            QStringList set;
            QString error;
        };
        const std::vector<Case> cases{
            {demo, {"data.train=" + QString::fromStdString(deep.string())}, "deep-bad.jsonl line 200: field \"output\" must be a string, found number"},
            {demo, {"data.max_seq_len=4"}, "facts_train.jsonl: no usable samples (232 records -> 0 samples"},
            {demo, {"data.train=" + QString::fromStdString(empty.string())}, "holds no samples"},
            {QString::fromStdString(m_config), {"data.train=" + QString::fromStdString(lastId.string())},
             QString::fromStdString(lastId.string()) + ":8: input_ids[3] = 40 is outside the model's vocabulary"},
        };
        for (const Case& c : cases)
            for (const QString& store : {QString("--no-store"), QString("--db=") + db}) {
                QStringList args{"train", c.config, store, "--quiet", "--set", "training.max_steps=1", "--set",
                                 QString::fromStdString("output.dir=" + out.string())};
                for (const QString& s : c.set)
                    args << "--set" << s;
                const Outcome o = runCli(args);
                QVERIFY2(o.code != 0, qPrintable(c.set.join(' ') + ": " + o.out));
                QVERIFY2(o.err.contains(c.error), qPrintable(c.set.join(' ') + ": " + o.err));
                QVERIFY2(!fs::exists(out), qPrintable(c.set.join(' ')));
            }
        const Outcome runs = runCli({"runs", "list", "--json", "--db", db});
        QVERIFY2(runs.code == 0, qPrintable(runs.err));
        QCOMPARE(runs.out.trimmed(), QString("[]"));
    }

    void typoFailsBeforeWork()
    {
        auto j = nlohmann::json::parse(std::ifstream(m_config));
        j["training"]["lerning_rate"] = 0.1;
        const std::string bad = (fs::path(m_dir.path().toStdString()) / "bad.json").string();
        std::ofstream(bad) << j.dump();
        const Outcome o = runCli({"train", QString::fromStdString(bad), "--no-store"});
        QVERIFY(o.code != 0);
        QVERIFY2(o.err.contains("unknown key 'lerning_rate' (did you mean 'learning_rate'?)"), qPrintable(o.err));
    }
};

QTEST_GUILESS_MAIN(CliTrainTest)
#include "CliTrainTest.moc"
