// The --screenshots showcase: trains the demo for real through the workbench, then renders every
// main view, the merge dialogs, the Playground and the sweep screens to PNG files.
#pragma once

#include <QCoreApplication>
#include <QString>

class QWidget;

namespace rslora::engine {
struct TrainConfig;
}

namespace rslora::app {

class Workbench;
struct JobOutcome;

class ShowcaseRenderer {
    Q_DECLARE_TR_FUNCTIONS(ShowcaseRenderer)
public:
    explicit ShowcaseRenderer(Workbench& workbench) : m_wb(workbench) {}

    // The demo run (shortened to `steps`) trained to the end, its run and adapter selected in the
    // browsers, so that every view shows real content.
    bool prepare(int steps, QString* error = nullptr);
    // Renders every main view to DIR/<view>.png at the window's size; false with *error on failure.
    bool save(const QString& dir, QString* error = nullptr);

private:
    // Trains `config` through the run controller and waits for its end.
    bool runToEnd(const engine::TrainConfig& config, const QString& name, JobOutcome* outcome, QString* error);
    // Grabs `w` into DIR/<name>.png.
    bool grab(QWidget* w, const QString& dir, const QString& name, QString* error);
    // The merge screens: a second demo version, the lineage, the dialogs.
    bool saveMergeScreens(const QString& dir, QString* error);
    // The Sweep dialog on the demo, then that sweep trained, its results view, and two of its versions'
    // evaluations compared in the Adapters view.
    bool saveSweepScreens(const QString& dir, QString* error);
    // The New run form holding the demo's DPO config, scrolled to its preference-pair preview.
    bool savePreferencePreview(const QString& dir, QString* error);
    // Run > Studies: study C's base in the form and its sweep in the dialog.
    bool saveStudyDialog(const QString& dir, QString* error);
    // The Playground in chat mode, the base model and the newest version side by side.
    bool savePlayground(const QString& dir, QString* error);
    // The New run form holding the demo pipeline (SFT, then DPO), scrolled to its stages.
    bool savePipelineForm(const QString& dir, QString* error);

    Workbench& m_wb;
};

} // namespace rslora::app
