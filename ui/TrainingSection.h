// Form section "Training": optimizer, schedule, batch, length of the run, seed, logging and output.
#pragma once

#include <QGroupBox>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::ui {

class FieldErrors;

class TrainingSection : public QGroupBox {
    Q_OBJECT
public:
    TrainingSection(FieldErrors* errors, QWidget* parent = nullptr);
    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;
    int batchSize() const;
    // Typed values that are not numbers, each "training.<key>: ..." naming the text as typed.
    QStringList problems() const;

Q_SIGNALS:
    void changed();

private:
    QComboBox* m_mode = nullptr;
    QLineEdit* m_lr = nullptr;
    QComboBox* m_schedule = nullptr;
    QSpinBox* m_warmup = nullptr;
    QDoubleSpinBox* m_minLr = nullptr;
    QSpinBox* m_batch = nullptr;
    QSpinBox* m_accum = nullptr;
    QDoubleSpinBox* m_clip = nullptr;
    QDoubleSpinBox* m_weightDecay = nullptr;
    QSpinBox* m_epochs = nullptr;
    QSpinBox* m_maxSteps = nullptr;
    QSpinBox* m_seed = nullptr;
    QSpinBox* m_logEvery = nullptr;
    QSpinBox* m_evalEvery = nullptr;
    QSpinBox* m_saveEvery = nullptr;
    QLineEdit* m_output = nullptr;
};

} // namespace rslora::ui
