#include "ui/RunsBrowser.h"

#include "ui/CurvePlot.h"
#include "ui/RunTableModel.h"

#include "storage/RunOwner.h"
#include "storage/Store.h"
#include "storage/Transaction.h"

#include <QAbstractItemDelegate>
#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QHash>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QShortcut>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

namespace rslora::ui {

namespace {
// Columns of text the user writes (a run's name, tags, notes) are sized to their contents up to this
// many average characters (a sweep's run names, about 60, fit whole): a name of hundreds of characters
// made its column wider than the window and pushed every other column out of sight. The rest is
// elided on one line; the column can be widened by hand.
constexpr int kMaxTextColumnChars = 72;

void capTextColumn(QTableView* table, int column) {
    const int most = table->fontMetrics().averageCharWidth() * kMaxTextColumnChars;
    if (table->columnWidth(column) > most)
        table->setColumnWidth(column, most);
}

void capTextColumns(QTableView* table) {
    for (int c : {int(RunTableModel::Name), int(RunTableModel::Tags), int(RunTableModel::Notes)})
        capTextColumn(table, c);
}

// The overlay's y-axis title: the metric as the chooser names it, with its unit where it has one.
QString axisLabelOf(const QString& key) {
    static const QHash<QString, QString> units{
        {"train/tokens_per_s", "tokens/s"},
        {"train/tokens_seen", "tokens"},
        {RunTableModel::kRunSecondsKey, "s"},
        {"dpo/logps_chosen", "nats"},
        {"dpo/logps_rejected", "nats"},
        {"eval/dpo_logps_chosen", "nats"},
        {"eval/dpo_logps_rejected", "nats"},
    };
    const QString unit = units.value(key);
    return unit.isEmpty() ? key : QString("%1 (%2)").arg(key, unit);
}
// The most characters of a run's name the overlay's legend shows.
constexpr int kLegendNameChars = 40;

} // namespace

RunsBrowser::RunsBrowser(QWidget* parent) : QWidget(parent) {
    setObjectName("runsBrowser");
    auto* outer = new QVBoxLayout(this);

    auto* bar = new QHBoxLayout;
    m_filter = new QLineEdit(this);
    m_filter->setObjectName("runFilter");
    m_filter->setPlaceholderText(tr("Filter runs by any column (name, model, status, tags…)"));
    m_filter->setClearButtonEnabled(true);
    bar->addWidget(m_filter, 1);
    m_status = new QComboBox(this);
    m_status->addItems({tr("All statuses"), "running", "finished", "failed", "interrupted", "stopped", "queued", "paused"});
    bar->addWidget(m_status);
    auto* refreshButton = new QPushButton(tr("Refresh"), this);
    refreshButton->setShortcut(QKeySequence::Refresh);
    m_open = new QPushButton(tr("Open curves"), this);
    m_resume = new QPushButton(tr("Resume"), this);
    m_resume->setToolTip(tr("Continue an interrupted or stopped run from its last checkpoint"));
    m_delete = new QPushButton(tr("Delete"), this);
    for (QPushButton* b : {refreshButton, m_open, m_resume, m_delete})
        bar->addWidget(b);
    outer->addLayout(bar);

    m_undoBar = new QWidget(this);
    auto* undoLayout = new QHBoxLayout(m_undoBar);
    undoLayout->setContentsMargins(6, 2, 6, 2);
    m_undoText = new QLabel(m_undoBar);
    auto* undoButton = new QPushButton(tr("Undo"), m_undoBar);
    undoButton->setObjectName("undoDelete");
    undoLayout->addWidget(m_undoText, 1);
    undoLayout->addWidget(undoButton);
    m_undoBar->setStyleSheet("background: palette(alternate-base);");
    m_undoBar->hide();
    outer->addWidget(m_undoBar);
    // Why an edit was refused or could not be saved, for a few seconds, without a modal box.
    m_notice = new QLabel(this);
    m_notice->setObjectName("runsNotice");
    m_notice->setWordWrap(true);
    m_notice->setTextFormat(Qt::PlainText); // notices quote run names and store messages
    m_notice->setStyleSheet("color: palette(highlighted-text); background: palette(highlight); padding: 4px;");
    m_notice->hide();
    outer->addWidget(m_notice);
    m_noticeTimer = new QTimer(this);
    m_noticeTimer->setSingleShot(true);
    m_noticeTimer->setInterval(6000);
    connect(m_noticeTimer, &QTimer::timeout, m_notice, &QWidget::hide);

    auto* split = new QSplitter(Qt::Vertical, this);
    m_model = new RunTableModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(RunTableModel::SortRole);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_proxy->setFilterKeyColumn(-1);
    m_table = new QTableView(split);
    m_table->setObjectName("runsTable");
    m_table->setModel(m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(RunTableModel::Started, Qt::DescendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false); // a name wider than its column is elided, not broken onto a cut-off second line
    // ... in its middle: generated names share their starts and differ at their ends (seed1, seed2).
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    split->addWidget(m_table);
    m_empty = new QLabel(m_table->viewport());
    m_empty->setObjectName("runsEmptyHint");
    m_empty->setTextFormat(Qt::PlainText); // it quotes the filter text
    m_empty->setWordWrap(true);
    m_empty->setAlignment(Qt::AlignCenter);
    m_empty->setForegroundRole(QPalette::PlaceholderText);
    m_empty->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_table->viewport()->installEventFilter(this);

    auto* compare = new QSplitter(Qt::Horizontal, split);
    auto* overlayBox = new QWidget(compare);
    auto* ov = new QVBoxLayout(overlayBox);
    ov->setContentsMargins(0, 0, 0, 0);
    auto* metricRow = new QHBoxLayout;
    metricRow->addWidget(new QLabel(tr("Overlay metric"), overlayBox));
    m_metric = new QComboBox(overlayBox);
    m_metric->setObjectName("overlayMetric");
    metricRow->addWidget(m_metric, 1);
    ov->addLayout(metricRow);
    m_overlay = new CurvePlot(tr("Selected runs"), tr("metric"), overlayBox);
    m_overlay->setObjectName("overlayPlot");
    // Empty axes alone read as a broken chart: without curves it says how to get some.
    auto* hint = new QCPItemText(m_overlay->plot());
    hint->setObjectName("overlayHint");
    hint->position->setType(QCPItemPosition::ptAxisRectRatio);
    hint->position->setCoords(0.5, 0.5);
    hint->setColor(palette().color(QPalette::PlaceholderText));
    ov->addWidget(m_overlay, 1);
    compare->addWidget(overlayBox);

    auto* diffBox = new QWidget(compare);
    auto* dv = new QVBoxLayout(diffBox);
    dv->setContentsMargins(0, 0, 0, 0);
    m_diffOnly = new QCheckBox(tr("Differences only"), diffBox);
    m_diffOnly->setObjectName("differencesOnly");
    m_diffOnly->setChecked(true);
    dv->addWidget(m_diffOnly);
    m_diff = new QTableWidget(diffBox);
    m_diff->setObjectName("configDiff");
    m_diff->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_diff->verticalHeader()->hide();
    m_diff->horizontalHeader()->setStretchLastSection(true);
    dv->addWidget(m_diff, 1);
    compare->addWidget(diffBox);
    split->addWidget(compare);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    outer->addWidget(split, 1);

    m_undoTimer = new QTimer(this);
    m_undoTimer->setSingleShot(true);
    m_undoTimer->setInterval(10000);

    connect(m_filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);
    connect(m_proxy, &QAbstractItemModel::modelReset, this, &RunsBrowser::updateEmptyHint);
    connect(m_proxy, &QAbstractItemModel::layoutChanged, this, &RunsBrowser::updateEmptyHint);
    connect(m_proxy, &QAbstractItemModel::rowsInserted, this, &RunsBrowser::updateEmptyHint);
    connect(m_proxy, &QAbstractItemModel::rowsRemoved, this, &RunsBrowser::updateEmptyHint);
    connect(m_filter, &QLineEdit::textChanged, this, &RunsBrowser::updateEmptyHint);
    connect(m_status, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { refresh(); });
    connect(refreshButton, &QPushButton::clicked, this, &RunsBrowser::refresh);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this, &RunsBrowser::updateSelection);
    connect(m_metric, &QComboBox::currentTextChanged, this, &RunsBrowser::updateOverlay);
    connect(m_diffOnly, &QCheckBox::toggled, this, &RunsBrowser::updateDiff);
    connect(m_open, &QPushButton::clicked, this, [this] {
        for (qint64 id : selectedRunIds())
            Q_EMIT openRunRequested(id);
    });
    // Double-click opens a run; F2, or a click on an already selected cell, edits its name, tags or notes.
    m_table->setEditTriggers(QAbstractItemView::EditKeyPressed | QAbstractItemView::SelectedClicked);
    m_table->setToolTip(tr("Double-click opens a run's curves. F2 (or a click on a selected cell) edits its name, "
                           "tags (\"key=value, flag\") or notes."));
    connect(m_model, &RunTableModel::runRenamed, this, [this](qint64 id, const QString& name) {
        writeEdit([&] { m_store->runs().rename(id, name.toStdString()); });
    });
    connect(m_model, &RunTableModel::runNotesEdited, this, [this](qint64 id, const QString& notes) {
        writeEdit([&] { m_store->runs().setNotes(id, notes.toStdString()); });
    });
    connect(m_model, &RunTableModel::runTagsEdited, this, [this](qint64 id, const storage::Tags& tags) {
        writeEdit([&] {
            storage::Transaction tx(m_store->database());
            for (const auto& [key, value] : m_store->runs().tags(id))
                if (!tags.count(key))
                    m_store->runs().removeTag(id, key);
            for (const auto& [key, value] : tags)
                m_store->runs().setTag(id, key, value);
            tx.commit();
        });
    });
    // An edited name or tag list gets the width it needs (the columns were sized to the old text).
    connect(m_model, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex& from, const QModelIndex& to) {
        for (int c = from.column(); c <= to.column(); ++c)
            if (c != RunTableModel::Notes) {
                m_table->resizeColumnToContents(c);
                capTextColumn(m_table, c);
            }
    });
    connect(m_table->itemDelegate(), &QAbstractItemDelegate::closeEditor, this, [this] {
        if (m_refreshAfterEdit)
            QTimer::singleShot(0, this, &RunsBrowser::refresh); // after the view has left its editing state
    });
    connect(m_model, &RunTableModel::editRejected, this, [this](const QString& reason) { showNotice(tr("Not changed: %1").arg(reason)); });
    connect(m_table, &QTableView::doubleClicked, this, [this](const QModelIndex& i) {
        Q_EMIT openRunRequested(m_proxy->data(i, RunTableModel::RunIdRole).toLongLong());
    });
    connect(m_resume, &QPushButton::clicked, this, [this] {
        const auto ids = selectedRunIds();
        if (ids.size() == 1)
            Q_EMIT resumeRequested(ids.front());
    });
    connect(m_delete, &QPushButton::clicked, this, &RunsBrowser::deleteSelected);
    // The Delete key in the table does what the button does (with the same undo), only while the table
    // itself has the focus: not while a name or tag is being edited.
    auto* deleteKey = new QShortcut(QKeySequence::Delete, m_table, nullptr, nullptr, Qt::WidgetShortcut);
    connect(deleteKey, &QShortcut::activated, this, [this] {
        if (m_delete->isEnabled())
            deleteSelected();
    });
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_table, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        QMenu* menu = contextMenuFor(m_table->indexAt(pos));
        menu->exec(m_table->viewport()->mapToGlobal(pos));
        delete menu;
    });
    connect(undoButton, &QPushButton::clicked, this, &RunsBrowser::undoDelete);
    connect(m_undoTimer, &QTimer::timeout, this, &RunsBrowser::commitPendingDeletes);
    updateSelection();
}

RunsBrowser::~RunsBrowser() { commitPendingDeletes(); }

void RunsBrowser::setStore(storage::Store* store) {
    commitPendingDeletes();
    m_store = store;
    refresh();
}

QMenu* RunsBrowser::contextMenuFor(const QModelIndex& index) {
    auto* menu = new QMenu(this);
    if (!index.isValid()) {
        menu->addAction(tr("Refresh"), this, &RunsBrowser::refresh);
        return menu;
    }
    if (!m_table->selectionModel()->isRowSelected(index.row(), {}))
        selectRuns({m_proxy->data(index, RunTableModel::RunIdRole).toLongLong()});
    menu->addAction(m_open->text(), m_open, &QPushButton::click)->setEnabled(m_open->isEnabled());
    menu->addAction(m_resume->text(), m_resume, &QPushButton::click)->setEnabled(m_resume->isEnabled());
    menu->addSeparator();
    const bool one = selectedRunIds().size() == 1;
    for (const auto& [column, text] : {std::pair{int(RunTableModel::Name), tr("Rename")}, std::pair{int(RunTableModel::Tags), tr("Edit tags")},
                                       std::pair{int(RunTableModel::Notes), tr("Edit notes")}}) {
        const QModelIndex cell = index.siblingAtColumn(column);
        QAction* a = menu->addAction(text, this, [this, cell] {
            m_table->setCurrentIndex(cell);
            m_table->edit(cell);
        });
        a->setEnabled(one);
        if (column == RunTableModel::Name)
            a->setShortcut(QKeySequence(Qt::Key_F2));
    }
    menu->addSeparator();
    QAction* del = menu->addAction(m_delete->text(), this, &RunsBrowser::deleteSelected);
    del->setShortcut(QKeySequence::Delete);
    del->setEnabled(m_delete->isEnabled());
    return menu;
}

void RunsBrowser::writeEdit(const std::function<void()>& write) {
    if (!m_store)
        return;
    try {
        write();
    } catch (const std::exception& e) {
        showNotice(tr("Cannot save the change: %1").arg(QString::fromStdString(e.what())));
        // Show what the store holds.
        QTimer::singleShot(0, this, [this] { refresh(); });
    }
}

bool RunsBrowser::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_table->viewport() && event->type() == QEvent::Resize)
        m_empty->setGeometry(m_table->viewport()->rect().adjusted(24, 24, -24, -24));
    return QWidget::eventFilter(watched, event);
}

void RunsBrowser::updateEmptyHint() {
    QString text;
    if (m_proxy->rowCount() == 0) {
        if (m_model->rowCount() > 0)
            text = tr("No run matches \"%1\" (the filter looks for that text in every column). Clear the filter to see %2.")
                       .arg(m_filter->text(), m_model->rowCount() == 1 ? tr("the one run") : tr("all %1 runs").arg(m_model->rowCount()));
        else if (m_status->currentIndex() > 0)
            text = tr("No %1 runs.").arg(m_status->currentText());
        else
            text = tr("No runs yet. Start one from the New run tab (or with rslora train); every run is listed here.");
    }
    m_empty->setText(text);
    m_empty->setVisible(!text.isEmpty());
    m_empty->setGeometry(m_table->viewport()->rect().adjusted(24, 24, -24, -24));
}

void RunsBrowser::showNotice(const QString& text) {
    m_notice->setText(text);
    m_notice->show();
    m_noticeTimer->start();
}

void RunsBrowser::refresh() {
    // A cell's editor is a line edit on the table's viewport, hidden as soon as the edit ends.
    const auto editors = m_table->viewport()->findChildren<QLineEdit*>(Qt::FindDirectChildrenOnly);
    if (std::any_of(editors.begin(), editors.end(), [](const QLineEdit* e) { return e->isVisible(); })) {
        m_refreshAfterEdit = true;
        return;
    }
    m_refreshAfterEdit = false;
    const QList<qint64> keep = selectedRunIds();
    std::vector<storage::RunSummary> runs;
    if (m_store) {
        storage::RunFilter filter;
        if (m_status->currentIndex() > 0)
            filter.statuses.push_back(storage::runStatusFromString(m_status->currentText().toStdString()));
        try {
            for (auto& r : m_store->queries().runsWithLatest(filter, {"train/loss", "eval/loss", RunTableModel::kRunSecondsKey}))
                if (!m_pendingDelete.contains(r.run.id))
                    runs.push_back(std::move(r));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Cannot read runs"), QString::fromStdString(e.what()));
        }
    }
    m_model->setRuns(std::move(runs));
    m_table->resizeColumnsToContents();
    capTextColumns(m_table);
    selectRuns(keep);
}

QList<qint64> RunsBrowser::selectedRunIds() const {
    QList<qint64> ids;
    for (const QModelIndex& i : m_table->selectionModel()->selectedRows())
        ids << m_proxy->data(i, RunTableModel::RunIdRole).toLongLong();
    std::sort(ids.begin(), ids.end());
    return ids;
}

void RunsBrowser::selectRuns(const QList<qint64>& runIds) {
    QItemSelection selection;
    for (qint64 id : runIds) {
        int row = m_model->rowOfRun(id);
        if (row < 0)
            continue;
        QModelIndex i = m_proxy->mapFromSource(m_model->index(row, 0));
        if (i.isValid())
            selection.select(i, i.siblingAtColumn(RunTableModel::ColumnCount - 1));
    }
    m_table->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    updateSelection();
}

void RunsBrowser::updateSelection() {
    const QList<qint64> ids = selectedRunIds();
    m_open->setEnabled(!ids.isEmpty());
    // Runs that a live process trains, holds paused or has queued are its own until they end.
    bool held = false;
    for (qint64 id : ids) {
        const storage::RunSummary* s = m_model->runAt(m_model->rowOfRun(id));
        held = held || (s && storage::RunOwner::of(s->run).alive());
    }
    m_delete->setEnabled(!ids.isEmpty() && !held);
    m_delete->setToolTip(held ? tr("A selected run is still training, paused or queued: stop it (or cancel it) first")
                              : QString());
    bool resumable = false;
    if (ids.size() == 1) {
        const storage::RunSummary* s = m_model->runAt(m_model->rowOfRun(ids.front()));
        resumable = s && (s->run.status == storage::RunStatus::Interrupted || s->run.status == storage::RunStatus::Stopped);
    }
    m_resume->setEnabled(resumable);
    // Metric keys of the selection, keeping the current choice when it still applies.
    const QString current = m_metric->currentText();
    QStringList keys;
    if (m_store)
        for (qint64 id : ids)
            for (const auto& k : m_store->metrics().keys(id))
                if (!keys.contains(QString::fromStdString(k)))
                    keys << QString::fromStdString(k);
    keys.sort();
    {
        QSignalBlocker block(m_metric);
        m_metric->clear();
        m_metric->addItems(keys);
        int i = m_metric->findText(current.isEmpty() ? "train/loss" : current);
        m_metric->setCurrentIndex(i >= 0 ? i : (keys.isEmpty() ? -1 : 0));
    }
    updateOverlay();
    updateDiff();
}

void RunsBrowser::updateOverlay() {
    m_overlay->clear();
    const QString key = m_metric->currentText();
    m_overlay->plot()->yAxis->setLabel(key.isEmpty() ? tr("metric") : axisLabelOf(key));
    auto* hint = m_overlay->plot()->findChild<QCPItemText*>("overlayHint");
    const QList<qint64> ids = selectedRunIds();
    // Lines broken by hand: the item draws each line whole, and the chart is narrow beside the table.
    if (ids.isEmpty())
        hint->setText(tr("Select runs in the table to overlay a metric\n(Ctrl- or Shift-click for several)"));
    else if (key.isEmpty())
        hint->setText(tr("The selected runs have\nlogged no metrics yet"));
    hint->setVisible(ids.isEmpty() || key.isEmpty());
    if (!m_store || key.isEmpty()) {
        m_overlay->replot();
        return;
    }
    storage::SeriesQuery q;
    q.maxPoints = 4000; // min/max per bucket keeps spikes visible on long runs
    for (qint64 id : ids) {
        const storage::RunSummary* s = m_model->runAt(m_model->rowOfRun(id));
        if (!s)
            continue;
        storage::MetricSeries series = m_store->metrics().series(id, key.toStdString(), q);
        QVector<CurvePoint> pts;
        pts.reserve(static_cast<int>(series.size()));
        const double t0 = series.size() ? series.wallTimes.front() : 0;
        for (size_t i = 0; i < series.size(); ++i) {
            CurvePoint p;
            p.step = static_cast<double>(series.steps[i]);
            p.wallTime = series.wallTimes[i] - t0;
            p.value = series.values[i];
            pts.push_back(p);
        }
        // A long name is shortened in its middle, where generated names repeat each other
        // ("facts_train_demo_rslora_r8_…_seed1"): cut at the chart's edge, names differing only at
        // their ends read the same. The table and the differences keep the whole names.
        QString name = QString::fromStdString(s->run.name);
        if (name.size() > kLegendNameChars)
            name = name.left(kLegendNameChars / 2) + "…" + name.right(kLegendNameChars / 2 - 1);
        m_overlay->addPoints(QString("#%1 %2").arg(id).arg(name), pts);
    }
    m_overlay->resetView();
}

void RunsBrowser::updateDiff() {
    m_diff->clear();
    const QList<qint64> ids = selectedRunIds();
    if (!m_store || ids.isEmpty()) {
        m_diff->setRowCount(0);
        m_diff->setColumnCount(0);
        return;
    }
    std::vector<int64_t> runIds(ids.begin(), ids.end());
    std::vector<storage::ParamDiffRow> rows = m_store->queries().paramsDiff(runIds, !m_diffOnly->isChecked() || runIds.size() == 1); // one run: its whole config
    QStringList headers{tr("parameter")};
    for (qint64 id : ids) {
        const storage::RunSummary* s = m_model->runAt(m_model->rowOfRun(id));
        headers << QString("#%1 %2").arg(id).arg(s ? QString::fromStdString(s->run.name) : QString());
    }
    m_diff->setColumnCount(headers.size());
    m_diff->setHorizontalHeaderLabels(headers);
    m_diff->setRowCount(static_cast<int>(rows.size()));
    for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
        m_diff->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(rows[r].key)));
        for (size_t c = 0; c < rows[r].values.size(); ++c) {
            const auto& v = rows[r].values[c];
            auto* item = new QTableWidgetItem(v ? QString::fromStdString(*v) : QString("—"));
            if (!v)
                item->setForeground(palette().color(QPalette::PlaceholderText));
            m_diff->setItem(r, static_cast<int>(c) + 1, item);
        }
    }
    m_diff->resizeColumnsToContents();
}

QStringList RunsBrowser::heldRuns(const QList<qint64>& ids) const {
    QStringList held;
    if (!m_store)
        return held;
    for (qint64 id : ids) {
        if (const auto run = m_store->runs().get(id)) {
            const storage::RunOwner owner = storage::RunOwner::of(*run);
            if (owner.alive())
                held << QString::fromStdString(owner.describe(*run));
        }
    }
    return held;
}

void RunsBrowser::deleteSelected() {
    const QList<qint64> ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    // Read from the store, not the table (which may be older): a run still training, paused or
    // queued in a live process would train on with no row to finish in, its result thrown away.
    const QStringList held = heldRuns(ids);
    if (!held.isEmpty()) {
        showNotice(tr("Not deleted: %1. Stop it first (or cancel it in its queue), then delete it.").arg(held.join("; ")));
        refresh();
        return;
    }
    commitPendingDeletes();
    for (qint64 id : ids)
        m_pendingDelete.insert(id);
    m_undoText->setText(ids.size() == 1 ? tr("Run #%1 deleted.").arg(ids.front()) : tr("%1 runs deleted.").arg(ids.size()));
    m_undoBar->show();
    m_undoTimer->start();
    refresh();
}

void RunsBrowser::undoDelete() {
    m_undoTimer->stop();
    const QList<qint64> ids(m_pendingDelete.begin(), m_pendingDelete.end());
    m_pendingDelete.clear();
    m_undoBar->hide();
    refresh();
    selectRuns(ids);
}

void RunsBrowser::commitPendingDeletes() {
    m_undoTimer->stop();
    QStringList refused;
    if (m_store) {
        for (qint64 id : std::as_const(m_pendingDelete)) {
            try {
                // Already gone (another process deleted it): nothing left to do.
                if (m_store->runs().get(id))
                    m_store->runs().remove(id);
            } catch (const std::exception& e) {
                // Started (resumed) meanwhile, or the store could not be written: the run stays.
                refused << QString::fromStdString(e.what());
            }
        }
    }
    m_pendingDelete.clear();
    m_undoBar->hide();
    if (!refused.isEmpty()) {
        showNotice(tr("Not deleted: %1").arg(refused.join("; ")));
        QTimer::singleShot(0, this, [this] { refresh(); });
    }
}

} // namespace rslora::ui
