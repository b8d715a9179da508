// The Fuse… dialog: the picked adapter versions with a weight each, the method and the settings it
// uses (rank or energy, density, drop rate, seed), an error preview (per module and overall) and the
// grid-search tab. It only collects values and shows results: the application runs the engine on a
// worker thread when the dialog asks (previewRequested, fuseRequested, gridRequested).
#pragma once

#include "ui/FuseValues.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;

namespace rslora::ui {

class GridSearchPanel;
class SourceWeights;

class FuseDialog : public QDialog {
    Q_OBJECT
public:
    explicit FuseDialog(const QList<FuseSource>& sources, QWidget* parent = nullptr);

    // The method names, in the order offered.
    static QStringList methods();
    // Which settings a method uses.
    static bool usesTarget(const QString& method);   // rank or energy
    static bool usesDensity(const QString& method);
    static bool usesDrop(const QString& method);     // drop rate and seed

    const QList<FuseSource>& sources() const { return m_sources; }
    FuseSettings settings() const;
    void setWeights(const QVector<double>& weights);
    void setMethod(const QString& method);

    // Results and state, from the application.
    void setBusy(const QString& what);               // a job runs: Cancel on, the rest off
    void setIdle();
    void showProgress(int done, int total);
    void showPreview(const FusePreview& preview);
    // Inline, under the buttons (and in the Grid search tab when a grid search asked); taken away
    // when a setting changes, since it was about the earlier ones.
    void showError(const QString& message);
    void showMessage(const QString& message);
    void clearPreview();
    bool busy() const { return m_busy; }

    // Widgets, for tests and the screenshot mode.
    QTabWidget* tabs() const { return m_tabs; }
    QComboBox* methodBox() const { return m_method; }
    QComboBox* targetBox() const { return m_target; }
    QSpinBox* rankBox() const { return m_rank; }
    QDoubleSpinBox* energyBox() const { return m_energy; }
    QDoubleSpinBox* densityBox() const { return m_density; }
    QDoubleSpinBox* dropBox() const { return m_drop; }
    QSpinBox* seedBox() const { return m_seed; }
    QLineEdit* outputNameEdit() const { return m_outputName; }
    QLineEdit* taskEdit() const { return m_task; }
    QDoubleSpinBox* weightBox(int source) const;
    QTableWidget* previewTable() const { return m_table; }
    QLabel* overallLabel() const { return m_overall; }
    QLabel* messageLabel() const { return m_message; }
    QPushButton* previewButton() const { return m_previewButton; }
    QPushButton* fuseButton() const { return m_fuseButton; }
    QPushButton* cancelButton() const { return m_cancelButton; }
    QProgressBar* progressBar() const { return m_progress; }
    GridSearchPanel* grid() const { return m_grid; }
    // Shows the Grid search tab (its page is the grid's scroll area, not the grid itself).
    void showGridTab();

Q_SIGNALS:
    void previewRequested(const rslora::ui::FuseSettings& settings);
    void fuseRequested(const rslora::ui::FuseSettings& settings);
    void gridRequested(const rslora::ui::GridSettings& settings);
    void cancelRequested();

protected:
    void reject() override;

private:
    QWidget* buildFuseTab();
    void updateFields();
    void settingsChanged();
    // Shows the numbers of the Fuse tab that their boxes could not take; false when there are none.
    bool refuseEntries();

    QList<FuseSource> m_sources;
    bool m_busy = false;
    bool m_gridAsked = false; // the last job asked for was a grid search (its errors show in that tab too)
    bool m_errorShown = false;
    QTabWidget* m_tabs = nullptr;
    QComboBox* m_method = nullptr;
    QComboBox* m_target = nullptr;
    numbers::IntBox* m_rank = nullptr;
    numbers::RealBox* m_energy = nullptr;
    numbers::RealBox* m_density = nullptr;
    numbers::RealBox* m_drop = nullptr;
    numbers::IntBox* m_seed = nullptr;
    QLineEdit* m_outputName = nullptr;
    QLineEdit* m_task = nullptr;
    SourceWeights* m_sourceWeights = nullptr;
    QTableWidget* m_table = nullptr;
    QLabel* m_overall = nullptr;
    QLabel* m_message = nullptr;
    QLabel* m_methodHelp = nullptr;
    QPushButton* m_previewButton = nullptr;
    QPushButton* m_fuseButton = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QProgressBar* m_progress = nullptr;
    GridSearchPanel* m_grid = nullptr;
};

} // namespace rslora::ui
