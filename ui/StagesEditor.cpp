// The Stages section of the new-run form (see StagesEditor.h).
#include "ui/StagesEditor.h"

#include "ui/numbers/RealBox.h"
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QTableWidget>
#include <QVBoxLayout>

namespace rslora::ui {

using engine::pipeline::Curriculum;
using engine::pipeline::CurriculumSchedule;
using engine::pipeline::StageSpec;
using nlohmann::json;

namespace {

// Overrides as the table shows them: "section.key=value" joined by "; ".
QString overridesText(const json& overrides)
{
    QStringList parts;
    for (auto s = overrides.begin(); s != overrides.end(); ++s) {
        if (!s->is_object())
            continue;
        for (auto k = s->begin(); k != s->end(); ++k)
            parts << QString::fromStdString(s.key() + "." + k.key() + "=" + (k->is_string() ? k->get<std::string>() : k->dump()));
    }
    return parts.join("; ");
}

// The inverse; a value is read as JSON when it parses, as a string otherwise.
json parseOverrides(const QString& text, QString* problem)
{
    json out = json::object();
    for (const QString& raw : text.split(QRegularExpression("[;\n]"), Qt::SkipEmptyParts)) {
        const QString part = raw.trimmed();
        if (part.isEmpty())
            continue;
        const int eq = part.indexOf('='), dot = part.indexOf('.');
        if (eq < 0 || dot < 0 || dot > eq) {
            // Every part that is wrong, not only the last one.
            if (problem)
                *problem += (problem->isEmpty() ? QString() : QStringLiteral("; "))
                            + QObject::tr("override '%1' must be section.key=value").arg(part);
            continue;
        }
        const std::string value = part.mid(eq + 1).trimmed().toStdString();
        json v = json::parse(value, nullptr, false);
        if (v.is_discarded())
            v = value;
        out[part.left(dot).trimmed().toStdString()][part.mid(dot + 1, eq - dot - 1).trimmed().toStdString()] = v;
    }
    return out;
}

} // namespace

StagesEditor::StagesEditor(QWidget* parent) : QGroupBox(tr("Stages (multi-stage pipeline)"), parent)
{
    setObjectName("stagesEditor");
    auto* layout = new QVBoxLayout(this);
    auto* hint = new QLabel(tr("Each stage trains a new adapter on top of the earlier ones (frozen and active). The sections "
                               "above are the base every stage starts from. No stages: a single run."),
                            this);
    hint->setWordWrap(true);
    layout->addWidget(hint);
    auto* nameRow = new QHBoxLayout;
    nameRow->addWidget(new QLabel(tr("Pipeline name"), this));
    m_name = new QLineEdit("pipeline", this);
    m_name->setObjectName("pipelineName");
    m_name->setToolTip(tr("One group in the store; each stage's versions go to task <name>_<stage>"));
    nameRow->addWidget(m_name, 1);
    layout->addLayout(nameRow);
    connect(m_name, &QLineEdit::textChanged, this, [this] { Q_EMIT changed(); });
    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName("stagesTable");
    m_table->setHorizontalHeaderLabels({tr("Name"), tr("Objective"), tr("Training data"), tr("From version"), tr("Merge"),
                                        tr("Curriculum"), tr("Floor"), tr("Overrides (section.key=value; …)")});
    m_table->horizontalHeader()->setSectionResizeMode(Data, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(Overrides, QHeaderView::Stretch);
    m_table->verticalHeader()->setVisible(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setMinimumHeight(120);
    m_table->horizontalHeaderItem(Merge)->setToolTip(tr("Merge the earlier stages into the base weights instead of stacking them"));
    m_table->horizontalHeaderItem(From)->setToolTip(tr("Take this stage's adapter from a stored version instead of training it"));
    m_table->horizontalHeaderItem(Curriculum)->setToolTip(tr("Decay the earlier stages' weights over this stage, to the floor"));
    layout->addWidget(m_table);
    auto* buttons = new QHBoxLayout;
    m_add = new QPushButton(tr("Add stage"), this);
    m_add->setObjectName("addStage");
    m_remove = new QPushButton(tr("Remove"), this);
    m_up = new QPushButton(tr("Move up"), this);
    m_down = new QPushButton(tr("Move down"), this);
    for (QPushButton* b : {m_add, m_remove, m_up, m_down})
        buttons->addWidget(b);
    buttons->addStretch(1);
    layout->addLayout(buttons);

    connect(m_add, &QPushButton::clicked, this, &StagesEditor::addStage);
    connect(m_remove, &QPushButton::clicked, this, [this] { removeStage(m_table->currentRow()); });
    connect(m_up, &QPushButton::clicked, this, [this] { moveStage(m_table->currentRow(), -1); });
    connect(m_down, &QPushButton::clicked, this, [this] { moveStage(m_table->currentRow(), +1); });
    connect(m_table, &QTableWidget::itemChanged, this, [this] { Q_EMIT changed(); });
    connect(m_table, &QTableWidget::currentCellChanged, this, [this] { updateButtons(); });
    updateButtons();
}

void StagesEditor::insertRow(int row, const StageSpec& spec)
{
    const QSignalBlocker block(m_table);
    m_table->insertRow(row);
    m_table->setItem(row, Name, new QTableWidgetItem(QString::fromStdString(spec.name)));
    auto* objective = new QComboBox(m_table);
    objective->addItems({"sft", "dpo"});
    objective->setCurrentText(QString::fromStdString(spec.objective));
    m_table->setCellWidget(row, Objective, objective);
    m_table->setItem(row, Data, new QTableWidgetItem(QString::fromStdString(spec.data.value("train", std::string()))));
    auto* from = new QComboBox(m_table);
    from->setEditable(true);
    from->addItem(QString());
    from->addItems(m_versions);
    from->setCurrentText(QString::fromStdString(spec.from));
    from->setToolTip(tr("A stored version (task@vN); empty: train this stage"));
    m_table->setCellWidget(row, From, from);
    auto* merge = new QTableWidgetItem;
    merge->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    merge->setCheckState(spec.mergeIntoBase ? Qt::Checked : Qt::Unchecked);
    m_table->setItem(row, Merge, merge);
    auto* curriculum = new QComboBox(m_table);
    curriculum->addItems({"none", "linear", "cosine"});
    curriculum->setCurrentText(engine::pipeline::curriculumScheduleName(spec.curriculum.schedule));
    m_table->setCellWidget(row, Curriculum, curriculum);
    auto* floor = new numbers::RealBox(0.0, 1.0, 2, 0.05, m_table);
    floor->setEntryName(tr("curriculum floor"));
    floor->setValue(spec.curriculum.floor);
    m_table->setCellWidget(row, Floor, floor);
    // The table has a column for the training file only: the stage's other data keys (validation,
    // max_seq_len, ...) show among its overrides as data.key=value, which the stage reads alike
    // (overrides come after data), so that nothing the stage was given is dropped.
    json shown = spec.overrides.is_object() ? spec.overrides : json::object();
    if (spec.data.is_object() && (!shown.contains("data") || shown["data"].is_object()))
        for (auto k = spec.data.begin(); k != spec.data.end(); ++k)
            if (k.key() != "train" && !(shown.contains("data") && shown["data"].contains(k.key())))
                shown["data"][k.key()] = k.value();
    m_table->setItem(row, Overrides, new QTableWidgetItem(overridesText(shown)));
    for (QComboBox* c : {objective, from, curriculum})
        connect(c, &QComboBox::currentTextChanged, this, [this] { Q_EMIT changed(); });
    connect(floor, &QDoubleSpinBox::valueChanged, this, [this] { Q_EMIT changed(); });
    connect(floor, &numbers::RealBox::entryChanged, this, [this] { Q_EMIT changed(); });
}

StageSpec StagesEditor::rowSpec(int row, QString* problem) const
{
    StageSpec s;
    auto text = [&](int column) { return m_table->item(row, column) ? m_table->item(row, column)->text().trimmed() : QString(); };
    auto combo = [&](int column) { return static_cast<QComboBox*>(m_table->cellWidget(row, column))->currentText().trimmed(); };
    s.name = text(Name).toStdString();
    s.objective = combo(Objective).toStdString();
    if (!text(Data).isEmpty())
        s.data = {{"train", text(Data).toStdString()}};
    s.from = combo(From).toStdString();
    s.mergeIntoBase = m_table->item(row, Merge) && m_table->item(row, Merge)->checkState() == Qt::Checked;
    try {
        s.curriculum.schedule = engine::pipeline::parseCurriculumSchedule(combo(Curriculum).toStdString());
    } catch (const std::exception&) {
        s.curriculum.schedule = CurriculumSchedule::None;
    }
    const auto* floor = static_cast<numbers::RealBox*>(m_table->cellWidget(row, Floor));
    s.curriculum.floor = floor->value();
    s.overrides = parseOverrides(text(Overrides), problem);
    // A floor its box cannot take: the stage would have the box's last value, not the one typed.
    if (problem && problem->isEmpty())
        *problem = floor->problem();
    return s;
}

std::vector<StageSpec> StagesEditor::stages() const
{
    std::vector<StageSpec> out;
    for (int r = 0; r < m_table->rowCount(); ++r)
        out.push_back(rowSpec(r));
    return out;
}

void StagesEditor::setStages(const std::vector<StageSpec>& stages)
{
    m_table->setRowCount(0);
    for (size_t i = 0; i < stages.size(); ++i)
        insertRow(int(i), stages[i]);
    updateButtons();
    Q_EMIT changed();
}

QString StagesEditor::pipelineName() const
{
    return m_name->text().trimmed();
}

void StagesEditor::setPipelineName(const QString& name)
{
    m_name->setText(name);
}

bool StagesEditor::isPipeline() const
{
    return m_table->rowCount() > 0;
}

void StagesEditor::setStoredVersions(const QStringList& references)
{
    if (references == m_versions)
        return;
    m_versions = references;
    for (int r = 0; r < m_table->rowCount(); ++r) {
        auto* from = static_cast<QComboBox*>(m_table->cellWidget(r, From));
        const QString current = from->currentText();
        const QSignalBlocker block(from);
        from->clear();
        from->addItem(QString());
        from->addItems(m_versions);
        from->setCurrentText(current);
    }
    if (isPipeline())
        Q_EMIT changed();
}

QStringList StagesEditor::problems() const
{
    QStringList out;
    for (int r = 0; r < m_table->rowCount(); ++r) {
        QString problem;
        const StageSpec s = rowSpec(r, &problem);
        if (!problem.isEmpty()) // a stage without a name goes by its number, as the pipeline check names it
            out << (s.name.empty() ? tr("stage %1: %2").arg(QString::number(r + 1), problem)
                                   : tr("stage '%1': %2").arg(QString::fromStdString(s.name), problem));
    }
    return out;
}

void StagesEditor::addStage()
{
    StageSpec s;
    s.name = "stage" + std::to_string(m_table->rowCount() + 1);
    insertRow(m_table->rowCount(), s);
    m_table->setCurrentCell(m_table->rowCount() - 1, Name);
    updateButtons();
    Q_EMIT changed();
}

void StagesEditor::removeStage(int row)
{
    if (row < 0 || row >= m_table->rowCount())
        return;
    m_table->removeRow(row);
    updateButtons();
    Q_EMIT changed();
}

StagesEditor::TypedRow StagesEditor::typedRow(int row) const
{
    TypedRow t;
    auto text = [&](int column) { return m_table->item(row, column) ? m_table->item(row, column)->text() : QString(); };
    auto combo = [&](int column) { return static_cast<QComboBox*>(m_table->cellWidget(row, column))->currentText(); };
    t.name = text(Name);
    t.objective = combo(Objective);
    t.data = text(Data);
    t.from = combo(From);
    t.curriculum = combo(Curriculum);
    t.overrides = text(Overrides);
    t.merge = m_table->item(row, Merge) && m_table->item(row, Merge)->checkState() == Qt::Checked;
    const auto* floor = static_cast<numbers::RealBox*>(m_table->cellWidget(row, Floor));
    t.floor = floor->value();
    t.floorText = floor->entry();
    return t;
}

void StagesEditor::setTypedRow(int row, const TypedRow& t)
{
    const QSignalBlocker block(m_table);
    auto setText = [&](int column, const QString& value) {
        if (!m_table->item(row, column))
            m_table->setItem(row, column, new QTableWidgetItem);
        m_table->item(row, column)->setText(value);
    };
    auto setCombo = [&](int column, const QString& value) {
        auto* box = static_cast<QComboBox*>(m_table->cellWidget(row, column));
        const QSignalBlocker blockBox(box);
        box->setCurrentText(value);
    };
    setText(Name, t.name);
    setCombo(Objective, t.objective);
    setText(Data, t.data);
    setCombo(From, t.from);
    setCombo(Curriculum, t.curriculum);
    setText(Overrides, t.overrides);
    if (m_table->item(row, Merge))
        m_table->item(row, Merge)->setCheckState(t.merge ? Qt::Checked : Qt::Unchecked);
    auto* floor = static_cast<numbers::RealBox*>(m_table->cellWidget(row, Floor));
    const QSignalBlocker blockFloor(floor);
    floor->setValue(t.floor);
    // Text the box could not take (1.5) stays as typed, with its problem, in the row it moved to.
    if (floor->entry() != t.floorText)
        floor->setEntry(t.floorText);
}

void StagesEditor::moveStage(int row, int delta)
{
    const int to = row + delta;
    if (row < 0 || to < 0 || to >= m_table->rowCount())
        return;
    const TypedRow moving = typedRow(row);
    setTypedRow(row, typedRow(to));
    setTypedRow(to, moving);
    m_table->setCurrentCell(to, Name);
    updateButtons();
    Q_EMIT changed();
}

void StagesEditor::updateButtons()
{
    const int row = m_table->currentRow();
    m_remove->setEnabled(row >= 0);
    m_up->setEnabled(row > 0);
    m_down->setEnabled(row >= 0 && row + 1 < m_table->rowCount());
}

} // namespace rslora::ui
