// Form section "Objective": next-token SFT, or preference training (DPO) with its β, loss variant
// (sigmoid, IPO, SimPO), label smoothing, SimPO's γ, the reference (the base, or the base plus the
// stacked earlier stages) and whether the reference log-probs are cached before training.
#pragma once

#include "ui/numbers/RealBox.h"

#include <QGroupBox>

class QCheckBox;
class QComboBox;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::ui {

class FieldErrors;

class ObjectiveSection : public QGroupBox {
    Q_OBJECT
public:
    ObjectiveSection(FieldErrors* errors, QWidget* parent = nullptr);
    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;
    bool isPreference() const;

    QComboBox* objective() const { return m_objective; }
    QDoubleSpinBox* beta() const { return m_beta; }
    QComboBox* lossType() const { return m_lossType; }
    QComboBox* reference() const { return m_reference; }
    QCheckBox* cacheReference() const { return m_cache; }

Q_SIGNALS:
    void changed();

private:
    void updateEnabled();

    QComboBox* m_objective = nullptr;
    numbers::RealBox* m_beta = nullptr;
    QComboBox* m_lossType = nullptr;
    numbers::RealBox* m_smoothing = nullptr;
    numbers::RealBox* m_gamma = nullptr;
    numbers::RealBox* m_rpoAlpha = nullptr;
    QComboBox* m_reference = nullptr;
    QCheckBox* m_cache = nullptr;
};

} // namespace rslora::ui
