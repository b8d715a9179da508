// Export merged model…: the picked versions with a weight each, the base model folder, the output
// folder, dtype and largest shard; a progress bar and Cancel while the application writes the folder
// on a worker thread, and a button that opens the folder when it is done.
#pragma once

#include "ui/FuseValues.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace rslora::ui {

namespace numbers {
class RealBox;
}
class SourceWeights;

class ExportMergedDialog : public QDialog {
    Q_OBJECT
public:
    explicit ExportMergedDialog(const QList<FuseSource>& sources, QWidget* parent = nullptr);

    const QList<FuseSource>& sources() const { return m_sources; }
    MergeExportSettings settings() const;
    void setModelDir(const QString& dir);
    void setOutDir(const QString& dir);
    // "float32", "bfloat16", "float16", or "" for the base model's own dtype (the default).
    void setDtype(const QString& dtype);
    // The largest shard in GB (0: one file).
    void setMaxShardGb(double gb);
    void setWeights(const QVector<double>& weights);

    void setBusy(const QString& what);
    void setIdle();
    void showProgress(qint64 done, qint64 total);
    void showError(const QString& message);
    void showMessage(const QString& message);
    // Success: what was written; offers to open the folder.
    void showDone(const QString& summary, const QString& folder);
    bool busy() const { return m_busy; }
    QString doneFolder() const { return m_doneFolder; }

    QPushButton* exportButton() const { return m_export; }
    QPushButton* cancelButton() const { return m_cancel; }
    QPushButton* openButton() const { return m_open; }
    QProgressBar* progressBar() const { return m_progress; }
    QLabel* messageLabel() const { return m_message; }

Q_SIGNALS:
    void exportRequested(const rslora::ui::MergeExportSettings& settings);
    void cancelRequested();

protected:
    void reject() override;

private:
    void clearError();

    QList<FuseSource> m_sources;
    SourceWeights* m_sourceWeights = nullptr;
    QLineEdit* m_model = nullptr;
    QLineEdit* m_out = nullptr;
    QComboBox* m_dtype = nullptr;
    numbers::RealBox* m_shard = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_message = nullptr;
    QPushButton* m_export = nullptr;
    QPushButton* m_cancel = nullptr;
    QPushButton* m_open = nullptr;
    QString m_doneFolder;
    bool m_busy = false;
    bool m_errorShown = false;
};

} // namespace rslora::ui
