// Evaluation: loss matches transformers on the shared fixture, multiple-choice and exact-match
// files parse (JSONL and MMLU CSV) with specific errors, pre-tokenized data is checked against the
// model's vocab_size, adapter diagnostics report σ/√r.
#include "../tokenizer/TestTokenizers.h"

#include "common/Error.h"
#include "common/Log.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/TrainingRun.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <fstream>
#include <functional>

#include <sys/stat.h>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

namespace {

// One layer, two heads of 8, hidden 16: the smallest model the checks below need.
models::ModelConfig tinyModelConfig(int64_t vocabSize)
{
    models::ModelConfig c;
    c.vocabSize = vocabSize;
    c.hiddenSize = 16;
    c.intermediateSize = 32;
    c.numLayers = 1;
    c.numHeads = 2;
    c.numKvHeads = 2;
    c.headDim = 8;
    return c;
}

// A tiny random model whose tokenizer (bytes plus ChatML specials) has named chat templates only,
// none called "default": its SFT records are read only with a template named.
void writeNamedTemplateModel(const fs::path& dir)
{
    models::ModelConfig c = tinyModelConfig(260);
    c.maxPositionEmbeddings = 256;
    models::createCausalLM(c, 11)->saveModelFolder(dir);
    testtok::ByteLevelSpec spec;
    spec.addedTokens = nlohmann::json::array(
        {testtok::addedToken("<|endoftext|>"), testtok::addedToken("<|im_start|>"), testtok::addedToken("<|im_end|>")});
    std::ofstream(dir / "tokenizer.json") << testtok::byteLevelJson(spec).dump();
    nlohmann::json chatml = nlohmann::json::object();
    chatml["name"] = "chatml";
    chatml["template"] = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    nlohmann::json config = nlohmann::json::object();
    config["eos_token"] = "<|im_end|>";
    config["chat_template"] = nlohmann::json::array();
    config["chat_template"].push_back(chatml);
    std::ofstream(dir / "tokenizer_config.json") << config.dump();
}

// The warnings logged while `fn` runs (what the CLI prints on stderr).
template <typename F>
std::vector<std::string> warningsDuring(F&& fn)
{
    std::vector<std::string> warnings;
    setLogCallback([&warnings](LogLevel level, const std::string& message) {
        if (level == LogLevel::Warning)
            warnings.push_back(message);
    });
    try {
        fn();
    } catch (...) {
        setLogCallback({});
        throw;
    }
    setLogCallback({});
    return warnings;
}

std::string errorOf(const std::function<void()>& fn)
{
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

class EvaluatorTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void lossMatchesTransformers()
    {
        const char* shared = std::getenv("RSLORA_SHARED_DIR");
        if (!shared || !fs::exists(fs::path(shared) / "fixtures/llama"))
            QSKIP("RSLORA_SHARED_DIR/fixtures/llama not found");
        const fs::path fx = fs::path(shared) / "fixtures";
        auto model = models::loadCausalLM(fx / "llama");
        auto ref = models::loadSafeTensorsMap(fx / "reference" / "llama.safetensors");
        const auto ids = ref.at("input_ids");
        std::vector<TrainExample> ex;
        for (int r = 0; r < 2; ++r) {
            TrainExample e;
            for (int t = 0; t < 12; ++t)
                e.ids.push_back(ids[r][t].item<int64_t>());
            e.labels = e.ids;
            ex.push_back(e);
        }
        const EvalStats s = evaluateLoss(*model, ex, 2, 64, 5); // chunks of 5 tokens
        QVERIFY2(std::abs(s.loss - 5.9971786) < 1e-5, qPrintable(QString::number(s.loss, 'g', 10)));
        QCOMPARE(s.tokens, int64_t(22));
        QVERIFY(std::abs(s.perplexity - std::exp(s.loss)) < 1e-9);
    }

    void choiceFilesParse()
    {
        QTemporaryDir tmp;
        const std::string csv = tmp.filePath("mmlu.csv").toStdString();
        std::ofstream(csv) << "\"What is 2+2, really?\",3,4,5,6,B\nCapital of France,Rome,Paris,\"Berlin, Germany\",Madrid,B\n";
        const auto items = loadChoiceItems(csv);
        QCOMPARE(items.size(), size_t(2));
        QCOMPARE(items[0].question, std::string("What is 2+2, really?"));
        QCOMPARE(items[1].choices[2], std::string("Berlin, Germany"));
        QCOMPARE(items[1].answer, 1);
        const std::string jl = tmp.filePath("mc.jsonl").toStdString();
        std::ofstream(jl) << "{\"question\": \"q\", \"choices\": [\"a\", \"b\", \"c\"], \"answer\": 2}\n"
                             "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"D\"}\n";
        bool named = false;
        try {
            loadChoiceItems(jl);
        } catch (const Error& e) {
            named = std::string(e.what()).find("mc.jsonl:2") != std::string::npos;
        }
        QVERIFY(named);
        const std::string em = tmp.filePath("em.jsonl").toStdString();
        std::ofstream(em) << "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\n\n{\"input\": \"x\", \"output\": \"y\"}\n";
        const auto emItems = loadExactMatchItems(em);
        QCOMPARE(emItems.size(), size_t(2));
        QCOMPARE(emItems[1].reference, std::string("y"));
        // A JSON array file with a byte-order mark is read as training reads it (it was refused as
        // "not valid JSON" line by line before).
        const std::string array = tmp.filePath("em.json").toStdString();
        std::ofstream(array) << "\xEF\xBB\xBF[\n  {\"prompt\": \"2+2=\", \"answer\": \"4\"},\n  {\"question\": \"3+3=\", \"answer\": \"6\"}\n]\n";
        const auto arrayItems = loadExactMatchItems(array);
        QCOMPARE(arrayItems.size(), size_t(2));
        QCOMPARE(arrayItems[1].prompt, std::string("3+3="));
        QCOMPARE(arrayItems[1].reference, std::string("6"));
    }

    // Pre-tokenized ids (and labels) at or past config.json's vocab_size are refused naming the file
    // and line, before any weights load; on CUDA they would be a device-side assert mid-run.
    void pretokenizedIdsMustFitTheVocabulary()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        models::ModelConfig c = tinyModelConfig(32);
        std::ofstream(dir / "config.json") << c.toJson().dump();
        TrainConfig config;
        config.modelPath = dir.string();
        config.maxSeqLen = 64;
        const std::string data = (dir / "data.jsonl").string();
        auto refused = [&](const std::string& text, const std::string& part) {
            std::ofstream(data) << text;
            try {
                loadExamples(data, config);
            } catch (const Error& e) {
                const std::string what = e.what();
                return what.find(data + ":2: " + part) != std::string::npos && what.find("[0, 32)") != std::string::npos;
            }
            return false;
        };
        const std::string good = R"({"input_ids": [1, 31, 2]})" "\n";
        QVERIFY(refused(good + R"({"input_ids": [1, 32, 2]})" "\n", "input_ids[1] = 32"));
        QVERIFY(refused(good + R"({"input_ids": [-1, 2]})" "\n", "input_ids[0] = -1"));
        QVERIFY(refused(good + R"({"input_ids": [1, 2], "labels": [-100, 40]})" "\n", "labels[1] = 40"));
        std::ofstream(data) << good << R"({"input_ids": [1, 2], "labels": [-100, 2]})" "\n";
        QCOMPARE(loadExamples(data, config).size(), size_t(2));
        // Ids that are no integers: a fraction was cut (2.5 read as 2), an integer beyond 64 bits
        // became another number (-9223372036854775808 in the message, or a wrapped id).
        auto notAnId = [&](const std::string& text, const std::string& part) {
            std::ofstream(data) << text;
            try {
                loadTokenizedJsonl(data);
            } catch (const Error& e) {
                return std::string(e.what()).find(data + ":2: " + part) != std::string::npos;
            }
            return false;
        };
        QVERIFY(notAnId(good + R"({"input_ids": [1, 2.5, 2]})" "\n", "input_ids[1] = 2.5 is not a token id (an integer)"));
        QVERIFY(notAnId(good + R"({"input_ids": [1, 99999999999999999999]})" "\n", "input_ids[1] = 1e+20 is not a token id"));
        QVERIFY(notAnId(good + R"({"input_ids": [1, 18446744073709551615]})" "\n", "input_ids[1] = 18446744073709551615 is not a token id"));
        QVERIFY(notAnId(good + R"({"input_ids": [1, 2], "labels": [-100, "2"]})" "\n", "labels[1] = \"2\" is not a token id"));
        QVERIFY(notAnId(good + R"({"input_ids": [1, 2], "labels": 7})" "\n", "\"labels\" must be a list of integers, found 7"));
        // Without a model to compare with, the reader alone takes any integer ids.
        std::ofstream(data) << R"({"input_ids": [1, 32, 2]})" "\n";
        QCOMPARE(loadTokenizedJsonl(data).size(), size_t(1));
    }

    // Text records that encode to an added token past config.json's vocab_size (the tokenizer's own
    // vocabulary fits, its added tokens were never given embedding rows) are refused naming the file
    // and the line of the record (blank lines counted), for SFT records and preference pairs.
    void encodedIdsNameTheFileAndLine()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        models::ModelConfig c = tinyModelConfig(257); // the 256 bytes and <|endoftext|>
        c.maxPositionEmbeddings = 256;
        std::ofstream(dir / "config.json") << c.toJson().dump();
        testtok::ByteLevelSpec spec;
        spec.addedTokens = nlohmann::json::array(
            {testtok::addedToken("<|endoftext|>"), testtok::addedToken("<|im_start|>"), testtok::addedToken("<|im_end|>")});
        std::ofstream(dir / "tokenizer.json") << testtok::byteLevelJson(spec).dump();
        TrainConfig config;
        config.modelPath = dir.string();
        config.maxSeqLen = 64;
        const std::string data = (dir / "data.jsonl").string();
        std::ofstream(data) << R"({"prompt": "a", "completion": "b"})" "\n\n"
                            << R"({"prompt": "c", "completion": "d"})" "\n"
                            << R"({"prompt": "e", "completion": "f <|im_end|>"})" "\n";
        auto message = [](const std::function<void()>& f) {
            try {
                f();
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("(no error)");
        };
        std::string what = message([&] { loadExamples(data, config); });
        QVERIFY2(what.find(data + " line 4: the record encodes to token id 258, outside config.json's vocab_size 257") != std::string::npos,
                 what.c_str());
        const std::string pairs = (dir / "pairs.jsonl").string();
        std::ofstream(pairs) << R"({"prompt": "a", "chosen": "b", "rejected": "c"})" "\n"
                             << R"({"prompt": "<|im_start|>", "chosen": "b", "rejected": "c"})" "\n";
        what = message([&] { loadPreferencePairs(pairs, config); });
        QVERIFY2(what.find(pairs + " line 2: the record encodes to token id 257") != std::string::npos, what.c_str());
        std::ofstream(data) << "[\n" R"({"text": "ok"}, {"text": "x <|im_end|>"})" "\n]\n";
        what = message([&] { loadExamples(data, config); });
        QVERIFY2(what.find(data + " element 2: the record encodes to token id 258") != std::string::npos, what.c_str());
    }

    void diagnosticsReportRescaledStd()
    {
        models::ModelConfig c;
        c.vocabSize = 32;
        c.hiddenSize = 512;
        c.intermediateSize = 64;
        c.numLayers = 1;
        c.numHeads = 4;
        c.numKvHeads = 4;
        c.headDim = 128;
        auto model = models::createCausalLM(c, 3);
        AdapterSet set(*model);
        AdapterConfig a;
        a.targetModules = {"q_proj"};
        a.rank = 8;
        a.init = InitMode::Rescaled;
        a.initSigma = 0.02;
        set.addAdapter(a, 1);
        const auto d = adapterDiagnostics(set, "default", torch::zeros({16}, torch::kLong));
        QCOMPARE(d.size(), size_t(1));
        QVERIFY(std::abs(d[0].expectedStdA - 0.02 / std::sqrt(8.0)) < 1e-12);
        QVERIFY2(std::abs(d[0].stdA - d[0].expectedStdA) < 0.05 * d[0].expectedStdA, qPrintable(QString::number(d[0].stdA)));
        QCOMPARE(d[0].outputStdAdapted, d[0].outputStdBase); // B = 0: the output is unchanged at init
    }

    // `rslora eval --data` renders SFT records with the template --chat-template names, as training
    // does: a tokenizer with named templates only was refused ("none is \"default\"") whatever was named.
    void lossDataUsesTheNamedChatTemplate()
    {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
        writeNamedTemplateModel(dir);
        const std::string data = tmp.filePath("val.jsonl").toStdString();
        std::ofstream(data) << R"({"instruction": "Say hi", "output": "hi"})" "\n" R"({"instruction": "Say yo", "output": "yo"})" "\n";
        EvalRequest req;
        req.modelPath = dir.string();
        req.lossData = data;
        req.maxSeqLen = 64;
        req.batchSize = 2;
        QVERIFY(QString::fromStdString(errorOf([&] { runEvaluation(req); })).contains("none is \"default\""));
        // A name the tokenizer lacks is refused as the option that gave it, with the names it has (the
        // loss data named training's data.chat_template).
        req.chatTemplate = "chatm";
        const QString unknown = QString::fromStdString(errorOf([&] { runEvaluation(req); }));
        QVERIFY2(unknown.startsWith("--chat-template: the tokenizer has no chat template named \"chatm\" (it has \"chatml\")"),
                 qPrintable(unknown));
        req.chatTemplate = "chatml";
        const EvalReport rep = runEvaluation(req);
        QVERIFY(rep.loss.has_value());
        QCOMPARE(rep.loss->tokens, int64_t(8)); // "hi<|im_end|>\n" and "yo<|im_end|>\n": 4 byte-level tokens each
        QVERIFY(rep.loss->loss > 0.0);
    }

    // A data or evaluation file that is a FIFO (reading it blocked until a writer came), a symlink loop
    // (the library's own "filesystem error" or "cannot open"), or an evaluation file without items
    // (scored "0% (0/0)" with exit status 0) is refused naming the file and what it is.
    void specialAndEmptyFilesAreRefused()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path fifo = root / "pipe.jsonl", loop = root / "loop.jsonl", empty = root / "empty.jsonl";
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        fs::create_symlink(root / "loop2.jsonl", loop);
        fs::create_symlink(loop, root / "loop2.jsonl");
        std::ofstream(empty) << "\n";
        TrainConfig config;
        const std::string pipe = errorOf([&] { loadExamples(fifo.string(), config); });
        QVERIFY2(pipe == fifo.string() + " is a FIFO (named pipe), expected a regular data file (JSONL or a JSON array)", pipe.c_str());
        QVERIFY2(errorOf([&] { loadPreferencePairs(fifo.string(), config); }) == pipe, pipe.c_str());
        const std::string looped = errorOf([&] { loadExamples(loop.string(), config); });
        QVERIFY2(looped == "dataset '" + loop.string() + "' cannot be read: Too many levels of symbolic links", looped.c_str());
        for (const auto& f : {fifo, loop}) {
            const std::string em = errorOf([&] { (void)loadExactMatchItems(f.string()); });
            const std::string mc = errorOf([&] { (void)loadChoiceItems(f.string()); });
            QVERIFY2(em.find(f.string()) != std::string::npos && (em.find("not a regular file") != std::string::npos ||
                                                                   em.find("Too many levels") != std::string::npos),
                     em.c_str());
            QCOMPARE(mc, em);
        }
        QCOMPARE(errorOf([&] { (void)loadExactMatchItems(empty.string()); }), empty.string() + ": holds no exact-match items");
        QCOMPARE(errorOf([&] { (void)loadChoiceItems(empty.string()); }), empty.string() + ": holds no multiple-choice items");
    }

    // A folder, an empty file, or samples without a supervised token measure nothing: refused, where
    // they used to report "validation loss 0, perplexity 1 (0 tokens)".
    void lossWithoutSupervisedTokensIsRefused()
    {
        QTemporaryDir tmp;
        TrainConfig config;
        config.maxSeqLen = 64;
        const QString folder = QString::fromStdString(errorOf([&] { loadExamples(tmp.path().toStdString(), config); }));
        QVERIFY2(folder.contains("is a folder, expected a data file"), qPrintable(folder));

        const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
        writeNamedTemplateModel(dir);
        const std::string empty = tmp.filePath("empty.jsonl").toStdString();
        std::ofstream(empty) << "\n  \n";
        EvalRequest req;
        req.modelPath = dir.string();
        req.lossData = empty;
        req.chatTemplate = "chatml";
        const QString none = QString::fromStdString(errorOf([&] { runEvaluation(req); }));
        QVERIFY2(none.contains("empty.jsonl: no supervised tokens to evaluate the loss on (0 samples)"), qPrintable(none));

        models::ModelConfig c = tinyModelConfig(32);
        auto model = models::createCausalLM(c, 3);
        TrainExample masked;
        masked.ids = {1, 2, 3};
        masked.labels = {-100, -100, -100};
        const QString direct = QString::fromStdString(errorOf([&] { evaluateLoss(*model, {masked}, 1, 64); }));
        QVERIFY2(direct.contains("no supervised tokens to evaluate the loss on (1 samples)"), qPrintable(direct));
        QVERIFY(QString::fromStdString(errorOf([&] { evaluateLoss(*model, {}, 1, 64); })).contains("no supervised tokens"));
    }

    // Pre-tokenized samples are cut to max_seq_len when read, those left without a supervised token
    // dropped, and both counted in a warning (they were cut silently per batch, and kept with loss 0).
    void pretokenizedSamplesAreCutAndCounted()
    {
        QTemporaryDir tmp;
        const std::string data = tmp.filePath("ids.jsonl").toStdString();
        std::ofstream(data) << R"({"input_ids": [1, 2, 3, 4, 5, 6]})" "\n"
                               R"({"input_ids": [1, 2, 3, 4, 5, 6], "labels": [-100, -100, -100, -100, -100, 6]})" "\n"
                               R"({"input_ids": [7, 8, 9]})" "\n"
                               R"({"input_ids": [7, 8], "labels": [7, -100]})" "\n";
        TrainConfig config;
        config.maxSeqLen = 4;
        std::vector<TrainExample> examples;
        const auto warnings = warningsDuring([&] { examples = loadExamples(data, config); });
        QCOMPARE(examples.size(), size_t(2));
        QCOMPARE(examples[0].ids, (std::vector<int64_t>{1, 2, 3, 4}));
        QCOMPARE(examples[0].labels, (std::vector<int64_t>{1, 2, 3, 4}));
        QCOMPARE(examples[1].ids, (std::vector<int64_t>{7, 8, 9}));
        QCOMPARE(warnings.size(), size_t(1));
        const QString w = QString::fromStdString(warnings[0]);
        QVERIFY2(w.startsWith(QString::fromStdString(data) + ": 2 samples truncated to max_seq_len 4 (4 tokens cut), "
                                                            "2 samples dropped without supervised tokens"), qPrintable(w));
        QVERIFY2(w.contains("4 records -> 2 samples (pre-tokenized)"), qPrintable(w));
        // Nothing left at all is an error naming the file, not an empty dataset.
        std::ofstream(data) << R"({"input_ids": [7, 8], "labels": [7, -100]})" "\n";
        const QString nothing = QString::fromStdString(errorOf([&] { loadExamples(data, config); }));
        QVERIFY2(nothing.contains(QString::fromStdString(data + ": no usable samples")), qPrintable(nothing));
    }

    // Text records cut to max_seq_len or dropped for it are a warning (the CLI prints warnings; the
    // summary alone went to the info log, which `rslora train` does not show).
    void truncatedTextSamplesAreAWarning()
    {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
        writeNamedTemplateModel(dir);
        const std::string data = tmp.filePath("train.jsonl").toStdString();
        std::ofstream(data) << "{\"instruction\": \"" << std::string(100, 'q') << "\", \"output\": \"b\"}\n"
                            << R"({"instruction": "a", "output": "b"})" "\n";
        TrainConfig config;
        config.modelPath = dir.string();
        config.chatTemplate = "chatml";
        config.maxSeqLen = 40;
        std::vector<TrainExample> examples;
        auto aboutData = [&data](const std::vector<std::string>& warnings) {
            QStringList found;
            for (const auto& w : warnings)
                if (w.rfind(data, 0) == 0)
                    found << QString::fromStdString(w);
            return found;
        };
        const QStringList warnings = aboutData(warningsDuring([&] { examples = loadExamples(data, config); }));
        QCOMPARE(examples.size(), size_t(1));
        QCOMPARE(warnings.size(), qsizetype(1));
        const QString w = warnings[0];
        QVERIFY2(w.contains("train.jsonl: 1 samples truncated to max_seq_len 40"), qPrintable(w));
        QVERIFY2(w.contains("1 samples dropped without supervised tokens"), qPrintable(w));
        QVERIFY2(w.contains("2 records -> 1 samples (format alpaca)"), qPrintable(w));
        // Nothing cut: no warning.
        std::ofstream(data) << R"({"instruction": "a", "output": "b"})" "\n";
        QVERIFY(aboutData(warningsDuring([&] { loadExamples(data, config); })).isEmpty());
    }
};

QTEST_GUILESS_MAIN(EvaluatorTest)
#include "EvaluatorTest.moc"
