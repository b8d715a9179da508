// Form section "Stages": turns the new-run form into a multi-stage pipeline. A table of stages (name,
// objective, training file, a stored version to start from, merge into the base, curriculum fusion,
// overrides of any config key as `section.key=value` lines) with add, remove and reorder; the form's
// other sections are the base every stage starts from. Empty: a plain single run.
#pragma once

#include "engine/pipeline/PipelineConfig.h"

#include <QGroupBox>
#include <QStringList>

#include <vector>

class QLineEdit;
class QPushButton;
class QTableWidget;

namespace rslora::ui {

class StagesEditor : public QGroupBox {
    Q_OBJECT
public:
    enum Column { Name, Objective, Data, From, Merge, Curriculum, Floor, Overrides, ColumnCount };

    explicit StagesEditor(QWidget* parent = nullptr);

    std::vector<engine::pipeline::StageSpec> stages() const;
    void setStages(const std::vector<engine::pipeline::StageSpec>& stages);
    bool isPipeline() const;
    // The pipeline's name: its group in the store and the prefix of its stages' tasks.
    QString pipelineName() const;
    void setPipelineName(const QString& name);
    // The store's adapter versions ("task@vN") offered in the From column; a list that differs from
    // the one offered emits changed() when there are stages, so a `from:` is checked against it again.
    void setStoredVersions(const QStringList& references);
    const QStringList& storedVersions() const { return m_versions; }
    // Problems in the overrides text, each "stage 'x': ..." (the pipeline check reports the rest).
    QStringList problems() const;

    void addStage();
    void removeStage(int row);
    void moveStage(int row, int delta);
    QTableWidget* table() const { return m_table; }

Q_SIGNALS:
    void changed();

private:
    // A row as typed: reordering moves it so, where reading it as a stage would drop what does not
    // parse (an override that is not section.key=value) and reformat the rest.
    struct TypedRow {
        QString name, objective, data, from, curriculum, overrides;
        bool merge = false;
        double floor = 0;
        QString floorText; // a floor the box cannot take moves as typed, with its problem
    };
    TypedRow typedRow(int row) const;
    void setTypedRow(int row, const TypedRow& typed);
    void insertRow(int row, const engine::pipeline::StageSpec& spec);
    engine::pipeline::StageSpec rowSpec(int row, QString* problem = nullptr) const;
    void updateButtons();

    QLineEdit* m_name = nullptr;
    QTableWidget* m_table = nullptr;
    QPushButton* m_add = nullptr;
    QPushButton* m_remove = nullptr;
    QPushButton* m_up = nullptr;
    QPushButton* m_down = nullptr;
    QStringList m_versions;
};

} // namespace rslora::ui
