// Form section "Model": the built-in demo model or a local Hugging Face folder (dialog or drag and
// drop), with its architecture, parameter count, dtype and an estimate of training memory.
#pragma once

#include "models/ModelConfig.h"
#include "models/ModuleShapes.h"

#include <QGroupBox>
#include <optional>

class QComboBox;
class QLabel;
class QLineEdit;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::ui {

namespace numbers {
class IntBox;
class RealBox;
} // namespace numbers
class FieldErrors;

class ModelSection : public QGroupBox {
    Q_OBJECT
public:
    ModelSection(FieldErrors* errors, QWidget* parent = nullptr);

    void load(const engine::TrainConfig& config);
    void store(engine::TrainConfig& config) const;

    // The model read from the chosen folder's config.json (nullopt when none could be read).
    const std::optional<models::ModelConfig>& modelConfig() const { return m_config; }
    const std::vector<models::ModuleShape>& modules() const { return m_modules; }
    QString modelPath() const;
    QString loadError() const { return m_loadError; }
    // Problems that stop a run before its first step, each "model.path: ..." (empty when none).
    QStringList problems() const;
    bool usesDemo() const;
    // The folder the "Local" source shows; kept while the demo is chosen.
    QString localFolder() const { return m_localPath; }
    void setLocalFolder(const QString& path);
    void setPath(const QString& path);
    // Reads the folder when the field's text is not the folder last read (a field still being
    // edited has not yet told the section): before a run starts.
    void readIfChanged();

Q_SIGNALS:
    void modelChanged();
    // The folder field's text changed (it is read when editing finishes).
    void pathEdited();

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void readModel();
    void onSourceChanged(int index);
    void browse();

    QComboBox* m_source = nullptr;
    QLineEdit* m_path = nullptr;
    QComboBox* m_device = nullptr;
    QComboBox* m_quantization = nullptr;
    numbers::IntBox* m_threads = nullptr;
    QLabel* m_info = nullptr;
    std::optional<models::ModelConfig> m_config;
    std::vector<models::ModuleShape> m_modules;
    QString m_loadError;
    QString m_localPath;
    QString m_readPath; // the folder readModel() last read
    qint64 m_weightBytes = 0;
};

} // namespace rslora::ui
