// The New run form's Objective section: SFT / DPO with β, loss variant, label smoothing, SimPO γ,
// reference and cached reference round-trip through TrainConfig; the DPO fields are disabled for
// SFT (and the reference ones for the reference-free SimPO); bad values are explained at their field.
#include "ui/FieldErrors.h"
#include "ui/ModelSection.h"
#include "ui/ObjectiveSection.h"
#include "ui/RunForm.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QTemporaryDir>
#include <QPushButton>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace rslora;

namespace {
QString writeTinyModel(const QTemporaryDir& dir) {
    const QString path = dir.filePath("tiny");
    QDir().mkpath(path);
    nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 64},
                        {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"vocab_size", 256}, {"rms_norm_eps", 1e-5},
                        {"max_position_embeddings", 128}, {"torch_dtype", "float32"}};
    QFile f(path + "/config.json");
    f.open(QIODevice::WriteOnly);
    f.write(QByteArray::fromStdString(c.dump()));
    return path;
}
} // namespace

class ObjectiveSectionTest : public QObject {
    Q_OBJECT
private slots:
    void roundTripsThroughTheConfig() {
        ui::RunForm form;
        engine::TrainConfig c = form.config();
        QCOMPARE(c.objective, engine::TrainObjective::Sft);
        c.objective = engine::TrainObjective::Dpo;
        c.dpo.beta = 0.25;
        c.dpo.lossType = engine::DpoLossType::Simpo;
        c.dpo.labelSmoothing = 0.1;
        c.dpo.simpoGamma = 1.5;
        c.dpo.rpoAlpha = 0.5;
        c.dpo.reference = engine::DpoReference::Stack;
        c.dpo.cacheReference = false;
        form.setConfig(c);
        const engine::TrainConfig back = form.config();
        QCOMPARE(back.objective, engine::TrainObjective::Dpo);
        QCOMPARE(back.dpo.beta, 0.25);
        QCOMPARE(back.dpo.lossType, engine::DpoLossType::Simpo);
        QCOMPARE(back.dpo.labelSmoothing, 0.1);
        QCOMPARE(back.dpo.simpoGamma, 1.5);
        QCOMPARE(back.dpo.rpoAlpha, 0.5);
        QCOMPARE(back.dpo.reference, engine::DpoReference::Stack);
        QCOMPARE(back.dpo.cacheReference, false);
    }

    void fieldsFollowTheObjectiveAndLoss() {
        ui::RunForm form;
        ui::ObjectiveSection* s = form.objectiveSection();
        QVERIFY(!s->beta()->isEnabled());
        QVERIFY(!s->cacheReference()->isEnabled());
        QVERIFY(!form.findChild<QDoubleSpinBox*>("dpo.rpo_alpha")->isEnabled());
        s->objective()->setCurrentIndex(int(engine::TrainObjective::Dpo));
        QVERIFY(s->beta()->isEnabled());
        QVERIFY(form.findChild<QDoubleSpinBox*>("dpo.rpo_alpha")->isEnabled());
        QVERIFY(s->reference()->isEnabled());
        QVERIFY(!form.findChild<QDoubleSpinBox*>("dpo.simpo_gamma")->isEnabled());
        s->lossType()->setCurrentIndex(int(engine::DpoLossType::Simpo));
        QVERIFY(form.findChild<QDoubleSpinBox*>("dpo.simpo_gamma")->isEnabled());
        QVERIFY(!s->reference()->isEnabled()); // SimPO has no reference model
        QVERIFY(!s->cacheReference()->isEnabled());
        s->lossType()->setCurrentIndex(int(engine::DpoLossType::Ipo));
        QVERIFY(!form.findChild<QDoubleSpinBox*>("dpo.label_smoothing")->isEnabled());
    }

    void badValuesAreExplainedAtTheirField() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        ui::ObjectiveSection* s = form.objectiveSection();
        s->objective()->setCurrentIndex(int(engine::TrainObjective::Dpo));
        s->beta()->setValue(0);
        s->reference()->setCurrentIndex(int(engine::DpoReference::Stack));
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("dpo.beta").contains("dpo.beta must be in (0, 1000], found 0"),
                 qPrintable(form.fieldErrors()->errorFor("dpo.beta")));
        QVERIFY2(form.fieldErrors()->errorFor("dpo.reference").contains("adapter.stack_on is empty"),
                 qPrintable(form.fieldErrors()->errorFor("dpo.reference")));
        QVERIFY(!form.startButton()->isEnabled());
        s->beta()->setValue(0.1);
        s->reference()->setCurrentIndex(int(engine::DpoReference::Base));
        form.validateNow();
        QVERIFY(form.fieldErrors()->errorFor("dpo.beta").isEmpty());
        QVERIFY(form.fieldErrors()->errorFor("dpo.reference").isEmpty());
    }
};

QTEST_MAIN(ObjectiveSectionTest)
#include "ObjectiveSectionTest.moc"
