// "Sweep…": which config keys a group of runs varies (values as a comma list, as a grid or a list of
// combinations), how many seeds per combination, and the group's name. Shows the number of runs
// live, and why the sweep cannot be queued, through the engine's own sweep parsing and a validator
// the application supplies (the same checks `rslora sweep` makes).
#pragma once

#include "engine/sweep/SweepSpec.h"

#include <QDialog>
#include <QList>
#include <QPair>
#include <QString>

#include <cstdint>
#include <functional>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace rslora::ui {

namespace numbers {
class IntBox;
}

class SweepDialog : public QDialog {
    Q_OBJECT
public:
    // How long typing pauses before the form is checked again.
    static constexpr int kRefreshDelayMs = 250;

    // Returns the number of runs the spec expands to, or throws rslora::Error saying what is wrong.
    using Validator = std::function<int(const engine::SweepSpec&)>;

    explicit SweepDialog(const QString& name, QWidget* parent = nullptr);

    void setValidator(Validator validator);
    // The keys the key column offers (any other may be typed).
    static QStringList suggestedKeys();

    // Sets row `row` (added when missing) to KEY and VALUES ("4,8,16").
    void setAxis(int row, const QString& key, const QString& values);
    void setListMode(bool list);
    void setSeeds(int seeds);
    // The file each run's adapter is evaluated on at its end ("exact_match", "multiple_choice",
    // "preference"); empty: none.
    void setEvaluationFile(const QString& key, const QString& path);
    void setName(const QString& name);
    // Fills the dialog with a whole sweep (a config's sweep: block): its axes or list, seeds (an
    // explicit seed list is kept while the seed count is left at its length), evaluation files and
    // the evaluation settings the dialog has no field for (max_new_tokens, limit), which spec() keeps.
    void setSpec(const engine::SweepSpec& spec);
    QString name() const;
    // The sweep the dialog describes; throws rslora::Error naming the key and the value at fault.
    engine::SweepSpec spec() const;

    QTableWidget* axesTable() const { return m_axes; }
    QLabel* summaryLabel() const { return m_summary; }
    QPushButton* queueButton() const { return m_queue; }
    QSpinBox* seedsBox() const;
    QCheckBox* diagnosticsBox() const { return m_diagnostics; }

public Q_SLOTS:
    // Re-reads the form: the run count, or the problem.
    void refresh();

Q_SIGNALS:
    // "Queue sweep" with a valid spec.
    void queueRequested();

private:
    void addRow(const QString& key = {}, const QString& values = {});
    // An edit as it is typed: the form is re-read once typing pauses. The validator checks every
    // run's config, which for thousands of runs takes a second, and ran on every keystroke.
    void refreshSoon();

    QLineEdit* m_name = nullptr;
    QTableWidget* m_axes = nullptr;
    QComboBox* m_mode = nullptr;
    numbers::IntBox* m_seeds = nullptr;
    QList<QPair<QString, QLineEdit*>> m_evaluations; // evaluate key → its file
    QCheckBox* m_diagnostics = nullptr;
    QLabel* m_summary = nullptr;
    QPushButton* m_queue = nullptr;
    QTimer* m_refreshTimer = nullptr;
    Validator m_validator;
    nlohmann::json m_evaluateExtras = nlohmann::json::object(); // evaluate keys without a field
    std::vector<uint64_t> m_seedList;                           // explicit seeds from setSpec
};

} // namespace rslora::ui
