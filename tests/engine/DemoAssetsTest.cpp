// The committed built-in demo (resources/demo): the model and its tokenizer load and fit each
// other, the chat template renders, every dataset parses with the sample builders, the default
// config validates, and the generator still produces the committed question files.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/TrainingRun.h"
#include "engine/demo/DemoBuilder.h"
#include "engine/demo/DemoCorpus.h"
#include "engine/demo/DemoRun.h"
#include "engine/demo/DpoDemo.h"
#include "engine/pipeline/PipelineConfig.h"
#include "models/ModelLoader.h"
#include "models/data/SampleBuilder.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QtTest>
#include <QTemporaryDir>

#include <cstdlib>
#include <functional>
#include <map>
#include <signal.h>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

class DemoAssetsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        torch::set_num_threads(1);
        const char* res = std::getenv("RSLORA_RESOURCES");
        QVERIFY2(res, "RSLORA_RESOURCES is not set");
        m_resources = res;
        QVERIFY2(fs::exists(m_resources / "demo" / "demo-config.json"), "resources/demo/demo-config.json is missing");
    }

    void modelAndTokenizerFit()
    {
        const fs::path dir = m_resources / "demo" / "model";
        const auto tok = models::Tokenizer::load(dir);
        auto model = models::loadCausalLM(dir);
        QCOMPARE(model->config().vocabSize, tok.idLimit());
        QVERIFY(!model->config().tieWordEmbeddings);
        QVERIFY(model->config().parameterCount() < 4'000'000);
        QCOMPARE(tok.eosToken().value_or(""), std::string(DemoBuilder::kEos));
        QCOMPARE(tok.bosToken().value_or(""), std::string(DemoBuilder::kBos));
        QVERIFY(tok.padId().has_value());
        const std::string text = "The capital of France is Paris. 3 plus 4 is 7.";
        const auto ids = tok.encode(text, false);
        QCOMPARE(tok.decode(ids), text);
        QVERIFY(ids.size() < text.size() / 2); // merges were learned
        // Digits are single tokens, so sums are spelled the same way everywhere.
        QCOMPARE(tok.encode("1234", false).size(), size_t(4));
        // The model scores a statement from its corpus far better than chance.
        std::vector<int64_t> seq{*tok.bosId()};
        for (auto id : ids)
            seq.push_back(id);
        TrainExample e{seq, seq};
        const auto stats = evaluateLoss(*model, {e}, 1, 64);
        QVERIFY2(stats.loss < 1.5, qPrintable(QString("loss on a corpus sentence: %1").arg(stats.loss)));
    }

    void chatTemplateRenders()
    {
        const models::SampleBuilder builder(models::Tokenizer::load(m_resources / "demo" / "model"));
        const auto record = nlohmann::ordered_json::parse(
            R"({"messages":[{"role":"user","content":"What is 2 plus 2?"},{"role":"assistant","content":"4"}]})");
        const auto preview = builder.preview(record);
        QCOMPARE(preview.text, std::string("<|bos|><|im_start|>user\nWhat is 2 plus 2?<|eos|>\n<|im_start|>assistant\n4<|eos|>\n"));
        const auto sample = builder.buildSft(record);
        int64_t trained = 0;
        for (auto l : sample.labels)
            trained += l != models::kIgnoreIndex;
        QVERIFY(trained >= 2 && trained <= 4); // "4", <|eos|>, "\n"
    }

    void datasetsParse()
    {
        const fs::path data = m_resources / "demo" / "data";
        const models::SampleBuilder builder(models::Tokenizer::load(m_resources / "demo" / "model"));
        for (const char* name : {"facts_train.jsonl", "facts_val.jsonl", "chat_train.jsonl", "chat_val.jsonl", "pretrain.jsonl"}) {
            const auto ds = builder.loadSft(data / name);
            QVERIFY2(ds.samples.size() >= 20, name);
            QCOMPARE(ds.stats.skipped, size_t(0));
            QCOMPARE(ds.stats.truncatedSamples, size_t(0));
        }
        for (const char* name : {"prefs_train.jsonl", "prefs_val.jsonl"}) {
            const auto ds = builder.loadPreferences(data / name);
            QVERIFY2(ds.samples.size() >= 20, name);
        }
    }

    void configValidates()
    {
        TrainConfig c = loadDemoConfig(m_resources);
        QVERIFY(fs::exists(c.modelPath));
        QCOMPARE(int(c.adapter.scaling), int(ScalingMode::AlphaOverSqrtR));
        QCOMPARE(int(c.mode), int(TrainMode::Lora));
        c.outputDir = "/tmp/unused"; // `rslora demo` chooses the output folder per run
        ValidationFacts facts = modelFacts(c.modelPath);
        facts.haveData = true;
        const auto train = loadExamples(c.trainData, c), val = loadExamples(c.validationData, c);
        facts.train = datasetFacts(c.trainData, train, c.maxSeqLen);
        facts.haveValidation = true;
        facts.validation = datasetFacts(c.validationData, val, c.maxSeqLen);
        const auto problems = validate(c, facts);
        QVERIFY2(problems.empty(), problems.empty() ? "" : problems.front().c_str());
        const auto items = templatedExactMatchItems(c, c.validationData);
        QCOMPARE(items.size(), val.size());
        QVERIFY(items.front().prompt.size() > 10);
        QVERIFY(items.front().prompt.rfind("<|im_start|>assistant\n") == items.front().prompt.size() - 22);
    }

    // Bad make-demo options are refused before anything is written.
    void badBuildOptionsWriteNothing()
    {
        QTemporaryDir tmp;
        const fs::path out = fs::path(tmp.path().toStdString()) / "demo";
        for (auto tweak : std::vector<std::function<void(DemoBuildOptions&)>>{
                 [](DemoBuildOptions& o) { o.passes = 0; }, [](DemoBuildOptions& o) { o.heads = 5; },
                 [](DemoBuildOptions& o) { o.kvHeads = 4; }, [](DemoBuildOptions& o) { o.pretrainSteps = 0; }}) {
            DemoBuildOptions o;
            o.outputDir = out;
            tweak(o);
            bool refused = false;
            try {
                DemoBuilder(o).build();
            } catch (const rslora::Error& e) {
                refused = std::string(e.what()).find("make-demo:") != std::string::npos;
            }
            QVERIFY(refused);
            QVERIFY(!fs::exists(out));
        }
    }

    // make-demo writes into a hidden sibling and renames it at the end: a build that fails half-way
    // leaves an existing folder exactly as it was (its data files used to be rewritten before the
    // model was trained) and nothing hidden behind; a complete one replaces what it writes and keeps
    // the rest (a README beside the demo, a file of the user's in data/), but not stale model files.
    void buildReplacesTheFolderOnlyWhenComplete()
    {
        QTemporaryDir tmp;
        const fs::path parent = tmp.path().toStdString();
        const fs::path out = parent / "demo";
        fs::create_directories(out / "data");
        fs::create_directories(out / "model");
        writeFileAtomic(out / "README.md", "mine\n");
        writeFileAtomic(out / "data" / "facts_train.jsonl", "old\n");
        writeFileAtomic(out / "data" / "notes.txt", "keep\n");
        writeFileAtomic(out / "model" / "model-00001-of-00002.safetensors", "stale\n");
        const auto snapshot = [&] {
            std::map<std::string, std::string> files;
            for (const auto& e : fs::recursive_directory_iterator(parent))
                files[fs::relative(e.path(), parent).string()] = e.is_regular_file() ? readFile(e.path()) : "<dir>";
            return files;
        };
        const auto before = snapshot();

        struct FailAtPretraining : TrainObserver {
            void onStatus(const std::string& s) override
            {
                if (s.rfind("pretraining", 0) == 0)
                    throw rslora::Error("stopped for the test");
            }
        } failing;
        DemoBuildOptions o = tinyBuild(out);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, DemoBuilder(o).build(&failing));
        QVERIFY(snapshot() == before);

        const DemoBuildReport report = DemoBuilder(o).build();
        QCOMPARE(report.steps, int64_t(o.pretrainSteps));
        QCOMPARE(readFile(out / "README.md"), std::string("mine\n"));
        QCOMPARE(readFile(out / "data" / "notes.txt"), std::string("keep\n"));
        QVERIFY(readFile(out / "data" / "facts_train.jsonl") != "old\n");
        QVERIFY(!fs::exists(out / "model" / "model-00001-of-00002.safetensors"));
        QVERIFY(fs::exists(out / "demo-config.json"));
        QCOMPARE(models::loadCausalLM(out / "model")->config().numLayers, int64_t(1));
        for (const auto& e : fs::directory_iterator(parent))
            QVERIFY2(e.path().filename() == "demo", e.path().c_str());  // no staging folder left

        // A file where the folder should go is refused by name, and left as it is.
        const fs::path file = parent / "file";
        writeFileAtomic(file, "text\n");
        o.outputDir = file;
        try {
            DemoBuilder(o).build();
            QFAIL("a file was taken as the output folder");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(file.string()) + " exists and is not a folder"), e.what());
        }
        QCOMPARE(readFile(file), std::string("text\n"));
    }

    // `rslora make-demo` killed while it trains: the output folder never appears under its name (a
    // new one), or stays exactly as it was (an existing one).
    void killedMakeDemoLeavesNoPartialFolder()
    {
        const QByteArray cli = qgetenv("RSLORA_CLI");
        QVERIFY2(!cli.isEmpty() && fs::exists(cli.toStdString()), "RSLORA_CLI does not name a built rslora executable");
        QTemporaryDir tmp;
        const fs::path parent = tmp.path().toStdString();
        for (const bool existing : {false, true}) {
            const fs::path out = parent / (existing ? "old" : "new");
            if (existing) {
                fs::create_directories(out / "data");
                writeFileAtomic(out / "data" / "facts_train.jsonl", "old\n");
            }
            QProcess p;
            p.setProcessChannelMode(QProcess::MergedChannels);
            p.start(QString::fromLocal8Bit(cli), {"make-demo", "--out", QString::fromStdString(out.string()), "--steps", "1000000",
                                                  "--hidden-size", "16", "--intermediate-size", "16", "--layers", "1", "--heads",
                                                  "2", "--kv-heads", "1", "--batch-size", "1", "--passes", "1", "--threads", "1"});
            QVERIFY(p.waitForStarted());
            QByteArray seen;
            QElapsedTimer clock;
            clock.start();
            // Training steps are logged once the data, the tokenizer and the model are written.
            while (!seen.contains("step ") && clock.elapsed() < 120000 && p.state() == QProcess::Running) {
                p.waitForReadyRead(200);
                seen += p.readAll();
            }
            QVERIFY2(seen.contains("step "), seen.constData());
            ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
            QVERIFY(p.waitForFinished(10000));
            if (existing) {
                QCOMPARE(readFile(out / "data" / "facts_train.jsonl"), std::string("old\n"));
                QVERIFY(!fs::exists(out / "model"));
            } else {
                QVERIFY(!fs::exists(out));
            }
        }
    }

    void generatorReproducesCommittedQuestions()
    {
        const DemoCorpus corpus(DemoBuildOptions{}.seed);
        for (bool held : {false, true}) {
            std::string expected;
            for (const auto& r : corpus.questionRecords(held))
                expected += r.dump() + "\n";
            const auto file = m_resources / "demo" / "data" / (held ? "facts_val.jsonl" : "facts_train.jsonl");
            QVERIFY2(readFile(file) == expected, qPrintable(QString::fromStdString(file.string())));
        }
    }

    // The preference pairs come from the same generator, after the question and chat files; the
    // pretraining text after them must not depend on how the pairs are styled.
    void generatorReproducesCommittedPairsAndPretrainingText()
    {
        const DemoCorpus corpus(DemoBuildOptions{}.seed);
        const DemoBuildOptions o;
        for (bool held : {false, true})
            corpus.questionRecords(held);
        for (bool held : {false, true})
            corpus.chatRecords(held);
        for (bool held : {false, true}) {
            std::string expected;
            for (const auto& r : corpus.preferenceRecords(held)) {
                QVERIFY(r["chosen"].get<std::string>() == "Sure! " + r["rejected"].get<std::string>());
                expected += r.dump() + "\n";
            }
            const auto file = m_resources / "demo" / "data" / (held ? "prefs_val.jsonl" : "prefs_train.jsonl");
            QVERIFY2(readFile(file) == expected, qPrintable(QString::fromStdString(file.string())));
        }
        std::string text;
        for (const auto& d : corpus.pretrainingDocuments(o.passes, 6, o.chatEcho))
            text += nlohmann::ordered_json{{"text", d}}.dump() + "\n";
        QVERIFY(readFile(m_resources / "demo" / "data" / "pretrain.jsonl") == text);
    }

    // Held-out pairs as exact-match items: the prompt as DPO renders it, the chosen response expected.
    void preferencePairsCheckGreedyAnswersAgainstChosen()
    {
        const TrainConfig c = loadDpoDemoConfig(m_resources, "/unused/sft-adapter");
        const auto items = templatedExactMatchItems(c, c.validationData);
        const auto pairs = loadPreferencePairs(c.validationData, c);
        QCOMPARE(items.size(), pairs.size());
        QCOMPARE(items.front().prompt.substr(0, 25), std::string("<|bos|><|im_start|>user\nW"));
        QVERIFY(items.front().prompt.rfind("<|im_start|>assistant\n") == items.front().prompt.size() - 22);
        QCOMPARE(items.front().reference.substr(0, 10), std::string("Sure! The "));
    }

    // The demo pipeline (SFT, then DPO stacked on it) reads and passes the pipeline checks.
    void demoPipelineValidates()
    {
        const auto file = m_resources / "pipelines" / "demo-sft-dpo.yaml";
        const auto p = pipeline::PipelineConfig::load(file.string());
        const auto problems = p.problems();
        QVERIFY2(problems.empty(), problems.empty() ? "" : problems.front().c_str());
        QCOMPARE(p.stages.size(), size_t(2));
        const TrainConfig sft = p.stageConfig(0), dpo = p.stageConfig(1);
        QCOMPARE(int(sft.objective), int(TrainObjective::Sft));
        QCOMPARE(int(dpo.objective), int(TrainObjective::Dpo));
        QVERIFY(fs::exists(sft.modelPath) && fs::exists(dpo.trainData) && fs::exists(dpo.validationData));
        QCOMPARE(int(dpo.dpo.reference), int(DpoReference::Stack));
        QCOMPARE(dpo.dpo.rpoAlpha, 1.0);
        // The same preference stage as `rslora demo --dpo`.
        const TrainConfig single = loadDpoDemoConfig(m_resources, "/unused");
        QCOMPARE(dpo.learningRate, single.learningRate);
        QCOMPARE(dpo.maxSteps, single.maxSteps);
        QCOMPARE(dpo.dpo.beta, single.dpo.beta);
        QCOMPARE(dpo.dpo.rpoAlpha, single.dpo.rpoAlpha);
    }

private:
    // A demo that builds in seconds: one small layer, a few pretraining steps.
    static DemoBuildOptions tinyBuild(const fs::path& out)
    {
        DemoBuildOptions o;
        o.outputDir = out;
        o.hiddenSize = 16;
        o.intermediateSize = 16;
        o.layers = 1;
        o.heads = 2;
        o.kvHeads = 1;
        o.pretrainSteps = 2;
        o.batchSize = 2;
        o.passes = 1;
        o.threads = 1;
        return o;
    }

    fs::path m_resources;
};

QTEST_GUILESS_MAIN(DemoAssetsTest)
#include "DemoAssetsTest.moc"
