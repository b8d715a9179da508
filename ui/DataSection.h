// Form section "Data": training and validation JSONL files, split, maximum length, and a preview of
// the first samples exactly as the model will see them, prompt tokens marked as masked.
#pragma once

#include <QGroupBox>
#include <functional>

class QCheckBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QTextBrowser;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::ui {

namespace numbers {
class IntBox;
class RealBox;
} // namespace numbers
class FieldErrors;

// What a dataset preview shows; produced by a provider that tokenizes with the chosen model.
struct DatasetPreview {
    QString format;          // "alpaca", "chat", "text", "preference"
    qint64 samples = 0;
    qint64 truncated = 0;
    qint64 skipped = 0;
    // A large file is previewed from its first records: the counts above are theirs, and the whole
    // file is read when a run starts.
    qint64 recordsRead = 0;   // records (and unusable lines) read for the counts
    bool moreRecords = false; // the file holds records beyond those read
    QString html;            // the first samples, masked (prompt) tokens styled apart
    QString error;           // set when the file cannot be used
    // The error comes from the model folder (its tokenizer), not from the file: the form reports it
    // at the model field, and not at all when the model folder itself is already reported.
    bool modelError = false;
};
using PreviewProvider = std::function<DatasetPreview(const QString& modelPath, const QString& dataPath, int maxSeqLen)>;

class DataSection : public QGroupBox {
    Q_OBJECT
public:
    DataSection(FieldErrors* errors, QWidget* parent = nullptr);
    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;
    void setPreviewProvider(PreviewProvider provider) { m_provider = std::move(provider); }
    // Re-reads the training and validation files with the given model folder's tokenizer.
    void refreshPreview(const QString& modelPath);
    // Re-reads them when the fields, the length or the model folder changed since the last read (a
    // field still being edited has not yet told the section): before a run starts.
    void refreshIfStale(const QString& modelPath);
    const DatasetPreview& preview() const { return m_preview; }
    int maxSeqLen() const;
    // Problems that stop a run before its first step, each keyed "data.train: ..." or
    // "data.validation: ..."; a model-side problem of the preview is left to the form. A path typed
    // since the last read is checked as typed (missing, a folder); its contents when it is read.
    QStringList problems() const;
    // The files read are of the wrong kind for the objective (preference pairs for DPO, other records
    // for SFT), keyed as problems() keys them: the run would stop at their first record.
    QStringList objectiveProblems(bool preference) const;

Q_SIGNALS:
    void changed();
    // The files were read again: what problems() says may have changed.
    void previewRefreshed();

private:
    // Reads the files named by the last refresh and shows what was read.
    void showPreview();
    QLineEdit* pathRow(FieldErrors* errors, QFormLayout* form, const QString& label, const QString& key, const QString& tooltip);

    QLineEdit* m_train = nullptr;
    QLineEdit* m_validation = nullptr;
    numbers::RealBox* m_split = nullptr;
    numbers::IntBox* m_maxLen = nullptr;
    QCheckBox* m_shuffle = nullptr;
    QLabel* m_summary = nullptr;
    QTextBrowser* m_previewView = nullptr;
    PreviewProvider m_provider;
    DatasetPreview m_preview;
    DatasetPreview m_validationCheck; // the validation file read the same way (a run reads it first)
    QString m_modelPath;
    // What the last read read: the fields' text and the length.
    QString m_readTrain;
    QString m_readValidation;
    int m_readMaxLen = -1;
};

} // namespace rslora::ui
