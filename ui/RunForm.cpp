#include "ui/RunForm.h"

#include "ui/AdapterSection.h"
#include "ui/DataSection.h"
#include "ui/FieldErrors.h"
#include "ui/ModelSection.h"
#include "ui/TrainingSection.h"

#include "common/AtomicFile.h"
#include "common/Paths.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
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
} // namespace

RunForm::RunForm(QWidget* parent) : QWidget(parent) {
    setObjectName("runForm");
    m_errors = new FieldErrors(this);
    auto* outer = new QVBoxLayout(this);

    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* body = new QWidget(scroll);
    auto* columns = new QHBoxLayout(body);
    auto* left = new QVBoxLayout;
    auto* right = new QVBoxLayout;
    m_model = new ModelSection(m_errors, body);
    m_data = new DataSection(m_errors, body);
    m_adapter = new AdapterSection(m_errors, body);
    m_training = new TrainingSection(m_errors, body);
    left->addWidget(m_model);
    left->addWidget(m_data, 1);
    left->addWidget(m_training);
    right->addWidget(m_adapter);
    right->addStretch(1);
    columns->addLayout(left, 1);
    columns->addLayout(right, 1);
    scroll->setWidget(body);
    outer->addWidget(scroll, 1);

    m_problems = new QLabel(this);
    m_problems->setObjectName("formProblems");
    m_problems->setWordWrap(true);
    m_problems->setStyleSheet("color: #c62828;");
    outer->addWidget(m_problems);

    auto* bar = new QHBoxLayout;
    m_memory = new QLabel(this);
    m_memory->setObjectName("memoryEstimate");
    bar->addWidget(m_memory, 1);
    bar->addWidget(new QLabel(tr("Preset"), this));
    m_presets = new QComboBox(this);
    m_presets->setObjectName("presets");
    m_presets->setMinimumWidth(140);
    bar->addWidget(m_presets);
    auto* load = new QPushButton(tr("Load"), this);
    auto* save = new QPushButton(tr("Save…"), this);
    auto* duplicate = new QPushButton(tr("Duplicate…"), this);
    auto* copyCli = new QPushButton(tr("Copy CLI command"), this);
    copyCli->setObjectName("copyCli");
    copyCli->setToolTip(tr("Copies the equivalent `rslora train` invocation with its config"));
    m_start = new QPushButton(tr("Start run"), this);
    m_start->setObjectName("startRun");
    m_start->setDefault(true);
    m_start->setShortcut(QKeySequence("Ctrl+Return"));
    m_start->setToolTip(tr("Start training (Ctrl+Enter)"));
    for (QPushButton* b : {load, save, duplicate, copyCli, m_start})
        bar->addWidget(b);
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
    connect(m_data, &DataSection::changed, this, &RunForm::scheduleValidation);
    connect(m_training, &TrainingSection::changed, this, &RunForm::scheduleValidation);
    connect(m_start, &QPushButton::clicked, this, [this] {
        if (validateNow().isEmpty())
            Q_EMIT startRequested(config());
    });
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
        QString name = QInputDialog::getText(this, tr("Save preset"), tr("Name"), QLineEdit::Normal, m_presets->currentText());
        QString error;
        if (!name.trimmed().isEmpty() && !savePreset(name.trimmed(), &error))
            QMessageBox::warning(this, tr("Cannot save preset"), error);
    });
    connect(duplicate, &QPushButton::clicked, this, [this] {
        const QString from = m_presets->currentText();
        if (from.isEmpty())
            return;
        QString name = QInputDialog::getText(this, tr("Duplicate preset"), tr("New name"), QLineEdit::Normal, from + tr(" copy"));
        QString error;
        if (!name.trimmed().isEmpty() && !duplicatePreset(from, name.trimmed(), &error))
            QMessageBox::warning(this, tr("Cannot duplicate preset"), error);
    });

    setPresetFolder(QString::fromStdString((dataDirectory() / "presets").string()));
    m_adapter->setModules(m_model->modules());
    scheduleValidation();
}

engine::TrainConfig RunForm::config() const {
    engine::TrainConfig c;
    m_model->store(c);
    m_data->store(c);
    m_adapter->store(c);
    m_training->store(c);
    return c;
}

void RunForm::setConfig(const engine::TrainConfig& c) {
    m_model->load(c);
    m_data->load(c);
    m_adapter->load(c);
    m_training->load(c);
    m_data->refreshPreview(m_model->modelPath());
    validateNow();
}

void RunForm::scheduleValidation() { m_validateTimer->start(); }

QStringList RunForm::validateNow() {
    engine::TrainConfig c = config();
    engine::ValidationFacts facts;
    if (m_model->modelConfig()) {
        facts.haveModel = true;
        facts.numLayers = static_cast<int>(m_model->modelConfig()->numLayers);
        for (const auto& m : m_model->modules())
            facts.modules.push_back({m.name, m.shortName, m.layer, m.inFeatures, m.outFeatures});
    }
    const DatasetPreview& p = m_data->preview();
    if (p.error.isEmpty() && !p.format.isEmpty()) {
        facts.haveData = true;
        facts.train.path = c.trainData;
        facts.train.samples = p.samples;
        facts.train.supervisedTokens = p.samples; // the provider reports only usable samples
    }
    // The workbench picks the output folder when the field is empty.
    if (c.outputDir.empty())
        c.outputDir = "(automatic)";
    QStringList messages;
    for (const auto& m : engine::validate(c, facts))
        messages << QString::fromStdString(m);
    if (!m_model->loadError().isEmpty() && !c.modelPath.empty())
        messages.prepend("model.path: " + m_model->loadError());
    if (!p.error.isEmpty())
        messages << "data.train: " + p.error;
    QStringList unplaced = m_errors->show(messages);
    m_problems->setText(unplaced.join('\n'));
    m_problems->setVisible(!unplaced.isEmpty());
    m_start->setEnabled(messages.isEmpty());
    m_start->setToolTip(messages.isEmpty() ? tr("Start training (Ctrl+Enter)") : tr("Fix the problems shown in the form first"));
    updateMemoryEstimate();
    return messages;
}

void RunForm::updateMemoryEstimate() {
    qint64 trainable = m_adapter->trainableParameters();
    qint64 bytes = m_model->estimateTrainingBytes(trainable, m_training->batchSize(), m_data->maxSeqLen());
    m_memory->setText(bytes > 0 ? tr("Estimated training memory ≈ %1 (%2 trainable parameters)")
                                      .arg(QLocale().formattedDataSize(bytes), QLocale().toString(trainable))
                                : QString());
}

QString RunForm::cliCommand() const {
    engine::TrainConfig c = config();
    QString json = QString::fromStdString(c.toJson().dump(2));
    return QString("cat > run-config.json <<'JSON'\n%1\nJSON\nrslora train run-config.json\n").arg(json);
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
    m_presets->addItems(presetNames());
    int i = m_presets->findText(current);
    if (i >= 0)
        m_presets->setCurrentIndex(i);
}

bool RunForm::savePreset(const QString& name, QString* error) {
    try {
        QDir().mkpath(m_presetFolder);
        writeFileAtomic(QDir(m_presetFolder).filePath(presetFileName(name)).toStdString(), config().toJson().dump(2) + "\n");
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    refreshPresets();
    m_presets->setCurrentText(presetFileName(name).chopped(5));
    return true;
}

bool RunForm::loadPreset(const QString& name, QString* error) {
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
    try {
        engine::TrainConfig c = engine::TrainConfig::load(QDir(m_presetFolder).filePath(presetFileName(name)).toStdString());
        writeFileAtomic(QDir(m_presetFolder).filePath(presetFileName(newName)).toStdString(), c.toJson().dump(2) + "\n");
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    refreshPresets();
    return true;
}

} // namespace rslora::ui
