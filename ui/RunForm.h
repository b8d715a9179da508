// The new-run form: model, data, adapter and training sections; validation shown next to each field
// before Start; presets (built-in ones, and saved ones to load and duplicate), "Reset to defaults",
// "Copy CLI command"; the last form is remembered in the settings and restored on request.
#pragma once

#include "engine/TrainConfig.h"
#include "engine/pipeline/PipelineConfig.h"

#include <QWidget>

#include <optional>

class QComboBox;
class QLabel;
class QPushButton;
class QTimer;

namespace rslora::engine {
struct SweepSpec;
}

namespace rslora::ui {

class AdapterSection;
class DataSection;
class FieldErrors;
class ModelSection;
class ObjectiveSection;
class StagesEditor;
class TrainingSection;

class RunForm : public QWidget {
    Q_OBJECT
public:
    explicit RunForm(QWidget* parent = nullptr);
    ~RunForm() override;

    engine::TrainConfig config() const;
    void setConfig(const engine::TrainConfig& config);
    // With stages: the pipeline whose base is config() (no output folder: the store's default).
    bool isPipeline() const;
    engine::pipeline::PipelineConfig pipelineConfig() const;
    // Fills the form with a pipeline: its base in the sections, its stages in the Stages editor.
    void setPipeline(const engine::pipeline::PipelineConfig& pipeline);
    // A training config (.json/.yaml) or a pipeline file; false with *error naming the problem, the
    // form unchanged. A config with a sweep: block (a study) fills the form with its base config and
    // hands the block to *sweep; without `sweep` such a file is refused.
    bool openConfigFile(const QString& path, QString* error = nullptr, std::optional<engine::SweepSpec>* sweep = nullptr);
    // Runs validation now; returns every problem (also shown in the form).
    QStringList validateNow();
    // Reads the model folder and data files whose fields changed since they were read (Start and
    // Ctrl+Enter can come while the cursor is still in a path field), then validates.
    QStringList validateFieldsAsTyped();
    // What Sweep… does (the button, Run > Sweep…): emits sweepRequested() with the form's config and
    // returns an empty string, or returns why it cannot (a pipeline in the form, problems in it).
    QString requestSweep();
    // The text "Copy CLI command" puts on the clipboard: the run's config and `rslora train` (or
    // `rslora launch`), or with stages the pipeline file and `rslora train` on it.
    QString cliCommand() const;

    // Presets live as JSON files in a folder (default: <data folder>/presets).
    void setPresetFolder(const QString& folder);
    QStringList presetNames() const;
    // A name another preset has is refused unless `replace` (the Save button asks first); a built-in's
    // name always. Duplicating never replaces; a built-in's copy holds the form's model and data.
    bool savePreset(const QString& name, QString* error = nullptr, bool replace = false);
    bool loadPreset(const QString& name, QString* error = nullptr);
    bool duplicatePreset(const QString& name, const QString& newName, QString* error = nullptr);
    // Recipes that come with the workbench; they set adapter and training options and keep the model,
    // data, output folder and target modules.
    static QStringList builtinPresetNames();
    // Adapter and training options back to their defaults (model, data and targets stay).
    void resetToDefaults();

    // The form as last edited (kept in the settings on every change), restored; false when none.
    bool restoreState();
    // Off for forms filled by the program (the screenshot showcase), so they do not replace the
    // user's remembered form.
    void setRemembersState(bool remember) { m_remember = remember; }

    // While a started run's data is checked (before it is queued): Start says "Checking data…" and
    // takes no press, whatever the form's problems; false gives it back to validation.
    void setStartChecking(bool checking);
    bool startChecking() const { return m_checking; }

    ModelSection* modelSection() const { return m_model; }
    DataSection* dataSection() const { return m_data; }
    AdapterSection* adapterSection() const { return m_adapter; }
    TrainingSection* trainingSection() const { return m_training; }
    ObjectiveSection* objectiveSection() const { return m_objective; }
    StagesEditor* stagesEditor() const { return m_stages; }
    FieldErrors* fieldErrors() const { return m_errors; }
    QPushButton* startButton() const { return m_start; }
    QPushButton* sweepButton() const { return m_sweep; }

Q_SIGNALS:
    void startRequested(const rslora::engine::TrainConfig& config);
    // Start with Processes > 1: a data-parallel run of `processes` workers (`rslora launch`).
    void launchRequested(const rslora::engine::TrainConfig& config, int processes);
    // Start with stages: the pipeline config as JSON text.
    void pipelineStartRequested(const QString& pipelineJson);
    // "Sweep…": a group of runs varying this config (the form is valid and has no stages).
    void sweepRequested(const rslora::engine::TrainConfig& config);
    // "Copy CLI command" put this command on the clipboard.
    void cliCommandCopied(const QString& command);

private:
    void scheduleValidation();
    void refreshPresets();
    void updateMemoryEstimate();
    void saveState() const;
    // Keeps model, data, output folder and targets of the current form, everything else from `recipe`.
    void applyRecipe(const engine::TrainConfig& recipe);
    static engine::TrainConfig withFormParts(engine::TrainConfig recipe, const engine::TrainConfig& now);
    // Why `name` cannot be written as a new preset (a built-in's, or taken and not to be replaced); empty when it can.
    QString presetNameProblem(const QString& name, bool replace) const;
    bool writePreset(const QString& name, const engine::TrainConfig& config, QString* error);

    FieldErrors* m_errors = nullptr;
    ModelSection* m_model = nullptr;
    DataSection* m_data = nullptr;
    AdapterSection* m_adapter = nullptr;
    TrainingSection* m_training = nullptr;
    ObjectiveSection* m_objective = nullptr;
    QLabel* m_problems = nullptr;
    QLabel* m_memory = nullptr;
    QComboBox* m_presets = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_sweep = nullptr;
    QTimer* m_validateTimer = nullptr;
    QString m_presetFolder;
    bool m_restoring = false;
    bool m_remember = true;
    bool m_checking = false;
    StagesEditor* m_stages = nullptr;
};

} // namespace rslora::ui
