// Form section "Objective" (see ObjectiveSection.h).
#include "ui/ObjectiveSection.h"

#include "ui/FieldErrors.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>

namespace rslora::ui {
namespace {

// Combo entries in the order of the engine's enums, so that index and value convert directly.
const char* const kObjectives[] = {"SFT (next-token)", "DPO (preference pairs)"};
const char* const kLossTypes[] = {"sigmoid (DPO)", "ipo", "simpo (no reference)"};
const char* const kReferences[] = {"base (adapters off, original weights)", "base + stacked stages"};

numbers::RealBox* number(QWidget* parent, double lo, double hi, int decimals, double step) {
    return new numbers::RealBox(lo, hi, decimals, step, parent);
}

} // namespace

ObjectiveSection::ObjectiveSection(FieldErrors* errors, QWidget* parent) : QGroupBox(tr("Objective"), parent) {
    setObjectName("objectiveSection");
    auto* form = new QFormLayout(this);
    m_objective = new QComboBox(this);
    for (const char* o : kObjectives)
        m_objective->addItem(tr(o));
    errors->addRow(form, tr("Objective"), m_objective, "training.objective",
                   tr("SFT learns the responses of the training records; DPO learns to prefer the chosen response of "
                      "each {prompt, chosen, rejected} pair over the rejected one"));
    m_beta = number(this, 0, 100, 3, 0.05);
    errors->addRow(form, tr("β"), m_beta, "dpo.beta",
                   tr("Strength of the pull towards the reference: higher β keeps the policy closer to it (TRL's default 0.1)"));
    m_lossType = new QComboBox(this);
    for (const char* l : kLossTypes)
        m_lossType->addItem(tr(l));
    errors->addRow(form, tr("Loss"), m_lossType, "dpo.loss_type",
                   tr("sigmoid: −log σ(β·margin); ipo: squared distance of the length-averaged margin from 1/(2β); "
                      "simpo: length-averaged log-probs with a target margin γ and no reference model"));
    m_smoothing = number(this, 0, 0.499, 3, 0.05);
    errors->addRow(form, tr("Label smoothing"), m_smoothing, "dpo.label_smoothing",
                   tr("Conservative DPO: the share of pairs assumed mislabelled, in [0, 0.5) (sigmoid and simpo)"));
    m_gamma = number(this, 0, 100, 3, 0.1);
    errors->addRow(form, tr("SimPO γ"), m_gamma, "dpo.simpo_gamma", tr("SimPO's target reward margin"));
    m_rpoAlpha = number(this, 0, 100, 3, 0.1);
    errors->addRow(form, tr("RPO α"), m_rpoAlpha, "dpo.rpo_alpha",
                   tr("Adds α × the chosen responses' negative log-likelihood to the loss: the policy learns to write the "
                      "chosen style instead of only pushing both responses down (0: plain preference loss)"));
    m_reference = new QComboBox(this);
    for (const char* r : kReferences)
        m_reference->addItem(tr(r));
    errors->addRow(form, tr("Reference"), m_reference, "dpo.reference",
                   tr("The frozen model the policy is compared with: the original base (spectral init's residual is "
                      "undone), or the base with the adapters this run stacks on (adapter.stack_on)"));
    m_cache = new QCheckBox(tr("compute once before training"), this);
    errors->addRow(form, tr("Reference log-probs"), m_cache, "dpo.cache_reference",
                   tr("Cached: one reference forward per pair before step 0 (kept in checkpoints). Off: a reference "
                      "forward every step. Both give the same run"));

    for (QComboBox* c : {m_objective, m_lossType, m_reference})
        connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
            updateEnabled();
            Q_EMIT changed();
        });
    for (QDoubleSpinBox* s : {m_beta, m_smoothing, m_gamma, m_rpoAlpha})
        connect(s, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &ObjectiveSection::changed);
    connect(m_cache, &QCheckBox::toggled, this, &ObjectiveSection::changed);
    load(engine::TrainConfig{});
}

bool ObjectiveSection::isPreference() const { return m_objective->currentIndex() == int(engine::TrainObjective::Dpo); }

void ObjectiveSection::updateEnabled() {
    const bool dpo = isPreference();
    const bool simpo = m_lossType->currentIndex() == int(engine::DpoLossType::Simpo);
    m_beta->setEnabled(dpo);
    m_lossType->setEnabled(dpo);
    m_smoothing->setEnabled(dpo && m_lossType->currentIndex() != int(engine::DpoLossType::Ipo));
    m_gamma->setEnabled(dpo && simpo);
    m_rpoAlpha->setEnabled(dpo);
    m_reference->setEnabled(dpo && !simpo);
    m_cache->setEnabled(dpo && !simpo);
}

void ObjectiveSection::load(const engine::TrainConfig& c) {
    m_objective->setCurrentIndex(int(c.objective));
    m_beta->setValue(c.dpo.beta);
    m_lossType->setCurrentIndex(int(c.dpo.lossType));
    m_smoothing->setValue(c.dpo.labelSmoothing);
    m_gamma->setValue(c.dpo.simpoGamma);
    m_rpoAlpha->setValue(c.dpo.rpoAlpha);
    m_reference->setCurrentIndex(int(c.dpo.reference));
    m_cache->setChecked(c.dpo.cacheReference);
    updateEnabled();
}

void ObjectiveSection::store(engine::TrainConfig& c) const {
    c.objective = engine::TrainObjective(m_objective->currentIndex());
    c.dpo.beta = m_beta->value();
    c.dpo.lossType = engine::DpoLossType(m_lossType->currentIndex());
    c.dpo.labelSmoothing = m_smoothing->value();
    c.dpo.simpoGamma = m_gamma->value();
    c.dpo.rpoAlpha = m_rpoAlpha->value();
    c.dpo.reference = engine::DpoReference(m_reference->currentIndex());
    c.dpo.cacheReference = m_cache->isChecked();
}

} // namespace rslora::ui
