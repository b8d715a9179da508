// adapter_config.json as users bring it: every value PEFT writes is read, and every wrong type or
// range is refused with the file, the key and the value in the message (never a JSON-library text).
// The folder check reads the same file the same way.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"
#include "models/SafeTensorsWriter.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <string>
#include <vector>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

namespace {

std::string refusal(const std::string& text)
{
    try {
        (void)parsePeftAdapterConfig(text, "adapter_config.json");
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
        const auto c = parsePeftAdapterConfig(R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": true,
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
        const auto regex = parsePeftAdapterConfig(R"({"r": 4, "lora_alpha": 8, "target_modules": ".*proj", "layers_to_transform": 3})",
                                                  "adapter_config.json");
        QCOMPARE(regex.targetRegex, std::string(".*proj"));
        QCOMPARE(regex.layersToTransform, (std::vector<int>{3}));
        QVERIFY(regex.scaling == ScalingMode::AlphaOverR);
    }

    void refusesWrongTypesAndRangesByKey_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << R"({"r": 8,)" << "adapter_config.json: expected valid JSON";
        QTest::newRow("number overflow") << R"({"r": 8, "lora_alpha": 1e400})" << "adapter_config.json: expected valid JSON";
        QTest::newRow("array") << "[1, 2]" << "expected a JSON object, found array";
        QTest::newRow("r missing") << R"({"lora_alpha": 8})" << "'r' and 'lora_alpha' are required";
        QTest::newRow("r string") << R"({"r": "8", "lora_alpha": 8})" << "\"r\" must be a positive integer rank, found \"8\"";
        QTest::newRow("r zero") << R"({"r": 0, "lora_alpha": 8})" << "\"r\" must be a positive integer rank, found 0";
        QTest::newRow("r huge") << R"({"r": 99999999999, "lora_alpha": 8})" << "\"r\" must be a positive integer rank";
        QTest::newRow("alpha string") << R"({"r": 8, "lora_alpha": "16"})" << "\"lora_alpha\" must be a finite number, found \"16\"";
        QTest::newRow("rslora string") << R"({"r": 8, "lora_alpha": 8, "use_rslora": "yes"})" << "\"use_rslora\" must be true or false";
        QTest::newRow("rank pattern value") << R"({"r": 8, "lora_alpha": 8, "rank_pattern": {"q_proj": "x"}})"
                                            << "\"rank_pattern.q_proj\" must be a positive integer rank, found \"x\"";
        QTest::newRow("rank pattern list") << R"({"r": 8, "lora_alpha": 8, "rank_pattern": [4]})" << "\"rank_pattern\" must be an object";
        QTest::newRow("alpha pattern value") << R"({"r": 8, "lora_alpha": 8, "alpha_pattern": {"v": null}})"
                                             << "\"alpha_pattern.v\" must be a finite number, found null";
        QTest::newRow("dropout range") << R"({"r": 8, "lora_alpha": 8, "lora_dropout": 1.5})" << "\"lora_dropout\" must lie in [0, 1), found 1.5";
        QTest::newRow("target not string") << R"({"r": 8, "lora_alpha": 8, "target_modules": ["q_proj", 3]})"
                                           << "\"target_modules[]\" must be a string, found 3";
        QTest::newRow("target object") << R"({"r": 8, "lora_alpha": 8, "target_modules": {}})" << "\"target_modules\" must be a list";
        QTest::newRow("negative layer") << R"({"r": 8, "lora_alpha": 8, "layers_to_transform": [-1]})"
                                        << "\"layers_to_transform\" must hold non-negative layer indices, found -1";
        QTest::newRow("bias") << R"({"r": 8, "lora_alpha": 8, "bias": "all"})" << "bias 'all' is not supported";
        QTest::newRow("peft type") << R"({"peft_type": "IA3", "r": 8, "lora_alpha": 8})" << "peft_type 'IA3' is not supported";
        QTest::newRow("peft type number") << R"({"peft_type": 3, "r": 8, "lora_alpha": 8})" << "\"peft_type\" must be a string, found 3";
        // A DoRA flag of the wrong type was ignored, and the adapter loaded as plain LoRA.
        QTest::newRow("dora string") << R"({"r": 8, "lora_alpha": 8, "use_dora": "true"})" << "\"use_dora\" must be true or false, found \"true\"";
        QTest::newRow("dora") << R"({"r": 8, "lora_alpha": 8, "use_dora": true})" << "DoRA adapters";
    }

    void refusesWrongTypesAndRangesByKey()
    {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        const QString message = QString::fromStdString(refusal(text.toStdString()));
        QVERIFY2(message.contains(expected), qPrintable(message));
        QVERIFY2(!message.contains("json.exception"), qPrintable(message));
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
        writeFileAtomic(dir / kPeftConfigFile, R"({"r": 2, "lora_alpha": 4, "use_rslora": true})");
        const auto facts = checkPeftFolder(dir, std::nullopt);
        QCOMPARE(facts.rank, int64_t(2));
        QVERIFY(facts.rsLora);
        QCOMPARE(facts.targets, (std::vector<std::string>{"model.layers.0.self_attn.q_proj"}));
        QCOMPARE(facts.parameters, int64_t(16));
        writeFileAtomic(dir / kPeftConfigFile, R"({"r": 2, "lora_alpha": 4, "rank_pattern": {"q_proj": -2}})");
        try {
            (void)checkPeftFolder(dir, std::nullopt);
            QFAIL("a negative rank_pattern rank was accepted");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("\"rank_pattern.q_proj\" must be a positive integer rank, found -2"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(PeftConfigFileTest)
#include "PeftConfigFileTest.moc"
