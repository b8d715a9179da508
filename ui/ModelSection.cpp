#include "ui/ModelSection.h"

#include "ui/FieldErrors.h"
#include "ui/PathProblems.h"
#include "ui/numbers/IntBox.h"

#include "common/Paths.h"
#include "engine/Runtime.h"
#include "engine/TrainConfig.h"
#include "models/tokenizer/Tokenizer.h"

#include <QComboBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMimeData>
#include <QPushButton>

namespace rslora::ui {
namespace {

QString humanCount(qint64 n) {
    if (n >= 1000000000)
        return QString::number(n / 1e9, 'f', 2) + "B";
    if (n >= 1000000)
        return QString::number(n / 1e6, 'f', 1) + "M";
    if (n >= 1000)
        return QString::number(n / 1e3, 'f', 1) + "K";
    return QString::number(n);
}

// What is wrong with `path` as a model folder; a file names the folder it lies in, which is what a
// user who picked config.json or a weights file meant.
QString folderProblem(const QString& path) {
    const QString kind = PathProblems::ofFolder(path);
    const QFileInfo info(path);
    if (kind.isEmpty() || !info.isFile())
        return kind;
    return ModelSection::tr("%1: choose the folder that holds it ('%2')").arg(kind, info.absolutePath());
}

} // namespace

ModelSection::ModelSection(FieldErrors* errors, QWidget* parent) : QGroupBox(tr("Model"), parent) {
    setObjectName("modelSection");
    setAcceptDrops(true);
    auto* form = new QFormLayout(this);

    m_source = new QComboBox(this);
    m_source->addItems({tr("Built-in demo model"), tr("Local Hugging Face folder")});
    form->addRow(tr("Source"), m_source);

    auto* pathRow = new QWidget(this);
    auto* h = new QHBoxLayout(pathRow);
    h->setContentsMargins(0, 0, 0, 0);
    m_path = new QLineEdit(pathRow);
    m_path->setObjectName("model.path.edit");
    m_path->setPlaceholderText(tr("folder with config.json and *.safetensors — or drop it here"));
    auto* browseButton = new QPushButton(tr("Browse…"), pathRow);
    h->addWidget(m_path, 1);
    h->addWidget(browseButton);
    errors->addRow(form, tr("Folder"), pathRow, "model.path", tr("A Hugging Face model folder: config.json, model.safetensors (or shards with an index), tokenizer.json"));

    m_device = new QComboBox(this);
    m_device->addItem("cpu");
    engine::RuntimeInfo rt = engine::runtimeInfo();
    for (const auto& d : rt.cudaDevices)
        m_device->addItem(QString::fromStdString(d));
    errors->addRow(form, tr("Device"), m_device, "model.device", tr("Where the engine trains; CUDA devices appear when the LibTorch build has CUDA"));

    m_quantization = new QComboBox(this);
    m_quantization->addItems({"none", "nf4", "fp4"});
    errors->addRow(form, tr("Quantization"), m_quantization, "model.quantization",
                   tr("QLoRA: hold the frozen q/k/v/o and gate/up/down weights in 4 bits (blocks of 64, double-quantized "
                      "scales, about 4.13 bits per weight) and train the adapters over them. nf4 fits normally distributed "
                      "weights best; none keeps the base in full precision. Embeddings, norms and lm_head stay full precision; "
                      "spectral init and sensitivity rank allocation need none"));
    connect(m_quantization, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { Q_EMIT modelChanged(); });

    m_threads = new numbers::IntBox(0, 256, this);
    m_threads->setLowestText(tr("automatic"));
    errors->addRow(form, tr("CPU threads"), m_threads, "model.threads", tr("LibTorch intra-op threads; automatic = one per core"));

    m_info = new QLabel(this);
    m_info->setObjectName("modelInfo");
    m_info->setWordWrap(true);
    m_info->setTextFormat(Qt::RichText);
    form->addRow(m_info);

    m_source->setObjectName("model.source");
    connect(m_source, qOverload<int>(&QComboBox::currentIndexChanged), this, &ModelSection::onSourceChanged);
    connect(m_path, &QLineEdit::editingFinished, this, [this] {
        if (!usesDemo())
            m_localPath = modelPath();
        readModel();
    });
    connect(m_path, &QLineEdit::textChanged, this, &ModelSection::pathEdited);
    connect(browseButton, &QPushButton::clicked, this, &ModelSection::browse);
    m_path->setText(QString::fromStdString(demoModelDirectory().string()));
    m_path->setEnabled(false);
    readModel();
}

QString ModelSection::modelPath() const { return m_path->text().trimmed(); }

bool ModelSection::usesDemo() const { return m_source->currentIndex() == 0; }

void ModelSection::onSourceChanged(int index) {
    m_path->setEnabled(index == 1);
    // The demo's folder never replaces the user's own: switching back to Local brings it back.
    m_path->setText(index == 0 ? QString::fromStdString(demoModelDirectory().string()) : m_localPath);
    readModel();
}

void ModelSection::setLocalFolder(const QString& path) {
    m_localPath = path;
    if (!usesDemo() && modelPath() != path) {
        m_path->setText(path);
        readModel();
    }
}

void ModelSection::setPath(const QString& path) {
    QString demo = QString::fromStdString(demoModelDirectory().string());
    {
        QSignalBlocker block(m_source);
        m_source->setCurrentIndex(!path.isEmpty() && QDir(path) == QDir(demo) ? 0 : 1);
    }
    m_path->setEnabled(m_source->currentIndex() == 1);
    m_path->setText(path);
    if (!usesDemo())
        m_localPath = path;
    readModel();
}

void ModelSection::browse() {
    QString dir = QFileDialog::getExistingDirectory(this, tr("Choose a Hugging Face model folder"), modelPath());
    if (!dir.isEmpty())
        setPath(dir);
}

void ModelSection::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls() && event->mimeData()->urls().size() == 1 && event->mimeData()->urls().first().isLocalFile())
        event->acceptProposedAction();
}

void ModelSection::dropEvent(QDropEvent* event) {
    QString path = event->mimeData()->urls().first().toLocalFile();
    QFileInfo info(path);
    setPath(info.isDir() ? path : info.absolutePath());
    event->acceptProposedAction();
}

void ModelSection::readIfChanged() {
    if (modelPath() != m_readPath) {
        if (!usesDemo())
            m_localPath = modelPath();
        readModel();
    }
}

void ModelSection::readModel() {
    m_config.reset();
    m_modules.clear();
    m_loadError.clear();
    m_weightBytes = 0;
    const QString dir = modelPath();
    m_readPath = dir;
    QDir d(dir);
    if (dir.isEmpty()) {
        m_loadError = tr("choose a model folder");
    } else if (const QString kind = folderProblem(dir); !kind.isEmpty()) {
        m_loadError = kind;
    } else if (!d.exists("config.json")) {
        m_loadError = tr("'%1' has no config.json: is it a Hugging Face model folder?").arg(dir);
    } else {
        try {
            m_config = models::ModelConfig::fromFile(d.filePath("config.json").toStdString());
            m_modules = models::linearModuleShapes(*m_config);
        } catch (const std::exception& e) {
            m_loadError = QString::fromStdString(e.what());
        }
        for (const QFileInfo& f : d.entryInfoList({"*.safetensors"}, QDir::Files))
            m_weightBytes += f.size();
    }
    // Problems are shown once, under the folder field (problems()); this line shows what was read.
    if (!m_config) {
        m_info->clear();
        m_info->hide();
    } else {
        const auto& c = *m_config;
        QString note;
        if (!models::Tokenizer::existsIn(dir.toStdString()))
            note = "<br><span style='color:#8d6e00'>" +
                   tr("no tokenizer.json: only pre-tokenized datasets (input_ids, labels) can be used with this folder").toHtmlEscaped() +
                   "</span>";
        m_info->setText(tr("<b>%1</b> · %2 parameters · %3 layers · hidden %4 · heads %5/%6 · vocab %7 · weights %8 (%9 on disk)%10")
                            .arg(QString::fromStdString(c.architecture).toHtmlEscaped(), humanCount(c.parameterCount()))
                            .arg(c.numLayers).arg(c.hiddenSize).arg(c.numHeads).arg(c.numKvHeads).arg(c.vocabSize)
                            .arg(QString::fromStdString(c.torchDtype).toHtmlEscaped(), QLocale().formattedDataSize(m_weightBytes))
                            .arg(note));
        m_info->show();
    }
    Q_EMIT modelChanged();
}

QStringList ModelSection::problems() const {
    QStringList out;
    if (const QString typed = modelPath(); typed != m_readPath) {
        // Typed since the last read: what can be told without reading the folder.
        if (typed.isEmpty())
            out << "model.path: " + tr("choose a model folder");
        else if (const QString kind = folderProblem(typed); !kind.isEmpty())
            out << "model.path: " + kind;
        return out;
    }
    if (!m_loadError.isEmpty())
        out << "model.path: " + m_loadError;
    else if (m_config && m_weightBytes == 0)
        out << tr("model.path: '%1' has no *.safetensors weights (config.json alone describes the model but cannot be trained)")
                   .arg(modelPath());
    return out;
}

void ModelSection::load(const engine::TrainConfig& config) {
    setPath(QString::fromStdString(config.modelPath));
    int i = m_device->findText(QString::fromStdString(config.device));
    if (i < 0) {
        m_device->addItem(QString::fromStdString(config.device));
        i = m_device->count() - 1;
    }
    m_device->setCurrentIndex(i);
    m_threads->setValue(config.threads);
    const int q = m_quantization->findText(QString::fromStdString(config.quantization));
    m_quantization->setCurrentIndex(q < 0 ? 0 : q);
}

void ModelSection::store(engine::TrainConfig& config) const {
    config.modelPath = modelPath().toStdString();
    config.device = m_device->currentText().toStdString();
    config.threads = m_threads->value();
    config.quantization = m_quantization->currentText().toStdString();
}

} // namespace rslora::ui
