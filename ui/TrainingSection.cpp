#include "ui/TrainingSection.h"

#include "ui/FieldErrors.h"
#include "ui/PathProblems.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLineEdit>

#include <cmath>

namespace rslora::ui {
namespace {
numbers::IntBox* spin(QWidget* parent, int lo, int hi, const QString& lowest = {}) {
    auto* s = new numbers::IntBox(lo, hi, parent);
    if (!lowest.isEmpty())
        s->setLowestText(lowest);
    return s;
}
} // namespace

TrainingSection::TrainingSection(FieldErrors* errors, QWidget* parent) : QGroupBox(tr("Training"), parent) {
    setObjectName("trainingSection");
    auto* form = new QFormLayout(this);
    m_mode = new QComboBox(this);
    m_mode->addItems({"lora", "full"});
    errors->addRow(form, tr("Mode"), m_mode, "training.mode", tr("lora: adapters on a frozen base; full: every parameter trains"));
    m_dtype = new QComboBox(this);
    for (const char* name : engine::kModelDtypes)
        m_dtype->addItem(QString::fromLatin1(name));
    errors->addRow(form, tr("Dtype"), m_dtype, "model.dtype",
                   tr("The dtype the frozen base is held and computed in: bfloat16 and float16 halve its memory (no float32 "
                      "copy is kept); adapters keep float32 master weights and float32 optimizer state. float16 needs a "
                      "CUDA device (with loss scaling); bfloat16 also runs on the CPU, more slowly"));
    m_checkpointing = new QCheckBox(tr("Recompute each layer in backward"), this);
    errors->addRow(form, tr("Gradient checkpointing"), m_checkpointing, "training.gradient_checkpointing",
                   tr("Keep only each decoder layer's input in forward and recompute the layer in backward: much less "
                      "activation memory for about one more forward pass per step; gradients are unchanged"));
    m_lr = new QLineEdit(this);
    errors->addRow(form, tr("Learning rate"), m_lr, "training.learning_rate", tr("AdamW peak learning rate, e.g. 2e-4"));
    m_schedule = new QComboBox(this);
    m_schedule->addItems({"constant", "linear", "cosine"});
    errors->addRow(form, tr("Schedule"), m_schedule, "training.lr_schedule", tr("After warm-up: constant, linear decay or cosine decay to min_lr_ratio × lr"));
    m_warmup = spin(this, 0, 1000000);
    errors->addRow(form, tr("Warm-up steps"), m_warmup, "training.warmup_steps", tr("Linear ramp from 0 to the peak learning rate"));
    m_minLr = new numbers::RealBox(0, 1, 3, 0.05, this);
    errors->addRow(form, tr("Min lr ratio"), m_minLr, "training.min_lr_ratio", tr("The schedule ends at lr × this ratio"));
    m_batch = spin(this, 1, 4096);
    errors->addRow(form, tr("Batch size"), m_batch, "training.batch_size", tr("Samples per micro-batch"));
    m_accum = spin(this, 1, 4096);
    errors->addRow(form, tr("Gradient accumulation"), m_accum, "training.gradient_accumulation", tr("Micro-batches per optimizer step"));
    m_clip = new numbers::RealBox(0, 1e6, 2, 1, this);
    m_clip->setLowestText(tr("off"));
    errors->addRow(form, tr("Clip global norm"), m_clip, "training.clip_norm", tr("Rescale all gradients when their global L2 norm exceeds this"));
    m_weightDecay = new numbers::RealBox(0, 10, 4, 1, this);
    errors->addRow(form, tr("Weight decay"), m_weightDecay, "training.weight_decay", tr("AdamW decoupled weight decay: θ ← θ − lr·λ·θ"));
    m_epochs = spin(this, 0, 100000);
    errors->addRow(form, tr("Epochs"), m_epochs, "training.epochs", tr("Passes over the training set (ignored when max steps > 0)"));
    m_maxSteps = spin(this, 0, 100000000, tr("by epochs"));
    errors->addRow(form, tr("Max steps"), m_maxSteps, "training.max_steps", tr("Stop after this many optimizer steps; 0 = use epochs"));
    m_seed = spin(this, 0, 2147483647);
    errors->addRow(form, tr("Seed"), m_seed, "training.seed", tr("Same config and seed give bitwise the same adapter on the CPU"));
    m_logEvery = spin(this, 1, 100000);
    errors->addRow(form, tr("Log every"), m_logEvery, "training.log_every", tr("Steps between reported points"));
    m_evalEvery = spin(this, 0, 1000000, tr("at the end"));
    errors->addRow(form, tr("Evaluate every"), m_evalEvery, "training.eval_every", tr("Steps between validation passes"));
    m_saveEvery = spin(this, 0, 1000000, tr("at the end"));
    errors->addRow(form, tr("Checkpoint every"), m_saveEvery, "training.save_every", tr("Steps between checkpoints"));
    m_output = new QLineEdit(this);
    m_output->setPlaceholderText(tr("chosen by the workbench"));
    errors->addRow(form, tr("Output folder"), m_output, "output.dir", tr("Checkpoints and adapters are written here (atomically)"));
    m_processes = spin(this, 1, 64, tr("1 (in this workbench)"));
    m_processes->setObjectName("processes");
    errors->addRow(form, tr("Processes"), m_processes, "training.processes",
                   tr("Data-parallel worker processes started with `rslora launch`: each trains its share of every "
                      "batch (the batch size is the global batch) and the run is followed in the Training view"));

    for (QSpinBox* s : findChildren<QSpinBox*>())
        connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &TrainingSection::changed);
    for (QDoubleSpinBox* s : findChildren<QDoubleSpinBox*>())
        connect(s, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &TrainingSection::changed);
    for (QComboBox* c : findChildren<QComboBox*>())
        connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, &TrainingSection::changed);
    for (QLineEdit* e : findChildren<QLineEdit*>())
        connect(e, &QLineEdit::textChanged, this, &TrainingSection::changed);
    connect(m_checkpointing, &QCheckBox::toggled, this, &TrainingSection::changed);
    load(engine::TrainConfig{});
}

int TrainingSection::batchSize() const { return m_batch->value(); }

QStringList TrainingSection::problems() const {
    QStringList out;
    const QString lr = m_lr->text().trimmed();
    bool ok = false;
    const double value = lr.toDouble(&ok);
    if (lr.isEmpty())
        out << tr("training.learning_rate is empty: enter a number such as 2e-4");
    else if (!ok)
        out << tr("training.learning_rate: '%1' is not a number (write e.g. 2e-4 or 0.0002)").arg(m_lr->text());
    else if (!std::isfinite(value))
        out << tr("training.learning_rate: '%1' is not a finite number (write e.g. 2e-4 or 0.0002)").arg(lr);
    else if (value <= 0)
        out << tr("training.learning_rate must be > 0, found '%1'").arg(lr);
    // A file where the output folder should be would fail the run only as it makes the folder.
    if (const QString output = m_output->text().trimmed(); !output.isEmpty())
        if (const QString kind = PathProblems::ofOutputFolder(output); !kind.isEmpty())
            out << "output.dir: " + kind;
    return out;
}

void TrainingSection::load(const engine::TrainConfig& c) {
    m_mode->setCurrentIndex(c.mode == engine::TrainMode::Full ? 1 : 0);
    // A dtype this form does not offer stays visible (and validation names it) rather than vanishing.
    if (m_dtype->findText(QString::fromStdString(c.dtype)) < 0)
        m_dtype->addItem(QString::fromStdString(c.dtype));
    m_dtype->setCurrentText(QString::fromStdString(c.dtype));
    m_checkpointing->setChecked(c.gradientCheckpointing);
    m_lr->setText(QString::number(c.learningRate, 'g', 6));
    m_schedule->setCurrentIndex(static_cast<int>(c.schedule));
    m_warmup->setValue(c.warmupSteps);
    m_minLr->setValue(c.minLrRatio);
    m_batch->setValue(c.batchSize);
    m_accum->setValue(c.gradAccumulation);
    m_clip->setValue(std::max(0.0, c.clipNorm));
    m_weightDecay->setValue(c.weightDecay);
    m_epochs->setValue(c.epochs);
    m_maxSteps->setValue(c.maxSteps);
    m_seed->setValue(static_cast<int>(c.seed));
    m_logEvery->setValue(c.logEvery);
    m_evalEvery->setValue(c.evalEvery);
    m_saveEvery->setValue(c.saveEvery);
    m_output->setText(QString::fromStdString(c.outputDir));
}

QSpinBox* TrainingSection::processesBox() const { return m_processes; }

int TrainingSection::processes() const { return m_processes->value(); }

void TrainingSection::setProcesses(int processes) { m_processes->setValue(processes); }

void TrainingSection::store(engine::TrainConfig& c) const {
    c.mode = m_mode->currentIndex() == 1 ? engine::TrainMode::Full : engine::TrainMode::Lora;
    c.dtype = m_dtype->currentText().toStdString();
    c.gradientCheckpointing = m_checkpointing->isChecked();
    bool ok = false;
    double lr = m_lr->text().trimmed().toDouble(&ok);
    c.learningRate = ok ? lr : -1; // a non-number is reported by validation at the field
    c.schedule = static_cast<engine::LrSchedule>(m_schedule->currentIndex());
    c.warmupSteps = m_warmup->value();
    c.minLrRatio = m_minLr->value();
    c.batchSize = m_batch->value();
    c.gradAccumulation = m_accum->value();
    c.clipNorm = m_clip->value();
    c.weightDecay = m_weightDecay->value();
    c.epochs = m_epochs->value();
    c.maxSteps = m_maxSteps->value();
    c.seed = static_cast<uint64_t>(m_seed->value());
    c.logEvery = m_logEvery->value();
    c.evalEvery = m_evalEvery->value();
    c.saveEvery = m_saveEvery->value();
    c.outputDir = m_output->text().trimmed().toStdString();
}

} // namespace rslora::ui
