#include "ui/AdaptersBrowser.h"

#include "ui/AdapterDetailsHtml.h"
#include "ui/AdapterEdits.h"
#include "ui/AdapterTreeModel.h"
#include "ui/ExportFolder.h"
#include "ui/FlowLayout.h"
#include "ui/LineageView.h"
#include "ui/PeftCopy.h"

#include "storage/Store.h"

#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QTreeView>
#include <QUrl>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

namespace rslora::ui {

AdaptersBrowser::AdaptersBrowser(QWidget* parent) : QWidget(parent) {
    setObjectName("adaptersBrowser");
    auto* outer = new QVBoxLayout(this);
    // Eight buttons on one row made the view, and so the window, wider than an 800-pixel screen: in a
    // narrow window they go on as many rows as they need.
    auto* bar = new FlowLayout;
    bar->setContentsMargins(0, 0, 0, 0);
    auto* refreshButton = new QPushButton(tr("Refresh"), this);
    m_release = new QPushButton(tr("Release"), this);
    m_rollback = new QPushButton(tr("Make current"), this);
    m_archive = new QPushButton(tr("Archive"), this);
    m_archive->setObjectName("archiveButton");
    m_openFolder = new QPushButton(tr("Open folder"), this);
    m_export = new QPushButton(tr("Export PEFT copy…"), this);
    m_fuseAction = new QAction(tr("Fuse…"), this);
    m_fuseAction->setObjectName("fuseAction");
    m_fuseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F));
    m_fuseAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    m_fuseAction->setToolTip(tr("Combine the selected versions (two or more) into one adapter"));
    m_exportMergedAction = new QAction(tr("Export merged model…"), this);
    m_exportMergedAction->setObjectName("exportMergedAction");
    m_exportMergedAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M));
    m_exportMergedAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    m_exportMergedAction->setToolTip(tr("Fold the selected versions into the base model and write a complete model folder"));
    addAction(m_fuseAction);
    addAction(m_exportMergedAction);
    // Keys of the tree only: Delete in a text field elsewhere deletes text, not versions.
    m_renameAction = new QAction(tr("Rename…"), this);
    m_renameAction->setObjectName("renameAdapterAction");
    m_renameAction->setShortcut(QKeySequence(Qt::Key_F2));
    m_duplicateAction = new QAction(tr("Duplicate…"), this);
    m_duplicateAction->setObjectName("duplicateAdapterAction");
    m_duplicateAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    m_duplicateAction->setToolTip(tr("Copy this version's files into a new draft version (of this task or another)"));
    m_deleteAction = new QAction(tr("Delete…"), this);
    m_deleteAction->setObjectName("deleteAdapterAction");
    m_deleteAction->setShortcut(QKeySequence::Delete);
    for (QAction* a : {m_renameAction, m_duplicateAction, m_deleteAction})
        a->setShortcutContext(Qt::WidgetShortcut);
    m_fuse = new QPushButton(m_fuseAction->text(), this);
    m_fuse->setObjectName("fuseButton");
    m_fuse->setToolTip(m_fuseAction->toolTip() + QString(" (%1)").arg(m_fuseAction->shortcut().toString(QKeySequence::NativeText)));
    m_exportMerged = new QPushButton(m_exportMergedAction->text(), this);
    m_exportMerged->setObjectName("exportMergedButton");
    m_exportMerged->setToolTip(m_exportMergedAction->toolTip() + QString(" (%1)").arg(m_exportMergedAction->shortcut().toString(QKeySequence::NativeText)));
    for (QPushButton* b : {refreshButton, m_release, m_rollback, m_archive, m_openFolder, m_export, m_fuse, m_exportMerged})
        bar->addWidget(b);
    outer->addLayout(bar);
    auto* filterRow = new QHBoxLayout;
    m_filter = new QLineEdit(this);
    m_filter->setObjectName("adapterFilter");
    m_filter->setPlaceholderText(tr("Filter by task or version name"));
    m_filter->setClearButtonEnabled(true);
    m_filter->setToolTip(tr("Shows the tasks and versions whose name contains this text (any case); Esc clears it"));
    m_filter->setMinimumWidth(m_filter->fontMetrics().horizontalAdvance(m_filter->placeholderText()) + 48); // the hint whole
    m_filter->setMaximumWidth(std::max(360, m_filter->minimumWidth()));
    m_filterNote = new QLabel(this);
    m_filterNote->setObjectName("adapterFilterNote");
    filterRow->addWidget(m_filter);
    filterRow->addWidget(m_filterNote, 1);
    outer->addLayout(filterRow);

    auto* split = new QSplitter(Qt::Horizontal, this);
    m_model = new AdapterTreeModel(this);
    m_tree = new QTreeView(split);
    m_tree->setObjectName("adapterTree");
    m_tree->setModel(m_model);
    m_tree->setAlternatingRowColors(true);
    m_tree->header()->setStretchLastSection(false);
    m_tree->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setContextMenuPolicy(Qt::CustomContextMenu);
    m_tree->setEditTriggers(QAbstractItemView::NoEditTriggers); // F2 renames through a dialog
    // Newest version first under each task until a header is clicked.
    m_tree->header()->setSortIndicator(AdapterTreeModel::Version, Qt::DescendingOrder);
    m_tree->setSortingEnabled(true);
    m_tree->addActions({m_renameAction, m_duplicateAction, m_deleteAction});
    m_side = new QTabWidget(split);
    m_side->setObjectName("adapterSideTabs");
    m_details = new QTextBrowser(m_side);
    m_details->setObjectName("adapterDetails");
    m_details->setOpenExternalLinks(false);
    m_lineage = new LineageView(m_side);
    m_side->addTab(m_details, tr("Details"));
    m_side->addTab(m_lineage, tr("Lineage"));
    m_evals = new QTableWidget(m_side);
    m_evals->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_evals->verticalHeader()->hide();
    m_evals->setToolTip(tr("Stored evaluations (rslora eval, sweeps); select several versions to compare them metric by metric "
                           "(two: with their difference)"));
    m_side->addTab(m_evals, tr("Evaluations"));
    split->addWidget(m_tree);
    split->addWidget(m_side);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    outer->addWidget(split, 1);

    connect(refreshButton, &QPushButton::clicked, this, &AdaptersBrowser::refresh);
    connect(m_filter, &QLineEdit::textChanged, this, &AdaptersBrowser::setFilter);
    auto* clearFilter = new QAction(m_filter);
    clearFilter->setShortcut(QKeySequence(Qt::Key_Escape));
    clearFilter->setShortcutContext(Qt::WidgetShortcut);
    m_filter->addAction(clearFilter);
    connect(clearFilter, &QAction::triggered, m_filter, &QLineEdit::clear);
    connect(m_tree->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &AdaptersBrowser::updateDetails);
    connect(m_tree->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this](const QItemSelection& selected, const QItemSelection& deselected) {
                for (const QModelIndex& i : deselected.indexes())
                    if (const storage::AdapterRecord* a = m_model->adapter(i))
                        m_pickOrder.removeAll(a->id);
                for (const QModelIndex& i : selected.indexes())
                    if (const storage::AdapterRecord* a = m_model->adapter(i); a && !m_pickOrder.contains(a->id))
                        m_pickOrder << a->id;
                updateSelectionActions();
            });
    connect(m_fuseAction, &QAction::triggered, this, [this] {
        if (selectedAdapterIds().size() >= 2)
            Q_EMIT fuseRequested(selectedAdapterIds());
    });
    connect(m_exportMergedAction, &QAction::triggered, this, [this] {
        if (!selectedAdapterIds().isEmpty())
            Q_EMIT exportMergedRequested(selectedAdapterIds());
    });
    connect(m_fuse, &QPushButton::clicked, m_fuseAction, &QAction::trigger);
    connect(m_exportMerged, &QPushButton::clicked, m_exportMergedAction, &QAction::trigger);
    connect(m_tree, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        QMenu* menu = contextMenuFor(m_tree->indexAt(pos));
        menu->exec(m_tree->viewport()->mapToGlobal(pos));
        delete menu;
    });
    connect(m_renameAction, &QAction::triggered, this, &AdaptersBrowser::renameCurrent);
    connect(m_duplicateAction, &QAction::triggered, this, &AdaptersBrowser::duplicateCurrent);
    connect(m_deleteAction, &QAction::triggered, this, &AdaptersBrowser::deleteCurrent);
    connect(m_lineage, &LineageView::versionClicked, this, [this](qint64 id) { selectAdapter(id); });
    connect(m_lineage, &LineageView::versionActivated, this, [this](qint64 id) {
        selectAdapter(id);
        m_side->setCurrentWidget(m_details);
    });
    m_dialogs.confirm = [this](const QString& title, const QString& text) {
        return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel) == QMessageBox::Yes;
    };
    m_dialogs.ask = [this](const QString& title, const QString& label, const QString& initial) -> std::optional<QString> {
        bool ok = false;
        const QString text = QInputDialog::getText(this, title, label, QLineEdit::Normal, initial, &ok);
        return ok ? std::optional<QString>(text) : std::nullopt;
    };
    m_dialogs.warn = [this](const QString& title, const QString& text) { QMessageBox::warning(this, title, text); };
    auto report = [this](bool ok, const QString& error) {
        if (!ok)
            m_dialogs.warn(tr("Adapter action failed"), error);
    };
    connect(m_release, &QPushButton::clicked, this, [this, report] { QString e; report(releaseSelected(&e), e); });
    connect(m_rollback, &QPushButton::clicked, this, [this, report] { QString e; report(rollbackToSelected(&e), e); });
    connect(m_archive, &QPushButton::clicked, this, &AdaptersBrowser::archiveCurrent);
    connect(m_openFolder, &QPushButton::clicked, this, [this] {
        const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
        if (a)
            QDesktopServices::openUrl(QUrl::fromLocalFile(QString::fromStdString(a->path)));
    });
    connect(m_export, &QPushButton::clicked, this, [this, report] {
        QString dir = QFileDialog::getExistingDirectory(this, tr("Export the adapter into a new folder inside…"), ExportFolder::initial());
        if (dir.isEmpty())
            return;
        ExportFolder::remember(dir);
        const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
        if (!a)
            return;
        // A name is any text ("../x", "a/b"): the copy stays one folder inside the chosen one.
        const QString target = QDir(dir).filePath(PeftCopy::folderName(QString::fromStdString(a->name)));
        // Only an earlier copy is ever replaced, and only when the user says so; anything else there is refused.
        bool replace = false;
        if (PeftCopy::inspect(QString::fromStdString(a->path), target) == PeftCopy::Target::EarlierExport
            && !qEnvironmentVariableIsSet("RSLORA_NO_DIALOGS")) {
            if (QMessageBox::question(this, tr("Replace the earlier copy?"),
                                      tr("%1 holds an earlier copy of an adapter. Replace it with %2 v%3?")
                                          .arg(QDir::toNativeSeparators(target), QString::fromStdString(a->name)).arg(a->version))
                != QMessageBox::Yes)
                return;
            replace = true;
        }
        QString e;
        report(exportSelected(target, &e, replace), e);
    });
    updateDetails();
    updateSelectionActions();
}

void AdaptersBrowser::setStore(storage::Store* store) {
    m_store = store;
    refresh();
}

void AdaptersBrowser::refresh() {
    const qint64 keep = selectedAdapterId();
    QList<qint64> keepAll = selectedAdapterIds();
    const QString keepTask = selectedTask();
    std::map<std::string, storage::AdapterGraph> tasks;
    if (m_store) {
        try {
            for (const auto& t : m_store->adapters().tasks())
                if (t.versions > 0) // a task whose versions are all deleted is gone from the browser
                    tasks.emplace(t.task, m_store->lineage().graph(t.task));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Cannot read adapters"), QString::fromStdString(e.what()));
        }
    }
    m_model->setTasks(std::move(tasks));
    m_lineage->setGraph({}, QString()); // drawn again from the new graph when a version is selected
    m_tree->expandAll();
    for (int c = 0; c < AdapterTreeModel::ColumnCount; ++c)
        m_tree->resizeColumnToContents(c);
    restoreSelection(keepAll, keep, keepTask);
}

void AdaptersBrowser::restoreSelection(QList<qint64> keepAll, qint64 keep, const QString& keepTask) {
    keepAll.removeAll(keep);
    if (keep > 0)
        keepAll << keep;
    selectAdapters(keepAll);
    // A task row stays current too (a refused rename of the task keeps it for the next try).
    for (int r = 0; !keepTask.isEmpty() && r < m_model->rowCount(); ++r)
        if (m_model->index(r, 0).data(AdapterTreeModel::TaskRole).toString() == keepTask)
            m_tree->setCurrentIndex(m_model->index(r, 0));
    updateFilterNote();
    updateDetails();
}

void AdaptersBrowser::setFilter(const QString& text) {
    if (m_filter->text() != text) {
        m_filter->setText(text); // comes back here through textChanged
        return;
    }
    if (text.trimmed() == m_model->filter())
        return;
    // The selected versions that stay visible stay selected.
    const qint64 keep = selectedAdapterId();
    const QList<qint64> keepAll = selectedAdapterIds();
    const QString keepTask = selectedTask();
    m_model->setFilter(text);
    m_tree->expandAll();
    restoreSelection(keepAll, keep, keepTask);
}

void AdaptersBrowser::updateFilterNote() {
    const QString f = m_model->filter();
    if (f.isEmpty()) {
        m_filterNote->clear();
        return;
    }
    if (m_model->rowCount() == 0) {
        m_filterNote->setText(tr("No task or version name contains “%1” (%2 hidden)").arg(f, hiddenCount()));
        return;
    }
    m_filterNote->setText(tr("%1 of %2 in %3 of %4")
                              .arg(m_model->shownVersionCount()).arg(countOf(m_model->versionCount(), tr("version"), tr("versions")))
                              .arg(m_model->rowCount()).arg(countOf(m_model->taskCount(), tr("task"), tr("tasks"))));
}

QString AdaptersBrowser::countOf(int n, const QString& one, const QString& many) {
    return QString("%1 %2").arg(n).arg(n == 1 ? one : many);
}

QString AdaptersBrowser::hiddenCount() const {
    return tr("%1 in %2").arg(countOf(m_model->versionCount(), tr("version"), tr("versions")),
                              countOf(m_model->taskCount(), tr("task"), tr("tasks")));
}

void AdaptersBrowser::selectAdapters(const QList<qint64>& adapterIds) {
    m_tree->selectionModel()->clearSelection();
    m_pickOrder.clear();
    for (qint64 id : adapterIds) {
        QModelIndex i = m_model->indexOfAdapter(id);
        if (!i.isValid())
            continue;
        const auto flags = QItemSelectionModel::Select | QItemSelectionModel::Rows;
        if (id == adapterIds.back())
            m_tree->selectionModel()->setCurrentIndex(i, flags);
        else
            m_tree->selectionModel()->select(i, flags);
    }
    updateSelectionActions();
}

QList<qint64> AdaptersBrowser::selectedAdapterIds() const {
    QList<qint64> ids;
    for (qint64 id : m_pickOrder)
        if (m_tree->selectionModel()->isRowSelected(m_model->indexOfAdapter(id).row(), m_model->indexOfAdapter(id).parent()))
            ids << id;
    return ids;
}

const storage::AdapterRecord* AdaptersBrowser::adapterRecord(qint64 adapterId) const {
    return m_model->adapter(m_model->indexOfAdapter(adapterId));
}

void AdaptersBrowser::updateEvaluations() {
    QList<qint64> ids = selectedAdapterIds();
    if (ids.isEmpty() && selectedAdapterId() > 0)
        ids << selectedAdapterId();
    m_evals->clear();
    m_evals->setRowCount(0);
    if (!m_store || ids.isEmpty()) {
        m_evals->setColumnCount(0);
        return;
    }
    // Rows: every (dataset, metric) any selected version has, a column per version; a value a
    // version lacks shows as —. Two versions get their difference too.
    std::map<std::pair<std::string, std::string>, std::vector<std::optional<double>>> rows;
    QStringList headers{tr("Dataset"), tr("Metric")};
    for (int i = 0; i < ids.size(); ++i) {
        const storage::AdapterRecord* a = adapterRecord(ids[i]);
        headers << (a ? QString("%1@v%2").arg(QString::fromStdString(a->task)).arg(a->version) : QString("#%1").arg(ids[i]));
        for (const storage::EvaluationRecord& e : m_store->evaluations().forAdapter(ids[i])) {
            auto& values = rows[{e.dataset, e.metric}];
            values.resize(size_t(ids.size()));
            values[size_t(i)] = e.value;
        }
    }
    if (ids.size() == 2)
        headers << tr("Δ (right − left)");
    m_evals->setColumnCount(headers.size());
    m_evals->setHorizontalHeaderLabels(headers);
    m_evals->setRowCount(static_cast<int>(rows.size()));
    int r = 0;
    auto number = [](const std::optional<double>& v) { return v ? QString::number(*v, 'g', 5) : QStringLiteral("—"); };
    for (const auto& [key, values] : rows) {
        m_evals->setItem(r, 0, new QTableWidgetItem(QFileInfo(QString::fromStdString(key.first)).fileName()));
        m_evals->item(r, 0)->setToolTip(QString::fromStdString(key.first));
        m_evals->setItem(r, 1, new QTableWidgetItem(QString::fromStdString(key.second)));
        for (int i = 0; i < ids.size(); ++i)
            m_evals->setItem(r, 2 + i, new QTableWidgetItem(number(i < int(values.size()) ? values[size_t(i)] : std::nullopt)));
        if (ids.size() == 2) {
            const bool both = values.size() == 2 && values[0] && values[1];
            m_evals->setItem(r, 4, new QTableWidgetItem(both ? QString::asprintf("%+.4g", *values[1] - *values[0]) : QString()));
        }
        ++r;
    }
    m_evals->resizeColumnsToContents();
}

void AdaptersBrowser::updateSelectionActions() {
    updateEvaluations();
    const int n = static_cast<int>(selectedAdapterIds().size());
    m_fuseAction->setEnabled(n >= 2);
    m_exportMergedAction->setEnabled(n >= 1);
    m_fuse->setEnabled(n >= 2);
    m_exportMerged->setEnabled(n >= 1);
    updateVersionButtons();
    updateEditActions();
}

void AdaptersBrowser::showLineageOf(const storage::AdapterRecord* a) {
    if (!a) {
        if (m_lineage->task().isEmpty())
            return;
        m_lineage->setGraph({}, QString());
        return;
    }
    const QString task = QString::fromStdString(a->task);
    if (task != m_lineage->task()) {
        if (const storage::AdapterGraph* g = m_model->graphOf(task))
            m_lineage->setGraph(*g, task);
    }
    m_lineage->highlight(a->id);
}

void AdaptersBrowser::selectAdapter(qint64 adapterId) {
    if (!m_model->indexOfAdapter(adapterId).isValid() && m_model->holdsAdapter(adapterId))
        setFilter(QString()); // a version the filter hides (a lineage click, a run's adapter) is shown
    QModelIndex i = m_model->indexOfAdapter(adapterId);
    if (i.isValid()) {
        m_tree->setCurrentIndex(i);
        m_tree->scrollTo(i);
    }
}

qint64 AdaptersBrowser::selectedAdapterId() const {
    const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
    return a ? a->id : 0;
}

bool AdaptersBrowser::act(const std::function<void(qint64)>& action, QString* error) {
    const qint64 id = selectedAdapterId();
    if (!m_store || id == 0) {
        if (error)
            *error = tr("Select an adapter version first.");
        return false;
    }
    if (severalSelected()) {
        if (error)
            *error = tr("Several versions are selected: select the one to act on.");
        return false;
    }
    try {
        action(id);
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    refresh();
    selectAdapter(id);
    return true;
}

QString AdaptersBrowser::selectedTask() const {
    const QModelIndex i = m_tree->currentIndex();
    if (!i.isValid() || m_model->adapter(i))
        return {};
    return i.siblingAtColumn(0).data(AdapterTreeModel::TaskRole).toString();
}

bool AdaptersBrowser::releaseSelected(QString* error) {
    return act([this](qint64 id) { m_store->adapters().release(id); }, error);
}

bool AdaptersBrowser::rollbackToSelected(QString* error) {
    return act([this](qint64 id) { m_store->adapters().rollback(m_store->adapters().require(id).task, id); }, error);
}

bool AdaptersBrowser::archiveSelected(QString* error) {
    return act([this](qint64 id) { m_store->adapters().archive(id); }, error);
}

bool AdaptersBrowser::exportSelected(const QString& folder, QString* error, bool replaceEarlierExport) {
    const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
    if (!a || severalSelected()) {
        if (error)
            *error = a ? tr("Several versions are selected: select the one to export.") : tr("Select an adapter version first.");
        return false;
    }
    try {
        storage::AdapterRepository::verifyFiles(*a); // the same check as release and `rslora runs export`
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
    QDir src(QString::fromStdString(a->path));
    if (!src.exists("adapter_config.json") || !src.exists("adapter_model.safetensors")) {
        if (error)
            *error = tr("%1 is not a PEFT adapter folder (adapter_config.json and adapter_model.safetensors expected)").arg(src.path());
        return false;
    }
    if (!PeftCopy::write(src.path(), folder, replaceEarlierExport, error))
        return false;
    Q_EMIT exported(tr("Exported adapter %1 v%2 as a PEFT folder to %3")
                        .arg(QString::fromStdString(a->name)).arg(a->version).arg(QDir::toNativeSeparators(QFileInfo(folder).absoluteFilePath())));
    return true;
}

void AdaptersBrowser::updateVersionButtons() {
    const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
    // These act on one version: with several selected, which one is meant is not clear (Release
    // released the row last clicked and dropped the others from the selection).
    if (severalSelected()) {
        const std::pair<QPushButton*, QString> buttons[] = {
            {m_release, tr("release")}, {m_rollback, tr("make current")}, {m_archive, tr("archive")},
            {m_openFolder, tr("open the folder of")}, {m_export, tr("export")}};
        for (const auto& [button, verb] : buttons) {
            button->setEnabled(false);
            button->setToolTip(tr("Several versions are selected: select one to %1 it").arg(verb));
        }
        return;
    }
    for (QPushButton* b : {m_release, m_rollback, m_archive, m_openFolder, m_export})
        b->setEnabled(a != nullptr);
    m_openFolder->setToolTip(tr("Open this version's folder"));
    m_export->setToolTip(tr("Copy this version's PEFT files (adapter_config.json, adapter_model.safetensors) into a folder"));
    // Archiving an archived version would do nothing.
    const bool archived = a && a->status == storage::AdapterStatus::Archived;
    m_archive->setEnabled(a && !archived);
    m_archive->setToolTip(archived ? tr("This version is archived already") : tr("Archive this version: it stops being current (the newest released version of its task takes over); its files stay"));
    // Releasing or making current the version a task serves already would do nothing; a rollback goes
    // to a released version only.
    const bool current = a && a->current;
    const bool released = a && a->status == storage::AdapterStatus::Released;
    m_release->setEnabled(a && !current);
    m_release->setToolTip(current ? tr("This version is released and current already") : tr("Mark this version released and current for its task"));
    m_rollback->setEnabled(released && !current);
    m_rollback->setToolTip(current ? tr("This version is the current one already")
                           : a && !released ? tr("Only a released version can be made current: release this one instead")
                                            : tr("Roll back: serve this (older) version as the task's current one"));
}

bool AdaptersBrowser::severalSelected() const {
    return selectedAdapterIds().size() > 1;
}

void AdaptersBrowser::updateDetails() {
    const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
    updateVersionButtons();
    updateEditActions();
    showLineageOf(a);
    if (!a) {
        if (m_model->taskCount() == 0)
            m_details->setHtml(tr("<p><b>No adapter versions yet</b> — train a run from the New run tab (or with <code>rslora train</code>); "
                                  "each finished run adds its adapter here as a version of its task.</p>"));
        else if (m_model->rowCount() == 0)
            m_details->setHtml(tr("<p><b>Nothing matches “%1”</b> — no task or version name contains it (%2 hidden). "
                                  "Clear the filter (Esc in the filter box) to see them.</p>")
                                   .arg(m_model->filter().toHtmlEscaped(), hiddenCount()));
        else
            m_details->setHtml(tr("<p>Select an adapter version to see its lineage, evaluations and files.</p>"));
        return;
    }
    m_details->setHtml(AdapterDetailsHtml::of(*a, m_model->graphOf(QString::fromStdString(a->task)),
                                              m_store ? m_store->evaluations().forAdapter(a->id) : std::vector<storage::EvaluationRecord>{}));
}

} // namespace rslora::ui
