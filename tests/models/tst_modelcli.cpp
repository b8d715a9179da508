// The model commands of the `rslora` CLI end to end: inspect, generate, logits (with and without
// a PEFT adapter) against transformers/PEFT reference dumps, and clear errors for bad input.
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "models/quant/BnbCheckpoint.h"
#include "models/tokenizer/ByteLevel.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include <signal.h>

using namespace rslora::models;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
    const char* shared = std::getenv("RSLORA_SHARED_DIR");
    return shared ? fs::path(shared) / "fixtures" : fs::path();
}

struct Run {
    int code = -1;
    QString out, err;
};

Run runCli(const QStringList& args) {
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")), args);
    p.waitForFinished(120000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

QString fx(const char* sub) { return QString::fromStdString((fixtures() / sub).string()); }

const char* kIds = "1,239,179,14,112,17,149,78,203,108,193,124;0,0,0,1,136,57,80,148,149,133,29,141";
const char* kMask = "1,1,1,1,1,1,1,1,1,1,1,1;0,0,0,1,1,1,1,1,1,1,1,1";

double maxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

} // namespace

class TestModelCli : public QObject {
    Q_OBJECT
private slots:
    void init() {
        const QByteArray cli = qgetenv("RSLORA_CLI");
        if (cli.isEmpty() || !fs::exists(cli.toStdString()))
            QSKIP("RSLORA_CLI does not name a built rslora executable");
        if (fixtures().empty() || !fs::exists(fixtures() / "llama"))
            QSKIP("RSLORA_SHARED_DIR is not set; skipping CLI parity checks");
    }

    void inspect() {
        auto r = runCli({"inspect", fx("llama_sharded"), "--json"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["architecture"].get<std::string>(), std::string("LlamaForCausalLM"));
        QCOMPARE(j["weight_files"].get<int>(), 5);
        QVERIFY(j["weights_complete"].get<bool>());
        QCOMPARE(j["parameters"].get<int64_t>(), j["stored_parameters"].get<int64_t>());
        QVERIFY(runCli({"inspect", fx("llama")}).out.contains("2 kv heads"));
    }

    // A folder saved with bitsandbytes 4-bit weights: the packed projections are no shape problem,
    // and the quantization is reported.
    void inspectBitsandbytesFolder() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "nf4";
        auto model = loadCausalLM(fixtures() / "llama");
        rslora::models::quant::saveBnbModelFolder(*model, dir, {});
        auto r = runCli({"inspect", QString::fromStdString(dir.string()), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QVERIFY2(j["weights_complete"].get<bool>(), qPrintable(QString::fromStdString(j["weight_problems"].dump())));
        QCOMPARE(j["quantization"]["type"].get<std::string>(), std::string("nf4"));
        QCOMPARE(j["quantization"]["quantized_weights"].get<int64_t>(), int64_t(7 * model->config().numLayers));
        r = runCli({"inspect", QString::fromStdString(dir.string())});
        QVERIFY2(r.out.contains("quantization      nf4 (bitsandbytes)"), qPrintable(r.out));
        QVERIFY2(r.out.contains("complete"), qPrintable(r.out));
    }

    // A folder with vocab.json + merges.txt and no tokenizer.json: the CLI asks the loader's rule
    // (it used to report "none (no tokenizer.json)"), and a tokenizer whose ids pass config.json's
    // vocab_size is reported as unusable, naming both numbers.
    void slowTokenizerFilesAndVocabCheck() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        for (const char* f : {"config.json", "model.safetensors"})
            fs::copy_file(fixtures() / "llama" / f, dir / f);
        nlohmann::json vocab = nlohmann::json::object();
        for (size_t b = 0; b < 256; ++b)
            vocab[bytelevel::byteToChars()[b]] = static_cast<int>(b);  // ids 0..255: vocab_size is 256
        std::ofstream(dir / "vocab.json") << vocab.dump();
        std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
        const QString folder = QString::fromStdString(dir.string());
        auto r = runCli({"inspect", folder, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QVERIFY2(j["tokenizer"].is_string(), qPrintable(r.out));
        QCOMPARE(j["tokenizer"].get<std::string>(), std::string("byte-level-bpe"));
        r = runCli({"generate", folder, "--prompt", "hi", "--max-new-tokens", "2", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        vocab["zz"] = 300;
        std::ofstream(dir / "vocab.json") << vocab.dump();
        r = runCli({"inspect", folder});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("the tokenizer has 257 tokens but config.json vocab_size is 256"), qPrintable(r.out));
    }

    // A PEFT adapter folder is inspected as one: the loader's checks first, each refusal naming the
    // file, the key and the value (it was read as a model folder and failed on config.json).
    void inspectAdapterFolder() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "a";
        fs::create_directories(dir);
        fs::copy_file(fixtures() / "peft" / "rslora" / "adapter_model.safetensors", dir / "adapter_model.safetensors");
        auto config = nlohmann::json::parse(std::ifstream(fixtures() / "peft" / "rslora" / "adapter_config.json"));
        config["base_model_name_or_path"] = (fixtures() / "llama").string();
        std::ofstream(dir / "adapter_config.json") << config.dump();
        const QString folder = QString::fromStdString(dir.string());
        auto r = runCli({"inspect", folder});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("PEFT LoRA adapter") && r.out.contains("lora_alpha / sqrt(r) (rsLoRA)"), qPrintable(r.out));
        QVERIFY2(r.out.contains("fit " + QString::fromStdString((fixtures() / "llama").string())), qPrintable(r.out));
        r = runCli({"inspect", folder, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["r"].get<int64_t>(), config["r"].get<int64_t>());
        QVERIFY(j["use_rslora"].get<bool>());

        const QString file = QString::fromStdString((dir / "adapter_config.json").string());
        auto refused = [&](const std::string& text, const QString& expected) {
            std::ofstream(dir / "adapter_config.json") << text;
            const auto o = runCli({"inspect", folder});
            return o.code == 1 && o.err.contains(expected) ? QString() : o.err + o.out;
        };
        QString got = refused(R"({"peft_type": "LORA", "r": -4, "lora_alpha": 8})", file + ": \"r\" must be a positive integer rank, found -4");
        QVERIFY2(got.isEmpty(), qPrintable(got));
        got = refused(R"({"peft_type": "LORA", "r": 8, "lora_alpha": NaN})", file + ": \"lora_alpha\" is NaN");
        QVERIFY2(got.isEmpty(), qPrintable(got));
        got = refused(R"({"r": 8, "lora_alpha": 8})", file + ": \"peft_type\" is missing");
        QVERIFY2(got.isEmpty(), qPrintable(got));
        // Without adapter_config.json the folder was read as a model folder and the error named
        // config.json; the adapter file that is missing is named instead.
        fs::remove(dir / "adapter_config.json");
        auto o = runCli({"inspect", folder});
        QVERIFY2(o.code == 1 && o.err.contains("'" + folder + "' is not a PEFT adapter folder: adapter_config.json is missing"),
                 qPrintable(o.err));
        fs::remove(dir / "adapter_model.safetensors");
        o = runCli({"inspect", folder});
        QVERIFY2(o.code == 1 && o.err.contains("expected config.json (a model folder) or adapter_config.json (a PEFT adapter "
                                               "folder) in " + folder + ", found neither"),
                 qPrintable(o.err));
    }

    // Token ids config.json names outside its vocabulary are listed as problems of the folder.
    void inspectNamesTokenIdsOutsideTheVocabulary() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        fs::copy_file(fixtures() / "llama" / "model.safetensors", dir / "model.safetensors");
        auto config = nlohmann::json::parse(std::ifstream(fixtures() / "llama" / "config.json"));
        config["eos_token_id"] = 300;
        config["bos_token_id"] = -1;
        std::ofstream(dir / "config.json") << config.dump();
        auto r = runCli({"inspect", QString::fromStdString(dir.string())});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("eos_token_id 300 is outside the vocabulary [0, 256) of config.json's vocab_size: generation never "
                                "stops on it"),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains("bos_token_id -1 is outside the vocabulary"), qPrintable(r.out));
        r = runCli({"inspect", QString::fromStdString(dir.string()), "--json"});
        QCOMPARE(nlohmann::json::parse(r.out.toStdString())["config_problems"].size(), size_t(2));
        r = runCli({"inspect", fx("llama"), "--json"});
        QVERIFY(nlohmann::json::parse(r.out.toStdString())["config_problems"].empty());
    }

    // With --chat the answer is printed alone: the user's message was echoed first and ran into the
    // answer ("What is the plural of cat?The plural of cat is cats."). A text prompt is still shown
    // before its continuation. The printed answer is the --json text.
    void generateChatPrintsTheAnswer() {
        const QString demo = QString::fromLocal8Bit(qgetenv("RSLORA_RESOURCES")) + "/demo/model";
        QVERIFY2(QFileInfo::exists(demo + "/tokenizer_config.json"), qPrintable(demo));
        const QString prompt = "What is the plural of cat?";
        auto json = runCli({"generate", demo, "--prompt", prompt, "--chat", "--max-new-tokens", "6", "--json"});
        QVERIFY2(json.code == 0, qPrintable(json.err));
        const QString answer = QString::fromStdString(nlohmann::json::parse(json.out.toStdString())["rows"][0]["text"].get<std::string>());
        QVERIFY(!answer.isEmpty());
        auto chat = runCli({"generate", demo, "--prompt", prompt, "--chat", "--max-new-tokens", "6"});
        QVERIFY2(chat.code == 0, qPrintable(chat.err));
        QCOMPARE(chat.out, answer + "\n");
        auto plain = runCli({"generate", demo, "--prompt", prompt, "--max-new-tokens", "6"});
        QVERIFY2(plain.code == 0, qPrintable(plain.err));
        QVERIFY2(plain.out.startsWith(prompt), qPrintable(plain.out));
    }

    // generate and logits take a stored version for --adapter as fuse, merge and serve do (they took
    // only folders: "'medical@v1' is not a PEFT adapter folder"); the result is the folder's.
    void adapterMayBeAStoredVersion() {
        QTemporaryDir home;
        const QString db = home.filePath("w.sqlite");
        const QString folder = fx("peft/rslora");
        auto add = runCli({"adapters", "add", folder, "--db", db, "--task", "medical", "--base-model", fx("llama")});
        QVERIFY2(add.code == 0, qPrintable(add.err));
        qputenv("RSLORA_DB", db.toUtf8());
        const QStringList gen = {"generate", fx("llama"), "--ids", "1,239,179,14", "--max-new-tokens", "6", "--json"};
        auto byFolder = runCli(gen + QStringList{"--adapter", folder});
        QVERIFY2(byFolder.code == 0, qPrintable(byFolder.err));
        for (const QString& ref : {QString("medical@v1"), QString("medical@current")}) {
            auto byVersion = runCli(gen + QStringList{"--adapter", ref});
            if (ref.endsWith("current")) { // a draft: nothing is current yet
                QVERIFY(byVersion.code != 0);
                QVERIFY2(byVersion.err.contains("task \"medical\" has no current adapter"), qPrintable(byVersion.err));
                continue;
            }
            QVERIFY2(byVersion.code == 0, qPrintable(byVersion.err));
            QCOMPARE(nlohmann::json::parse(byVersion.out.toStdString())["rows"], nlohmann::json::parse(byFolder.out.toStdString())["rows"]);
        }
        const QString out1 = home.filePath("a.safetensors"), out2 = home.filePath("b.safetensors");
        QCOMPARE(runCli({"logits", fx("llama"), "--ids", "1,239,179", "--adapter", folder, "--out", out1}).code, 0);
        QCOMPARE(runCli({"logits", fx("llama"), "--ids", "1,239,179", "--adapter", "medical@v1", "--out", out2}).code, 0);
        QCOMPARE(maxDiff(loadSafeTensorsMap(out1.toStdString()).at("logits"), loadSafeTensorsMap(out2.toStdString()).at("logits")), 0.0);
        // eval the same (--adapter and --reference-adapter).
        auto evalFolder = runCli({"eval", "--model", fx("llama"), "--adapter", folder, "--diagnostics", "--json"});
        QVERIFY2(evalFolder.code == 0, qPrintable(evalFolder.err));
        auto evalVersion = runCli({"eval", "--model", fx("llama"), "--adapter", "medical@v1", "--diagnostics", "--json"});
        QVERIFY2(evalVersion.code == 0, qPrintable(evalVersion.err));
        QCOMPARE(evalVersion.out, evalFolder.out);
        auto evalReference = runCli({"eval", "--model", fx("llama"), "--reference-adapter", "legal@v2", "--diagnostics"});
        QVERIFY(evalReference.code != 0);
        QVERIFY2(evalReference.err.contains("--reference-adapter legal@v2: no adapter matches"), qPrintable(evalReference.err));
        // A weight is for the commands that combine adapters; a name of nothing says so.
        auto weighted = runCli(gen + QStringList{"--adapter", "medical@v1:0.5"});
        QVERIFY(weighted.code != 0);
        QVERIFY2(weighted.err.contains("--adapter medical@v1:0.5: a weight is taken where adapters are combined"), qPrintable(weighted.err));
        auto unknown = runCli(gen + QStringList{"--adapter", "legal@v1"});
        QVERIFY(unknown.code != 0);
        QVERIFY2(unknown.err.contains("--adapter legal@v1: no adapter matches \"legal@v1\""), qPrintable(unknown.err));
        qunsetenv("RSLORA_DB");
    }

    void generateIds() {
        auto r = runCli({"generate", fx("qwen2"), "--ids", "1,239,179,14,112,17;1,136,57,80", "--max-new-tokens", "8", "--json"});
        QCOMPARE(r.code, 0);
        auto j = nlohmann::json::parse(r.out.toStdString());
        std::ifstream in(fixtures() / "reference" / "qwen2.json");
        auto ref = nlohmann::json::parse(in);
        auto want = ref["gen_batch_sequences"].get<std::vector<std::vector<int64_t>>>();
        for (size_t b = 0; b < 2; ++b)
            QCOMPARE(j["rows"][b]["new_ids"].get<std::vector<int64_t>>(), std::vector<int64_t>(want[b].end() - 8, want[b].end()));
    }

    // A prompt and its new tokens must fit max_position_embeddings (128 for the fixture), as the
    // Playground and the server check: the CLI generated past it, and a huge --max-new-tokens ran on.
    void generateRefusesWhatDoesNotFitTheContext() {
        const auto ids = [](int n) {
            QStringList l;
            for (int i = 0; i < n; ++i)
                l << QString::number(3 + i % 200);
            return l.join(',');
        };
        auto r = runCli({"generate", fx("llama"), "--ids", ids(120), "--max-new-tokens", "64"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("the prompt is 120 tokens and --max-new-tokens is 64: 184 in all, more than the model's context "
                                "of 128 tokens (max_position_embeddings in " + fx("llama") + "/config.json)"),
                 qPrintable(r.err));
        QVERIFY2(r.err.contains("hint: give --max-new-tokens 8 or less"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", ids(128), "--max-new-tokens", "1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("the prompt is 128 tokens, which leaves no room for an answer"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", ids(5) + ";" + ids(120), "--max-new-tokens", "99999999999"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("the longest prompt is 120 tokens"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", ids(120), "--max-new-tokens", "8", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(nlohmann::json::parse(r.out.toStdString())["rows"][0]["new_ids"].size(), size_t(8));
    }

    // Ctrl-C stops `rslora generate` between two steps (the prompt is read in chunks, asked before
    // each): the tokens so far are printed, the reason said, and the exit status is 130 (it was
    // killed by the signal, with nothing said).
    void generateStopsOnCtrlC() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        fs::copy_file(fixtures() / "llama" / "model.safetensors", dir / "model.safetensors");
        auto config = nlohmann::json::parse(std::ifstream(fixtures() / "llama" / "config.json"));
        config["max_position_embeddings"] = 1000000;  // room for a generation that runs until stopped
        config["eos_token_id"] = nullptr;
        std::ofstream(dir / "config.json") << config.dump();
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("RSLORA_CLI")),
                {"generate", QString::fromStdString(dir.string()), "--ids", "1,239,179,14,112,17", "--max-new-tokens", "900000"});
        QVERIFY(p.waitForStarted());
        QByteArray out;
        QElapsedTimer clock;
        clock.start();
        while (out.count(' ') < 5 && clock.elapsed() < 60000 && p.state() == QProcess::Running) {
            p.waitForReadyRead(100);
            out += p.readAllStandardOutput();
        }
        QVERIFY2(out.count(' ') >= 5, out.constData());
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(30000));
        out += p.readAllStandardOutput();
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 130);
        QVERIFY2(err.contains(", cancelled, prefill") && err.contains("generate: stopped by Ctrl-C after "), qPrintable(err));
        QVERIFY(out.count(' ') < 900000);
    }

    void logits_data() {
        QTest::addColumn<QString>("adapter");
        QTest::addColumn<QString>("key");
        QTest::newRow("base") << "" << "logits_masked";
        QTest::newRow("lora") << "peft/lora" << "lora.logits_masked";
        QTest::newRow("rslora") << "peft/rslora" << "rslora.logits_masked";
    }
    void logits() {
        QFETCH(QString, adapter);
        QFETCH(QString, key);
        QTemporaryDir tmp;
        const QString out = tmp.filePath("logits.safetensors");
        QStringList args{"logits", fx("llama"), "--ids", kIds, "--mask", kMask, "--out", out};
        if (!adapter.isEmpty())
            args << "--adapter" << fx(adapter.toUtf8().constData());
        auto r = runCli(args);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        auto got = loadSafeTensorsMap(out.toStdString());
        auto ref = loadSafeTensorsMap(fixtures() / "reference" / (adapter.isEmpty() ? "llama.safetensors" : "peft_llama.safetensors"));
        auto want = ref.at(key.toStdString());
        auto logits = got.at("logits");
        QVERIFY(maxDiff(logits[0], want[0]) < 1e-4);
        QVERIFY(maxDiff(logits[1].narrow(0, 3, 9), want[1].narrow(0, 3, 9)) < 1e-4);
        if (ref.count("position_ids_masked"))
            QVERIFY(torch::equal(got.at("position_ids"), ref.at("position_ids_masked")));
    }

    void errors() {
        auto r = runCli({"logits", fx("llama"), "--ids", "1,x", "--out", "/tmp/never.safetensors"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--ids"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", "1,999"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("999"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--prompt", "hi"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("tokenizer"), qPrintable(r.err));
        r = runCli({"inspect", fx("reference")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("config.json"), qPrintable(r.err));
        // An empty --prompt, --ids or --stop is named as such (it read "give exactly one of --prompt
        // or --ids", or the empty stop string was ignored).
        r = runCli({"generate", fx("llama"), "--prompt", ""});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("generate: --prompt is empty"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", ""});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("generate: --ids is empty"), qPrintable(r.err));
        r = runCli({"generate", fx("llama"), "--ids", "1,2", "--stop", ""});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("generate: --stop is empty"), qPrintable(r.err));
        // A negative seed wrapped to the largest unsigned value (and sampled with it).
        r = runCli({"generate", fx("llama"), "--ids", "1,2", "--seed", "-1"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("--seed") && r.err.contains("--seed: must be 0 or more, found -1"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestModelCli)
#include "tst_modelcli.moc"
