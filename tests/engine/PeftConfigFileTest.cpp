// adapter_config.json as users bring it: every value PEFT writes is read, and every wrong type or
// range is refused with the file, the key and the value in the message (never a JSON-library text).
// The folder check reads the same file the same way, and applies the loader's rules to the tensors.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"
#include "models/SafeTensorsWriter.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

namespace {

// A tensor of a hand-made adapter file: every element `fill`.
struct RawTensor {
    std::string name;
    std::vector<uint64_t> shape;
    float fill = 0.25f;
    models::Dtype dtype = models::Dtype::F32;
};

// The cases below are LoRA configs: "peft_type": "LORA" is added where the text has none (PEFT
// refuses a file without it, and so does the reader; peftTypeIsRequired checks that).
std::string lora(const std::string& text)
{
    if (text.empty() || text[0] != '{' || text.find("\"peft_type\"") != std::string::npos)
        return text;
    const size_t next = text.find_first_not_of(" \t\n", 1);
    return "{\"peft_type\": \"LORA\"" + std::string(next != std::string::npos && text[next] == '}' ? "" : ", ") + text.substr(1);
}

AdapterConfig parseLora(const std::string& text, const std::string& source, const std::string& name = "default")
{
    return parsePeftAdapterConfig(lora(text), source, name);
}

void writeAdapterFolder(const fs::path& dir, const std::string& config, const std::vector<RawTensor>& tensors)
{
    fs::create_directories(dir);
    std::vector<std::vector<uint8_t>> storage;
    std::vector<models::TensorBytes> bytes;
    for (const auto& t : tensors) {
        uint64_t n = 1;
        for (uint64_t d : t.shape)
            n *= d;
        std::vector<uint8_t> b(n * 4);
        for (uint64_t i = 0; i < n; ++i) {
            if (t.dtype == models::Dtype::I32) {
                const int32_t v = static_cast<int32_t>(t.fill);
                std::memcpy(b.data() + i * 4, &v, 4);
            } else {
                std::memcpy(b.data() + i * 4, &t.fill, 4);
            }
        }
        storage.push_back(std::move(b));
        bytes.push_back({t.name, t.dtype, t.shape, storage.back().data(), storage.back().size()});
    }
    models::SafeTensorsWriter::write(dir / kPeftWeightsFile, bytes);
    writeFileAtomic(dir / kPeftConfigFile, lora(config));
}

std::string refusal(const std::string& text)
{
    try {
        (void)parseLora(text, "adapter_config.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "accepted";
}

} // namespace

class PeftConfigFileTest : public QObject {
    Q_OBJECT

private slots:
    void readsEverythingPeftWrites()
    {
        const auto c = parseLora(R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": true,
            "rank_pattern": {"q_proj": 4}, "alpha_pattern": {"v_proj": 2.5}, "lora_dropout": 0.05, "bias": "lora_only",
            "target_modules": ["q_proj", "v_proj"], "layers_to_transform": [0, 2], "base_model_name_or_path": "x"})",
                                              "adapter_config.json", "mine");
        QCOMPARE(c.name, std::string("mine"));
        QCOMPARE(c.rank, 8);
        QCOMPARE(c.alpha, 16.0);
        QVERIFY(c.scaling == ScalingMode::AlphaOverSqrtR);
        QCOMPARE(c.rankPattern.size(), size_t(1));
        QCOMPARE(c.rankPattern[0].second, 4);
        QCOMPARE(c.alphaPattern[0].second, 2.5);
        QCOMPARE(c.dropout, 0.05);
        QVERIFY(c.bias == BiasMode::LoraOnly);
        QCOMPARE(c.targetModules, (std::vector<std::string>{"q_proj", "v_proj"}));
        QCOMPARE(c.layersToTransform, (std::vector<int>{0, 2}));
        const auto regex = parseLora(R"({"r": 4, "lora_alpha": 8, "target_modules": ".*proj", "exclude_modules": ".*[.]0[.].*"})",
                                                  "adapter_config.json");
        QCOMPARE(regex.targetRegex, std::string(".*proj"));
        QCOMPARE(regex.excludeRegex, std::string(".*[.]0[.].*"));
        QVERIFY(regex.layersToTransform.empty());
        QVERIFY(regex.scaling == ScalingMode::AlphaOverR);
        const auto layers = parseLora(R"({"target_modules": ["q_proj"], "layers_to_transform": 3, "layers_pattern": "layers",
            "exclude_modules": ["model.layers.3.self_attn.q_proj"]})", "adapter_config.json");
        QCOMPARE(layers.layersToTransform, (std::vector<int>{3}));
        QCOMPARE(layers.layersPattern, (std::vector<std::string>{"layers"}));
        QCOMPARE(layers.excludeModules, (std::vector<std::string>{"model.layers.3.self_attn.q_proj"}));
        QVERIFY(!layers.targetsFromWeights);
        QVERIFY(parseLora(R"({"r": 4})", "adapter_config.json").targetsFromWeights);
    }

    void refusesWrongTypesAndRangesByKey_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << R"({"r": 8,)" << "adapter_config.json: expected valid JSON";
        QTest::newRow("number overflow") << R"({"r": 8, "lora_alpha": 1e400})" << "adapter_config.json: expected valid JSON";
        QTest::newRow("array") << "[1, 2]" << "expected a JSON object, found array";
        QTest::newRow("r string") << R"({"r": "8", "lora_alpha": 8})" << "\"r\" must be a positive integer rank, found \"8\"";
        QTest::newRow("r zero") << R"({"r": 0, "lora_alpha": 8})" << "\"r\" must be a positive integer rank, found 0";
        QTest::newRow("r huge") << R"({"r": 99999999999, "lora_alpha": 8})" << "\"r\" must be a positive integer rank";
        QTest::newRow("alpha string") << R"({"r": 8, "lora_alpha": "16"})" << "\"lora_alpha\" must be a finite number, found \"16\"";
        // Python's json writes NaN and Infinity for floats that are not finite (PEFT reads them back).
        QTest::newRow("alpha NaN") << R"({"r": 8, "lora_alpha": NaN})"
                                   << "adapter_config.json: \"lora_alpha\" is NaN, which is not a number JSON has";
        QTest::newRow("alpha pattern -Infinity") << R"({"r": 8, "alpha_pattern": {"q_proj": -Infinity}, "lora_dropout": 0.0})"
                                                 << "\"q_proj\" is -Infinity, which is not a number JSON has";
        QTest::newRow("NaN in a string is text") << R"({"r": 8, "base_model_name_or_path": "NaN", "lora_alpha": 8,})"
                                                 << "adapter_config.json: expected valid JSON";
        QTest::newRow("rslora string") << R"({"r": 8, "lora_alpha": 8, "use_rslora": "yes"})" << "\"use_rslora\" must be true or false";
        QTest::newRow("rank pattern value") << R"({"r": 8, "lora_alpha": 8, "rank_pattern": {"q_proj": "x"}})"
                                            << "\"rank_pattern.q_proj\" must be a positive integer rank, found \"x\"";
        QTest::newRow("rank pattern list") << R"({"r": 8, "lora_alpha": 8, "rank_pattern": [4]})" << "\"rank_pattern\" must be an object";
        // A pattern that does not compile matched no module, and its value was dropped without a word
        // (an alpha_pattern then left those modules at lora_alpha's scale; PEFT raises on such a key).
        // Plain literals: moc stops reading the class at an unbalanced bracket in a raw string.
        QTest::newRow("alpha pattern bad regex") << "{\"r\": 8, \"lora_alpha\": 16, \"alpha_pattern\": {\"(v_proj\": 32}}"
                                                 << "adapter_config.json: \"alpha_pattern\" key \"(v_proj\" is a module pattern";
        QTest::newRow("alpha pattern bad regex says why") << "{\"alpha_pattern\": {\"(v_proj\": 32}}"
                                                          << "that cannot be used here: ";
        QTest::newRow("rank pattern bad regex") << "{\"r\": 8, \"rank_pattern\": {\"q_proj[\": 4}}"
                                                << "\"rank_pattern\" key \"q_proj[\" is a module pattern";
        // Python's inline flags and look-behind are no ECMAScript regex: refused, not ignored.
        QTest::newRow("alpha pattern inline flag") << R"({"alpha_pattern": {"(?i)V_PROJ": 32}})"
                                                   << "\"alpha_pattern\" key \"(?i)V_PROJ\" is a module pattern";
        QTest::newRow("rank pattern look-behind") << R"({"rank_pattern": {"(?<=self_attn\\.)q_proj": 4}})"
                                                  << "\"rank_pattern\" key \"(?<=self_attn\\.)q_proj\" is a module pattern";
        QTest::newRow("alpha pattern value") << R"({"r": 8, "lora_alpha": 8, "alpha_pattern": {"v": null}})"
                                             << "\"alpha_pattern.v\" must be a finite number, found null";
        QTest::newRow("dropout range") << R"({"r": 8, "lora_alpha": 8, "lora_dropout": 1.5})" << "\"lora_dropout\" must lie in [0, 1), found 1.5";
        QTest::newRow("target not string") << R"({"r": 8, "lora_alpha": 8, "target_modules": ["q_proj", 3]})"
                                           << "\"target_modules[]\" must be a string, found 3";
        QTest::newRow("target object") << R"({"r": 8, "lora_alpha": 8, "target_modules": {}})" << "\"target_modules\" must be a list";
        // PEFT expands only the string "all-linear": in a list it names no module and PEFT refuses the adapter.
        QTest::newRow("all-linear in a list") << R"({"target_modules": ["all-linear"]})"
                                              << "\"target_modules\" holds \"all-linear\" in a list, where PEFT takes it as a "
                                                 "module name that no module has (it expands only the string form); write "
                                                 "\"target_modules\": \"all-linear\", or list the modules";
        QTest::newRow("ALL-LINEAR among names") << R"({"target_modules": ["q_proj", "ALL-LINEAR"]})"
                                                << "holds \"ALL-LINEAR\" in a list";
        // The scale alpha / r is applied to float32 values: beyond float32 every use of the adapter overflowed.
        QTest::newRow("alpha beyond float32") << R"({"r": 8, "lora_alpha": 1e300})"
                                              << "\"lora_alpha\" must fit float32 (at most 3.40282e+38), since the adapter's scale is applied in float32, found 1e+300";
        QTest::newRow("alpha pattern beyond float32") << R"({"alpha_pattern": {"q_proj": -1e39}})" << "\"alpha_pattern.q_proj\" must be greater than 0";
        QTest::newRow("alpha pattern 1e39") << R"({"alpha_pattern": {"q_proj": 1e39}})" << "\"alpha_pattern.q_proj\" must fit float32";
        QTest::newRow("alpha zero") << R"({"lora_alpha": 0})" << "\"lora_alpha\" must be greater than 0 (an alpha of 0 makes the adapter change nothing";
        QTest::newRow("alpha negative") << R"({"lora_alpha": -8})" << "give it a negative weight where it is applied), found -8";
        // PEFT's LoraConfig refuses these combinations, so no adapter PEFT saved has them.
        QTest::newRow("regex with layers") << R"({"target_modules": ".*q_proj", "layers_to_transform": [0]})"
                                           << "\"layers_to_transform\" cannot be used with a string target_modules";
        QTest::newRow("all-linear with layers") << R"({"target_modules": "all-linear", "layers_to_transform": 0})"
                                                << "\"layers_to_transform\" cannot be used with a string target_modules";
        QTest::newRow("regex with layers_pattern") << R"({"target_modules": ".*q_proj", "layers_pattern": "layers"})"
                                                   << "\"layers_pattern\" cannot be used with a string target_modules";
        QTest::newRow("layers_pattern alone") << R"({"target_modules": ["q_proj"], "layers_pattern": "layers"})"
                                              << "\"layers_pattern\" is set without layers_to_transform";
        QTest::newRow("bad regex") << R"({"target_modules": "*q_proj"})" << "\"target_modules\" is a regex (a string, matched against whole module names) that cannot be used";
        QTest::newRow("exclude number") << R"({"exclude_modules": 3})" << "\"exclude_modules\" must be a list of module names or a regex string, found 3";
        QTest::newRow("exclude item") << R"({"exclude_modules": ["lm_head", 3]})" << "\"exclude_modules[]\" must be a string, found 3";
        QTest::newRow("layers_pattern number") << R"({"layers_to_transform": [0], "layers_pattern": 3})" << "\"layers_pattern\" must be the name";
        QTest::newRow("negative layer") << R"({"r": 8, "lora_alpha": 8, "layers_to_transform": [-1]})"
                                        << "\"layers_to_transform\" must hold non-negative layer indices, found -1";
        QTest::newRow("bias") << R"({"r": 8, "lora_alpha": 8, "bias": "lora"})"
                              << "bias 'lora' is not supported (expected 'none', 'lora_only' or 'all')";
        QTest::newRow("peft type") << R"({"peft_type": "IA3", "r": 8, "lora_alpha": 8})" << "peft_type 'IA3' is not supported";
        QTest::newRow("peft type number") << R"({"peft_type": 3, "r": 8, "lora_alpha": 8})" << "\"peft_type\" must be a string, found 3";
        // A DoRA flag of the wrong type was ignored, and the adapter loaded as plain LoRA.
        QTest::newRow("dora string") << R"({"r": 8, "lora_alpha": 8, "use_dora": "true"})" << "\"use_dora\" must be true or false, found \"true\"";
        QTest::newRow("dora") << R"({"r": 8, "lora_alpha": 8, "use_dora": true})" << "DoRA adapters";
        // Inits with which PEFT changes the base weight: the factors do not fit the original model.
        QTest::newRow("init pissa") << R"({"init_lora_weights": "pissa"})"
                                    << "\"init_lora_weights\" is \"pissa\": PEFT changes the base weight";
        QTest::newRow("init pissa hint") << R"({"init_lora_weights": "pissa"})" << "path_initial_model_for_weight_conversion";
        QTest::newRow("init pissa_niter") << R"({"init_lora_weights": "pissa_niter_4"})" << "\"init_lora_weights\" is \"pissa_niter_4\"";
        QTest::newRow("init olora") << R"({"init_lora_weights": "olora"})" << "\"init_lora_weights\" is \"olora\"";
        QTest::newRow("init corda") << R"({"init_lora_weights": "corda"})" << "\"init_lora_weights\" is \"corda\"";
        QTest::newRow("init lora_ga") << R"({"init_lora_weights": "lora_ga"})" << "\"init_lora_weights\" is \"lora_ga\"";
        QTest::newRow("init loftq") << R"({"init_lora_weights": "loftq"})" << "\"init_lora_weights\" is \"loftq\"";
        QTest::newRow("init unknown") << R"({"init_lora_weights": "zeros"})"
                                      << "\"init_lora_weights\" is \"zeros\", an init this program does not know";
        QTest::newRow("init number") << R"({"init_lora_weights": 3})"
                                     << "\"init_lora_weights\" must be true, false or the name of an init, found 3";
        // Keys that change the computation and are not implemented here.
        QTest::newRow("lora_bias") << R"({"lora_bias": true})" << "\"lora_bias\" is true (a trained bias on lora_B)";
        QTest::newRow("modules_to_save") << R"({"modules_to_save": ["lm_head"]})" << "\"modules_to_save\" is [\"lm_head\"]";
        QTest::newRow("layer_replication") << R"({"layer_replication": [[0, 1]]})" << "\"layer_replication\" is [[0,1]]";
        QTest::newRow("alora") << R"({"alora_invocation_tokens": [5, 6]})" << "\"alora_invocation_tokens\" is [5,6]";
        QTest::newRow("qalora") << R"({"use_qalora": true})" << "\"use_qalora\" is true";
        QTest::newRow("trainable tokens") << R"({"trainable_token_indices": [1, 2]})" << "\"trainable_token_indices\" is [1,2]";
        QTest::newRow("target_parameters") << R"({"target_parameters": ["mlp.experts"]})" << "\"target_parameters\" is [\"mlp.experts\"]";
        // LoRA variants with a forward of their own: their factors were applied as plain LoRA.
        QTest::newRow("kasa") << R"({"kasa_config": {"rank": 8}})" << "\"kasa_config\" is {\"rank\":8} (KaSA";
        QTest::newRow("bdlora") << R"({"use_bdlora": {"nblocks": 2}})" << "\"use_bdlora\" is {\"nblocks\":2} (block-diagonal LoRA";
        QTest::newRow("bdlora flag") << R"({"use_bdlora": true})" << "\"use_bdlora\" is true (block-diagonal LoRA";
        QTest::newRow("arrow") << R"({"arrow_config": {"top_k": 2}})" << "\"arrow_config\" is {\"top_k\":2} (Arrow";
        QTest::newRow("monteclora") << R"({"monteclora_config": {"n": 1}})" << "\"monteclora_config\" is {\"n\":1} (MonteCLoRA";
    }

    void refusesWrongTypesAndRangesByKey()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString message = QString::fromStdString(refusal(text.toStdString()));
        QVERIFY2(message.contains(expected), qPrintable(message));
        QVERIFY2(!message.contains("json.exception"), qPrintable(message));
    }

    // PEFT picks the config class by peft_type and fails without it; such a file was read as LoRA.
    // Other adapter types, and a peft_type of another case, are refused by name.
    void peftTypeIsRequired()
    {
        auto message = [](const std::string& text) {
            try {
                (void)parsePeftAdapterConfig(text, "/a/adapter_config.json");
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        std::string m = message(R"({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]})");
        QVERIFY2(m.find("/a/adapter_config.json: \"peft_type\" is missing; PEFT needs it") != std::string::npos, m.c_str());
        QVERIFY2(m.find("\"peft_type\": \"LORA\"") != std::string::npos, m.c_str());
        m = message(R"({"peft_type": null, "r": 8})");
        QVERIFY2(m.find("\"peft_type\" is null") != std::string::npos, m.c_str());
        m = message(R"({"peft_type": "lora", "r": 8})");
        QVERIFY2(m.find("peft_type 'lora' is not supported (expected 'LORA')") != std::string::npos, m.c_str());
        m = message(R"({"peft_type": "ADALORA", "r": 8})");
        QVERIFY2(m.find("peft_type 'ADALORA' is not supported") != std::string::npos, m.c_str());
        QCOMPARE(message(R"({"peft_type": "LORA", "r": 8})"), std::string("accepted"));
        // The folder check reads the file the same way.
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const std::vector<float> a(2 * 4, 0.5f), b(4 * 2, 0.25f);
        models::SafeTensorsWriter::write(dir / kPeftWeightsFile,
            {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", models::Dtype::F32, {2, 4}, a.data(), a.size() * 4},
             {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", models::Dtype::F32, {4, 2}, b.data(), b.size() * 4}});
        writeFileAtomic(dir / kPeftConfigFile, R"({"r": 2, "lora_alpha": 4})");
        try {
            (void)checkPeftFolder(dir, std::nullopt);
            QFAIL("a config without peft_type was accepted");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("\"peft_type\" is missing"), e.what());
        }
    }

    // A file, a FIFO or a symbolic link loop given as the folder was "does not exist" (or the library's
    // own filesystem error): named for what it is.
    void nonFolderIsNamed()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path file = root / "notes.txt", fifo = root / "pipe", loop = root / "loop-a";
        writeFileAtomic(file, "x");
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        fs::create_symlink(root / "loop-b", loop);
        fs::create_symlink(loop, root / "loop-b");
        auto message = [](const fs::path& dir) {
            try {
                (void)checkPeftFolder(dir, std::nullopt);
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        QCOMPARE(message(file), "'" + file.string() + "' is a file, not an adapter folder (a PEFT adapter folder holds "
                                                      "adapter_config.json and adapter_model.safetensors)");
        QVERIFY2(message(fifo).find("is a FIFO, socket or device, not an adapter folder") != std::string::npos, message(fifo).c_str());
        QCOMPARE(message(loop), "adapter folder '" + loop.string() + "' cannot be read: Too many levels of symbolic links");
        QCOMPARE(message(root / "absent"), "adapter folder '" + (root / "absent").string() + "' does not exist");
    }

    // Without target_modules the folder check names the modules found in the weights.
    void folderCheckUsesTheSameReading()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const std::vector<float> a(2 * 4, 0.5f), b(4 * 2, 0.25f);
        models::SafeTensorsWriter::write(dir / kPeftWeightsFile,
            {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", models::Dtype::F32, {2, 4}, a.data(), a.size() * 4},
             {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", models::Dtype::F32, {4, 2}, b.data(), b.size() * 4}});
        writeFileAtomic(dir / kPeftConfigFile, lora(R"({"r": 2, "lora_alpha": 4, "use_rslora": true})"));
        const auto facts = checkPeftFolder(dir, std::nullopt);
        QCOMPARE(facts.rank, int64_t(2));
        QVERIFY(facts.rsLora);
        QCOMPARE(facts.targets, (std::vector<std::string>{"model.layers.0.self_attn.q_proj"}));
        QCOMPARE(facts.parameters, int64_t(16));
        writeFileAtomic(dir / kPeftConfigFile, lora(R"({"r": 2, "lora_alpha": 4, "rank_pattern": {"q_proj": -2}})"));
        try {
            (void)checkPeftFolder(dir, std::nullopt);
            QFAIL("a negative rank_pattern rank was accepted");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("\"rank_pattern.q_proj\" must be a positive integer rank, found -2"), e.what());
        }
    }

    // bias "all" trains and saves every bias of the model. Adapters with it were refused, also on
    // models without biases (Llama), where the file is a plain LoRA. The biases of adapted modules are
    // read as "lora_only" reads them; a bias of a module without lora_A / lora_B is refused by name.
    void biasAllReadsTheBiasesOfAdaptedModules()
    {
        QVERIFY(parseLora(R"({"r": 2, "bias": "all"})", "adapter_config.json").bias == BiasMode::LoraOnly);
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const std::string q = "base_model.model.model.layers.0.self_attn.q_proj", k = "base_model.model.model.layers.0.self_attn.k_proj";
        const std::string config = R"({"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "bias": "all"})";
        const std::vector<RawTensor> pair = {{q + ".lora_A.weight", {2, 64}}, {q + ".lora_B.weight", {64, 2}}};
        writeAdapterFolder(root / "plain", config, pair);
        QCOMPARE(checkPeftFolder(root / "plain", std::nullopt).modules, int64_t(1));
        std::vector<RawTensor> withBias = pair;
        withBias.push_back({q + ".base_layer.bias", {64}});
        writeAdapterFolder(root / "adapted", config, withBias);
        QCOMPARE(checkPeftFolder(root / "adapted", std::nullopt).parameters, int64_t(2 * 64 + 64 * 2 + 64));
        withBias.push_back({k + ".bias", {32}});
        writeAdapterFolder(root / "other", config, withBias);
        try {
            (void)checkPeftFolder(root / "other", std::nullopt);
            QFAIL("the trained bias of a module without an adapter was accepted");
        } catch (const Error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("tensor '" + k + ".bias' is a trained bias of model.layers.0.self_attn.k_proj, which the adapter does not adapt")
                         != std::string::npos, m.c_str());
            QVERIFY2(m.find("that bias \"all\" saves are not supported") != std::string::npos, m.c_str());
        }
    }

    // PEFT tries rank_pattern and alpha_pattern keys in the file's order and the first match wins; they
    // were tried in sorted order, so a hand-written file with overlapping patterns got another alpha.
    void patternsKeepTheFileOrder()
    {
        const auto c = parseLora(R"({"r": 8, "lora_alpha": 8,
            "rank_pattern": {"q_proj": 4, "layers\\.0\\.self_attn\\.q_proj": 2},
            "alpha_pattern": {"v_proj": 3, "layers\\.0\\.self_attn\\.v_proj": 32}})", "adapter_config.json");
        QCOMPARE(c.rankPattern.size(), size_t(2));
        QCOMPARE(c.rankPattern[0].first, std::string("q_proj"));
        QCOMPARE(c.alphaPattern[0].first, std::string("v_proj"));
        QCOMPARE(rankFor(c, "model.layers.0.self_attn.q_proj"), 4);
        QCOMPARE(alphaFor(c, "model.layers.0.self_attn.v_proj"), 3.0);
        const auto reversed = parseLora(R"({"r": 8, "lora_alpha": 8,
            "alpha_pattern": {"layers\\.0\\.self_attn\\.v_proj": 32, "v_proj": 3}})", "adapter_config.json");
        QCOMPARE(alphaFor(reversed, "model.layers.0.self_attn.v_proj"), 32.0);
        QCOMPARE(alphaFor(reversed, "model.layers.1.self_attn.v_proj"), 3.0);
    }

    // PEFT's minimal config names neither r nor lora_alpha: LoraConfig's defaults 8 and 8 apply.
    // Values that only change how A and B start, and keys that change nothing, pass.
    void peftDefaultsAndHarmlessValues()
    {
        const auto minimal = parseLora(R"({"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"]})",
                                                    "adapter_config.json");
        QCOMPARE(minimal.rank, 8);
        QCOMPARE(minimal.alpha, 8.0);
        QVERIFY(minimal.scaling == ScalingMode::AlphaOverR);
        QCOMPARE(parseLora(R"({"lora_alpha": 32})", "adapter_config.json").rank, 8);
        QCOMPARE(parseLora(R"({"r": 16})", "adapter_config.json").alpha, 8.0);
        for (const char* text :
             {R"({"init_lora_weights": true})", R"({"init_lora_weights": false})", R"({"init_lora_weights": "gaussian"})",
              R"({"init_lora_weights": "eva"})", R"({"init_lora_weights": "orthogonal"})", R"({"init_lora_weights": null})",
              R"({"modules_to_save": null, "layer_replication": null, "alora_invocation_tokens": null, "use_qalora": false,
                  "trainable_token_indices": null, "target_parameters": null, "lora_bias": false})",
              R"({"modules_to_save": [], "target_parameters": []})",
              R"({"exclude_modules": ["lm_head"], "layers_pattern": null, "loftq_config": {}, "eva_config": null,
                  "megatron_core": "megatron.core", "a_key_of_a_later_peft": 3, "fan_in_fan_out": false})",
              // PEFT sets fan_in_fan_out back to false for the nn.Linear layers of the models read here
              // (the factors keep their [r, in] / [out, r] shapes); VeLoRA changes backward only.
              R"({"fan_in_fan_out": true, "velora_config": {"num_groups": 64}})",
              R"({"kasa_config": null, "use_bdlora": null, "arrow_config": null, "monteclora_config": null})", R"({"use_bdlora": false})"})
            QVERIFY2(refusal(text) == "accepted", text);
    }

    // A string target_modules "all-linear" is PEFT's shorthand, not a regex.
    void allLinearStringIsTheShorthand()
    {
        const auto c = parseLora(R"({"r": 4, "lora_alpha": 8, "target_modules": "all-linear"})", "adapter_config.json");
        QVERIFY(c.targetRegex.empty());
        QCOMPARE(c.targetModules, (std::vector<std::string>{"all-linear"}));
        const auto regex = parseLora(R"({"target_modules": ".*\\.(q|v)_proj"})", "adapter_config.json");
        QCOMPARE(regex.targetRegex, std::string(".*\\.(q|v)_proj"));
        QVERIFY(regex.targetModules.empty());
    }

    // Keys carry PEFT's adapter name (".default.") or none, whatever name the adapter is loaded
    // under; anything but a lora_A / lora_B weight is refused by name, saying what it is.
    void tensorKeyGrammar()
    {
        const std::string q = "base_model.model.model.layers.0.self_attn.q_proj";
        for (const std::string key : {q + ".lora_A.weight", q + ".lora_A.default.weight", q + ".lora_A.stage1.weight"}) {
            const auto k = parseLoraKey(key);
            QVERIFY2(k.has_value(), key.c_str());
            QCOMPARE(k->module, std::string("model.layers.0.self_attn.q_proj"));
            QVERIFY(k->part == LoraKey::Part::A);
        }
        QVERIFY(parseLoraKey(q + ".lora_B.default.weight")->part == LoraKey::Part::B);
        QVERIFY(!parseLoraKey(q + ".lora_B.bias").has_value());
        QVERIFY(!parseLoraKey(q + ".bias").has_value());
        QVERIFY(!parseLoraKey("lora_A.weight").has_value());
        auto refused = [](const std::string& key) {
            try {
                (void)loraKeyOf(key, "adapter_model.safetensors");
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        const std::string prefix = "adapter_model.safetensors: tensor '";
        QVERIFY(refused(q + ".lora_B.bias").find(prefix + q + ".lora_B.bias' is not a lora_A / lora_B weight: it is a bias of lora_B")
                == 0);
        QVERIFY(refused(q + ".lora_A.default.bias").find("lora_bias") != std::string::npos);
        QVERIFY(refused(q + ".bias").find(q + ".bias' is not a lora_A / lora_B weight: it is a trained bias") != std::string::npos);
        QVERIFY(refused("base_model.model.model.embed_tokens.lora_embedding_A").find("embedding LoRA") != std::string::npos);
        QVERIFY(refused("base_model.model.lm_head.weight").find("whole module's weight") != std::string::npos);
        QVERIFY(refused(q + ".lora_magnitude_vector").find("DoRA") != std::string::npos);
        // PEFT loads keys without an adapter name or with its 'default'; another name it leaves out.
        QCOMPARE(refused(q + ".lora_A.default.weight"), std::string("accepted"));
        QCOMPARE(refused(q + ".lora_B.myname.weight"),
                 prefix + q + ".lora_B.myname.weight' carries the adapter name 'myname' (lora_B.myname.weight), which PEFT's "
                              "PeftModel.from_pretrained does not load: it matches the keys to its adapter 'default' and leaves "
                              "these weights out");
    }

    // The folder check before registration applies the loader's rules: what it accepts loads, and
    // what the loader refuses short of the model's weights, it refuses, naming the tensor.
    void folderCheckAppliesTheLoadersRules()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        // A model folder needs only its config.json here.
        const fs::path model = root / "model";
        fs::create_directories(model);
        writeFileAtomic(model / "config.json", R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2,
            "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 128, "rms_norm_eps": 1e-05,
            "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "float32", "hidden_act": "silu"})");
        const std::string q = "base_model.model.model.layers.0.self_attn.q_proj";
        const std::string config = R"({"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})";
        int n = 0;
        auto folder = [&](const std::string& configText, const std::vector<RawTensor>& tensors) {
            const fs::path dir = root / ("case" + std::to_string(n++));
            writeAdapterFolder(dir, configText, tensors);
            return dir;
        };
        auto checkRefusal = [&](const fs::path& dir, bool withModel) {
            try {
                (void)checkPeftFolder(dir, withModel ? std::optional<fs::path>(model) : std::nullopt);
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };

        // The output head is a module the loader adapts; PEFT's ".default." keys are read.
        const fs::path head = folder(R"({"r": 2, "lora_alpha": 4, "target_modules": ["lm_head"]})",
                                     {{"base_model.model.lm_head.lora_A.default.weight", {2, 64}},
                                      {"base_model.model.lm_head.lora_B.default.weight", {256, 2}}});
        const auto facts = checkPeftFolder(head, model);
        QCOMPARE(facts.modules, int64_t(1));
        QCOMPARE(facts.targets, (std::vector<std::string>{"lm_head"}));

        const std::vector<RawTensor> pair = {{q + ".lora_A.weight", {2, 64}}, {q + ".lora_B.weight", {64, 2}}};
        auto with = [&](std::vector<RawTensor> tensors, const RawTensor& extra) {
            tensors.push_back(extra);
            return tensors;
        };
        struct Case {
            const char* what;
            fs::path dir;
            std::string expected;
        };
        const Case cases[] = {
            {"whole module", folder(config, with(pair, {"base_model.model.lm_head.weight", {4, 4}})),
             "tensor 'base_model.model.lm_head.weight' is not a lora_A / lora_B weight"},
            {"embedding", folder(config, with(pair, {"base_model.model.model.embed_tokens.lora_embedding_A", {2, 256}})),
             "tensor 'base_model.model.model.embed_tokens.lora_embedding_A' is not a lora_A / lora_B weight"},
            {"lora_B bias", folder(config, with(pair, {q + ".lora_B.bias", {64}})), "it is a bias of lora_B"},
            {"module bias", folder(config, with(pair, {q + ".bias", {64}})), "tensor '" + q + ".bias' is not a lora_A / lora_B weight"},
            {"second A", folder(config, with(pair, {q + ".lora_A.default.weight", {2, 64}})), "are both lora_A"},
            {"only A", folder(config, {pair[0]}), "has only one of lora_A and lora_B"},
            {"A rows != B columns", folder(config, {pair[0], {q + ".lora_B.weight", {64, 3}}}), "which do not pair up"},
            {"rank vs r", folder(R"({"r": 4, "lora_alpha": 4})", pair), "has rank 2 but adapter_config.json says r = 4"},
            {"rank vs rank_pattern", folder(R"({"r": 2, "lora_alpha": 4, "rank_pattern": {"q_proj": 3}})", pair), "says r = 3"},
            {"NaN", folder(config, {{q + ".lora_A.weight", {2, 64}, std::nanf("")}, pair[1]}),
             "tensor '" + q + ".lora_A.weight' holds NaN or infinite values"},
            {"infinite", folder(config, {pair[0], {q + ".lora_B.weight", {64, 2}, INFINITY}}), "holds NaN or infinite values"},
            {"integer", folder(config, {pair[0], {q + ".lora_B.weight", {64, 2}, 1.0f, models::Dtype::I32}}),
             "tensor '" + q + ".lora_B.weight' is not floating point (dtype I32"},
        };
        for (const auto& c : cases) {
            const std::string message = checkRefusal(c.dir, false);
            QVERIFY2(message.find(c.expected) != std::string::npos, (std::string(c.what) + ": " + message).c_str());
        }
        // Shapes against the model: the tensor and the module's inputs and outputs are named.
        const fs::path wide = folder(config, {{q + ".lora_A.weight", {2, 48}}, {q + ".lora_B.weight", {64, 2}}});
        QVERIFY(checkRefusal(wide, false) == "accepted");
        const std::string message = checkRefusal(wide, true);
        QVERIFY2(message.find("tensor '" + q + ".lora_A.weight' has shape [2, 48], but model.layers.0.self_attn.q_proj of the model in")
                     != std::string::npos && message.find("has 64 inputs and 64 outputs") != std::string::npos,
                 message.c_str());
    }
};

QTEST_GUILESS_MAIN(PeftConfigFileTest)
#include "PeftConfigFileTest.moc"
