// The new-run form: round-trip of every field through TrainConfig, validation shown next to the
// field before Start, the effective-scale readout, target boxes from the model, presets, CLI text.
#include "ui/AdapterSection.h"
#include "ui/FieldErrors.h"
#include "ui/ModelSection.h"
#include "ui/RunForm.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace rslora;

namespace {
// A config.json of a tiny Llama the form can read (no weights needed for the form).
QString writeTinyModel(const QTemporaryDir& dir, int layers = 2) {
    QString path = dir.filePath("tiny");
    QDir().mkpath(path);
    nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 64},
                        {"intermediate_size", 128}, {"num_hidden_layers", layers}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"vocab_size", 256}, {"rms_norm_eps", 1e-5},
                        {"max_position_embeddings", 128}, {"torch_dtype", "float32"}};
    QFile f(path + "/config.json");
    f.open(QIODevice::WriteOnly);
    f.write(QByteArray::fromStdString(c.dump()));
    return path;
}
} // namespace

class RunFormTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void scaleReadoutFollowsRankAndAlpha() {
        ui::RunForm form;
        auto* rank = form.findChild<QSpinBox*>("adapter.r");
        auto* scaling = form.findChild<QComboBox*>("adapter.scaling");
        QVERIFY(rank && scaling);
        rank->setValue(16);
        form.findChild<QDoubleSpinBox*>("adapter.lora_alpha")->setValue(32);
        scaling->setCurrentIndex(1);
        QString text = form.findChild<QLabel*>("scaleReadout")->text();
        QVERIFY2(text.contains("α/r = 2.0000") && text.contains("α/√r = 8.0000") && text.endsWith("s = 8.0000"), qPrintable(text));
        scaling->setCurrentIndex(0);
        QVERIFY(form.findChild<QLabel*>("scaleReadout")->text().endsWith("s = 2.0000"));
    }

    void targetBoxesComeFromTheModel() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir, 3));
        QVERIFY(form.modelSection()->modelConfig().has_value());
        QCOMPARE(static_cast<int>(form.modelSection()->modules().size()), 21);
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
            QVERIFY2(form.findChild<QCheckBox*>(QString("target_") + n), n);
        form.findChild<QCheckBox*>("target_down_proj")->setChecked(true);
        engine::TrainConfig c = form.config();
        QVERIFY(std::find(c.adapter.targetModules.begin(), c.adapter.targetModules.end(), "down_proj") != c.adapter.targetModules.end());
        // Trainable count: r * (in + out) for each targeted module over 3 layers.
        form.findChild<QSpinBox*>("adapter.r")->setValue(4);
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
            form.findChild<QCheckBox*>(QString("target_") + n)->setChecked(QString(n) == "q_proj" || QString(n) == "down_proj");
        QCOMPARE(form.adapterSection()->trainableParameters(), qint64(3 * (4 * (64 + 64) + 4 * (128 + 64))));
    }

    void configRoundTripsThroughTheForm() {
        QTemporaryDir dir;
        engine::TrainConfig c;
        c.modelPath = writeTinyModel(dir).toStdString();
        c.trainData = "/data/train.jsonl";
        c.adapter.rank = 12;
        c.adapter.alpha = 24;
        c.adapter.scaling = engine::ScalingMode::AlphaOverR;
        c.adapter.init = engine::InitMode::Rescaled;
        c.adapter.initSigma = 0.03;
        c.adapter.parameterization = engine::Parameterization::RandomSubspace;
        c.adapter.subspaceDim = 10;
        c.adapter.projectionSeed = 77;
        c.adapter.balancing.enabled = true;
        c.adapter.balancing.band = 3;
        c.adapter.loraPlusRatio = 8;
        c.adapter.allocation = engine::RankAllocation::Pattern;
        c.adapter.rankPattern = {{"self_attn", 16}, {"mlp", 4}};
        c.adapter.alphaPattern = {{"mlp", 8.0}};
        c.adapter.targetModules = {"q_proj", "v_proj", "up_proj"};
        c.adapter.layersToTransform = {0, 1};
        c.learningRate = 3e-4;
        c.schedule = engine::LrSchedule::Linear;
        c.batchSize = 4;
        c.maxSteps = 50;
        c.seed = 7;
        ui::RunForm form;
        form.setConfig(c);
        engine::TrainConfig back = form.config();
        QCOMPARE(back.toJson().dump(), c.toJson().dump());
    }

    void problemsAppearNextToTheirFieldsAndBlockStart() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        form.findChild<QDoubleSpinBox*>("adapter.lora_alpha")->setValue(0);
        QStringList problems = form.validateNow();
        QVERIFY(!problems.isEmpty());
        QVERIFY2(form.fieldErrors()->errorFor("adapter.lora_alpha").contains("must be > 0"), qPrintable(problems.join('\n')));
        QVERIFY(form.fieldErrors()->errorFor("data.train").contains("data.train"));
        QVERIFY(!form.startButton()->isEnabled());
        // Rank pattern line that is not "regex = rank" is named at the pattern field.
        form.findChild<QComboBox*>("adapter.rank_allocation")->setCurrentIndex(1);
        form.findChild<QPlainTextEdit*>("adapter.rank_pattern")->setPlainText("self_attn = lots");
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.rank_pattern").contains("self_attn = lots"),
                 qPrintable(form.fieldErrors()->errorFor("adapter.rank_pattern")));
        // A folder without config.json is explained at the model field.
        form.modelSection()->setPath(dir.path());
        form.validateNow();
        QVERIFY(form.fieldErrors()->errorFor("model.path").contains("config.json"));
    }

    void presetsSaveLoadDuplicate() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.setPresetFolder(dir.filePath("presets"));
        form.findChild<QSpinBox*>("adapter.r")->setValue(32);
        QString error;
        QVERIFY2(form.savePreset("rank 32 / \"quoted\"", &error), qPrintable(error));
        QCOMPARE(form.presetNames().size(), 1);
        const QString name = form.presetNames().front();
        QVERIFY(form.duplicatePreset(name, "copy", &error));
        QCOMPARE(form.presetNames().size(), 2);
        form.findChild<QSpinBox*>("adapter.r")->setValue(4);
        QVERIFY2(form.loadPreset("copy", &error), qPrintable(error));
        QCOMPARE(form.findChild<QSpinBox*>("adapter.r")->value(), 32);
        QVERIFY(!form.loadPreset("missing", &error));
        QVERIFY(!error.isEmpty());
    }

    void cliCommandCarriesTheConfig() {
        ui::RunForm form;
        form.findChild<QSpinBox*>("adapter.r")->setValue(24);
        QString cli = form.cliCommand();
        QVERIFY(cli.contains("rslora train run-config.json"));
        int start = cli.indexOf('{'), end = cli.lastIndexOf('}');
        nlohmann::json j = nlohmann::json::parse(cli.mid(start, end - start + 1).toStdString());
        engine::TrainConfig c = engine::TrainConfig::fromJson(j);
        QCOMPARE(c.adapter.rank, 24);
        QVERIFY(c.unknownKeys.empty());
    }
};

QTEST_MAIN(RunFormTest)
#include "RunFormTest.moc"
