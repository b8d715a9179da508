// The sweep dialog: axes table, grid or list, seeds, and the live run count or problem.
#include "ui/SweepDialog.h"

#include "ui/numbers/IntBox.h"

#include "common/Error.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <map>

namespace rslora::ui {

namespace {
enum Column { KeyColumn = 0, ValuesColumn = 1 };
}

QStringList SweepDialog::suggestedKeys() {
    return {"adapter.r", "adapter.lora_alpha", "adapter.init", "adapter.scaling", "training.learning_rate", "training.seed",
            "adapter.target_modules"};
}

SweepDialog::SweepDialog(const QString& name, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Sweep"));
    m_refreshTimer = new QTimer(this);
    m_refreshTimer->setSingleShot(true);
    m_refreshTimer->setInterval(kRefreshDelayMs);
    connect(m_refreshTimer, &QTimer::timeout, this, &SweepDialog::refresh);
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    m_name = new QLineEdit(name);
    m_name->setToolTip(tr("The group's name; each run is named after it, its values and its seed"));
    form->addRow(tr("Name"), m_name);
    m_mode = new QComboBox;
    m_mode->addItem(tr("Grid: every combination of the values"));
    m_mode->addItem(tr("List: the i-th value of every key together"));
    form->addRow(tr("Combine"), m_mode);
    m_seeds = new numbers::IntBox(1, 1000);
    m_seeds->setEntryName(tr("Seeds"));
    m_seeds->setToolTip(tr("Runs per combination, with seeds training.seed, +1, +2, …; the results view gives mean ± std over them"));
    form->addRow(tr("Seeds"), m_seeds);
    // Evaluations every run gets at its end besides the trainer's validation loss (sweep: evaluate:).
    const QList<QPair<QString, QString>> evaluations{{"exact_match", tr("Exact match on")},
                                                     {"multiple_choice", tr("Multiple choice on")},
                                                     {"preference", tr("Preference pairs on")}};
    for (const auto& [key, label] : evaluations) {
        auto* edit = new QLineEdit;
        edit->setObjectName("evaluate." + key);
        edit->setPlaceholderText(tr("optional: a file each run's adapter is evaluated on at its end"));
        connect(edit, &QLineEdit::textChanged, this, &SweepDialog::refreshSoon);
        m_evaluations.append({key, edit});
        form->addRow(label, edit);
    }
    m_diagnostics = new QCheckBox(tr("Adapter diagnostics: std(A) against its init, output std change"));
    m_diagnostics->setObjectName("evaluate.diagnostics");
    m_diagnostics->setToolTip(tr("Stores |std(lora_A)/expected − 1| and the v_proj layers' output std change for every run"));
    connect(m_diagnostics, &QCheckBox::toggled, this, &SweepDialog::refresh);
    form->addRow(QString(), m_diagnostics);
    layout->addLayout(form);

    layout->addWidget(new QLabel(tr("Keys to vary (values separated by commas; a list value in brackets: [q_proj,v_proj])")));
    m_axes = new QTableWidget(0, 2);
    m_axes->setHorizontalHeaderLabels({tr("Config key"), tr("Values")});
    m_axes->horizontalHeader()->setSectionResizeMode(KeyColumn, QHeaderView::Interactive);
    m_axes->horizontalHeader()->setSectionResizeMode(ValuesColumn, QHeaderView::Stretch);
    m_axes->setColumnWidth(KeyColumn, 220);
    m_axes->verticalHeader()->hide();
    layout->addWidget(m_axes, 1);
    auto* rowButtons = new QHBoxLayout;
    auto* add = new QPushButton(tr("Add key"));
    auto* remove = new QPushButton(tr("Remove key"));
    rowButtons->addWidget(add);
    rowButtons->addWidget(remove);
    rowButtons->addStretch(1);
    layout->addLayout(rowButtons);
    add->setObjectName("addKey");
    connect(add, &QPushButton::clicked, this, [this] {
        addRow();
        // The new row is the one to type in (the focus stayed on the button, the current row elsewhere).
        const int row = m_axes->rowCount() - 1;
        m_axes->setCurrentCell(row, KeyColumn);
        m_axes->cellWidget(row, KeyColumn)->setFocus();
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        const int row = m_axes->currentRow() >= 0 ? m_axes->currentRow() : m_axes->rowCount() - 1;
        if (row >= 0)
            m_axes->removeRow(row);
        refresh();
    });

    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::PlainText); // problems quote keys and values as typed
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    m_summary->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    layout->addWidget(m_summary);
    auto* box = new QDialogButtonBox(QDialogButtonBox::Cancel);
    m_queue = box->addButton(tr("Queue sweep"), QDialogButtonBox::AcceptRole);
    m_queue->setObjectName("queueSweep");
    layout->addWidget(box);
    connect(box, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_queue, &QPushButton::clicked, this, [this] {
        refresh();
        if (m_queue->isEnabled())
            Q_EMIT queueRequested();
    });
    connect(m_mode, &QComboBox::currentIndexChanged, this, &SweepDialog::refresh);
    connect(m_seeds, &QSpinBox::valueChanged, this, &SweepDialog::refreshSoon);
    connect(m_seeds, &numbers::IntBox::entryChanged, this, &SweepDialog::refreshSoon);
    connect(m_name, &QLineEdit::textChanged, this, &SweepDialog::refreshSoon);
    addRow("adapter.r", "4,8,16,32");
    m_seeds->setValue(3);
    resize(640, 520);
}

void SweepDialog::addRow(const QString& key, const QString& values) {
    const int row = m_axes->rowCount();
    m_axes->insertRow(row);
    auto* keys = new QComboBox;
    keys->setEditable(true);
    keys->addItems(suggestedKeys());
    keys->setCurrentText(key);
    keys->setToolTip(tr("Any config key as section.key, e.g. training.warmup_steps"));
    connect(keys, &QComboBox::currentTextChanged, this, &SweepDialog::refreshSoon);
    m_axes->setCellWidget(row, KeyColumn, keys);
    auto* edit = new QLineEdit(values);
    edit->setPlaceholderText(tr("e.g. 4,8,16"));
    connect(edit, &QLineEdit::textChanged, this, &SweepDialog::refreshSoon);
    m_axes->setCellWidget(row, ValuesColumn, edit);
    refresh();
}

void SweepDialog::setAxis(int row, const QString& key, const QString& values) {
    while (m_axes->rowCount() <= row)
        addRow();
    static_cast<QComboBox*>(m_axes->cellWidget(row, KeyColumn))->setCurrentText(key);
    static_cast<QLineEdit*>(m_axes->cellWidget(row, ValuesColumn))->setText(values);
    refresh();
}

void SweepDialog::setEvaluationFile(const QString& key, const QString& path) {
    for (const auto& [k, edit] : m_evaluations)
        if (k == key)
            edit->setText(path);
    refresh();
}

void SweepDialog::setSpec(const engine::SweepSpec& spec) {
    m_axes->setRowCount(0);
    if (!spec.combinations.empty()) {
        // A list: one row per key, its i-th value from the i-th combination.
        std::vector<std::string> keys;
        for (const auto& combination : spec.combinations)
            for (const auto& [key, value] : combination)
                if (std::find(keys.begin(), keys.end(), key) == keys.end())
                    keys.push_back(key);
        for (size_t k = 0; k < keys.size(); ++k) {
            std::vector<nlohmann::json> values;
            for (const auto& combination : spec.combinations) {
                auto it = std::find_if(combination.begin(), combination.end(), [&](const auto& kv) { return kv.first == keys[k]; });
                values.push_back(it == combination.end() ? nlohmann::json() : it->second);
            }
            setAxis(int(k), QString::fromStdString(keys[k]), QString::fromStdString(engine::formatConfigValues(values)));
        }
    } else {
        for (size_t a = 0; a < spec.axes.size(); ++a)
            setAxis(int(a), QString::fromStdString(spec.axes[a].key.dotted()),
                    QString::fromStdString(engine::formatConfigValues(spec.axes[a].values)));
    }
    setListMode(!spec.combinations.empty());
    m_evaluateExtras = nlohmann::json::object();
    for (const auto& [key, edit] : m_evaluations)
        edit->clear();
    m_diagnostics->setChecked(spec.evaluate.value("diagnostics", false));
    for (auto it = spec.evaluate.begin(); it != spec.evaluate.end(); ++it) {
        if (it.key() == "diagnostics")
            continue;
        auto field = std::find_if(m_evaluations.begin(), m_evaluations.end(), [&](const auto& kv) { return kv.first.toStdString() == it.key(); });
        if (field != m_evaluations.end() && it.value().is_string())
            field->second->setText(QString::fromStdString(it.value().get<std::string>()));
        else
            m_evaluateExtras[it.key()] = it.value();
    }
    m_seedList = spec.seedList;
    setSeeds(spec.seedCount());
    refresh();
}

void SweepDialog::setName(const QString& name) {
    m_name->setText(name);
    refresh();
}

void SweepDialog::setListMode(bool list) {
    m_mode->setCurrentIndex(list ? 1 : 0);
    refresh();
}

void SweepDialog::setSeeds(int seeds) {
    m_seeds->setValue(seeds);
    refresh();
}

void SweepDialog::refreshSoon() {
    m_refreshTimer->start(); // restarted by every keystroke
}
QString SweepDialog::name() const { return m_name->text().trimmed(); }

void SweepDialog::setValidator(Validator validator) {
    m_validator = std::move(validator);
    refresh();
}

engine::SweepSpec SweepDialog::spec() const {
    // Each row is read as `--vary KEY=VALUES` is, so keys and values mean what they mean on the CLI.
    engine::SweepSpec grid;
    std::map<std::string, int> rowOfKey; // dotted key → the first row that varies it (1-based)
    for (int row = 0; row < m_axes->rowCount(); ++row) {
        const QString key = static_cast<QComboBox*>(m_axes->cellWidget(row, KeyColumn))->currentText().trimmed();
        const QString values = static_cast<QLineEdit*>(m_axes->cellWidget(row, ValuesColumn))->text().trimmed();
        if (key.isEmpty() && values.isEmpty())
            continue;
        if (key.isEmpty())
            throw Error("row " + std::to_string(row + 1) + ": values '" + values.toStdString() + "' have no config key");
        if (values.isEmpty())
            throw Error(key.toStdString() + ": no values (give them separated by commas, e.g. 4,8,16)");
        // Named by rows here; the engine would name two --vary texts.
        const std::string dotted = engine::parseConfigKey(key.toStdString(), "row " + std::to_string(row + 1)).dotted();
        if (const auto earlier = rowOfKey.find(dotted); earlier != rowOfKey.end())
            throw Error(dotted + " is varied twice (rows " + std::to_string(earlier->second) + " and " + std::to_string(row + 1)
                        + "): give all its values in one row, e.g. " + dotted + " = 4,8,16");
        rowOfKey.emplace(dotted, row + 1);
        try {
            grid.addVary(key.toStdString() + "=" + values.toStdString());
        } catch (const Error& e) {
            // The engine names the command line's option ("--vary adapter.r: ..."), which this dialog has not.
            std::string message = e.what();
            const std::string option = "--vary ";
            if (message.rfind(option, 0) == 0)
                message = "row " + std::to_string(row + 1) + ": " + message.substr(option.size());
            throw Error(message, e.hint());
        }
    }
    grid.seeds = m_seeds->value();
    if (!m_seedList.empty() && int(m_seedList.size()) == grid.seeds)
        grid.seedList = m_seedList;
    grid.evaluate = m_evaluateExtras;
    if (m_diagnostics->isChecked())
        grid.setEvaluation("diagnostics", true);
    for (const auto& [key, edit] : m_evaluations) {
        const QString path = edit->text().trimmed();
        if (path.isEmpty())
            continue;
        if (QFileInfo(path).isDir())
            throw Error(key.toStdString() + " evaluation: '" + path.toStdString() + "' is a folder; give a file in it");
        if (!QFileInfo(path).isFile())
            throw Error(key.toStdString() + " evaluation: no such file '" + path.toStdString() + "'");
        grid.setEvaluation(key.toStdString(), QFileInfo(path).absoluteFilePath().toStdString());
    }
    if (m_mode->currentIndex() == 0 || grid.axes.empty())
        return grid;
    engine::SweepSpec list;
    list.seeds = grid.seeds;
    list.seedList = grid.seedList;
    list.evaluate = grid.evaluate;
    const size_t count = grid.axes.front().values.size();
    for (const auto& axis : grid.axes)
        if (axis.values.size() != count)
            throw Error("a list pairs the i-th values of every key: " + grid.axes.front().key.dotted() + " has "
                        + std::to_string(count) + " values, " + axis.key.dotted() + " has " + std::to_string(axis.values.size()));
    for (size_t i = 0; i < count; ++i) {
        engine::SweepCombination combination;
        for (const auto& axis : grid.axes)
            combination.emplace_back(axis.key.dotted(), axis.values[i]);
        list.combinations.push_back(std::move(combination));
    }
    return list;
}

QSpinBox* SweepDialog::seedsBox() const { return m_seeds; }

void SweepDialog::refresh() {
    m_refreshTimer->stop();
    QString problem;
    int runs = 0;
    engine::SweepSpec s;
    try {
        if (name().isEmpty())
            throw Error("the sweep needs a name");
        // A count the box could not take: the sweep would run the box's last value.
        if (const QString typed = m_seeds->problem(); !typed.isEmpty())
            throw Error(typed.toStdString());
        s = spec();
        if (s.axes.empty() && s.combinations.empty() && s.seedCount() < 2)
            throw Error("nothing to sweep: add a key with values, or more than one seed");
        if (m_validator) {
            runs = m_validator(s);
        } else {
            s.checkSize(); // refuses over kMaxRuns without building the runs
            runs = int(s.runCount());
        }
    } catch (const std::exception& e) {
        problem = QString::fromStdString(e.what());
    }
    m_queue->setEnabled(problem.isEmpty());
    if (!problem.isEmpty()) {
        m_summary->setStyleSheet("color: #c62828;");
        m_summary->setText(problem);
        return;
    }
    m_summary->setStyleSheet({});
    m_summary->setText(tr("%1 run%2: %3 combination(s) × %4 seed(s), queued one after another")
                           .arg(runs).arg(runs == 1 ? "" : "s").arg(s.combinationCount()).arg(s.seedCount()));
}

} // namespace rslora::ui
