#include "ui/RunForm.h"

#include "ui/AdapterSection.h"
#include "ui/DataSection.h"
#include "ui/ErrorLabel.h"
#include "ui/FieldErrors.h"
#include "ui/FlowLayout.h"
#include "ui/ObjectiveSection.h"
#include "ui/ModelSection.h"
#include "ui/Preference.h"
#include "ui/StagesEditor.h"
#include "ui/TrainingSection.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/NumberEntry.h"
#include "ui/numbers/RealBox.h"

#include "common/AtomicFile.h"
#include "common/Paths.h"
#include "common/Error.h"
#include "engine/ConfigPaths.h"
#include "engine/MemoryEstimate.h"
#include "engine/TrainData.h"
#include "engine/sweep/SweepSpec.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QShortcut>
#include <QSet>
#include <QTimer>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

namespace rslora::ui {
namespace {
QString presetFileName(const QString& name) {
    QString safe;
    for (QChar c : name)
        safe += (c.isLetterOrNumber() || c == '-' || c == '_' || c == ' ') ? c : QChar('_');
    return safe.trimmed() + ".json";
}

const Preference<QString> kLastForm{"form/lastConfig", {}};
const Preference<QString> kLocalModelFolder{"form/localModelFolder", {}};
// The Stages section: {"pipeline": {"name"}, "stages": [...]} as a pipeline file holds them.
const Preference<QString> kLastStages{"form/lastStages", {}};

// The built-in recipes, in the order the preset list shows them.
struct Recipe {
    const char* name;
    void (*apply)(engine::TrainConfig&);
};
const Recipe kRecipes[] = {
    {QT_TRANSLATE_NOOP("RunForm", "LoRA baseline"),
     [](engine::TrainConfig& c) {
         c.adapter.scaling = engine::ScalingMode::AlphaOverR;
         c.adapter.rank = 8;
         c.adapter.alpha = 16;
     }},
    {QT_TRANSLATE_NOOP("RunForm", "rsLoRA r16"),
     [](engine::TrainConfig& c) {
         c.adapter.scaling = engine::ScalingMode::AlphaOverSqrtR;
         c.adapter.rank = 16;
         c.adapter.alpha = 16;
     }},
    {QT_TRANSLATE_NOOP("RunForm", "Spectral + balancing"),
     [](engine::TrainConfig& c) {
         c.adapter.scaling = engine::ScalingMode::AlphaOverSqrtR;
         c.adapter.init = engine::InitMode::Spectral;
         c.adapter.balancing.enabled = true;
     }},
};

// The config key a message starts with ("training.learning_rate" of "training.learning_rate: ...").
QString messageKey(const QString& message) {
    int end = 0;
    while (end < message.size() && (message[end].isLetterOrNumber() || message[end] == '_' || message[end] == '.'))
        ++end;
    return message.left(end);
}
} // namespace

RunForm::RunForm(QWidget* parent) : QWidget(parent) {
    setObjectName("runForm");
    m_errors = new FieldErrors(this);
    auto* outer = new QVBoxLayout(this);

    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* body = new QWidget(scroll);
    auto* rows = new QVBoxLayout(body);
    auto* columns = new QHBoxLayout;
    auto* left = new QVBoxLayout;
    auto* right = new QVBoxLayout;
    m_model = new ModelSection(m_errors, body);
    m_data = new DataSection(m_errors, body);
    m_adapter = new AdapterSection(m_errors, body);
    m_training = new TrainingSection(m_errors, body);
    m_objective = new ObjectiveSection(m_errors, body);
    m_stages = new StagesEditor(body);
    left->addWidget(m_model);
    left->addWidget(m_data, 1);
    left->addWidget(m_training);
    right->addWidget(m_adapter);
    right->addWidget(m_objective);
    right->addStretch(1);
    columns->addLayout(left, 1);
    columns->addLayout(right, 1);
    rows->addLayout(columns, 1);
    rows->addWidget(m_stages);
    scroll->setWidget(body);
    outer->addWidget(scroll, 1);

    m_problems = makeErrorLabel("formProblems", this);
    outer->addWidget(m_problems);

    // The estimate has a line of its own, wrapped: beside the buttons its unwrapped length set the
    // window's minimum width (about 1900 pixels on the demo), wider than most screens.
    m_memory = new QLabel(this);
    m_memory->setObjectName("memoryEstimate");
    m_memory->setWordWrap(true);
    outer->addWidget(m_memory);

    // The preset box and seven buttons on one row made the form, and so the window, wider than an
    // 800-pixel screen: at the right while they fit on one row, on more rows when they do not.
    auto* bar = new QHBoxLayout;
    bar->addStretch(1);
    auto* actions = new FlowLayout;
    actions->setContentsMargins(0, 0, 0, 0);
    bar->addLayout(actions);
    auto* preset = new QWidget(this);
    auto* presetRow = new QHBoxLayout(preset);
    presetRow->setContentsMargins(0, 0, 0, 0);
    presetRow->addWidget(new QLabel(tr("Preset"), preset));
    m_presets = new QComboBox(preset);
    m_presets->setObjectName("presets");
    m_presets->setMinimumWidth(160);
    m_presets->setPlaceholderText(tr("choose a preset"));
    presetRow->addWidget(m_presets);
    actions->addWidget(preset);
    m_presets->setToolTip(tr("Built-in recipes first, then the presets you saved"));
    auto* load = new QPushButton(tr("Load"), this);
    load->setObjectName("loadPreset");
    auto* save = new QPushButton(tr("Save…"), this);
    auto* duplicate = new QPushButton(tr("Duplicate…"), this);
    auto* reset = new QPushButton(tr("Reset to defaults"), this);
    reset->setObjectName("resetForm");
    reset->setToolTip(tr("Adapter and training options back to their defaults; the model, data files and target modules stay"));
    auto* copyCli = new QPushButton(tr("Copy CLI command"), this);
    copyCli->setObjectName("copyCli");
    copyCli->setToolTip(tr("Copies the equivalent `rslora train` invocation with its config"));
    m_start = new QPushButton(tr("Start run"), this);
    m_start->setObjectName("startRun");
    m_start->setDefault(true);
    m_start->setShortcut(QKeySequence("Ctrl+Return"));
    // The keypad's Enter is another key than Return: Ctrl with it starts too, as the tooltip says.
    auto* keypadStart = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Enter), m_start);
    connect(keypadStart, &QShortcut::activated, m_start, &QPushButton::animateClick);
    m_start->setToolTip(tr("Start training (Ctrl+Enter)"));
    m_sweep = new QPushButton(tr("Sweep…"), this);
    m_sweep->setObjectName("sweepRuns");
    m_sweep->setToolTip(tr("Queue a group of runs of this config over several values of some keys and seeds"));
    for (QPushButton* b : {load, save, duplicate, reset, copyCli, m_sweep, m_start})
        actions->addWidget(b);
    outer->addLayout(bar);

    m_validateTimer = new QTimer(this);
    m_validateTimer->setSingleShot(true);
    m_validateTimer->setInterval(150);
    connect(m_validateTimer, &QTimer::timeout, this, [this] { validateNow(); });

    connect(m_model, &ModelSection::modelChanged, this, [this] {
        m_adapter->setModules(m_model->modules());
        m_data->refreshPreview(m_model->modelPath());
        scheduleValidation();
    });
    connect(m_adapter, &AdapterSection::changed, this, &RunForm::scheduleValidation);
    connect(m_model, &ModelSection::pathEdited, this, &RunForm::scheduleValidation);
    connect(m_data, &DataSection::changed, this, &RunForm::scheduleValidation);
    connect(m_data, &DataSection::previewRefreshed, this, &RunForm::scheduleValidation);
    connect(m_training, &TrainingSection::changed, this, &RunForm::scheduleValidation);
    connect(m_objective, &ObjectiveSection::changed, this, &RunForm::scheduleValidation);
    connect(m_stages, &StagesEditor::changed, this, &RunForm::scheduleValidation);
    // A number its box cannot take changes no value: the text is checked as it is typed.
    for (numbers::IntBox* box : body->findChildren<numbers::IntBox*>())
        connect(box, &numbers::IntBox::entryChanged, this, &RunForm::scheduleValidation);
    for (numbers::RealBox* box : body->findChildren<numbers::RealBox*>())
        connect(box, &numbers::RealBox::entryChanged, this, &RunForm::scheduleValidation);
    connect(m_start, &QPushButton::clicked, this, [this] {
        if (m_checking || !validateFieldsAsTyped().isEmpty())
            return;
        if (isPipeline())
            Q_EMIT pipelineStartRequested(QString::fromStdString(pipelineConfig().toJson().dump(2)));
        else if (m_training->processes() > 1)
            Q_EMIT launchRequested(config(), m_training->processes());
        else
            Q_EMIT startRequested(config());
    });
    connect(m_sweep, &QPushButton::clicked, this, &RunForm::requestSweep);
    connect(reset, &QPushButton::clicked, this, &RunForm::resetToDefaults);
    connect(copyCli, &QPushButton::clicked, this, [this] {
        const QString command = cliCommand();
        QApplication::clipboard()->setText(command);
        Q_EMIT cliCommandCopied(command);
    });
    connect(load, &QPushButton::clicked, this, [this] {
        QString error;
        if (!m_presets->currentText().isEmpty() && !loadPreset(m_presets->currentText(), &error))
            QMessageBox::warning(this, tr("Cannot load preset"), error);
    });
    connect(save, &QPushButton::clicked, this, [this] {
        const QString name = QInputDialog::getText(this, tr("Save preset"), tr("Name"), QLineEdit::Normal, m_presets->currentText()).trimmed();
        if (name.isEmpty())
            return;
        const QString existing = presetFileName(name).chopped(5);
        if (presetNames().contains(existing) && !builtinPresetNames().contains(name)
            && QMessageBox::question(this, tr("Replace preset?"), tr("A preset named '%1' exists. Replace it with the form as it is now?").arg(existing))
                != QMessageBox::Yes)
            return;
        QString error;
        if (!savePreset(name, &error, true))
            QMessageBox::warning(this, tr("Cannot save preset"), error);
    });
    connect(duplicate, &QPushButton::clicked, this, [this] {
        const QString from = m_presets->currentText();
        if (from.isEmpty() || m_presets->currentIndex() < 0)
            return;
        QString name = QInputDialog::getText(this, tr("Duplicate preset"), tr("New name"), QLineEdit::Normal, from + tr(" copy"));
        QString error;
        if (!name.trimmed().isEmpty() && !duplicatePreset(from, name.trimmed(), &error))
            QMessageBox::warning(this, tr("Cannot duplicate preset"), error);
    });

    setPresetFolder(QString::fromStdString((dataDirectory() / "presets").string()));
    m_adapter->setModules(m_model->modules());
    // The model section read its folder before these connections existed: hand the data section
    // the model path now, or a training file chosen first is read without a tokenizer.
    m_data->refreshPreview(m_model->modelPath());
    scheduleValidation();
}

RunForm::~RunForm() {
    // The field that has the focus is left as the form goes: it must not read its file (the whole
    // training set) or validate a form half taken down.
    for (QLineEdit* field : findChildren<QLineEdit*>())
        field->blockSignals(true);
}

engine::TrainConfig RunForm::config() const {
    engine::TrainConfig c;
    m_model->store(c);
    m_data->store(c);
    m_adapter->store(c);
    m_training->store(c);
    m_objective->store(c);
    return c;
}

void RunForm::setConfig(const engine::TrainConfig& c) {
    m_model->load(c);
    m_data->load(c);
    m_adapter->load(c);
    m_training->load(c);
    m_objective->load(c);
    m_data->refreshPreview(m_model->modelPath());
    validateNow();
}

void RunForm::scheduleValidation() { m_validateTimer->start(); }

bool RunForm::isPipeline() const { return m_stages->isPipeline(); }

QString RunForm::requestSweep() {
    // A sweep varies one run's config: the stages would be dropped without a word.
    if (isPipeline())
        return tr("Sweep… varies one run's config, and the New run form holds a pipeline (%n stage(s)): remove its stages to sweep "
                  "its base config", nullptr, int(pipelineConfig().stages.size()));
    const QStringList problems = validateFieldsAsTyped();
    if (!problems.isEmpty())
        return tr("Sweep… starts from the New run form, which has %n problem(s) to fix first: %1", nullptr, int(problems.size()))
            .arg(problems.first());
    Q_EMIT sweepRequested(config());
    return {};
}

engine::pipeline::PipelineConfig RunForm::pipelineConfig() const {
    engine::pipeline::PipelineConfig p;
    p.name = m_stages->pipelineName().toStdString();
    p.base = config().toJson();
    p.base["output"]["dir"] = "";
    p.stages = m_stages->stages();
    return p;
}

void RunForm::setPipeline(const engine::pipeline::PipelineConfig& p) {
    m_stages->setPipelineName(QString::fromStdString(p.name));
    m_stages->setStages(p.stages);
    setConfig(engine::TrainConfig::fromJson(p.base));
}

bool RunForm::openConfigFile(const QString& path, QString* error, std::optional<engine::SweepSpec>* sweep) {
    try {
        const std::string file = path.toStdString();
        if (engine::pipeline::PipelineConfig::isPipelineFile(file)) {
            setPipeline(engine::pipeline::PipelineConfig::load(file));
        } else if (auto [base, block] = engine::readSweepConfigFile(file); !block.is_null()) {
            if (!sweep)
                throw Error(file + ": a sweep config (it has a sweep: block); open it with Run > Sweep or `rslora sweep`");
            engine::SweepSpec spec;
            engine::TrainConfig c;
            try {
                spec = engine::SweepSpec::fromJson(block);
                c = engine::TrainConfig::fromJson(base);
            } catch (const Error& e) {
                throw Error(file + ": " + e.what(), e.hint());
            }
            m_stages->setStages({});
            setConfig(c);
            *sweep = std::move(spec);
        } else {
            const engine::TrainConfig c = engine::TrainConfig::load(file);
            m_stages->setStages({});
            setConfig(c);
        }
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
}

QStringList RunForm::validateNow() {
    engine::TrainConfig c = config();
    // What each section found in the text as typed comes first; the engine's check of the same
    // key would only describe the stand-in number (-1) the section stored for unreadable text.
    QStringList own = m_model->problems();
    const DatasetPreview& p = m_data->preview();
    if (p.modelError && own.isEmpty())
        own << "model.path: " + p.error;
    own << m_data->problems() << m_adapter->problems() << m_training->problems();
    if (!isPipeline()) // each stage names its own objective and data
        own << m_data->objectiveProblems(m_objective->isPreference());
    // A number box holding text it cannot take (out of range, not finite): the config has the box's
    // last value, which is not what the user typed. (The Stages table names its own, by stage.)
    for (const QWidget* section : std::initializer_list<const QWidget*>{m_model, m_data, m_adapter, m_training, m_objective})
        own << numbers::entryProblems(section);
    QSet<QString> covered;
    for (const QString& m : std::as_const(own))
        covered.insert(messageKey(m));

    engine::ValidationFacts facts;
    if (m_model->modelConfig()) {
        facts.haveModel = true;
        facts.numLayers = static_cast<int>(m_model->modelConfig()->numLayers);
        for (const auto& m : m_model->modules())
            facts.modules.push_back({m.name, m.shortName, m.layer, m.inFeatures, m.outFeatures});
    }
    if (p.error.isEmpty() && !p.format.isEmpty()) {
        facts.haveData = true;
        facts.train.path = c.trainData;
        facts.train.samples = p.samples;
        facts.train.supervisedTokens = p.samples; // the provider reports only usable samples
    }
    // The workbench picks the output folder when the field is empty.
    if (c.outputDir.empty())
        c.outputDir = "(automatic)";
    QStringList messages = own;
    const bool pipeline = isPipeline();
    for (const auto& m : engine::validate(c, facts)) {
        const QString message = QString::fromStdString(m);
        // In a pipeline each stage names its own data; the stage checks below report one without.
        if (pipeline && message.startsWith("data.train is empty"))
            continue;
        if (!covered.contains(messageKey(message)))
            messages << message;
    }
    if (isPipeline()) {
        // The stages are checked as `rslora train` checks them; `from:` against the offered versions.
        messages << m_stages->problems();
        engine::pipeline::PipelineConfig p = pipelineConfig();
        p.outputDir = "(automatic)";
        const QStringList versions = m_stages->storedVersions();
        for (const auto& m : p.problems([&versions](const std::string& ref) {
                 return versions.contains(QString::fromStdString(ref)) ? std::string() : std::string("the store holds no such version");
             }))
            messages << QString::fromStdString(m);
    }
    if (const int processes = m_training->processes(); processes > 1) {
        if (pipeline)
            messages << tr("training.processes: a pipeline trains its stages in one process; set Processes to 1");
        else if (c.batchSize < processes)
            messages << tr("training.processes: %1 processes need a global batch of at least %1 rows (training.batch_size is %2)")
                            .arg(processes).arg(c.batchSize);
    }
    m_start->setText(m_checking ? tr("Checking data…") : isPipeline() ? tr("Start pipeline") : tr("Start run"));
    QStringList unplaced = m_errors->show(messages);
    m_problems->setText(unplaced.join('\n'));
    m_problems->setVisible(!unplaced.isEmpty());
    m_start->setEnabled(messages.isEmpty() && !m_checking);
    m_sweep->setEnabled(messages.isEmpty() && !isPipeline());
    m_start->setToolTip(m_checking ? tr("The started run's data is being read as training reads it; the run is queued when it passes")
                        : messages.isEmpty() ? tr("Start training (Ctrl+Enter)") : tr("Fix the problems shown in the form first"));
    updateMemoryEstimate();
    if (!m_restoring && m_remember)
        saveState();
    return messages;
}

void RunForm::setStartChecking(bool checking) {
    m_checking = checking;
    validateNow();
}

QStringList RunForm::validateFieldsAsTyped() {
    m_model->readIfChanged();
    m_data->refreshIfStale(m_model->modelPath());
    return validateNow();
}

void RunForm::saveState() const {
    kLastForm.set(QString::fromStdString(config().toJson().dump()));
    kLocalModelFolder.set(m_model->localFolder());
    engine::pipeline::PipelineConfig stages;
    stages.name = m_stages->pipelineName().toStdString();
    stages.stages = m_stages->stages();
    nlohmann::json j = stages.toJson();
    j.erase("base");
    kLastStages.set(QString::fromStdString(j.dump()));
}

bool RunForm::restoreState() {
    const QString json = kLastForm.get();
    const QString local = kLocalModelFolder.get();
    if (json.isEmpty())
        return false;
    try {
        const engine::TrainConfig c = engine::TrainConfig::fromJson(nlohmann::json::parse(json.toStdString()));
        m_restoring = true;
        m_model->setLocalFolder(local);
        setConfig(c);
        m_model->setLocalFolder(local.isEmpty() ? m_model->localFolder() : local);
        if (const QString stages = kLastStages.get(); !stages.isEmpty()) {
            try {
                const auto p = engine::pipeline::PipelineConfig::fromJson(nlohmann::json::parse(stages.toStdString()));
                m_stages->setPipelineName(QString::fromStdString(p.name));
                m_stages->setStages(p.stages);
            } catch (const std::exception&) {
                // stages saved by an incompatible version: the form without them
            }
        }
        m_restoring = false;
    } catch (const std::exception&) {
        m_restoring = false;
        return false; // settings from an incompatible version: start from the defaults
    }
    return true;
}

engine::TrainConfig RunForm::withFormParts(engine::TrainConfig recipe, const engine::TrainConfig& now) {
    recipe.modelPath = now.modelPath;
    recipe.device = now.device;
    recipe.threads = now.threads;
    recipe.trainData = now.trainData;
    recipe.validationData = now.validationData;
    recipe.validationSplit = now.validationSplit;
    recipe.maxSeqLen = now.maxSeqLen;
    recipe.outputDir = now.outputDir;
    recipe.adapter.targetModules = now.adapter.targetModules;
    recipe.adapter.targetRegex = now.adapter.targetRegex;
    recipe.adapter.layersToTransform = now.adapter.layersToTransform;
    return recipe;
}

void RunForm::applyRecipe(const engine::TrainConfig& recipe) {
    const QString local = m_model->localFolder();
    setConfig(withFormParts(recipe, config()));
    m_model->setLocalFolder(local);
}

void RunForm::resetToDefaults() { applyRecipe(engine::TrainConfig{}); }

QStringList RunForm::builtinPresetNames() {
    QStringList names;
    for (const Recipe& r : kRecipes)
        names << tr(r.name);
    return names;
}

void RunForm::updateMemoryEstimate() {
    const auto& model = m_model->modelConfig();
    if (!model) {
        m_memory->setText(QString());
        return;
    }
    const engine::TrainConfig c = config();
    const bool cuda = QString::fromStdString(c.device).startsWith("cuda");
    // A box holding text it cannot take leaves config() at its last good number: an estimate from
    // that number would read as the estimate of what was typed.
    static const QStringList kInputs{"adapter.r", "adapter.subspace_dim", "training.batch_size", "data.max_seq_len",
                                     "data.validation_split"};
    QStringList held;
    for (const QString& problem : numbers::entryProblems(this))
        if (const QString key = problem.section(':', 0, 0); kInputs.contains(key) && !held.contains(key))
            held << key;
    if (!held.isEmpty()) {
        m_memory->setText(tr("Estimated peak %1 memory: enter a valid %2 to see it").arg(cuda ? tr("GPU") : tr("training"), held.join(", ")));
        return;
    }
    engine::MemoryEstimateInput in;
    in.trainableParams = m_adapter->trainableParameters();
    in.adapterRank = c.adapter.rank;
    in.batch = c.batchSize;
    // A batch never holds more rows than the training part of the file: the trainer ends it at the
    // epoch's last sample.
    const qint64 samples = m_data->preview().error.isEmpty() ? m_data->preview().samples : 0;
    const qint64 trainRows = c.validationData.empty()
        ? samples - qint64(engine::validationCount(size_t(std::max<qint64>(samples, 0)), c.validationSplit))
        : samples;
    const bool capped = trainRows > 0 && trainRows < in.batch;
    if (capped)
        in.batch = trainRows;
    in.seqLen = c.maxSeqLen;
    in.dtype = c.dtype;
    in.gradientCheckpointing = c.gradientCheckpointing;
    in.quantization = c.quantization;
    in.lossChunkTokens = c.lossChunkTokens;
    in.fusedAttention = engine::fusedAttentionOn(c.device);
    const engine::MemoryEstimate e = engine::estimateTrainingMemory(*model, in);
    auto size = [](int64_t bytes) { return QLocale().formattedDataSize(bytes); };
    QString text = tr("Estimated peak %1 memory ≈ %2 (weights %3, adapters and optimizer %4, activations %5, logits %6) · %7 trainable parameters")
                       .arg(cuda ? tr("GPU") : tr("training"), size(e.total()), size(e.weights), size(e.adapterState),
                            size(e.activations), size(e.logits), QLocale().toString(qlonglong(in.trainableParams)));
    if (capped)
        text += trainRows == 1 ? tr(" · batches of 1 row: the training data has no more")
                               : tr(" · batches of %1 rows: the training data has no more").arg(trainRows);
    m_memory->setText(text);
}

QString RunForm::cliCommand() const {
    // With stages the form is a pipeline: its file is what `rslora train` takes (the base alone would
    // train one run, without the stages' data, objectives and overrides).
    if (isPipeline())
        return QString("cat > pipeline.json <<'JSON'\n%1\nJSON\nrslora train pipeline.json\n")
            .arg(QString::fromStdString(pipelineConfig().toJson().dump(2)));
    engine::TrainConfig c = config();
    QString json = QString::fromStdString(c.toJson().dump(2));
    const QString train = m_training->processes() > 1
        ? QString("rslora launch --nproc %1 -- train run-config.json").arg(m_training->processes())
        : QString("rslora train run-config.json");
    return QString("cat > run-config.json <<'JSON'\n%1\nJSON\n%2\n").arg(json, train);
}

void RunForm::setPresetFolder(const QString& folder) {
    m_presetFolder = folder;
    refreshPresets();
}

QStringList RunForm::presetNames() const {
    QStringList names;
    for (const QString& f : QDir(m_presetFolder).entryList({"*.json"}, QDir::Files, QDir::Name))
        names << f.chopped(5);
    return names;
}

void RunForm::refreshPresets() {
    const QString current = m_presets->currentText();
    m_presets->clear();
    m_presets->addItems(builtinPresetNames());
    const QStringList saved = presetNames();
    if (!saved.isEmpty()) {
        m_presets->insertSeparator(m_presets->count());
        m_presets->addItems(saved);
    }
    // No preset is shown as chosen until the user picks one: the form need not match any.
    m_presets->setCurrentIndex(current.isEmpty() ? -1 : m_presets->findText(current));
}

QString RunForm::presetNameProblem(const QString& name, bool replace) const {
    if (builtinPresetNames().contains(name.trimmed()))
        return tr("'%1' is a built-in preset; choose another name").arg(name.trimmed());
    const QString file = presetFileName(name).chopped(5);
    if (!replace && presetNames().contains(file))
        return tr("a preset named '%1' exists; choose another name").arg(file);
    return {};
}

bool RunForm::writePreset(const QString& name, const engine::TrainConfig& config, QString* error) {
    try {
        QDir().mkpath(m_presetFolder);
        // A preset is a config file: relative paths in it would be read from the preset folder, while
        // the form means the workbench's folder, so they are written resolved.
        nlohmann::json j = config.toJson();
        engine::resolveConfigPaths(j, QDir::currentPath().toStdString());
        writeFileAtomic(QDir(m_presetFolder).filePath(presetFileName(name)).toStdString(), j.dump(2) + "\n");
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    return true;
}

bool RunForm::savePreset(const QString& name, QString* error, bool replace) {
    if (const QString problem = presetNameProblem(name, replace); !problem.isEmpty()) {
        if (error)
            *error = problem;
        return false;
    }
    if (!writePreset(name, config(), error))
        return false;
    refreshPresets();
    m_presets->setCurrentText(presetFileName(name).chopped(5));
    return true;
}

bool RunForm::loadPreset(const QString& name, QString* error) {
    const int builtin = builtinPresetNames().indexOf(name);
    if (builtin >= 0) {
        engine::TrainConfig recipe;
        kRecipes[builtin].apply(recipe);
        applyRecipe(recipe);
        return true;
    }
    try {
        engine::TrainConfig c = engine::TrainConfig::load(QDir(m_presetFolder).filePath(presetFileName(name)).toStdString());
        setConfig(c);
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    return true;
}

bool RunForm::duplicatePreset(const QString& name, const QString& newName, QString* error) {
    if (const QString problem = presetNameProblem(newName, false); !problem.isEmpty()) {
        if (error)
            *error = problem;
        return false;
    }
    engine::TrainConfig c;
    const int builtin = builtinPresetNames().indexOf(name);
    try {
        if (builtin < 0)
            c = engine::TrainConfig::load(QDir(m_presetFolder).filePath(presetFileName(name)).toStdString());
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    if (builtin >= 0) {
        // A recipe keeps the form's model and data; its copy, a preset that sets the whole form, holds them.
        engine::TrainConfig recipe;
        kRecipes[builtin].apply(recipe);
        c = withFormParts(recipe, config());
    }
    if (!writePreset(newName, c, error))
        return false;
    refreshPresets();
    return true;
}

} // namespace rslora::ui
