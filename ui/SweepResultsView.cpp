// The Sweeps view: the group table from engine::SweepSummary, the mean ± std bands, CSV export.
#include "ui/SweepResultsView.h"
#include "ui/EmptyPlotGuard.h"

#include "ui/ExportFolder.h"
#include "ui/FlowLayout.h"
#include "ui/PlotLegend.h"
#include "ui/PlotPalette.h"

#include "storage/Naming.h"

#include "common/AtomicFile.h"

#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace rslora::ui {

namespace {
// Distinct hues for the groups' bands (the band is the line's colour, translucent).
QColor bandColor(int i) {
    static const QColor colors[] = {QColor("#1f77b4"), QColor("#d62728"), QColor("#2ca02c"), QColor("#9467bd"),
                                    QColor("#ff7f0e"), QColor("#17becf"), QColor("#8c564b"), QColor("#e377c2")};
    return colors[i % 8];
}

QString pText(double p) {
    if (std::isnan(p))
        return QString();
    return p < 0.001 ? QStringLiteral("p<0.001") : QStringLiteral("p=%1").arg(p, 0, 'f', 3);
}
} // namespace

SweepResultsView::SweepResultsView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Sweep")));
    m_groups = new QComboBox;
    m_groups->setMinimumContentsLength(32);
    m_groups->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    top->addWidget(m_groups, 1);
    m_status = new QLabel;
    m_status->setTextFormat(Qt::PlainText); // messages quote run and file names as typed
    // An export error quoting a long path made the row, and so the window, as wide as the path: the
    // status gives way to the buttons and shows the whole text in its tooltip.
    m_status->setMinimumWidth(m_status->fontMetrics().horizontalAdvance(QStringLiteral("0 of 0 runs finished")));
    top->addWidget(m_status);
    m_stop = new QPushButton(tr("Stop group"));
    m_stop->setToolTip(tr("Stop the group's training run with a checkpoint and take its waiting runs out of the queue"));
    m_resume = new QPushButton(tr("Resume group"));
    m_resume->setToolTip(tr("Queue every run of the group that has not finished (from its checkpoint when it has one)"));
    m_delete = new QPushButton(tr("Delete group…"));
    m_delete->setToolTip(tr("Delete the group and all its runs; their adapter versions stay"));
    m_export = new QPushButton(tr("Export CSV…"));
    // Beside the group box and the status the four buttons made the view, and so the window, wider
    // than an 800-pixel screen: in a narrow window they go on two rows.
    auto* buttons = new FlowLayout;
    buttons->setContentsMargins(0, 0, 0, 0);
    for (QPushButton* b : {m_stop, m_resume, m_delete, m_export})
        buttons->addWidget(b);
    top->addLayout(buttons);
    layout->addLayout(top);

    auto* split = new QSplitter(Qt::Vertical);
    m_table = new QTableWidget;
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->hide();
    m_table->setToolTip(tr("Mean ± sample std over the seeds (n finished runs); ★ the best group of each metric; "
                           "p: Welch's t-test of each group against the best"));
    auto* tablePane = new QWidget;
    auto* tableLayout = new QVBoxLayout(tablePane);
    tableLayout->setContentsMargins(0, 0, 0, 0);
    tableLayout->addWidget(m_table, 1);
    // Runs deleted from the store since the sweep was made: named, as `rslora sweeps show` names them.
    m_missing = new QLabel;
    m_missing->setTextFormat(Qt::PlainText);
    m_missing->setWordWrap(true);
    m_missing->setStyleSheet("color: #c62828");
    m_missing->hide();
    tableLayout->addWidget(m_missing);
    split->addWidget(tablePane);
    auto* chart = new QWidget;
    auto* chartLayout = new QVBoxLayout(chart);
    chartLayout->setContentsMargins(0, 0, 0, 0);
    auto* metricRow = new QHBoxLayout;
    metricRow->addWidget(new QLabel(tr("Curves: mean ± std over seeds of")));
    m_metric = new QComboBox;
    m_metric->addItem(tr("train loss"), "train/loss");
    m_metric->addItem(tr("validation loss"), "eval/loss");
    metricRow->addWidget(m_metric);
    metricRow->addStretch(1);
    chartLayout->addLayout(metricRow);
    m_plot = new QCustomPlot;
    m_plot->setMinimumHeight(180);
    m_plot->xAxis->setLabel(tr("step"));
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    applyPlotPalette(m_plot, nullptr, palette(), true);
    // The legend names the groups in a row of its own above the curves, never over them.
    m_legend = new PlotLegend(m_plot, 0);
    m_plot->legend->setColumnSpacing(12);
    m_plot->legend->setRowSpacing(0);
    m_plot->legend->setBorderPen(Qt::NoPen); // a row of its own: no box needed
    new EmptyPlotGuard(m_plot, [this] { return m_plot->graphCount() == 0; });
    // Empty axes alone read as a broken chart: without curves it says why there are none.
    m_emptyText = new QCPItemText(m_plot);
    m_emptyText->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_emptyText->position->setCoords(0.5, 0.5);
    m_emptyText->setColor(palette().color(QPalette::PlaceholderText));
    m_emptyText->setText(tr("No sweeps yet: New run → Sweep…, or rslora sweep"));
    chartLayout->addWidget(m_plot, 1);
    split->addWidget(chart);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 2);
    layout->addWidget(split, 1);

    connect(m_groups, &QComboBox::currentIndexChanged, this, [this] { Q_EMIT groupChanged(currentGroup()); });
    connect(m_metric, &QComboBox::currentIndexChanged, this, [this] { Q_EMIT curveMetricChanged(); });
    connect(m_stop, &QPushButton::clicked, this, [this] { Q_EMIT stopRequested(currentGroup()); });
    connect(m_resume, &QPushButton::clicked, this, [this] { Q_EMIT resumeRequested(currentGroup()); });
    connect(m_delete, &QPushButton::clicked, this, [this] { Q_EMIT deleteRequested(currentGroup()); });
    connect(m_export, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export sweep statistics"),
                                                          QDir(ExportFolder::initial()).filePath(suggestedCsvName()), tr("CSV (*.csv)"));
        if (path.isEmpty())
            return;
        ExportFolder::remember(QFileInfo(path).absolutePath());
        QString error;
        if (exportCsv(path, &error))
            Q_EMIT exported(tr("Sweep statistics (%1 groups) written to %2").arg(m_summary.rows.size()).arg(path));
        else
            showStatus(error);
    });
    setGroups({});
}

void SweepResultsView::setGroups(const QList<QPair<qint64, QString>>& groups) {
    const qint64 chosen = currentGroup();
    {
        const QSignalBlocker block(m_groups);
        m_groups->clear();
        for (const auto& [id, label] : groups)
            m_groups->addItem(label, id);
        const int again = m_groups->findData(chosen);
        m_groups->setCurrentIndex(again >= 0 ? again : (groups.isEmpty() ? -1 : 0));
    }
    for (QPushButton* b : {m_stop, m_resume, m_delete, m_export})
        b->setEnabled(!groups.isEmpty());
    if (groups.isEmpty()) {
        showStatus(tr("No sweeps yet: New run → Sweep…, or rslora sweep"));
        setSummary({}, tr("No sweeps yet: New run → Sweep…, or rslora sweep"));
        setBands({});
    }
    if (currentGroup() != chosen)
        Q_EMIT groupChanged(currentGroup());
}

qint64 SweepResultsView::currentGroup() const {
    return m_groups->currentIndex() >= 0 ? m_groups->currentData().toLongLong() : 0;
}

void SweepResultsView::selectGroup(qint64 id) {
    const int i = m_groups->findData(id);
    if (i >= 0)
        m_groups->setCurrentIndex(i);
}

QString SweepResultsView::cellText(const engine::SampleSummary& s) {
    if (s.n == 0)
        return QStringLiteral("—");
    if (s.n < 2 || std::isnan(s.std))
        return QStringLiteral("%1 (n=%2)").arg(s.mean, 0, 'f', 4).arg(s.n);
    return QStringLiteral("%1 ± %2 (n=%3)").arg(s.mean, 0, 'f', 4).arg(s.std, 0, 'f', 4).arg(s.n);
}

void SweepResultsView::setSummary(const engine::SweepSummary& summary, const QString& status) {
    m_summary = summary;
    showStatus(status);
    QStringList headers{tr("Group"), tr("Runs")};
    for (const std::string& key : summary.metricKeys) {
        const engine::SweepMetric* m = summary.metric(key);
        const QString title = m ? QString::fromUtf8(m->title) : QString::fromStdString(key);
        headers << QStringLiteral("%1 %2").arg(title, m && m->higherIsBetter ? QStringLiteral("↑") : QStringLiteral("↓"))
                << tr("%1 vs best").arg(title);
    }
    m_table->clear();
    m_table->setColumnCount(headers.size());
    m_table->setHorizontalHeaderLabels(headers);
    m_table->setRowCount(static_cast<int>(summary.rows.size()));
    for (int r = 0; r < m_table->rowCount(); ++r) {
        const engine::SweepGroupRow& row = summary.rows[size_t(r)];
        m_table->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(row.label)));
        auto* runs = new QTableWidgetItem(QStringLiteral("%1/%2").arg(row.finished).arg(row.runs));
        if (row.failed > 0) {
            // A failed run is not one still to run: said in the cell, its reasons in the tooltip.
            runs->setText(runs->text() + tr(" · %1 failed").arg(row.failed));
            runs->setForeground(QColor("#c62828"));
            QStringList reasons;
            for (const std::string& f : row.failures)
                reasons << QString::fromStdString(f);
            runs->setToolTip(reasons.join('\n'));
        }
        if (row.missing > 0) {
            runs->setText(runs->text() + tr(" · %1 missing").arg(row.missing));
            QStringList seeds;
            for (const std::string& m : row.missingRuns)
                seeds << QString::fromStdString(m);
            const QString deleted = tr("Deleted from the store: %1").arg(seeds.join(", "));
            runs->setToolTip(runs->toolTip().isEmpty() ? deleted : runs->toolTip() + '\n' + deleted);
        }
        m_table->setItem(r, 1, runs);
        int c = 2;
        for (const std::string& key : summary.metricKeys) {
            const auto cell = row.cells.find(key);
            auto* value = new QTableWidgetItem(cell == row.cells.end() ? QStringLiteral("—") : cellText(cell->second.summary));
            auto* p = new QTableWidgetItem(cell == row.cells.end() ? QString() : pText(cell->second.vsBest.p));
            if (cell != row.cells.end() && cell->second.best) {
                value->setText(QStringLiteral("★ ") + value->text());
                QFont bold = value->font();
                bold.setBold(true);
                value->setFont(bold);
                p->setText(tr("best"));
            }
            m_table->setItem(r, c++, value);
            m_table->setItem(r, c++, p);
        }
    }
    m_table->resizeColumnsToContents();
    m_missing->setText(QString::fromStdString(summary.missingText()));
    m_missing->setVisible(summary.missing > 0);
}

void SweepResultsView::setBands(const QList<SweepBand>& bands) {
    m_plot->clearGraphs();
    m_plot->yAxis->setLabel(m_metric->currentText());
    int i = 0;
    for (const SweepBand& b : bands) {
        const QColor color = bandColor(i++);
        QVector<double> upper(b.mean.size()), lower(b.mean.size());
        for (int k = 0; k < b.mean.size(); ++k) {
            const double s = std::isnan(b.std[k]) ? 0.0 : b.std[k];
            upper[k] = b.mean[k] + s;
            lower[k] = b.mean[k] - s;
        }
        QColor fill = color;
        fill.setAlpha(50);
        QCPGraph* hi = m_plot->addGraph();
        hi->setData(b.steps, upper, true);
        hi->setPen(Qt::NoPen);
        hi->removeFromLegend();
        QCPGraph* lo = m_plot->addGraph();
        lo->setData(b.steps, lower, true);
        lo->setPen(Qt::NoPen);
        lo->setBrush(fill);
        lo->setChannelFillGraph(hi); // the band between mean − std and mean + std
        lo->removeFromLegend();
        QCPGraph* mean = m_plot->addGraph();
        mean->setData(b.steps, b.mean, true);
        mean->setPen(QPen(color, 2));
        mean->setName(b.label);
    }
    m_legend->show(!bands.isEmpty());
    if (bands.isEmpty())
        m_emptyText->setText(m_groups->count() == 0 ? tr("No sweeps yet: New run → Sweep…, or rslora sweep")
                                                    : tr("No %1 logged by this group's runs yet").arg(m_metric->currentText()));
    m_emptyText->setVisible(bands.isEmpty());
    m_plot->rescaleAxes();
    m_plot->replot();
}

void SweepResultsView::showStatus(const QString& text) {
    m_status->setText(text);
    m_status->setToolTip(text);
}

QString SweepResultsView::emptyChartText() const {
    return m_emptyText->visible() ? m_emptyText->text() : QString();
}

QString SweepResultsView::suggestedCsvName() const {
    // The label is the user's sweep name: '/', quotes and markup must not reach the file name.
    QString label = m_groups->currentText();
    if (label.startsWith('#'))
        label.remove(0, 1);
    return QString::fromStdString(storage::sanitizeId(label.toStdString())) + ".csv";
}

QString SweepResultsView::curveMetric() const { return m_metric->currentData().toString(); }

bool SweepResultsView::exportCsv(const QString& path, QString* error) const {
    try {
        writeFileAtomic(path.toStdString(), m_summary.toCsv());
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = tr("cannot write %1: %2").arg(path, QString::fromStdString(e.what()));
        return false;
    }
}

} // namespace rslora::ui
