// TrainConfig: JSON/YAML round-trip and the specific messages of validate().
#include "common/Error.h"
#include "engine/ConfigPaths.h"
#include "engine/ConfigYaml.h"
#include "engine/ModuleSelection.h"
#include "engine/TrainConfig.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <limits>
#include <tuple>

#include <filesystem>
#include <fstream>
#include <regex>

using namespace rslora::engine;
using nlohmann::json;

namespace {

// True when fn throws rslora::Error.
template <typename F>
bool throwsError(F&& fn)
{
    try {
        fn();
    } catch (const rslora::Error&) {
        return true;
    }
    return false;
}

TrainConfig runnable()
{
    TrainConfig c;
    c.modelPath = "model";
    c.trainData = "train.jsonl";
    c.outputDir = "out";
    return c;
}

bool contains(const std::vector<std::string>& errors, const std::string& needle)
{
    for (const auto& e : errors)
        if (e.find(needle) != std::string::npos)
            return true;
    return false;
}

std::string joined(const std::vector<std::string>& errors)
{
    std::string s;
    for (const auto& e : errors)
        s += e + " | ";
    return s;
}

ValidationFacts tinyModel()
{
    ValidationFacts f;
    f.haveModel = true;
    f.numLayers = 2;
    for (int l = 0; l < 2; ++l)
        for (const auto& [n, out, in] : std::vector<std::tuple<std::string, int, int>>{
                 {"q_proj", 64, 64}, {"k_proj", 32, 64}, {"v_proj", 32, 64}, {"o_proj", 64, 64},
                 {"gate_proj", 128, 64}, {"up_proj", 128, 64}, {"down_proj", 64, 128}}) {
            const std::string group = (n == "gate_proj" || n == "up_proj" || n == "down_proj") ? "mlp" : "self_attn";
            f.modules.push_back({"model.layers." + std::to_string(l) + "." + group + "." + n, n, l, in, out});
        }
    f.modules.push_back({"lm_head", "lm_head", -1, 64, 256});
    return f;
}

} // namespace

class TrainConfigTest : public QObject {
    Q_OBJECT
private slots:
    void jsonRoundTrip()
    {
        TrainConfig c = runnable();
        c.adapter.rank = 32;
        c.adapter.scaling = ScalingMode::AlphaOverR;
        c.adapter.init = InitMode::Spectral;
        c.adapter.rankPattern = {{"q_proj", 16}, {"v_proj", 4}};
        c.adapter.alphaPattern = {{"layers\\.0\\..*", 3.5}};
        c.adapter.parameterization = Parameterization::RandomSubspace;
        c.adapter.balancing.enabled = true;
        c.adapter.layersToTransform = {0, 3};
        c.schedule = LrSchedule::Linear;
        c.seed = 1234567890123ULL;
        const json j = c.toJson();
        const TrainConfig back = TrainConfig::fromJson(j);
        QCOMPARE(back.toJson().dump(), j.dump());
        QCOMPARE(back.adapter.rankPattern.size(), size_t(2));
        QCOMPARE(back.seed, uint64_t(1234567890123ULL));
        QVERIFY(back.unknownKeys.empty());
        QVERIFY2(validate(back).empty(), joined(validate(back)).c_str());
    }

    void typoGetsSuggestion()
    {
        json j = runnable().toJson();
        j["training"]["lerning_rate"] = 1e-3;
        const auto errors = validate(TrainConfig::fromJson(j));
        QVERIFY2(contains(errors, "unknown key 'lerning_rate' (did you mean 'learning_rate'?)"), joined(errors).c_str());
        json k = runnable().toJson();
        k["trainig"] = json::object();
        QVERIFY(contains(validate(TrainConfig::fromJson(k)), "unknown key 'trainig' (did you mean 'training'?)"));
        // A key of another section is named with its section (it was 'did you mean' the same key), and
        // a misspelt one with the section of the key it resembles.
        json m = runnable().toJson();
        m["training"]["threads"] = 1;
        m["training"]["quantisation"] = "x";
        const auto moved = validate(TrainConfig::fromJson(m));
        QVERIFY2(contains(moved, "unknown key 'threads' in section 'training' (it belongs in the 'model' section)"), joined(moved).c_str());
        QVERIFY2(!contains(moved, "did you mean 'threads'"), joined(moved).c_str());
        QVERIFY2(contains(moved, "unknown key 'quantisation' in section 'training' (did you mean 'quantization' in the 'model' section?)"),
                 joined(moved).c_str());
    }

    void wrongTypeAndEnumThrow()
    {
        json j = runnable().toJson();
        j["adapter"]["r"] = "eight";
        QVERIFY(throwsError([&] { TrainConfig::fromJson(j); }));
        json k = runnable().toJson();
        k["adapter"]["init"] = "pissa";
        try {
            TrainConfig::fromJson(k);
            QFAIL("no error");
        } catch (const rslora::Error& e) {
            QVERIFY(std::string(e.what()).find("'spectral'") != std::string::npos);
        }
    }

    // A YAML scalar that is not UTF-8 (a config saved as Latin-1) is refused where it stands: it reached
    // paths and the stored config, and `rslora train` ended in the JSON library's "incomplete UTF-8
    // string" without a file or key. A JSON value holding such bytes is still refused by its key, the
    // bytes quoted as U+FFFD.
    void wrongValueWithInvalidUtf8()
    {
        const std::pair<std::string, QString> cases[] = {
            {"training:\n  learning_rate: \"1e-4\xff\xfe\"\n", "bad.yaml:2:18: the value \"1e-4\uFFFD\uFFFD\" is not valid UTF-8 (byte 0xff at character 5)"},
            {"output:\n  dir: /tmp/caf\xe9\n", "bad.yaml:2:8: the value \"/tmp/caf\uFFFD\" is not valid UTF-8 (byte 0xe9 at character 9)"},
            {"adapter:\n  \xe9t\xe9: 1\n", "bad.yaml:2:3: the key \"\uFFFDt\uFFFD\" is not valid UTF-8 (byte 0xe9 at character 1)"},
            {"data:\n  train: \"\xc3\xa9t\xc3\xa9 \xe2\x82\"\n", "the value \"\u00e9t\u00e9 \uFFFD\uFFFD\" is not valid UTF-8 (byte 0xe2 at character 5)"},
        };
        for (const auto& [text, expected] : cases) {
            try {
                yamlToJson(text, "bad.yaml");
                QFAIL(qPrintable("accepted: " + expected));
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(expected), e.what());
            }
        }
        // UTF-8 text passes as it is.
        QCOMPARE(yamlToJson("output:\n  dir: /tmp/caf\xc3\xa9\n", "ok.yaml")["output"]["dir"].get<std::string>(), std::string("/tmp/caf\xc3\xa9"));

        const json j = {{"training", {{"learning_rate", "1e-4\xff\xfe"}}}};
        try {
            TrainConfig::fromJson(j);
            QFAIL("no error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains("learning_rate") && what.contains("expected a number, found \"1e-4\uFFFD\uFFFD\""), e.what());
        }
    }

    // A plain YAML number beyond a double's range is refused with its line and column (it escaped
    // as a library exception before; found by the train_config fuzz campaign). Within range, a big
    // integer still reads as a float.
    void yamlNumberOutOfRange()
    {
        try {
            yamlToJson("training:\n  learning_rate: 9999999999999999E99999999948329\n", "big.yaml");
            QFAIL("no error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("big.yaml:2:18: the number \"9999999999999999E99999999948329\" is beyond the range of a 64-bit float"), e.what());
        }
        const json j = yamlToJson("a: 99999999999999999999\nb: -1e-400\n", "ok.yaml");
        QCOMPARE(j["a"].get<double>(), 1e20);
        QCOMPARE(j["b"].get<double>(), 0.0);
    }

    // Numbers that do not fit the int a key holds are refused by name, never truncated (the JSON
    // library's conversion of 6.7e22 to int is undefined behaviour; found by the train_config fuzz
    // campaign under UBSan).
    void integersOutOfRange()
    {
        const std::pair<const char*, json> cases[] = {
            {"rank_pattern", json{{"q_proj", 6.66667e22}}},
            {"rank_pattern", json{{"q_proj", 2.5}}},
            {"layers_to_transform", json::array({0, 3000000000LL})},
            {"layers_to_transform", 1e30},
            {"r", 3000000000LL},
        };
        for (const auto& [key, value] : cases) {
            json j = {{"model", {{"path", "m"}}}, {"adapter", {{key, value}}}};
            try {
                TrainConfig::fromJson(j);
                QFAIL(qPrintable(QString("accepted adapter.%1 = %2").arg(key, QString::fromStdString(value.dump()))));
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(QString("adapter.%1").arg(key)) && QString::fromUtf8(e.what()).contains("expected"), e.what());
            }
        }
    }

    // An integer beyond its key's type says the range (it said "expected an integer" of a number that
    // is one); one beyond int64_t wrapped to a negative value and was reported as "must be >= 0, found -1".
    void integerRangeIsNamed()
    {
        const std::tuple<const char*, const char*, json, const char*> cases[] = {
            {"training", "max_steps", 99999999999LL, "'training.max_steps': expected an integer from -2147483648 to 2147483647, found 99999999999"},
            {"adapter", "parameter_budget", json(18446744073709551615ULL),
             "'adapter.parameter_budget': expected an integer up to 9223372036854775807, found 18446744073709551615"},
        };
        for (const auto& [section, key, value, expected] : cases) {
            try {
                TrainConfig::fromJson(json{{section, {{key, value}}}});
                QFAIL(expected);
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(expected), e.what());
            }
        }
        QCOMPARE(TrainConfig::fromJson(json{{"adapter", {{"parameter_budget", 9223372036854775807LL}}}}).adapter.sensitivity.parameterBudget,
                 int64_t(9223372036854775807LL));
    }

    void specificErrors_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("message");
        QTest::newRow("alpha <= 0") << "lora_alpha" << "0" << "adapter.lora_alpha must be > 0, found 0";
        QTest::newRow("negative alpha") << "lora_alpha" << "-2" << "adapter.lora_alpha must be > 0, found -2";
        QTest::newRow("unknown target") << "target_modules" << "[\"q_proj\", \"qkv_proj\"]" << "unknown target module 'qkv_proj'";
        QTest::newRow("typo target") << "target_modules" << "[\"vproj\"]" << "(did you mean 'v_proj'?)";
        QTest::newRow("rank too large") << "r" << "40" << "rank 40 for model.layers.0.self_attn.k_proj is larger than the layer allows (min(in, out) = 32)";
        QTest::newRow("layer out of range") << "layers_to_transform" << "[5]" << "layers_to_transform holds layer 5";
        QTest::newRow("bad regex") << "target_regex" << "\"(q_proj\"" << "is not a valid regex";
        // libstdc++ reads counts and back-references into a long without an overflow check (undefined
        // behaviour, found by the train_config fuzz campaign under UBSan): refused before compiling.
        QTest::newRow("huge back-reference") << "rank_pattern" << "{\"q_p\\\\2222222222222222222\": 8}"
                                             << "adapter.rank_pattern key 'q_p\\2222222222222222222' is not a valid regex (it holds a number of more than 9 digits)";
        QTest::newRow("huge repetition") << "alpha_pattern" << "{\"q{99999999999}\": 8}"
                                         << "adapter.alpha_pattern key 'q{99999999999}' is not a valid regex (it holds a number of more than 9 digits)";
        // Found by the train_config fuzz campaign: the file system's refusal escaped as an exception.
        QTest::newRow("stack_on name too long") << "stack_on" << ("[\"" + QString(300, 'x') + "\"]")
                                                << "adapter.stack_on names '" + QString(300, 'x') + "', which cannot be read (File name too long)";
        QTest::newRow("stack_on twice") << "stack_on" << "[\"one\", \"two\", \"one\"]"
                                        << "adapter.stack_on names 'one' twice (as item 1 and item 3); a stacked adapter is applied once";
        QTest::newRow("stack_on twice, spelt two ways") << "stack_on" << "[\"/tmp\", \"/tmp/.\"]"
                                                        << "adapter.stack_on names '/tmp/.' twice (as item 1 and item 2)";
        QTest::newRow("huge count in target_regex") << "target_regex" << "\".*q_proj{12345678901}\""
                                                    << "(it holds a number of more than 9 digits)";
        // std::regex compiles by recursion, one level per term: 300,000 characters overflowed the stack.
        QTest::newRow("very long target_regex") << "target_regex" << ("\"" + QString(300000, 'a') + "\"")
                                                << "is not a valid regex (it is 300000 characters long; at most 1000 are read)";
        // The scale is applied in float32: an alpha beyond it failed inside LibTorch without naming the
        // key, one whose scale rounds to 0 trained an adapter that changes nothing.
        QTest::newRow("alpha beyond float32") << "lora_alpha" << "1e39"
                                              << "adapter.lora_alpha 1e+39 must fit float32 (at most 3.40282e+38)";
        QTest::newRow("alpha scale is 0") << "lora_alpha" << "1e-300"
                                          << "adapter.lora_alpha 1e-300 gives the scale 3.53553e-301 with r = 8, which is 0 in float32";
        QTest::newRow("alpha_pattern beyond float32") << "alpha_pattern" << "{\"q_proj\": 1e39}"
                                                      << "adapter.alpha_pattern['q_proj'] 1e+39 must fit float32";
        QTest::newRow("alpha_pattern scale is 0") << "alpha_pattern" << "{\"q_proj\": 1e-46}"
                                                  << "model.layers.0.self_attn.q_proj has lora_alpha 1e-46, which gives the scale 3.53553e-47 with r = 8, which is 0 in float32";
        // The adapter's name with a line break was accepted (and printed across lines).
        QTest::newRow("name with a line break") << "name" << "\"a\\nb\""
                                                << "adapter.name must be non-empty without '.', '/', spaces or control characters, found 'a\\nb'";
        QTest::newRow("name with a dot") << "name" << "\"a.b\"" << "found 'a.b'";
        // A pattern that matches no module changed nothing, silently.
        QTest::newRow("rank_pattern typo") << "rank_pattern" << "{\"q_prj\": 4}"
                                           << "adapter.rank_pattern key 'q_prj' matches no module of the model, so it changes nothing (did you mean 'q_proj'?)";
        QTest::newRow("alpha_pattern of no layer") << "alpha_pattern" << "{\"layers.7.self_attn.q_proj\": 4}"
                                                   << "adapter.alpha_pattern key 'layers.7.self_attn.q_proj' matches no module of the model";
        // Overlapping keys with different values: the first in name order won, not the first written.
        QTest::newRow("rank_pattern overlap") << "rank_pattern" << "{\"q_proj\": 4, \"layers.0.self_attn.q_proj\": 2}"
                                              << "adapter.rank_pattern: model.layers.0.self_attn.q_proj matches both 'layers.0.self_attn.q_proj' (2) and 'q_proj' (4)";
        QTest::newRow("alpha_pattern overlap") << "alpha_pattern" << "{\"v_proj\": 3, \"layers\\\\.1\\\\..*\": 5}"
                                               << "adapter.alpha_pattern: model.layers.1.self_attn.v_proj matches both 'layers\\.1\\..*' (5) and 'v_proj' (3)";
        QTest::newRow("very deep target_regex") << "target_regex" << ("\"" + QString(30000, '(') + QString(30000, ')') + "\"")
                                                << "is not a valid regex (it is 60000 characters long; at most 1000 are read)";
    }
    void specificErrors()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, message);
        json j = runnable().toJson();
        j["adapter"][key.toStdString()] = json::parse(value.toStdString());
        const auto errors = validate(TrainConfig::fromJson(j), tinyModel());
        QVERIFY2(contains(errors, message.toStdString()), joined(errors).c_str());
    }

    // Patterns that match modules (by their dotted end, or anchored, as PEFT matches them) and alphas
    // whose scale fits float32 pass.
    void matchingPatternsPass()
    {
        json j = runnable().toJson();
        j["adapter"]["rank_pattern"] = {{"layers.0.self_attn.q_proj", 4}, {"^model\\.layers\\.1\\..*v_proj", 2}};
        j["adapter"]["alpha_pattern"] = {{"k_proj", 1e-20}, {"q_proj", 3e38}};
        const auto errors = validate(TrainConfig::fromJson(j), tinyModel());
        QVERIFY2(errors.empty(), joined(errors).c_str());
    }

    // YAML can write .inf and .nan where JSON cannot: infinite or NaN settings are refused by name
    // (NaN clip_norm switched clipping off silently; infinite values passed their "> 0" checks).
    void nonFiniteSettingsAreRefused()
    {
        const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
        const std::tuple<const char*, const char*, double, const char*> cases[] = {
            {"training", "clip_norm", nan, "training.clip_norm must be a number"},
            {"training", "clip_norm", inf, "training.clip_norm must be a number"},
            {"training", "weight_decay", inf, "training.weight_decay must be >= 0"},
            {"training", "eps", inf, "training.eps must be > 0"},
            {"adapter", "init_sigma", inf, "adapter.init_sigma must be > 0"},
            {"adapter", "loraplus_lr_ratio", inf, "adapter.loraplus_lr_ratio must be > 0"},
        };
        for (const auto& [section, key, value, message] : cases) {
            json j = runnable().toJson();
            j[section][key] = value;
            const auto errors = validate(TrainConfig::fromJson(j), tinyModel());
            QVERIFY2(contains(errors, message), (std::string(key) + ": " + joined(errors)).c_str());
        }
        json j = runnable().toJson();
        j["training"]["clip_norm"] = 0.0;  // no clipping, as documented
        QVERIFY2(validate(TrainConfig::fromJson(j), tinyModel()).empty(), joined(validate(TrainConfig::fromJson(j), tinyModel())).c_str());
    }

    void emptyAndMaskedData()
    {
        ValidationFacts f = tinyModel();
        f.haveData = true;
        f.train = {"train.jsonl", 0, 0};
        QVERIFY(contains(validate(runnable(), f), "training data 'train.jsonl' holds no samples"));
        f.train = {"train.jsonl", 10, 0};
        QVERIFY(contains(validate(runnable(), f), "every label in training data 'train.jsonl' is masked"));
        f.train = {"train.jsonl", 10, 100};
        QVERIFY2(validate(runnable(), f).empty(), joined(validate(runnable(), f)).c_str());
        QVERIFY(throwsError([&] { validateOrThrow(TrainConfig{}, f); }));
        // A validation split of a one-sample dataset holds nothing out: refused, not trained without evaluation.
        TrainConfig split = runnable();
        split.validationSplit = 0.5;
        f.train = {"train.jsonl", 1, 5};
        f.validation = {"", 0, 0};
        QVERIFY2(contains(validate(split, f), "data.validation_split 0.5 holds out no sample: training data 'train.jsonl' has 1 sample "
                                               "and a split needs at least 2"),
                 joined(validate(split, f)).c_str());
        f.validation = {"", 1, 5};
        QVERIFY2(validate(split, f).empty(), joined(validate(split, f)).c_str());
        // With a validation file the split is not used (the form says so): nothing to refuse.
        split.validationData = "val.jsonl";
        f.haveValidation = true;
        f.validation = {"val.jsonl", 3, 9};
        QVERIFY2(validate(split, f).empty(), joined(validate(split, f)).c_str());
    }

    void moduleSelection()
    {
        const auto facts = tinyModel();
        AdapterConfig a;
        a.targetModules = {"all-linear"};
        QCOMPARE(planModules(a, facts.modules).size(), size_t(14)); // lm_head left alone
        a.layersToTransform = {1};
        QCOMPARE(planModules(a, facts.modules).size(), size_t(7));
        a = AdapterConfig{};
        a.targetModules = {};
        a.targetRegex = R"(.*\.(q|v)_proj)";
        QCOMPARE(planModules(a, facts.modules).size(), size_t(4));
        a.rankPattern = {{"q_proj", 32}};
        a.alphaPattern = {{"^model\\.layers\\.1\\..*", 4.0}};
        const auto plans = planModules(a, facts.modules);
        QCOMPARE(plans[0].rank, 32);
        QCOMPARE(plans[1].rank, 8);
        QCOMPARE(plans[2].alpha, 4.0);
        QCOMPARE(plans[1].scale, 16.0 / std::sqrt(8.0));
        QVERIFY(peftPatternMatches("q_proj", "model.layers.0.self_attn.q_proj"));
        QVERIFY(!peftPatternMatches("proj", "model.layers.0.self_attn.q_proj"));
    }

    void yamlConfig()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.yaml").toStdString();
        std::ofstream(path) << "# a run\nmodel:\n  path: my-model\ndata:\n  train: \"t.jsonl\"\nadapter:\n  r: 16\n"
                               "  target_modules: [q_proj, v_proj]\n  rank_pattern: {q_proj: 4}\n  scaling: alpha/sqrt(r)\n"
                               "training:\n  learning_rate: 3.0e-4\n  lr_schedule: linear\noutput:\n  dir: out\n";
        const TrainConfig c = TrainConfig::load(path);
        QCOMPARE(c.modelPath, dir.filePath("my-model").toStdString()); // taken from the file's folder
        QCOMPARE(c.adapter.rank, 16);
        QCOMPARE(c.adapter.targetModules.size(), size_t(2));
        QCOMPARE(c.adapter.rankPattern.front().second, 4);
        QCOMPARE(c.learningRate, 3e-4);
        QVERIFY(c.schedule == LrSchedule::Linear);
        QVERIFY(validate(c).empty());
    }

    // An empty YAML file (or one of comments only) was read as a config whose every key was left out
    // and refused for an empty model.path and data.train; a list was "not a JSON object".
    void emptyOrNonMappingYamlIsNamed()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.yaml").toStdString();
        auto message = [&](const std::string& text) {
            std::ofstream(path) << text;
            try {
                (void)TrainConfig::load(path);
            } catch (const rslora::Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        for (const char* text : {"", "# only a comment\n", "---\n", "{}\n"}) {
            const std::string m = message(text);
            QVERIFY2(m == path + " holds no settings (the YAML document is empty): a training config names at least model.path and data.train",
                     m.c_str());
        }
        QCOMPARE(message("- model\n- data\n"),
                 path + ": a training config is a mapping of sections (model:, data:, training: ...), found a YAML list");
        QCOMPARE(message("just text\n"),
                 path + ": a training config is a mapping of sections (model:, data:, training: ...), found a YAML scalar");
    }

    // model.dtype, model.adapter_dtype and training.gradient_checkpointing from YAML and JSON, and
    // their problems named with the accepted values.
    void precisionKeys()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("bf16.yaml").toStdString();
        std::ofstream(path) << "model:\n  path: m\n  dtype: bfloat16\n  adapter_dtype: bfloat16\ndata:\n  train: t.jsonl\n"
                               "training:\n  gradient_checkpointing: true\noutput:\n  dir: out\n";
        const TrainConfig c = TrainConfig::load(path);
        QCOMPARE(c.dtype, std::string("bfloat16"));
        QCOMPARE(c.adapterDtype, std::string("bfloat16"));
        QVERIFY(c.gradientCheckpointing);
        QVERIFY2(validate(c).empty(), joined(validate(c)).c_str());
        const json j = c.toJson();
        QCOMPARE(j["training"]["gradient_checkpointing"].get<bool>(), true);
        QCOMPARE(TrainConfig::fromJson(j).toJson().dump(), j.dump());
        QVERIFY(!TrainConfig().gradientCheckpointing);

        json bad = runnable().toJson();
        bad["training"]["gradient_checkpointing"] = "yes";
        try {
            TrainConfig::fromJson(bad);
            QFAIL("a string for a boolean was accepted");
        } catch (const std::exception& e) {
            QVERIFY2(std::string(e.what()).find("training.gradient_checkpointing") != std::string::npos, e.what());
        }
        TrainConfig half = runnable();
        half.dtype = "float16";
        QVERIFY(contains(validate(half), "model.dtype 'float16' needs a CUDA device"));
        half.device = "cuda";
        QVERIFY2(!contains(validate(half), "model.dtype"), joined(validate(half)).c_str());
        TrainConfig mixed = runnable();
        mixed.adapterDtype = "bfloat16"; // float32 base
        QVERIFY(contains(validate(mixed), "model.adapter_dtype must be 'float32' or the model.dtype ('float32'), found 'bfloat16'"));
    }

    // training.allreduce_dtype and training.allreduce_bucket_mb: read, written back, and refused out
    // of range with the accepted values (bfloat16 gradients only where NCCL sums them).
    void allreduceKeys()
    {
        json j = runnable().toJson();
        QCOMPARE(j["training"]["allreduce_dtype"].get<std::string>(), std::string("float32"));
        QCOMPARE(j["training"]["allreduce_bucket_mb"].get<int>(), 16);
        j["training"]["allreduce_dtype"] = "float16";
        j["training"]["allreduce_bucket_mb"] = 4;
        const TrainConfig c = TrainConfig::fromJson(j);
        QCOMPARE(c.allreduceDtype, std::string("float16"));
        QCOMPARE(c.allreduceBucketMb, 4);
        QVERIFY2(validate(c).empty(), joined(validate(c)).c_str());
        QCOMPARE(TrainConfig::fromJson(c.toJson()).toJson().dump(), c.toJson().dump());

        TrainConfig bf16 = runnable();
        bf16.allreduceDtype = "bfloat16";
        QVERIFY(contains(validate(bf16), "training.allreduce_dtype 'bfloat16' needs NCCL (model.device 'cuda')"));
        bf16.device = "cuda";
        QVERIFY2(!contains(validate(bf16), "allreduce"), joined(validate(bf16)).c_str());
        TrainConfig wrong = runnable();
        wrong.allreduceDtype = "int8";
        wrong.allreduceBucketMb = 0;
        QVERIFY(contains(validate(wrong), "training.allreduce_dtype must be 'float32', 'bfloat16' or 'float16', found 'int8'"));
        QVERIFY(contains(validate(wrong), "training.allreduce_bucket_mb must be in [1, 4096], found 0"));
    }

    // Anchors, aliases and merge keys: shared settings written once.
    void yamlAnchorsAndMergeKeys()
    {
        const auto doc = readYaml("defaults: &d\n  lr: 0.001\n  steps: 10\n  name: base\n"
                                  "a:\n  <<: *d\n  steps: 20\n"
                                  "b: *d\n"
                                  "targets: &t [q_proj, v_proj]\n"
                                  "c: {targets: *t}\n",
                                  "x.yaml");
        const auto& j = doc.value;
        QCOMPARE(j["a"]["lr"].get<double>(), 0.001);
        QCOMPARE(j["a"]["steps"].get<int>(), 20); // the key written beside the merge wins
        QCOMPARE(j["a"]["name"].get<std::string>(), std::string("base"));
        QCOMPARE(j["b"]["steps"].get<int>(), 10);
        QCOMPARE(j["c"]["targets"].size(), size_t(2));
        QCOMPARE(j["c"]["targets"][1].get<std::string>(), std::string("v_proj"));
    }

    // Lists of mappings (a pipeline's stages) with the position of each item and key.
    void yamlListsOfMappings()
    {
        const auto doc = readYaml("stages:\n  - name: sft\n    steps: 3\n  - name: dpo\n    objective: dpo\n", "p.yaml");
        QCOMPARE(doc.value["stages"].size(), size_t(2));
        QCOMPARE(doc.value["stages"][0]["steps"].get<int>(), 3);
        QCOMPARE(doc.value["stages"][1]["objective"].get<std::string>(), std::string("dpo"));
        QCOMPARE(doc.where("/stages/1/objective"), std::string("line 5, column 5"));
        QCOMPARE(doc.where("/stages/1"), std::string("line 4, column 5"));
        // Unknown pointers fall back to the nearest ancestor with a position.
        QCOMPARE(doc.where("/stages/0/missing"), std::string("line 2, column 5"));
    }

    // Block scalars keep their lines; quoted scalars stay strings; plain ones are typed as before.
    void yamlScalars()
    {
        const auto j = yamlToJson("literal: |\n  line one\n  line two\nfolded: >\n  one\n  two\n"
                                  "quoted: \"42\"\nnumber: 42\nreal: 3.0e-4\nflag: yes\nnothing: ~\ntext: hello world\n",
                                  "s.yaml");
        QCOMPARE(j["literal"].get<std::string>(), std::string("line one\nline two\n"));
        QCOMPARE(j["folded"].get<std::string>(), std::string("one two\n"));
        QVERIFY(j["quoted"].is_string());
        QVERIFY(j["number"].is_number_integer());
        QCOMPARE(j["real"].get<double>(), 3e-4);
        QCOMPARE(j["flag"].get<bool>(), true);
        QVERIFY(j["nothing"].is_null());
        QCOMPARE(j["text"].get<std::string>(), std::string("hello world"));
    }

    // The plain number forms (scanned by hand, not by std::regex, whose matcher recursed once per
    // digit: a scalar of 300,000 digits overflowed the stack).
    void yamlNumberForms()
    {
        const auto j = yamlToJson("a: 1.\nb: .5\nc: +3\nd: -2e5\ne: 1e\nf: .\ng: e5\nh: 1.2.3\ni: +\nj: --1\nk: 1e+\nl: -.5E-2\n",
                                  "n.yaml");
        QCOMPARE(j["a"].get<double>(), 1.0);
        QCOMPARE(j["b"].get<double>(), 0.5);
        QVERIFY(j["c"].is_number_integer());
        QCOMPARE(j["c"].get<int>(), 3);
        QCOMPARE(j["d"].get<double>(), -2e5);
        for (const char* text : {"e", "f", "g", "h", "i", "j", "k"})
            QVERIFY2(j[text].is_string(), text);
        QCOMPARE(j["l"].get<double>(), -0.005);
        try {
            yamlToJson("training:\n  max_steps: " + std::string(300000, '9') + "\n", "long.yaml");
            QFAIL("no error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("is beyond the range of a 64-bit float"), e.what());
        }
    }

    // Every error names file, line and column.
    void yamlErrorPositions_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("bad indentation") << "model:\n  path: a\n bad: 1\n" << "e.yaml:3:";
        QTest::newRow("unclosed flow") << "adapter:\n  target_modules: [q_proj, v_proj\n" << "e.yaml:";
        QTest::newRow("duplicate key") << "training:\n  seed: 1\n  seed: 2\n" << "e.yaml:3:3: duplicate key 'seed'";
        QTest::newRow("undefined alias") << "a: *nowhere\n" << "e.yaml:1:";
        QTest::newRow("two documents") << "a: 1\n---\nb: 2\n" << "e.yaml:3:1: a config holds one YAML document";
        // yaml-cpp reads a stray ',' where a value starts as an empty document without consuming it;
        // reading every document never ended.
        QTest::newRow("stray comma") << ",\n  \"r\": 8\n" << "e.yaml:1:1: unexpected ',' where a value should start";
        QTest::newRow("stray comma after document start") << "---\n,\n" << "e.yaml:2:1: unexpected ','";
    }
    void yamlErrorPositions()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        try {
            readYaml(text.toStdString(), "e.yaml");
            QFAIL("the YAML was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(expected.toStdString()) == 0, e.what());
            QVERIFY2(std::regex_search(std::string(e.what()), std::regex("^e\\.yaml:[0-9]+:[0-9]+: ")), e.what());
        }
    }

    // A tab in the indentation makes yaml-cpp report the structure it broke ("illegal map value");
    // the message says that YAML indents with spaces and names the line with the tab.
    void yamlTabIndentationIsNamed()
    {
        const std::pair<std::string, std::string> cases[] = {
            {"model: {path: m}\ndata:\n\ttrain: d.jsonl\n", "line 3 is indented with a tab; YAML indents with spaces only"},
            {"data:\n  train: d.jsonl\n  \tshuffle: true\n", "line 3 is indented with a tab; YAML indents with spaces only"},
        };
        for (const auto& [text, expected] : cases) {
            try {
                readYaml(text, "e.yaml");
                QFAIL(("the YAML was accepted: " + text).c_str());
            } catch (const rslora::Error& e) {
                QVERIFY2(std::regex_search(std::string(e.what()), std::regex("^e\\.yaml:[0-9]+:[0-9]+: ")), e.what());
                QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
            }
        }
        // A tab after a key, inside a line, is a separator YAML allows: no such hint on other errors.
        try {
            readYaml("a:\tb\nc: [1\n", "e.yaml");
            QFAIL("the YAML was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("indented with a tab") == std::string::npos, e.what());
        }
    }

    // Nine levels of ten aliases each would expand to 10^9 values: refused at the limit, with where.
    void yamlAliasExpansionIsBounded()
    {
        std::string text;
        text += "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
        for (int level = 1; level < 9; ++level) {
            const std::string prev = "*a" + std::to_string(level - 1);
            text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [" + prev;
            for (int i = 1; i < 10; ++i)
                text += ", " + prev;
            text += "]\n";
        }
        try {
            readYaml(text, "e.yaml");
            QFAIL("the YAML was accepted");
        } catch (const rslora::Error& e) {
            const std::string what = e.what();
            QVERIFY2(std::regex_search(what, std::regex("^e\\.yaml:[0-9]+:[0-9]+: the config expands to more than 1000000 values")),
                     e.what());
        }
    }

    // Relative paths in a config file are taken from its folder; absolute ones stay as written.
    void relativePathsResolveAgainstTheConfigFolder()
    {
        QTemporaryDir dir;
        const std::filesystem::path folder = std::filesystem::path(dir.path().toStdString()) / "configs";
        std::filesystem::create_directories(folder);
        std::ofstream(folder / "run.yaml") << "model:\n  path: ../model\ndata:\n  train: data/train.jsonl\n"
                                              "  validation: /abs/val.jsonl\noutput:\n  dir: out\n"
                                              "adapter:\n  stack_on: [stage1, /abs/stage2]\n";
        const TrainConfig c = TrainConfig::load((folder / "run.yaml").string());
        QCOMPARE(c.modelPath, (std::filesystem::path(dir.path().toStdString()) / "model").string());
        QCOMPARE(c.trainData, (folder / "data" / "train.jsonl").string());
        QCOMPARE(c.validationData, std::string("/abs/val.jsonl"));
        QCOMPARE(c.outputDir, (folder / "out").string());
        QCOMPARE(c.adapter.stackOn, (std::vector<std::string>{(folder / "stage1").string(), "/abs/stage2"}));
        // From JSON text (the store, the workbench) nothing is resolved: there is no file.
        QCOMPARE(TrainConfig::fromJson(json{{"model", {{"path", "m"}}}}).modelPath, std::string("m"));
    }

    // Messages about a config key read from YAML name its line and column.
    void yamlKeyErrorsNamePositions()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("bad.yaml").toStdString();
        std::ofstream(path) << "training:\n  max_steps: many\n";
        try {
            TrainConfig::load(path);
            QFAIL("accepted a string for an integer");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("config key 'training.max_steps' (line 2, column 3): expected an integer") != std::string::npos,
                     e.what());
        }
        std::ofstream(path) << "training:\n  seed: 1\n  lerning_rate: 0.1\nextra: 1\n";
        const TrainConfig c = TrainConfig::load(path);
        QCOMPARE(c.unknownKeys.size(), size_t(2));
        QVERIFY2(c.unknownKeys[1].find("'lerning_rate' (did you mean 'learning_rate'?) in section 'training' (line 3, column 3)") != std::string::npos,
                 c.unknownKeys[1].c_str());
        QVERIFY2(c.unknownKeys[0].find("unknown key 'extra' (line 4, column 1)") != std::string::npos, c.unknownKeys[0].c_str());
    }

    // "~/" in a config path is the home folder, as the shell reads it (a folder named "~" used to be
    // created beside the config); without HOME such a path is refused.
    void homeFolderInConfigPaths()
    {
        QTemporaryDir dir;
        const std::filesystem::path home = std::filesystem::path(dir.path().toStdString()) / "home";
        struct RestoreHome {
            bool had = qEnvironmentVariableIsSet("HOME");
            QByteArray saved = qgetenv("HOME");
            ~RestoreHome()
            {
                if (had)
                    qputenv("HOME", saved);
                else
                    qunsetenv("HOME");
            }
        } restore;
        qputenv("HOME", QByteArray::fromStdString(home.string()));
        QCOMPARE(resolveConfigPath("~/x", "/configs"), (home / "x").string());
        QCOMPARE(resolveConfigPath("~", "/configs"), home.string());
        QCOMPARE(resolveConfigPath("~x", "/configs"), std::string("/configs/~x")); // another user's: not ours to guess
        std::ofstream(dir.filePath("run.yaml").toStdString()) << "model:\n  path: ~/models/m\ndata:\n  train: t.jsonl\n";
        const TrainConfig c = TrainConfig::load(dir.filePath("run.yaml").toStdString());
        QCOMPARE(c.modelPath, (home / "models" / "m").string());
        qunsetenv("HOME");
        QString refused;
        try {
            resolveConfigPath("~/x", "/configs");
        } catch (const rslora::Error& e) {
            refused = QString::fromUtf8(e.what());
        }
        QVERIFY2(refused.contains("'~/x' starts with '~' but HOME is not set"), qPrintable(refused));
    }

    // A key written twice in a JSON config is refused naming it (nlohmann kept the last one silently).
    void duplicateJsonKeysAreRefused()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.json").toStdString();
        std::ofstream(path) << R"({"training": {"learning_rate": 0.001, "seed": 1, "seed": 2}})";
        try {
            TrainConfig::load(path);
            QFAIL("the duplicate key was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(path + ": duplicate key 'seed'") != std::string::npos, e.what());
        }
    }

    // A JSON config saved as UTF-16 or UTF-32 ("Unicode" in Windows editors) is named for its encoding;
    // it was refused as "a NUL byte at offset 3 (... the file may be damaged)". A UTF-8 byte order mark
    // and CRLF line ends read as written; a UTF-16 YAML config is read (yaml-cpp converts it).
    void jsonConfigEncodingsAreNamed()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.json").toStdString();
        const std::string body = "{\r\n  \"training\": {\"seed\": 7}\r\n}\r\n";
        auto utf16 = [](const std::string& ascii, bool little) {
            std::string out = little ? std::string("\xFF\xFE") : std::string("\xFE\xFF");
            for (const char c : ascii)
                out += little ? std::string{c, '\0'} : std::string{'\0', c};
            return out;
        };
        const std::pair<std::string, const char*> refused[] = {
            {utf16(body, true), "is UTF-16 text (it starts with a UTF-16 byte order mark); a JSON config is UTF-8"},
            {utf16(body, false), "is UTF-16 text"},
            {std::string("\xFF\xFE\0\0{\0\0\0", 8), "is UTF-32 text"},
        };
        for (const auto& [bytes, expected] : refused) {
            std::ofstream(path, std::ios::binary) << bytes;
            try {
                TrainConfig::load(path);
                QFAIL(expected);
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find(path + " " + expected) != std::string::npos, e.what());
            }
        }
        std::ofstream(path, std::ios::binary) << "\xEF\xBB\xBF" + body;
        QCOMPARE(TrainConfig::load(path).seed, uint64_t(7));
        const std::string yaml = dir.filePath("run.yaml").toStdString();
        std::ofstream(yaml, std::ios::binary) << utf16("training:\r\n  seed: 9\r\n", true);
        QCOMPARE(TrainConfig::load(yaml).seed, uint64_t(9));
    }
};

QTEST_GUILESS_MAIN(TrainConfigTest)
#include "TrainConfigTest.moc"
