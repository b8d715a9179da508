// Form section "Adapter": the method and every adapter option of the engine, each with a tooltip
// giving its formula, an effective-scale readout (α/r against α/√r) and target-module checkboxes
// built from the chosen model's real module names.
#pragma once

#include "models/ModuleShapes.h"

#include <QGroupBox>
#include <QHash>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace rslora::engine {
struct AdapterConfig;
struct TrainConfig;
}

namespace rslora::ui {

namespace numbers {
class IntBox;
class RealBox;
} // namespace numbers
class FieldErrors;

class AdapterSection : public QGroupBox {
    Q_OBJECT
public:
    AdapterSection(FieldErrors* errors, QWidget* parent = nullptr);

    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;
    // Rebuilds the target checkboxes from the model's modules (keeps the ticked names that exist).
    void setModules(const std::vector<models::ModuleShape>& modules);
    // Applies one of the named method presets (see presetNames()); rank, alpha, dropout, targets and
    // layers stay as they are.
    void applyPreset(int index);
    static QStringList presetNames();
    // The method preset the current options match (the last index, "Custom", when none).
    int matchingPreset() const;
    // Typed text that cannot be read or is out of range (layer list, ranks, budget, rank pattern lines
    // and their ranks and alphas), each "adapter.<key>...: ..." naming the text as typed.
    QStringList problems() const;

    QString scaleReadout() const;
    // Trainable adapter parameters for the current choices on the current modules.
    qint64 trainableParameters() const;
    QPushButton* rankPreviewButton() const { return m_previewRanks; }
    void showRankTable(const QString& html);

Q_SIGNALS:
    void changed();
    void rankPreviewRequested();

private:
    void updateReadouts();
    void updateEnabled();
    void showMatchingPreset();
    // Sets the method options (everything but rank, alpha, dropout, targets and layers).
    void loadMethod(const engine::AdapterConfig& a);

    QComboBox* m_preset = nullptr;
    numbers::IntBox* m_rank = nullptr;
    numbers::RealBox* m_alpha = nullptr;
    QLabel* m_scale = nullptr;
    QComboBox* m_scaling = nullptr;
    QComboBox* m_init = nullptr;
    numbers::RealBox* m_sigma = nullptr;
    QLabel* m_sigmaReadout = nullptr;
    QCheckBox* m_randomizedSvd = nullptr;
    numbers::RealBox* m_dropout = nullptr;
    QComboBox* m_bias = nullptr;
    QComboBox* m_parameterization = nullptr;
    numbers::IntBox* m_subspaceDim = nullptr;
    numbers::IntBox* m_projectionSeed = nullptr;
    QCheckBox* m_balance = nullptr;
    numbers::RealBox* m_balanceBeta = nullptr;
    numbers::RealBox* m_balanceBand = nullptr;
    numbers::RealBox* m_balanceTarget = nullptr;
    numbers::RealBox* m_loraPlus = nullptr;
    QComboBox* m_allocation = nullptr;
    QPlainTextEdit* m_pattern = nullptr;
    numbers::IntBox* m_probeBatches = nullptr;
    QLineEdit* m_candidates = nullptr;
    QLineEdit* m_budget = nullptr;
    QPushButton* m_previewRanks = nullptr;
    QLabel* m_rankTable = nullptr;
    QWidget* m_targetsBox = nullptr;
    QHash<QString, QCheckBox*> m_targets;
    QLineEdit* m_targetRegex = nullptr;
    QLineEdit* m_layers = nullptr;
    QLabel* m_trainable = nullptr;
    std::vector<models::ModuleShape> m_modules;
    bool m_loading = false;
};

} // namespace rslora::ui
