#include "ui/DataSection.h"

#include "ui/FieldErrors.h"
#include "ui/PathProblems.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTextBrowser>

namespace rslora::ui {

QLineEdit* DataSection::pathRow(FieldErrors* errors, QFormLayout* form, const QString& label, const QString& key, const QString& tooltip) {
    auto* row = new QWidget(this);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    auto* edit = new QLineEdit(row);
    auto* browse = new QPushButton(tr("Browse…"), row);
    h->addWidget(edit, 1);
    h->addWidget(browse);
    errors->addRow(form, label, row, key, tooltip);
    edit->setObjectName(key + ".edit");
    connect(browse, &QPushButton::clicked, this, [this, edit] {
        QString f = QFileDialog::getOpenFileName(this, tr("Choose a JSONL dataset"), edit->text(), tr("JSON Lines (*.jsonl *.json);;All files (*)"));
        if (!f.isEmpty()) {
            edit->setText(f);
            refreshPreview(m_modelPath);
        }
    });
    return edit;
}

DataSection::DataSection(FieldErrors* errors, QWidget* parent) : QGroupBox(tr("Data"), parent) {
    setObjectName("dataSection");
    auto* form = new QFormLayout(this);
    m_train = pathRow(errors, form, tr("Training file"), "data.train",
                      tr("JSONL, one sample per line: alpaca (instruction/input/output), chat (messages), text, or preference pairs (prompt/chosen/rejected)"));
    m_validation = pathRow(errors, form, tr("Validation file"), "data.validation", tr("Optional; otherwise the split below is held out of the training file"));
    m_split = new numbers::RealBox(0, 0.95, 3, 0.05, this);
    errors->addRow(form, tr("Validation split"), m_split, "data.validation_split", tr("Fraction of the training file held out when no validation file is given"));
    m_maxLen = new numbers::IntBox(2, 1 << 20, this);
    errors->addRow(form, tr("Max length"), m_maxLen, "data.max_seq_len", tr("Samples longer than this many tokens are truncated (and counted)"));
    m_shuffle = new QCheckBox(tr("Shuffle each epoch (seeded)"), this);
    errors->addRow(form, QString(), m_shuffle, "data.shuffle");
    m_summary = new QLabel(this);
    m_summary->setObjectName("dataSummary");
    m_summary->setWordWrap(true);
    form->addRow(m_summary);
    m_previewView = new QTextBrowser(this);
    m_previewView->setObjectName("dataPreview");
    m_previewView->setMinimumHeight(140);
    form->addRow(m_previewView);

    for (QLineEdit* e : {m_train, m_validation})
        connect(e, &QLineEdit::editingFinished, this, [this] { refreshPreview(m_modelPath); });
    connect(m_maxLen, &QSpinBox::editingFinished, this, [this] { refreshPreview(m_modelPath); });
    for (QLineEdit* e : {m_train, m_validation})
        connect(e, &QLineEdit::textChanged, this, &DataSection::changed);
    connect(m_split, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &DataSection::changed);
    connect(m_maxLen, qOverload<int>(&QSpinBox::valueChanged), this, &DataSection::changed);
    load(engine::TrainConfig{});
}

int DataSection::maxSeqLen() const { return m_maxLen->value(); }

QStringList DataSection::problems() const {
    QStringList out;
    const QString train = m_train->text().trimmed();
    if (train != m_readTrain) {
        // Typed since the last read: what can be told without reading it.
        if (!train.isEmpty() && (QFileInfo(train).isDir() || !QFileInfo::exists(train)))
            out << "data.train: " + PathProblems::ofFile(train);
    } else if (!m_preview.error.isEmpty() && !m_preview.modelError) {
        out << "data.train: " + m_preview.error;
    }
    const QString validation = m_validation->text().trimmed();
    if (validation.isEmpty())
        return out;
    if (const QString kind = PathProblems::ofFile(validation); !kind.isEmpty())
        out << "data.validation: " + kind;
    else if (validation == m_readValidation && !m_validationCheck.error.isEmpty() && !m_validationCheck.modelError)
        out << "data.validation: " + m_validationCheck.error;
    return out;
}

QStringList DataSection::objectiveProblems(bool preference) const {
    QStringList out;
    auto check = [&](const QString& key, const QString& typed, const QString& read, const DatasetPreview& p) {
        if (typed != read || p.format.isEmpty() || (p.format == "preference") == preference)
            return;
        const QString file = QFileInfo(read).fileName();
        out << (preference ? tr("%1: %2 holds %3 records, and the DPO objective trains on preference pairs (prompt, chosen, "
                                "rejected): choose a file of pairs, or set Objective to SFT")
                                 .arg(key, file, p.format)
                           : tr("%1: %2 holds preference pairs (prompt, chosen, rejected), which SFT does not train on: set "
                                "Objective to DPO, or choose a file of instructions, chats or text")
                                 .arg(key, file));
    };
    check("data.train", m_train->text().trimmed(), m_readTrain, m_preview);
    check("data.validation", m_validation->text().trimmed(), m_readValidation, m_validationCheck);
    return out;
}

void DataSection::refreshIfStale(const QString& modelPath) {
    if (modelPath != m_modelPath || m_train->text().trimmed() != m_readTrain || m_validation->text().trimmed() != m_readValidation ||
        m_maxLen->value() != m_readMaxLen)
        refreshPreview(modelPath);
}

void DataSection::refreshPreview(const QString& modelPath) {
    m_modelPath = modelPath;
    m_preview = DatasetPreview{};
    m_validationCheck = DatasetPreview{};
    m_readTrain = m_train->text().trimmed();
    m_readValidation = m_validation->text().trimmed();
    m_readMaxLen = m_maxLen->value();
    showPreview();
    Q_EMIT previewRefreshed();
}

void DataSection::showPreview() {
    const QString validation = m_readValidation;
    if (m_provider && !validation.isEmpty() && QFileInfo(validation).isFile())
        m_validationCheck = m_provider(m_modelPath, validation, m_readMaxLen);
    const QString path = m_readTrain;
    if (path.isEmpty()) {
        m_summary->setText(tr("Choose a training file to see its samples as the model will see them."));
        m_previewView->clear();
        return;
    }
    if (!m_provider) {
        m_summary->setText(tr("No preview available."));
        return;
    }
    if (QFileInfo(path).isDir())
        m_preview.error = PathProblems::ofFile(path);
    else
        m_preview = m_provider(m_modelPath, path, m_readMaxLen);
    if (m_preview.format.isEmpty()) {
        // The problem itself is shown under the field it concerns (the file, or the model folder).
        m_summary->setText(tr("No preview: see the problem named above."));
        m_previewView->clear();
        return;
    }
    m_summary->setText(tr("Format <b>%1</b> · %2 samples · %3 truncated to %4 tokens%5%6")
                           .arg(m_preview.format.toHtmlEscaped())
                           .arg(m_preview.samples)
                           .arg(m_preview.truncated)
                           .arg(m_readMaxLen)
                           .arg(m_preview.skipped ? tr(" · <span style='color:#c62828'>%n malformed line(s)</span>", "", int(m_preview.skipped))
                                                  : QString())
                           .arg(m_preview.moreRecords ? tr(" · counted over the first %1 records of the file, read for this preview; "
                                                           "the whole file is checked when the run starts")
                                                            .arg(m_preview.recordsRead)
                                                      : QString()));
    m_previewView->setHtml(m_preview.html);
}

void DataSection::load(const engine::TrainConfig& c) {
    m_train->setText(QString::fromStdString(c.trainData));
    m_validation->setText(QString::fromStdString(c.validationData));
    m_split->setValue(c.validationSplit);
    m_maxLen->setValue(c.maxSeqLen);
    m_shuffle->setChecked(c.shuffle);
}

void DataSection::store(engine::TrainConfig& c) const {
    c.trainData = m_train->text().trimmed().toStdString();
    c.validationData = m_validation->text().trimmed().toStdString();
    c.validationSplit = m_split->value();
    c.maxSeqLen = m_maxLen->value();
    c.shuffle = m_shuffle->isChecked();
}

} // namespace rslora::ui
