// Form section "Training": precision (the base's dtype, activation checkpointing), optimizer, schedule,
// batch, length of the run, seed, logging and output.
#pragma once

#include <QGroupBox>

class QCheckBox;
class QComboBox;
class QLineEdit;
class QSpinBox;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::ui {

namespace numbers {
class IntBox;
class RealBox;
} // namespace numbers
class FieldErrors;

class TrainingSection : public QGroupBox {
    Q_OBJECT
public:
    TrainingSection(FieldErrors* errors, QWidget* parent = nullptr);
    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;
    int batchSize() const;
    // Worker processes of a data-parallel run (`rslora launch --nproc N`); 1: the run trains in this
    // workbench. Not part of the config: the same config trains either way.
    int processes() const;
    void setProcesses(int processes);
    QSpinBox* processesBox() const;
    // Typed values that are not finite numbers or out of range, each "training.<key>: ..." naming the
    // text as typed, and an
    // output folder that is a file or lies under one ("output.dir: ...").
    QStringList problems() const;

Q_SIGNALS:
    void changed();

private:
    QComboBox* m_mode = nullptr;
    QComboBox* m_dtype = nullptr;
    QCheckBox* m_checkpointing = nullptr;
    QLineEdit* m_lr = nullptr;
    QComboBox* m_schedule = nullptr;
    numbers::IntBox* m_warmup = nullptr;
    numbers::RealBox* m_minLr = nullptr;
    numbers::IntBox* m_batch = nullptr;
    numbers::IntBox* m_accum = nullptr;
    numbers::RealBox* m_clip = nullptr;
    numbers::RealBox* m_weightDecay = nullptr;
    numbers::IntBox* m_epochs = nullptr;
    numbers::IntBox* m_maxSteps = nullptr;
    numbers::IntBox* m_seed = nullptr;
    numbers::IntBox* m_logEvery = nullptr;
    numbers::IntBox* m_evalEvery = nullptr;
    numbers::IntBox* m_saveEvery = nullptr;
    QLineEdit* m_output = nullptr;
    numbers::IntBox* m_processes = nullptr;
};

} // namespace rslora::ui
