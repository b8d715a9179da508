// config.json parsing: each architecture, GQA and head_dim defaults, rope_theta/rope_scaling in
// the old keys and in transformers v5's rope_parameters, eos lists (with generation_config.json's),
// sliding-window rules, errors.
#include "models/ArchitectureTable.h"
#include "models/ModelConfig.h"

#include "common/Error.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <limits>

using namespace rslora::models;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
void writeText(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}
json base(const char* arch) {
    return json{{"architectures", {arch}}, {"vocab_size", 100}, {"hidden_size", 64}, {"intermediate_size", 128},
                {"num_hidden_layers", 4}, {"num_attention_heads", 8}, {"rms_norm_eps", 1e-5}};
}
ModelConfig parse(const json& j) { return ModelConfig::fromJson(j, "config.json"); }
} // namespace

class TestModelConfig : public QObject {
    Q_OBJECT
private slots:
    void defaults() {
        auto c = parse(base("LlamaForCausalLM"));
        QCOMPARE(c.numKvHeads, int64_t(8));  // absent -> heads
        QCOMPARE(c.headDim, int64_t(8));     // hidden / heads
        QCOMPARE(c.ropeTheta, 10000.0);
        QCOMPARE(c.ropeScaling.type, std::string("default"));
        QVERIFY(!c.tieWordEmbeddings);
        QVERIFY(!c.qkvBias());
        QVERIFY(!c.slidingWindow);
        QCOMPARE(c.rmsNormEps, 1e-5);
    }

    void qwen3HeadDimAndNorms() {
        auto j = base("Qwen3ForCausalLM");
        j["head_dim"] = 16;
        j["num_key_value_heads"] = 2;
        j["tie_word_embeddings"] = true;
        j["sliding_window"] = nullptr;
        j["use_sliding_window"] = false;
        auto c = parse(j);
        QCOMPARE(c.headDim, int64_t(16));
        QCOMPARE(c.numKvHeads, int64_t(2));
        QVERIFY(c.qkNorm());
        QVERIFY(!c.qkvBias());
        QVERIFY(c.tieWordEmbeddings);
    }

    void biasRules() {
        QVERIFY(parse(base("Qwen2ForCausalLM")).qkvBias());
        QVERIFY(!parse(base("Qwen2ForCausalLM")).oBias());
        auto j = base("Qwen2ForCausalLM");
        j["attention_bias"] = false;  // Qwen2 ignores it
        QVERIFY(parse(j).qkvBias());
        auto l = base("LlamaForCausalLM");
        l["attention_bias"] = true;
        l["mlp_bias"] = true;
        QVERIFY(parse(l).qkvBias());
        QVERIFY(parse(l).oBias());
        QVERIFY(parse(l).mlpBias);
        auto m = base("MistralForCausalLM");
        m["attention_bias"] = true;
        QVERIFY(!parse(m).qkvBias());
    }

    // model_type decides the class, as AutoModelForCausalLM decides it; "architectures" only fills in
    // when model_type is absent. A model_type not supported here is refused beside a supported class.
    void modelTypeDecidesTheClass() {
        auto j = base("LlamaForCausalLM");
        j["model_type"] = "qwen2";
        QCOMPARE(parse(j).architecture, std::string("Qwen2ForCausalLM"));
        QVERIFY(parse(j).qkvBias());
        j["model_type"] = "llama";
        QCOMPARE(parse(j).architecture, std::string("LlamaForCausalLM"));
        auto onlyType = base("LlamaForCausalLM");
        onlyType.erase("architectures");
        onlyType["model_type"] = "mistral";
        QCOMPARE(parse(onlyType).architecture, std::string("MistralForCausalLM"));
        auto unknownClass = base("LlamaForSequenceClassification");
        unknownClass["model_type"] = "llama";
        QCOMPARE(parse(unknownClass).architecture, std::string("LlamaForCausalLM"));
        for (const json& type : {json("gemma"), json(3)}) {
            j["model_type"] = type;
            try {
                parse(j);
                QFAIL(qPrintable("model_type " + QString::fromStdString(type.dump()) + " was accepted"));
            } catch (const rslora::Error& e) {
                const std::string want = type.is_string() ? "unsupported model_type 'gemma' (architectures: 'LlamaForCausalLM')"
                                                          : "expected \"model_type\" as a string, found 3";
                QVERIFY2(std::string(e.what()).find(want) != std::string::npos, e.what());
            }
        }
    }

    void ropeVariants() {
        auto old = base("LlamaForCausalLM");
        old["rope_theta"] = 500000.0;
        old["rope_scaling"] = {{"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 8192}, {"rope_type", "llama3"}};
        auto c = parse(old);
        QCOMPARE(c.ropeTheta, 500000.0);
        QCOMPARE(c.ropeScaling.type, std::string("llama3"));
        QCOMPARE(c.ropeScaling.originalMaxPositionEmbeddings, int64_t(8192));

        auto legacy = base("LlamaForCausalLM");
        legacy["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
        QCOMPARE(parse(legacy).ropeScaling.type, std::string("linear"));
        QCOMPARE(parse(legacy).ropeScaling.factor, 2.0);

        auto v5 = base("Qwen3ForCausalLM");
        v5["rope_parameters"] = {{"rope_theta", 1000000}, {"rope_type", "default"}};
        auto c5 = parse(v5);
        QCOMPARE(c5.ropeTheta, 1000000.0);
        QCOMPARE(c5.ropeScaling.type, std::string("default"));

        auto v5dyn = base("LlamaForCausalLM");
        v5dyn["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "dynamic"}, {"factor", 2.0}};
        QCOMPARE(parse(v5dyn).ropeScaling.type, std::string("dynamic"));

        auto bad = base("LlamaForCausalLM");
        bad["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(bad));
        auto incomplete = base("LlamaForCausalLM");
        incomplete["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(incomplete));
    }

    // Sizes beyond any model: inspect walked 10^12 layers' tensor names without end, and products of
    // the sizes overflowed the parameter count. Each is refused by key with its limit.
    void sizesBeyondAnyModelRefused() {
        auto refusal = [](const char* key, int64_t value) {
            auto j = base("LlamaForCausalLM");
            j[key] = value;
            if (std::string(key) == "hidden_size")
                j["head_dim"] = 8;
            try {
                parse(j);
            } catch (const rslora::Error& e) {
                return QString(e.what());
            }
            return QString("accepted");
        };
        QCOMPARE(refusal("num_hidden_layers", 65536), QString("accepted"));
        QCOMPARE(refusal("num_hidden_layers", 1000000000000),
                 QString("config.json: num_hidden_layers is 1000000000000, more than the 65536 this program reads (the deepest "
                         "published models have a few hundred)"));
        QVERIFY(refusal("vocab_size", int64_t(1) << 62).startsWith("config.json: vocab_size is 4611686018427387904, more than the 2147483647"));
        QVERIFY(refusal("hidden_size", int64_t(1) << 40).startsWith("config.json: hidden_size is 1099511627776, more than the 2147483647"));
        QVERIFY(refusal("intermediate_size", int64_t(1) << 31).startsWith("config.json: intermediate_size is 2147483648"));
        // Each size within its limit, the product past 2^63.
        auto j = base("LlamaForCausalLM");
        j["num_hidden_layers"] = 65536;
        j["hidden_size"] = 2147483647;
        j["head_dim"] = 8;
        j["intermediate_size"] = 2147483647;
        try {
            parse(j);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).startsWith("config.json: the sizes in the file multiply to more than 2^63 parameters"), e.what());
        }
    }

    // llama3 divides the trained context by low_freq_factor and high_freq_factor: a low factor of 0
    // (an infinite bound), a negative one, or a trained context of no positions loaded and gave other
    // frequencies without an error. Each is refused by key and value, in rope_scaling and in v5's
    // rope_parameters.
    void llama3FactorsAndContextMustBePositive() {
        auto refusal = [](const char* key, const json& scaling) {
            auto j = base("LlamaForCausalLM");
            j[key] = scaling;
            try {
                parse(j);
            } catch (const rslora::Error& e) {
                return QString(e.what());
            }
            return QString("accepted");
        };
        const json ok = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8192}};
        QCOMPARE(refusal("rope_scaling", ok), QString("accepted"));
        json zeroLow = ok;
        zeroLow["low_freq_factor"] = 0.0;
        QCOMPARE(refusal("rope_scaling", zeroLow),
                 QString("config.json: rope_scaling low_freq_factor must be > 0, found 0.0 (the trained context is divided by it)"));
        json negativeBoth = ok;
        negativeBoth["low_freq_factor"] = -4.0;
        negativeBoth["high_freq_factor"] = -1.0;
        QVERIFY2(refusal("rope_parameters", negativeBoth).startsWith("config.json: rope_parameters low_freq_factor must be > 0, found -4.0"),
                 qPrintable(refusal("rope_parameters", negativeBoth)));
        for (const int64_t context : {int64_t(0), int64_t(-8192)}) {
            json noContext = ok;
            noContext["original_max_position_embeddings"] = context;
            QCOMPARE(refusal("rope_scaling", noContext),
                     QString("config.json: rope_scaling original_max_position_embeddings must be > 0, found %1").arg(context));
        }
    }

    void eosList() {
        auto j = base("LlamaForCausalLM");
        j["eos_token_id"] = {128001, 128008, 128009};
        QCOMPARE(parse(j).eosTokenIds, (std::vector<int64_t>{128001, 128008, 128009}));
        j["eos_token_id"] = 2;
        QCOMPARE(parse(j).eosTokenIds, (std::vector<int64_t>{2}));
        j["eos_token_id"] = "x";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(j));
    }

    // generation_config.json's eos ids join config.json's (Qwen2.5-Instruct stops on <|im_end|> and
    // <|endoftext|>); before, the file was never read and generation ran past <|endoftext|>.
    void generationConfigEos() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto j = base("Qwen2ForCausalLM");
        j["eos_token_id"] = 151645;
        writeText(dir / "config.json", j.dump());
        QCOMPARE(ModelConfig::fromFile(dir / "config.json").eosTokenIds, (std::vector<int64_t>{151645}));  // no file
        writeText(dir / "generation_config.json", R"({"bos_token_id": 151643, "eos_token_id": [151645, 151643]})");
        QCOMPARE(ModelConfig::fromFile(dir / "config.json").eosTokenIds, (std::vector<int64_t>{151645, 151643}));
        writeText(dir / "generation_config.json", R"({"eos_token_id": 7})");
        QCOMPARE(ModelConfig::fromFile(dir / "config.json").eosTokenIds, (std::vector<int64_t>{151645, 7}));
        writeText(dir / "generation_config.json", R"({"do_sample": false})");  // no key: nothing changes
        QCOMPARE(ModelConfig::fromFile(dir / "config.json").eosTokenIds, (std::vector<int64_t>{151645}));
        // A config without eos takes the file's in its order, without repeats.
        j.erase("eos_token_id");
        writeText(dir / "config.json", j.dump());
        writeText(dir / "generation_config.json", R"({"eos_token_id": [3, 2, 3]})");
        QCOMPARE(ModelConfig::fromFile(dir / "config.json").eosTokenIds, (std::vector<int64_t>{3, 2}));
        for (const char* bad : {R"({"eos_token_id": [1, )", R"({"eos_token_id": "x"})", "[1, 2]"}) {
            writeText(dir / "generation_config.json", bad);
            try {
                ModelConfig::fromFile(dir / "config.json");
                QFAIL(qPrintable(QString("expected an error for ") + bad));
            } catch (const rslora::Error& e) {
                QVERIFY2(QString(e.what()).contains("generation_config.json"), e.what());
            }
        }
    }

    // Rotary embeddings over part of the head are not implemented: the key is refused by name
    // instead of loading a model with wrong positions.
    void partialRotaryFactorRefused() {
        auto j = base("LlamaForCausalLM");
        j["partial_rotary_factor"] = 1.0;
        QCOMPARE(parse(j).headDim, int64_t(8));
        j["partial_rotary_factor"] = 0.5;
        try {
            parse(j);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).contains("config.json: partial_rotary_factor 0.5 is not supported"), e.what());
        }
        auto v5 = base("LlamaForCausalLM");
        v5["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}, {"partial_rotary_factor", 0.25}};
        try {
            parse(v5);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).contains("rope_parameters.partial_rotary_factor 0.25"), e.what());
        }
    }

    void slidingWindow() {
        auto q = base("Qwen2ForCausalLM");
        q["sliding_window"] = 4096;
        q["use_sliding_window"] = false;
        QVERIFY(!parse(q).slidingWindow);
        q["use_sliding_window"] = true;
        q["max_window_layers"] = 2;
        auto c = parse(q);
        QCOMPARE(*c.slidingWindow, int64_t(4096));
        QVERIFY(!c.isSlidingLayer(1));
        QVERIFY(c.isSlidingLayer(2));
        auto m = base("MistralForCausalLM");
        m["sliding_window"] = 4096;
        QVERIFY(parse(m).isSlidingLayer(0));
        m["sliding_window"] = nullptr;
        QVERIFY(!parse(m).slidingWindow);
        auto l = base("LlamaForCausalLM");
        l["sliding_window"] = 16;
        QVERIFY(!parse(l).slidingWindow);
    }

    void slidingWindowDefaultsAreTransformers() {
        // Mistral without the key: transformers' default window of 4096 on every layer ("layer_types"
        // is ignored by Mistral).
        auto m = base("MistralForCausalLM");
        m.erase("sliding_window");
        m["layer_types"] = {"full_attention", "full_attention", "full_attention", "full_attention"};
        const auto cm = parse(m);
        QVERIFY(cm.slidingWindow);
        QCOMPARE(*cm.slidingWindow, int64_t(4096));
        QVERIFY(cm.isSlidingLayer(0));
        // Qwen2 with use_sliding_window and neither window nor max_window_layers: 4096, from layer 28.
        auto q = base("Qwen2ForCausalLM");
        q["num_hidden_layers"] = 30;
        q["use_sliding_window"] = true;
        q.erase("sliding_window");
        q.erase("max_window_layers");
        const auto cq = parse(q);
        QVERIFY(cq.slidingWindow);
        QCOMPARE(*cq.slidingWindow, int64_t(4096));
        QVERIFY(!cq.isSlidingLayer(27));
        QVERIFY(cq.isSlidingLayer(28));
        QVERIFY(cq.isSlidingLayer(29));
        // An explicit null window is no window.
        q["sliding_window"] = nullptr;
        QVERIFY(!parse(q).slidingWindow);
        // Sliding layers that are not the last ones survive a write and a read (layer_types).
        q["num_hidden_layers"] = 4;
        q["sliding_window"] = 64;
        q["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention"};
        const auto written = parse(parse(q).toJson());
        QVERIFY(written.isSlidingLayer(0));
        QVERIFY(!written.isSlidingLayer(1));
        QVERIFY(written.isSlidingLayer(2));
        QVERIFY(!written.isSlidingLayer(3));
    }

    void errors() {
        try {
            parse(base("GPTNeoXForCausalLM"));
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY(QString(e.what()).contains("GPTNeoXForCausalLM"));
            QVERIFY(QString(e.what()).contains("Qwen3ForCausalLM"));
            QVERIFY(QString(e.what()).contains("MistralForCausalLM"));
        }
        auto j = base("LlamaForCausalLM");
        j.erase("hidden_size");
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(j));
        j = base("LlamaForCausalLM");
        j["num_key_value_heads"] = 3;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(j));
        j = base("LlamaForCausalLM");
        j["hidden_size"] = "64";
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(j));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(json::array()));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, parse(json{{"vocab_size", 3}}));
    }

    // A context of no positions loaded silently: the server takes it as its context limit and dynamic
    // RoPE divides by it (a negative one gave NaN frequencies).
    void nonPositiveContextRefused() {
        for (const int64_t n : {int64_t(0), int64_t(-5)}) {
            auto j = base("LlamaForCausalLM");
            j["max_position_embeddings"] = n;
            try {
                parse(j);
                QFAIL("expected an error");
            } catch (const rslora::Error& e) {
                QCOMPARE(QString(e.what()),
                         QString("config.json: expected max_position_embeddings > 0, found %1").arg(n));
            }
        }
        auto j = base("LlamaForCausalLM");
        j["max_position_embeddings"] = 1;
        QCOMPARE(parse(j).maxPositionEmbeddings, int64_t(1));
    }

    // Python's json writes NaN and Infinity for floats that are not finite: the error names the key
    // that holds one (it was the parser's byte position), also inside an object or a list; a number
    // too large for a double (it parses as infinity) is refused by key instead of passing "> 0".
    void nonFiniteNumbersNamedByKey() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const fs::path file = dir / "config.json";
        const std::string head = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 64, )"
                                 R"("intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 8, )";
        const std::vector<std::pair<std::string, std::string>> cases = {
            {R"("rms_norm_eps": NaN})", file.string() + ": rms_norm_eps is NaN, which is not a number JSON has"},
            {R"("rope_theta": Infinity, "rms_norm_eps": 1e-5})", file.string() + ": rope_theta is Infinity"},
            {R"("name": "NaN, Infinity", "rope_scaling": {"type": "linear", "factor": -Infinity}})",
             file.string() + ": rope_scaling.factor is -Infinity"},
            {R"("eos_token_id": [1, NaN]})", file.string() + ": eos_token_id[1] is NaN"},
            {R"("rms_norm_eps": 1e400})", file.string() + ": expected valid JSON: number overflow parsing '1e400': rms_norm_eps is "
                                          "1e400, beyond the range of a double"},
            {R"("rope_scaling": {"type": "linear", "factor": -1.5e999}})",
             file.string() + ": expected valid JSON: number overflow parsing '-1.5e999': rope_scaling.factor is -1.5e999, beyond "
                             "the range of a double"},
            {R"("rms_norm_eps": -0.5})", file.string() + ": expected rms_norm_eps > 0, found -0.5"},
            // A syntax error before the literal is still reported as one.
            {R"("rms_norm_eps": 1e-5,, "x": NaN})", file.string() + ": expected valid JSON: parse error"},
        };
        for (const auto& [tail, expected] : cases) {
            writeText(file, head + tail);
            try {
                ModelConfig::fromFile(file);
                QFAIL(qPrintable(QString::fromStdString("accepted " + tail)));
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).rfind(expected, 0) == 0, e.what());
            }
        }
        // The same check on values that do not come from a file.
        auto j = base("LlamaForCausalLM");
        j["rope_theta"] = std::numeric_limits<double>::infinity();
        try {
            parse(j);
            QFAIL("accepted an infinite rope_theta");
        } catch (const rslora::Error& e) {
            QCOMPARE(QString(e.what()), QString("config.json: \"rope_theta\" is beyond the range of a double (it reads as "
                                                "infinity); expected a finite number"));
        }
        writeText(file, head + R"("rms_norm_eps": 1e-5, "initializer_range": 1e-400})");  // underflow to 0 is a number
        QCOMPARE(ModelConfig::fromFile(file).rmsNormEps, 1e-5);
        writeText(dir / "generation_config.json", R"({"temperature": NaN})");
        try {
            ModelConfig::fromFile(file);
            QFAIL("accepted NaN in generation_config.json");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString(e.what()).startsWith(QString::fromStdString((dir / "generation_config.json").string()) +
                                                  ": temperature is NaN"),
                     e.what());
        }
    }

    // Heads that do not divide hidden_size (and no head_dim) name the contradiction; before, the
    // head width was rounded down and the first tensor shape check failed instead.
    void headsNotDividingHiddenSize() {
        auto j = base("LlamaForCausalLM");
        j["hidden_size"] = 60;  // 8 heads of 7.5
        try {
            parse(j);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QCOMPARE(QString(e.what()), QString("config.json: hidden_size (60) is not a multiple of num_attention_heads (8), "
                                                "and there is no head_dim to say how wide a head is"));
        }
        j["head_dim"] = 8;  // explicit head widths need not divide (Gemma, Qwen3)
        QCOMPARE(parse(j).headDim, int64_t(8));
    }

    // transformers reads torch_dtype (or v5's dtype) as torch.<name> and fails on a name torch does
    // not have; such a name was ignored silently and the weights loaded in their stored dtype.
    void unknownDtypeRefused() {
        for (const char* key : {"torch_dtype", "dtype"}) {
            for (const json& bad : {json("bfloat17"), json("auto"), json("torch.float16"), json(16), json::array({"float16"})}) {
                auto j = base("LlamaForCausalLM");
                j[key] = bad;
                try {
                    parse(j);
                    QFAIL(qPrintable(QString("accepted %1 %2").arg(key, QString::fromStdString(bad.dump()))));
                } catch (const rslora::Error& e) {
                    const std::string expected = std::string("config.json: \"") + key + "\" is " + bad.dump() + ", which is not a torch dtype";
                    QVERIFY2(std::string(e.what()).rfind(expected, 0) == 0, e.what());
                }
            }
            for (const char* good : {"float32", "bfloat16", "float16", "float64", "int8"}) {
                auto j = base("LlamaForCausalLM");
                j[key] = good;
                const auto c = parse(j);
                QCOMPARE(c.torchDtype, std::string(good));
                QVERIFY(c.torchDtypeDeclared);
            }
        }
        auto j = base("LlamaForCausalLM");
        j["torch_dtype"] = nullptr;
        QVERIFY(!parse(j).torchDtypeDeclared);
        // dtype wins over torch_dtype when both are there (v5 writes dtype).
        j["torch_dtype"] = "not-a-dtype";
        j["dtype"] = "bfloat16";
        QCOMPARE(parse(j).torchDtype, std::string("bfloat16"));
    }

    void roundTrip() {
        auto j = base("Qwen2ForCausalLM");
        j["num_key_value_heads"] = 2;
        j["eos_token_id"] = {5, 6};
        j["rope_theta"] = 1e6;
        j["tie_word_embeddings"] = true;
        auto c = parse(j);
        auto back = parse(c.toJson());
        QCOMPARE(back.toJson().dump(), c.toJson().dump());
        QCOMPARE(back.eosTokenIds, c.eosTokenIds);
        QCOMPARE(back.parameterCount(), c.parameterCount());
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "tst_modelconfig.moc"
