#include "ui/AdaptersBrowser.h"

#include "ui/AdapterTreeModel.h"
#include "ui/ExportFolder.h"
#include "ui/LineageView.h"
#include "ui/PeftCopy.h"

#include "storage/Store.h"

#include <QDateTime>
#include <QDesktopServices>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLocale>
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

#include <cmath>
#include <map>
#include <optional>

namespace rslora::ui {

AdaptersBrowser::AdaptersBrowser(QWidget* parent) : QWidget(parent) {
    setObjectName("adaptersBrowser");
    auto* outer = new QVBoxLayout(this);
    auto* bar = new QHBoxLayout;
    auto* refreshButton = new QPushButton(tr("Refresh"), this);
    m_release = new QPushButton(tr("Release"), this);
    m_release->setToolTip(tr("Mark this version released and current for its task"));
    m_rollback = new QPushButton(tr("Make current"), this);
    m_rollback->setToolTip(tr("Roll back: serve this (older) version as the task's current one"));
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
    m_fuse = new QPushButton(m_fuseAction->text(), this);
    m_fuse->setObjectName("fuseButton");
    m_fuse->setToolTip(m_fuseAction->toolTip() + QString(" (%1)").arg(m_fuseAction->shortcut().toString(QKeySequence::NativeText)));
    m_exportMerged = new QPushButton(m_exportMergedAction->text(), this);
    m_exportMerged->setObjectName("exportMergedButton");
    m_exportMerged->setToolTip(m_exportMergedAction->toolTip() + QString(" (%1)").arg(m_exportMergedAction->shortcut().toString(QKeySequence::NativeText)));
    for (QPushButton* b : {refreshButton, m_release, m_rollback, m_archive, m_openFolder, m_export, m_fuse, m_exportMerged})
        bar->addWidget(b);
    bar->addStretch(1);
    outer->addLayout(bar);

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
        QMenu menu(this);
        menu.addAction(m_fuseAction);
        menu.addAction(m_exportMergedAction);
        menu.exec(m_tree->viewport()->mapToGlobal(pos));
    });
    connect(m_lineage, &LineageView::versionClicked, this, [this](qint64 id) { selectAdapter(id); });
    connect(m_lineage, &LineageView::versionActivated, this, [this](qint64 id) {
        selectAdapter(id);
        m_side->setCurrentWidget(m_details);
    });
    auto report = [this](bool ok, const QString& error) {
        if (!ok)
            QMessageBox::warning(this, tr("Adapter action failed"), error);
    };
    connect(m_release, &QPushButton::clicked, this, [this, report] { QString e; report(releaseSelected(&e), e); });
    connect(m_rollback, &QPushButton::clicked, this, [this, report] { QString e; report(rollbackToSelected(&e), e); });
    connect(m_archive, &QPushButton::clicked, this, [this, report] { QString e; report(archiveSelected(&e), e); });
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
        const QString target = QDir(dir).filePath(QString::fromStdString(a->name));
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
    std::map<std::string, storage::AdapterGraph> tasks;
    if (m_store) {
        try {
            for (const auto& t : m_store->adapters().tasks())
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
    keepAll.removeAll(keep);
    if (keep > 0)
        keepAll << keep;
    selectAdapters(keepAll);
    updateDetails();
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
    if (!a) {
        if (error)
            *error = tr("Select an adapter version first.");
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

QString AdaptersBrowser::stageStackHtml(const storage::AdapterRecord& a, const storage::AdapterGraph& g) const {
    // A pipeline stage's version has one edge per stage below it, its position in the details.
    struct Below {
        int position = 0;
        QString name, relation;
        double weight = 1.0;
    };
    QList<Below> below;
    for (const auto& e : g.edges) {
        if (e.childId != a.id || (e.method != "stacked-on" && e.method != "merged-into-base"))
            continue;
        const auto details = nlohmann::json::parse(e.detailsJson, nullptr, false);
        const storage::AdapterRecord* parent = g.find(e.parentId);
        Below b;
        b.position = details.is_object() ? details.value("position", 0) : 0;
        b.name = parent ? QString::fromStdString(parent->name) : QString("#%1").arg(e.parentId);
        b.relation = QString::fromStdString(e.method);
        b.weight = e.weight.value_or(1.0);
        below << b;
    }
    if (below.isEmpty())
        return {};
    std::sort(below.begin(), below.end(), [](const Below& x, const Below& y) { return x.position < y.position; });
    QString html = "<h4>" + tr("Stage stack (bottom to top)") + "</h4><table cellspacing='4'>";
    html += QString("<tr><td></td><td>%1</td><td></td></tr>").arg(tr("base model").toHtmlEscaped());
    for (const Below& b : std::as_const(below))
        html += QString("<tr><td>%1</td><td>%2</td><td>%3</td></tr>")
                    .arg(b.position)
                    .arg(b.name.toHtmlEscaped())
                    .arg(b.relation == "merged-into-base" ? tr("merged into the base") : tr("frozen, weight %1").arg(b.weight, 0, 'g', 3));
    html += QString("<tr><td>%1</td><td><b>%2</b></td><td>%3</td></tr></table>")
                .arg(below.size() + 1)
                .arg(QString::fromStdString(a.name).toHtmlEscaped(), tr("trained in this stage (%1)").arg(QString::fromStdString(a.stage).toHtmlEscaped()));
    return html;
}

void AdaptersBrowser::updateDetails() {
    const storage::AdapterRecord* a = m_model->adapter(m_tree->currentIndex());
    for (QPushButton* b : {m_release, m_rollback, m_archive, m_openFolder, m_export})
        b->setEnabled(a != nullptr);
    // Archiving an archived version would do nothing.
    const bool archived = a && a->status == storage::AdapterStatus::Archived;
    m_archive->setEnabled(a && !archived);
    m_archive->setToolTip(archived ? tr("This version is archived already") : tr("Archive this version: it stops being current (the newest released version of its task takes over); its files stay"));
    showLineageOf(a);
    if (!a) {
        m_details->setHtml(m_model->rowCount() == 0
                               ? tr("<p><b>No adapter versions yet</b> — train a run from the New run tab (or with <code>rslora train</code>); "
                                    "each finished run adds its adapter here as a version of its task.</p>")
                               : tr("<p>Select an adapter version to see its lineage, evaluations and files.</p>"));
        return;
    }
    QString html = QString("<h3>%1</h3><table cellspacing='4'>").arg(QString::fromStdString(a->name).toHtmlEscaped());
    auto row = [&](const QString& k, const QString& v) { html += QString("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k, v.toHtmlEscaped()); };
    row(tr("Task"), QString::fromStdString(a->task));
    row(tr("Version"), QString("v%1%2").arg(a->version).arg(a->current ? tr(" (current)") : QString()));
    row(tr("Status"), storage::toString(a->status));
    row(tr("Stage"), QString::fromStdString(a->stage));
    row(tr("Method"), QString::fromStdString(a->method));
    if (!a->baseModel.ref.empty())
        row(tr("Base model"), QString::fromStdString(a->baseModel.ref)
                                  + (a->baseModel.sha256.empty() ? QString()
                                                                 : tr(" (fingerprint %1)").arg(QString::fromStdString(a->baseModel.sha256.substr(0, 16)))));
    if (a->rank)
        row(tr("Rank / alpha"), QString("%1 / %2").arg(*a->rank).arg(a->alpha ? QString::number(*a->alpha) : "—"));
    if (a->trainableParams)
        row(tr("Trainable parameters"), QLocale().toString(static_cast<qlonglong>(*a->trainableParams)));
    QStringList targets;
    for (const auto& t : a->targets)
        targets << QString::fromStdString(t);
    row(tr("Targets"), targets.join(", "));
    if (a->sourceRunId)
        row(tr("Source run"), QString("#%1%2").arg(*a->sourceRunId).arg(a->sourceStep ? QString(" at step %1").arg(*a->sourceStep) : QString()));
    row(tr("Created"), QDateTime::fromSecsSinceEpoch(static_cast<qint64>(a->createdAt)).toString(Qt::ISODate));
    row(tr("SHA-256"), QString::fromStdString(a->sha256));
    html += "</table>";

    if (const storage::AdapterGraph* g = m_model->graphOf(QString::fromStdString(a->task))) {
        QStringList lines;
        for (const auto& e : g->edges) {
            if (e.childId != a->id && e.parentId != a->id)
                continue;
            const storage::AdapterRecord* other = g->find(e.childId == a->id ? e.parentId : e.childId);
            QString name = other ? QString::fromStdString(other->name) : QString("#%1").arg(e.childId == a->id ? e.parentId : e.childId);
            QString text = e.childId == a->id ? QString("%1 ← %2").arg(storage::toString(e.kind), name) : QString("%1 → %2").arg(storage::toString(e.kind), name);
            if (e.weight)
                text += QString(" (weight %1)").arg(*e.weight);
            if (!e.method.empty())
                text += QString(" [%1]").arg(QString::fromStdString(e.method));
            lines << text.toHtmlEscaped();
        }
        if (!lines.isEmpty())
            html += "<h4>" + tr("Lineage") + "</h4><p>" + lines.join("<br>") + "</p>";
        html += stageStackHtml(*a, *g);
    }
    if (m_store) {
        auto evals = m_store->evaluations().forAdapter(a->id);
        if (!evals.empty()) {
            html += "<h4>" + tr("Evaluations") + "</h4><table cellspacing='4'>";
            for (const auto& e : evals)
                html += QString("<tr><td>%1</td><td>%2</td><td align='right'>%3</td></tr>")
                            .arg(QString::fromStdString(e.dataset).toHtmlEscaped(), QString::fromStdString(e.metric).toHtmlEscaped())
                            .arg(e.value, 0, 'g', 5);
            html += "</table>";
        }
    }
    QDir dir(QString::fromStdString(a->path));
    html += "<h4>" + tr("Files") + "</h4>";
    if (!dir.exists()) {
        html += "<p style='color:#c62828'>" + tr("The folder %1 is missing.").arg(dir.path().toHtmlEscaped()) + "</p>";
    } else {
        qint64 total = 0;
        html += "<table cellspacing='4'>";
        for (const QFileInfo& f : dir.entryInfoList(QDir::Files, QDir::Name)) {
            total += f.size();
            html += QString("<tr><td>%1</td><td align='right'>%2</td></tr>").arg(f.fileName().toHtmlEscaped(), QLocale().formattedDataSize(f.size()));
        }
        html += QString("<tr><td><b>%1</b></td><td align='right'><b>%2</b></td></tr></table>").arg(tr("total"), QLocale().formattedDataSize(total));
    }
    m_details->setHtml(html);
}

} // namespace rslora::ui
