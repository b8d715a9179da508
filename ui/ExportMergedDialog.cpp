#include "ui/ExportMergedDialog.h"

#include "ui/ExportFolder.h"
#include "ui/PathProblems.h"
#include "ui/SourceWeights.h"
#include "ui/numbers/NumberEntry.h"
#include "ui/numbers/RealBox.h"

#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QUrl>
#include <QVBoxLayout>

#include <cmath>

namespace rslora::ui {

namespace {
// A line edit with a Browse… button that picks a folder.
QHBoxLayout* folderRow(QLineEdit* edit, QWidget* parent, const QString& caption) {
    auto* row = new QHBoxLayout;
    auto* browse = new QPushButton(QObject::tr("Browse…"), parent);
    QObject::connect(browse, &QPushButton::clicked, parent, [edit, parent, caption] {
        const QString start = edit->text().isEmpty() ? ExportFolder::initial() : QFileInfo(edit->text()).absolutePath();
        const QString dir = QFileDialog::getExistingDirectory(parent, caption, start);
        if (!dir.isEmpty())
            edit->setText(QDir::toNativeSeparators(dir));
    });
    row->addWidget(edit, 1);
    row->addWidget(browse);
    return row;
}
} // namespace

ExportMergedDialog::ExportMergedDialog(const QList<FuseSource>& sources, QWidget* parent) : QDialog(parent), m_sources(sources) {
    setObjectName("exportMergedDialog");
    setWindowTitle(tr("Export merged model"));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("Writes base + Σ λᵢ ΔWᵢ as a complete model folder (config, safetensors, tokenizer) that "
                                "transformers, vLLM and llama.cpp's converter load. The base folder is not changed; the "
                                "output folder appears whole or not at all."), this);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    m_sourceWeights = new SourceWeights(tr("Adapters and weights"), sources, this);
    layout->addWidget(m_sourceWeights);

    auto* form = new QFormLayout;
    m_model = new QLineEdit(this);
    m_model->setObjectName("modelDirEdit");
    for (const FuseSource& s : sources)
        if (m_model->text().isEmpty() && !s.baseModel.isEmpty())
            m_model->setText(s.baseModel);
    m_model->setToolTip(tr("The base model folder the adapters were trained on"));
    form->addRow(tr("Base model folder"), folderRow(m_model, this, tr("Base model folder")));
    m_out = new QLineEdit(this);
    m_out->setObjectName("outDirEdit");
    m_out->setToolTip(tr("A new folder (it must not exist yet, or be empty)"));
    if (!sources.isEmpty())
        m_out->setText(QDir(ExportFolder::initial()).filePath(QString(sources.front().label).replace(' ', '_') + "_merged"));
    form->addRow(tr("Output folder"), folderRow(m_out, this, tr("Write the merged model into…")));
    m_dtype = new QComboBox(this);
    m_dtype->setObjectName("dtypeBox");
    // First and selected: the base's own dtype (no --dtype), as `rslora merge` does by default; a
    // float32 base written as bfloat16 would silently lose precision.
    m_dtype->addItem(tr("same as the base model"), QString());
    for (const char* dtype : {"bfloat16", "float16", "float32"})
        m_dtype->addItem(QString::fromLatin1(dtype), QString::fromLatin1(dtype));
    m_dtype->setCurrentIndex(0);
    m_dtype->setToolTip(tr("The dtype of the written weights; the merge itself is computed in float32"));
    form->addRow(tr("dtype"), m_dtype);
    m_shard = new numbers::RealBox(0.0, 100.0, 2, 0.5, this);
    m_shard->setObjectName("shardBox");
    m_shard->setEntryName(tr("Largest shard (GB)"));
    m_shard->setLowestText(tr("one file"));
    m_shard->setValue(2.0);
    m_shard->setToolTip(tr("Above this size the weights are split into shards with model.safetensors.index.json"));
    form->addRow(tr("Largest shard (GB)"), m_shard);
    layout->addLayout(form);

    auto* status = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("exportProgress");
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->setFormat(tr("%v of %m tensors"));
    m_progress->hide(); // "0 of 1 tensors" before anything runs would read as a count
    m_message = new QLabel(this);
    m_message->setObjectName("exportMessage");
    m_message->setWordWrap(true);
    m_message->setTextFormat(Qt::PlainText); // messages quote version names and paths
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    m_message->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    status->addWidget(m_progress);
    layout->addLayout(status);
    layout->addWidget(m_message);
    layout->addStretch(1);

    auto* buttons = new QDialogButtonBox(this);
    m_open = buttons->addButton(tr("Open folder"), QDialogButtonBox::ActionRole);
    m_open->setObjectName("openFolderButton");
    m_cancel = buttons->addButton(tr("Cancel export"), QDialogButtonBox::ActionRole);
    m_cancel->setObjectName("cancelExportButton");
    m_cancel->setEnabled(false);
    m_export = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    m_export->setObjectName("exportButton");
    buttons->addButton(QDialogButtonBox::Close);
    // Off, not hidden, until an export is done: a button appearing beside Export moved Export from
    // under the pointer.
    m_open->setEnabled(false);
    m_open->setToolTip(tr("Opens the folder of the last export done here"));
    layout->addWidget(buttons);
    connect(m_export, &QPushButton::clicked, this, [this] {
        if (m_busy)
            return;
        // A number its box could not take: the settings hold the box's last value, not the one typed.
        if (const QStringList problems = numbers::entryProblems(this); !problems.isEmpty()) {
            showError(problems.join("; "));
            return;
        }
        const MergeExportSettings s = settings();
        if (s.modelDir.isEmpty()) {
            showError(tr("Choose the base model folder."));
            return;
        }
        // A folder that is missing or a file is named as such (the merge would say it has no config.json).
        if (const QString why = PathProblems::ofFolder(s.modelDir); !why.isEmpty()) {
            showError(tr("Base model: %1.").arg(why));
            return;
        }
        if (s.outDir.isEmpty()) {
            showError(tr("Choose the output folder."));
            return;
        }
        ExportFolder::remember(QFileInfo(s.outDir).absolutePath());
        Q_EMIT exportRequested(s);
    });
    connect(m_cancel, &QPushButton::clicked, this, &ExportMergedDialog::cancelRequested);
    connect(m_open, &QPushButton::clicked, this, [this] {
        if (!m_doneFolder.isEmpty())
            QDesktopServices::openUrl(QUrl::fromLocalFile(m_doneFolder));
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &ExportMergedDialog::reject);
    // An error said of other settings ("output folder X exists") would be read as said of these.
    for (QLineEdit* edit : {m_model, m_out})
        connect(edit, &QLineEdit::textChanged, this, &ExportMergedDialog::clearError);
    connect(m_dtype, &QComboBox::currentIndexChanged, this, &ExportMergedDialog::clearError);
    connect(m_shard, &QDoubleSpinBox::valueChanged, this, &ExportMergedDialog::clearError);
    connect(m_sourceWeights, &SourceWeights::changed, this, &ExportMergedDialog::clearError);
    resize(680, 480);
}

void ExportMergedDialog::clearError() {
    if (!m_errorShown || m_busy)
        return;
    m_errorShown = false;
    m_message->setStyleSheet(QString());
    m_message->clear();
}

MergeExportSettings ExportMergedDialog::settings() const {
    MergeExportSettings s;
    s.modelDir = QDir::fromNativeSeparators(m_model->text().trimmed());
    s.weights = m_sourceWeights->weights();
    s.dtype = m_dtype->currentData().toString();
    s.maxShardBytes = static_cast<qint64>(std::llround(m_shard->value() * 1e9));
    s.outDir = QDir::fromNativeSeparators(m_out->text().trimmed());
    return s;
}

void ExportMergedDialog::setModelDir(const QString& dir) { m_model->setText(dir); }
void ExportMergedDialog::setOutDir(const QString& dir) { m_out->setText(dir); }
void ExportMergedDialog::setDtype(const QString& dtype) {
    const int index = m_dtype->findData(dtype);
    if (index >= 0)
        m_dtype->setCurrentIndex(index);
}
void ExportMergedDialog::setMaxShardGb(double gb) { m_shard->setValue(gb); }
void ExportMergedDialog::setWeights(const QVector<double>& weights) { m_sourceWeights->setWeights(weights); }

void ExportMergedDialog::setBusy(const QString& what) {
    m_busy = true;
    m_export->setEnabled(false);
    m_cancel->setEnabled(true);
    m_open->setEnabled(false);
    m_progress->setRange(0, 0);
    m_progress->show();
    m_errorShown = false;
    m_message->setStyleSheet(QString());
    m_message->setText(what);
}

void ExportMergedDialog::setIdle() {
    m_busy = false;
    m_export->setEnabled(true);
    m_cancel->setEnabled(false);
    if (m_progress->maximum() == 0)
        m_progress->setRange(0, 1);
    // The count of an export that failed or was cancelled is not what the folder holds: none is written.
    if (m_doneFolder.isEmpty() || m_progress->value() < m_progress->maximum())
        m_progress->hide();
    m_open->setEnabled(!m_doneFolder.isEmpty());
}

void ExportMergedDialog::showProgress(qint64 done, qint64 total) {
    m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, total)));
    m_progress->setValue(static_cast<int>(done));
}

void ExportMergedDialog::showError(const QString& message) {
    m_message->setStyleSheet("color: #c62828");
    m_message->setText(message);
    m_errorShown = true;
}

void ExportMergedDialog::showMessage(const QString& message) {
    m_message->setStyleSheet(QString());
    m_message->setText(message);
    m_errorShown = false;
}

void ExportMergedDialog::showDone(const QString& summary, const QString& folder) {
    m_doneFolder = folder;
    m_message->setStyleSheet(QString());
    m_message->setText(summary);
    m_progress->setValue(m_progress->maximum());
    m_progress->show();
    m_open->setEnabled(true);
    m_errorShown = false;
}

void ExportMergedDialog::reject() {
    if (m_busy)
        Q_EMIT cancelRequested();
    QDialog::reject();
}

} // namespace rslora::ui
