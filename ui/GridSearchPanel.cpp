#include "ui/GridSearchPanel.h"
#include "ui/ErrorLabel.h"

#include "ui/PlotPalette.h"
#include "ui/numbers/RealBox.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace rslora::ui {

namespace {
// Values closer than this are the same grid line (ranges built from decimal steps).
constexpr double kSameValue = 1e-9;

int indexOf(const QVector<double>& sorted, double v) {
    for (int i = 0; i < sorted.size(); ++i)
        if (std::abs(sorted[i] - v) < kSameValue)
            return i;
    return -1;
}

QVector<double> distinctSorted(QVector<double> v) {
    std::sort(v.begin(), v.end());
    QVector<double> out;
    for (double x : v)
        if (out.isEmpty() || std::abs(out.back() - x) >= kSameValue)
            out << x;
    return out;
}
} // namespace

GridSearchPanel::GridSearchPanel(const QList<FuseSource>& sources, QWidget* parent) : QWidget(parent), m_sources(sources) {
    setObjectName("gridSearchPanel");
    auto* layout = new QVBoxLayout(this);
    auto* ranges = new QGroupBox(tr("Weight ranges (from = to keeps a weight fixed)"), this);
    auto* grid = new QGridLayout(ranges);
    grid->addWidget(new QLabel(tr("<b>Version</b>")), 0, 0);
    grid->addWidget(new QLabel(tr("<b>From</b>")), 0, 1);
    grid->addWidget(new QLabel(tr("<b>To</b>")), 0, 2);
    grid->addWidget(new QLabel(tr("<b>Step</b>")), 0, 3);
    // A number a box cannot take (a step of 0, a weight of 20) stays as typed and is named under the
    // ranges; Qt's boxes cut it to the range without a word.
    auto spin = [ranges](double lo, double hi, double value, const QString& name) {
        auto* b = new numbers::RealBox(lo, hi, 3, 0.05, ranges);
        b->setEntryName(name);
        b->setValue(value);
        return b;
    };
    for (int i = 0; i < sources.size(); ++i) {
        auto* name = new QLabel(sources[i].label, ranges);
        name->setTextFormat(Qt::PlainText); // a version name as typed, markup included
        grid->addWidget(name, i + 1, 0);
        // Two adapters vary by default; a third starts fixed at 1 so that a first search stays small.
        const bool vary = i < 2;
        m_from << spin(-10, 10, vary ? 0.0 : 1.0, tr("%1 from").arg(sources[i].label));
        m_to << spin(-10, 10, 1.0, tr("%1 to").arg(sources[i].label));
        m_step << spin(0.001, 10, 0.25, tr("%1 step").arg(sources[i].label));
        m_from.back()->setObjectName(QString("gridFrom%1").arg(i));
        m_to.back()->setObjectName(QString("gridTo%1").arg(i));
        m_step.back()->setObjectName(QString("gridStep%1").arg(i));
        grid->addWidget(m_from.back(), i + 1, 1);
        grid->addWidget(m_to.back(), i + 1, 2);
        grid->addWidget(m_step.back(), i + 1, 3);
    }
    m_rangeError = makeErrorLabel("gridRangeError", ranges); // it quotes what was typed, and version names
    m_rangeError->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    grid->addWidget(m_rangeError, static_cast<int>(sources.size()) + 1, 0, 1, 4);
    grid->setColumnStretch(0, 1);
    layout->addWidget(ranges);

    auto* form = new QFormLayout;
    auto* dataRow = new QHBoxLayout;
    m_data = new QLineEdit(this);
    m_data->setObjectName("gridDataEdit");
    m_data->setPlaceholderText(tr("validation data (.jsonl)"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    dataRow->addWidget(m_data, 1);
    dataRow->addWidget(browse);
    form->addRow(tr("Validation data"), dataRow);
    m_metric = new QComboBox(this);
    m_metric->setObjectName("gridMetricBox");
    m_metric->addItem(tr("loss (lower is better)"), "loss");
    m_metric->addItem(tr("exact match"), "exact_match");
    m_metric->addItem(tr("multiple-choice accuracy"), "multiple_choice");
    form->addRow(tr("Metric"), m_metric);
    layout->addLayout(form);

    auto* actions = new QHBoxLayout;
    m_run = new QPushButton(tr("Run grid search"), this);
    m_run->setObjectName("gridRunButton");
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setEnabled(false);
    m_use = new QPushButton(tr("Use these weights"), this);
    m_use->setObjectName("gridUseButton");
    m_use->setEnabled(false);
    m_use->setToolTip(tr("Take the best point's weights into the Fuse tab"));
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    actions->addWidget(m_run);
    actions->addWidget(m_cancel);
    actions->addWidget(m_status, 1);
    actions->addWidget(m_use);
    layout->addLayout(actions);
    m_best = new QLabel(this);
    m_best->setObjectName("gridBestLabel");
    layout->addWidget(m_best);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName("gridPlot");
    m_plot->setMinimumHeight(220);
    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setInterpolate(false);
    m_scale = new QCPColorScale(m_plot);
    m_scale->setType(QCPAxis::atRight);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_map->setColorScale(m_scale);
    auto* margins = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_line = m_plot->addGraph();
    m_line->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    m_bestMark = m_plot->addGraph();
    m_bestMark->setLineStyle(QCPGraph::lsNone);
    m_bestMark->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, QPen(Qt::black, 2), QBrush(Qt::white), 16));
    m_hint = new QCPItemText(m_plot);
    m_hint->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_hint->position->setCoords(0.5, 0.5);
    applyColours();
    layout->addWidget(m_plot, 1);
    clearPlot(tr("Set the ranges and the validation data, then run the search."));

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Validation data"), m_data->text(), tr("JSON lines (*.jsonl *.json);;All files (*)"));
        if (!f.isEmpty())
            m_data->setText(f);
    });
    connect(m_run, &QPushButton::clicked, this, [this] {
        const QString p = problem();
        if (!p.isEmpty()) {
            showError(p);
            return;
        }
        Q_EMIT runRequested(settings());
    });
    connect(m_cancel, &QPushButton::clicked, this, &GridSearchPanel::cancelRequested);
    // An error said of the ranges, the data or the metric goes once one of them changes.
    for (const QList<numbers::RealBox*>* boxes : {&m_from, &m_to, &m_step})
        for (numbers::RealBox* b : *boxes) {
            connect(b, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &GridSearchPanel::clearError);
            connect(b, &numbers::RealBox::entryChanged, this, &GridSearchPanel::clearError);
            connect(b, &numbers::RealBox::entryChanged, this, &GridSearchPanel::checkEntries);
        }
    connect(m_data, &QLineEdit::textChanged, this, &GridSearchPanel::clearError);
    connect(m_metric, &QComboBox::currentIndexChanged, this, &GridSearchPanel::clearError);
    connect(m_use, &QPushButton::clicked, this, [this] {
        const QVector<double> w = bestWeights();
        if (!w.isEmpty())
            Q_EMIT weightsChosen(w);
    });
}

GridSettings GridSearchPanel::settings() const {
    GridSettings s;
    for (int i = 0; i < m_from.size(); ++i)
        s.axes << GridAxis{m_from[i]->value(), m_to[i]->value(), m_step[i]->value()};
    s.dataFile = m_data->text().trimmed();
    s.metric = m_metric->currentData().toString();
    return s;
}

void GridSearchPanel::setAxis(int source, const GridAxis& axis) {
    if (source < 0 || source >= m_from.size())
        return;
    m_from[source]->setValue(axis.from);
    m_to[source]->setValue(axis.to);
    m_step[source]->setValue(axis.step);
}

void GridSearchPanel::setDataFile(const QString& path) {
    m_data->setText(path);
}

QVector<int> GridSearchPanel::varying() const {
    QVector<int> out;
    for (int i = 0; i < m_from.size(); ++i)
        if (std::abs(m_from[i]->value() - m_to[i]->value()) >= kSameValue)
            out << i;
    return out;
}

QStringList GridSearchPanel::entryProblems() const {
    QStringList out;
    for (int i = 0; i < m_from.size(); ++i)
        for (const numbers::RealBox* b : {m_from[i], m_to[i], m_step[i]})
            if (const QString p = b->problem(); !p.isEmpty())
                out << p;
    return out;
}

void GridSearchPanel::checkEntries() {
    const QStringList problems = entryProblems();
    m_rangeError->setText(problems.join('\n'));
    m_rangeError->setVisible(!problems.isEmpty());
    m_run->setEnabled(!m_busy && problems.isEmpty());
    m_run->setToolTip(problems.isEmpty() ? QString() : tr("Fix the ranges shown in red first"));
}

QString GridSearchPanel::problem() const {
    // The settings hold a box's last value, not the number typed into it.
    if (const QStringList typed = entryProblems(); !typed.isEmpty())
        return typed.join("; ");
    if (varying().isEmpty())
        return tr("Every weight is fixed (from = to): let at least one vary.");
    if (m_data->text().trimmed().isEmpty())
        return tr("Choose the validation data file to score the points on.");
    return {};
}

void GridSearchPanel::setBusy(bool busy) {
    m_busy = busy;
    checkEntries();
    m_cancel->setEnabled(busy);
    if (busy) {
        m_errorShown = false;
        m_status->setStyleSheet(QString());
        m_status->setText(tr("Searching…"));
    }
}

void GridSearchPanel::showProgress(int done, int total) {
    if (m_busy)
        m_status->setText(tr("Scored %1 of %2 points").arg(done).arg(total));
}

void GridSearchPanel::showError(const QString& message) {
    m_status->setStyleSheet("color: #c62828");
    m_status->setText(message);
    m_errorShown = true;
}

void GridSearchPanel::clearError() {
    if (!m_errorShown)
        return;
    m_errorShown = false;
    m_status->setStyleSheet(QString());
    m_status->clear();
}

QVector<double> GridSearchPanel::bestWeights() const {
    if (m_outcome.best < 0 || m_outcome.best >= m_outcome.weights.size())
        return {};
    return m_outcome.weights[m_outcome.best];
}

void GridSearchPanel::showOutcome(const GridOutcome& outcome) {
    m_outcome = outcome;
    m_errorShown = false;
    m_status->setStyleSheet(QString());
    m_status->setText(tr("%1 points scored").arg(outcome.scores.size()));
    const QVector<double> best = bestWeights();
    m_use->setEnabled(!best.isEmpty());
    if (best.isEmpty()) {
        m_best->setText(tr("No point could be scored."));
    } else {
        QStringList w;
        for (int i = 0; i < best.size(); ++i)
            w << QString("λ%1 = %2").arg(i + 1).arg(best[i], 0, 'g', 4);
        m_best->setText(tr("Best: %1 → %2 %3").arg(w.join(", "), outcome.metric).arg(outcome.scores[outcome.best], 0, 'g', 5));
    }
    drawOutcome();
}

void GridSearchPanel::clearPlot(const QString& hint) {
    m_map->data()->clear();
    m_map->setVisible(false);
    m_scale->setVisible(false);
    m_line->data()->clear();
    m_bestMark->data()->clear();
    m_hint->setText(hint);
    m_hint->setVisible(true);
    m_plot->replot();
}

void GridSearchPanel::drawOutcome() {
    const QVector<double> best = bestWeights();
    if (m_outcome.weights.isEmpty() || best.isEmpty()) {
        clearPlot(tr("No scores to draw."));
        return;
    }
    // The varying weights are those that take more than one value among the points.
    const int n = static_cast<int>(m_outcome.weights.front().size());
    QVector<int> axes;
    QVector<QVector<double>> levels(n);
    for (int i = 0; i < n; ++i) {
        QVector<double> v;
        for (const auto& w : m_outcome.weights)
            v << w[i];
        levels[i] = distinctSorted(v);
        if (levels[i].size() > 1)
            axes << i;
    }
    m_hint->setVisible(false);
    const QColor text = palette().color(QPalette::Text);
    m_bestMark->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, QPen(text.lightness() > 128 ? Qt::white : Qt::black, 2),
                                                QBrush(QColor(255, 213, 79)), 18));
    if (axes.size() == 1) {
        // One varying weight: the score as a line over it.
        const int a = axes[0];
        m_map->setVisible(false);
        m_scale->setVisible(false);
        QVector<double> xs, ys;
        for (int p = 0; p < m_outcome.weights.size(); ++p) {
            xs << m_outcome.weights[p][a];
            ys << m_outcome.scores[p];
        }
        m_line->setData(xs, ys);
        m_line->setPen(QPen(QColor(25, 118, 210), 2));
        m_bestMark->setData({best[a]}, {m_outcome.scores[m_outcome.best]});
        m_plot->xAxis->setLabel(tr("λ%1 (%2)").arg(a + 1).arg(a < m_sources.size() ? m_sources[a].label : QString()));
        m_plot->yAxis->setLabel(m_outcome.metric);
        m_plot->rescaleAxes();
        m_plot->xAxis->scaleRange(1.1);
        m_plot->yAxis->scaleRange(1.2);
        m_plot->replot();
        return;
    }
    // Two (or more) varying: a heat map over the first two, the others held at the best point's values.
    const int ax = axes[0], ay = axes[1];
    const QVector<double>& xs = levels[ax];
    const QVector<double>& ys = levels[ay];
    m_line->data()->clear();
    m_map->setVisible(true);
    m_scale->setVisible(true);
    m_map->data()->setSize(xs.size(), ys.size());
    m_map->data()->setRange(QCPRange(xs.front(), xs.back()), QCPRange(ys.front(), ys.back()));
    m_map->data()->fill(std::numeric_limits<double>::quiet_NaN());
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int p = 0; p < m_outcome.weights.size(); ++p) {
        const QVector<double>& w = m_outcome.weights[p];
        bool onSlice = true;
        for (int k = 2; k < axes.size(); ++k)
            onSlice = onSlice && std::abs(w[axes[k]] - best[axes[k]]) < kSameValue;
        const double s = m_outcome.scores[p];
        if (!onSlice || !std::isfinite(s))
            continue;
        m_map->data()->setCell(indexOf(xs, w[ax]), indexOf(ys, w[ay]), s);
        lo = std::min(lo, s);
        hi = std::max(hi, s);
    }
    // Viridis (perceptually even, readable in grey and by most colour-blind readers).
    QCPColorGradient gradient;
    gradient.setColorStopAt(0.0, QColor(68, 1, 84));
    gradient.setColorStopAt(0.25, QColor(59, 82, 139));
    gradient.setColorStopAt(0.5, QColor(33, 145, 140));
    gradient.setColorStopAt(0.75, QColor(94, 201, 98));
    gradient.setColorStopAt(1.0, QColor(253, 231, 37));
    gradient.setNanHandling(QCPColorGradient::nhTransparent);
    // The best end of the scale is bright whichever way the metric points.
    m_map->setGradient(m_outcome.higherIsBetter ? gradient : gradient.inverted());
    m_map->setDataRange(std::isfinite(lo) ? QCPRange(lo, hi > lo ? hi : lo + 1e-12) : QCPRange(0, 1));
    // Losses span orders of magnitude across a grid (the far corners are poor): a linear scale would
    // paint every good cell the same colour.
    const bool logScale = !m_outcome.higherIsBetter && std::isfinite(lo) && lo > 0 && hi / lo > 10;
    m_map->setDataScaleType(logScale ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    m_scale->axis()->setScaleType(logScale ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    m_scale->axis()->setTicker(logScale ? QSharedPointer<QCPAxisTicker>(new QCPAxisTickerLog) : QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    m_scale->axis()->setLabel(m_outcome.metric + (logScale ? tr(" (log scale)") : QString()));
    m_bestMark->setData({best[ax]}, {best[ay]});
    QString xLabel = tr("λ%1 (%2)").arg(ax + 1).arg(ax < m_sources.size() ? m_sources[ax].label : QString());
    QString yLabel = tr("λ%1 (%2)").arg(ay + 1).arg(ay < m_sources.size() ? m_sources[ay].label : QString());
    if (axes.size() > 2)
        xLabel += tr("  [other weights at the best point]");
    m_plot->xAxis->setLabel(xLabel);
    m_plot->yAxis->setLabel(yLabel);
    // Cells are centred on the grid values: show half a cell beyond the outer ones.
    const double hx = xs.size() > 1 ? (xs.back() - xs.front()) / (xs.size() - 1) / 2 : 0.5;
    const double hy = ys.size() > 1 ? (ys.back() - ys.front()) / (ys.size() - 1) / 2 : 0.5;
    m_plot->xAxis->setRange(xs.front() - hx, xs.back() + hx);
    m_plot->yAxis->setRange(ys.front() - hy, ys.back() + hy);
    m_plot->replot();
}

void GridSearchPanel::applyColours() {
    applyPlotPalette(m_plot, nullptr, palette(), true);
    const QColor fg = palette().color(QPalette::Text);
    QCPAxis* axis = m_scale->axis();
    axis->setBasePen(QPen(fg));
    axis->setTickPen(QPen(fg));
    axis->setSubTickPen(QPen(fg));
    axis->setTickLabelColor(fg);
    axis->setLabelColor(fg);
    m_hint->setColor(fg);
}

void GridSearchPanel::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange && m_hint) {
        applyColours();
        m_plot->replot();
    }
}

} // namespace rslora::ui
