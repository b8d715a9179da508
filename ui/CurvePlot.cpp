#include "ui/CurvePlot.h"
#include "ui/EmptyPlotGuard.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFontMetrics>
#include <QTextStream>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "ui/PlotLegend.h"
#include "ui/PlotPalette.h"
#include "ui/StepMark.h"

#include <algorithm>
#include <cmath>

namespace rslora::ui {
namespace {

const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44), QColor(214, 39, 40),
                           QColor(148, 103, 189), QColor(140, 86, 75), QColor(227, 119, 194), QColor(23, 190, 207)};

const char* xAxisLabel(XAxis axis) {
    switch (axis) {
    case XAxis::Step: return "step";
    case XAxis::Epoch: return "epoch";
    case XAxis::Tokens: return "tokens";
    case XAxis::WallTime: return "wall time (s)";
    }
    return "step";
}

// Index of the last point whose x is <= x (points are in x order), or -1.
int lastAtOrBefore(const QVector<CurvePoint>& pts, double x, XAxis axis) {
    auto it = std::upper_bound(pts.begin(), pts.end(), x, [axis](double v, const CurvePoint& p) { return v < xOf(p, axis); });
    return static_cast<int>(it - pts.begin()) - 1;
}

// Steps are whole numbers: ticks at 1, 2 (not 1.2, 1.4 …) while a run has taken two steps.
QSharedPointer<QCPAxisTicker> stepTicker() {
    auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    return ticker;
}

} // namespace

CurvePlot::CurvePlot(const QString& title, const QString& yLabel, QWidget* parent) : QWidget(parent), m_title(title) {
    setObjectName(title);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_plot = new QCustomPlot(this);
    m_plot->setMinimumSize(240, 160);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->setNoAntialiasingOnDrag(true);
    m_plot->plotLayout()->insertRow(0);
    m_titleElement = new QCPTextElement(m_plot, title, QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_plot->plotLayout()->addElement(0, 0, m_titleElement);
    m_plot->xAxis->setLabel(xAxisLabel(m_xAxis));
    m_plot->xAxis->setTicker(stepTicker());
    m_plot->yAxis->setLabel(yLabel);
    m_plot->legend->setFont(QFont(font().family(), font().pointSize() - 1));
    // The legend goes in a row of its own under the title (shown when a second curve arrives),
    // never inside the axis rect where it would hide the curves.
    m_legend = new PlotLegend(m_plot, 1);
    m_plot->legend->setMargins(QMargins(4, 1, 4, 1));
    m_plot->legend->setRowSpacing(0);
    m_plot->legend->setColumnSpacing(10);
    m_cross = new QCPItemStraightLine(m_plot);
    m_cross->setVisible(false);
    applyPalette();
    m_crossText = new QCPItemText(m_plot);
    m_crossText->setPositionAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_crossText->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_crossText->position->setCoords(0.01, 0.02);
    m_crossText->setTextAlignment(Qt::AlignLeft);
    m_crossText->setPadding(QMargins(4, 2, 4, 2));
    m_crossText->setBrush(QBrush(QColor(255, 255, 255, 220)));
    m_crossText->setPen(QPen(QColor(160, 160, 160)));
    m_crossText->setColor(QColor(20, 20, 20));
    m_crossText->setVisible(false);

    layout->addWidget(m_plot);
    new EmptyPlotGuard(m_plot, [this] { return !hasPoints(); });
    connect(m_plot, &QCustomPlot::mouseMove, this, &CurvePlot::onMouseMove);
    connect(m_plot->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, &CurvePlot::onUserRangeChange);
    connect(m_plot->yAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, &CurvePlot::onUserRangeChange);
    connect(m_plot, &QCustomPlot::mouseDoubleClick, this, [this] { resetView(); });
}

CurvePlot::Graphs& CurvePlot::ensureSeries(const QString& name) {
    auto it = m_series.find(name);
    if (it != m_series.end())
        return it.value();
    Graphs g;
    g.data = CurveSeries(name, kPalette[m_order.size() % (sizeof(kPalette) / sizeof(kPalette[0]))]);
    g.data.setSmoothing(m_smoothing);
    g.raw = m_plot->addGraph();
    g.smooth = m_plot->addGraph();
    g.raw->setName(name + " (raw)");
    g.smooth->setName(name);
    g.raw->removeFromLegend();
    m_order << name;
    auto& stored = m_series.insert(name, g).value();
    styleGraphs(stored);
    m_legend->show(m_order.size() > 1);
    return stored;
}

void CurvePlot::styleGraphs(Graphs& g) {
    QColor c = g.data.color();
    // Sparse series (evaluations) get markers so that a single point is visible.
    if (g.data.name().startsWith("eval")) {
        g.raw->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
        g.smooth->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    }
    QColor faint = c;
    faint.setAlpha(m_smoothing > 0 ? 70 : 255);
    g.raw->setPen(QPen(faint, m_smoothing > 0 ? 1.0 : 1.6));
    g.smooth->setPen(QPen(c, 1.8));
    g.smooth->setVisible(m_smoothing > 0);
    if (m_smoothing > 0) {
        g.raw->removeFromLegend();
        g.smooth->addToLegend();
    } else {
        g.smooth->removeFromLegend();
        g.raw->addToLegend();
    }
}

void CurvePlot::setSeriesColor(const QString& series, const QColor& color) {
    Graphs& g = ensureSeries(series);
    g.data = [&] {
        CurveSeries copy(series, color);
        copy.setSmoothing(m_smoothing);
        copy.append(g.data.points());
        return copy;
    }();
    styleGraphs(g);
    m_dirty = true;
}

void CurvePlot::addPoints(const QString& series, const QVector<CurvePoint>& points) {
    if (points.isEmpty())
        return;
    ensureSeries(series).data.append(points);
    m_dirty = true;
}

void CurvePlot::setStepMarks(const QVector<QPair<double, QString>>& marks) {
    m_marks = marks;
    updateMarks();
    m_dirty = true;
}

void CurvePlot::updateMarks() {
    for (auto& [line, text] : m_markItems) {
        m_plot->removeItem(line);
        m_plot->removeItem(text);
    }
    m_markItems.clear();
    if (m_xAxis != XAxis::Step)
        return;
    for (const auto& [x, label] : std::as_const(m_marks))
        m_markItems.append(addStepMark(m_plot, x, label, {QColor(120, 120, 120), QColor(90, 90, 90)}));
}

void CurvePlot::clear() {
    setStepMarks({});
    m_plot->clearGraphs();
    m_series.clear();
    m_order.clear();
    m_follow = true;
    m_dirty = true;
    // Nothing of the previous curves may remain: their axis ranges, legend and crosshair read-out.
    m_legend->show(false);
    m_cross->setVisible(false);
    m_crossText->setVisible(false);
    m_crossText->setText(QString());
    m_settingRange = true;
    m_plot->xAxis->setRange(0, 1);
    m_plot->yAxis->setRange(m_logY ? QCPRange(0.1, 1) : QCPRange(0, 1));
    m_settingRange = false;
}

QStringList CurvePlot::seriesNames() const { return m_order; }

const CurveSeries* CurvePlot::series(const QString& name) const {
    auto it = m_series.find(name);
    return it == m_series.end() ? nullptr : &it.value().data;
}

void CurvePlot::setSmoothing(double weight) {
    m_smoothing = std::clamp(weight, 0.0, 0.999);
    for (auto& g : m_series) {
        g.data.setSmoothing(m_smoothing);
        styleGraphs(g);
    }
    rebuildGraphs();
}

void CurvePlot::setLogY(bool on) {
    if (on == m_logY)
        return;
    m_logY = on;
    if (on) {
        m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    rebuildGraphs();
}

void CurvePlot::setClipOutliers(bool on) {
    m_clip = on;
    m_dirty = true;
}

void CurvePlot::setXAxis(XAxis axis) {
    if (axis == m_xAxis)
        return;
    m_xAxis = axis;
    updateMarks();
    m_plot->xAxis->setLabel(xAxisLabel(axis));
    if (axis == XAxis::WallTime) {
        auto ticker = QSharedPointer<QCPAxisTickerTime>(new QCPAxisTickerTime);
        ticker->setTimeFormat("%h:%m:%s");
        m_plot->xAxis->setTicker(ticker);
    } else {
        m_plot->xAxis->setTicker(axis == XAxis::Step ? stepTicker() : QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    m_follow = true;
    rebuildGraphs();
}

void CurvePlot::resetView() {
    m_follow = true;
    m_dirty = true;
    replot();
}

void CurvePlot::rebuildGraphs() {
    for (auto& g : m_series) {
        g.raw->data()->clear();
        g.smooth->data()->clear();
        g.drawn = 0;
        g.decimated = false;
        g.raw->setAntialiased(true);
        g.smooth->setAntialiased(true);
        styleGraphs(g);
    }
    m_dirty = true;
}

void CurvePlot::drawDecimated(Graphs& g) {
    const auto& pts = g.data.points();
    const auto& sm = g.data.smoothed();
    const int n = pts.size();
    // The visible x range: everything while following the data, the user's view otherwise.
    int lo = 0, hi = n;
    if (!m_follow) {
        const QCPRange r = m_plot->xAxis->range();
        lo = std::max(0, lastAtOrBefore(pts, r.lower, m_xAxis));
        hi = std::min(n, lastAtOrBefore(pts, r.upper, m_xAxis) + 2);
    }
    const int buckets = std::max(64, m_plot->axisRect()->width());
    const double per = std::max(1.0, double(hi - lo) / buckets);
    QVector<double> keys, raw, smooth;
    keys.reserve(2 * buckets + 2);
    raw.reserve(2 * buckets + 2);
    smooth.reserve(2 * buckets + 2);
    auto usable = [this](double v) { return std::isfinite(v) && (!m_logY || v > 0); };
    for (double start = lo; start < hi; start += per) {
        const int a = static_cast<int>(start), b = std::min(hi, static_cast<int>(start + per));
        int iMin = -1, iMax = -1;
        for (int i = a; i < b; ++i) {
            const double v = pts[i].value;
            if (!usable(v))
                continue;
            if (iMin < 0 || v < pts[iMin].value)
                iMin = i;
            if (iMax < 0 || v > pts[iMax].value)
                iMax = i;
        }
        if (iMin < 0) {
            keys.push_back(xOf(pts[a], m_xAxis));
            raw.push_back(qQNaN());
            smooth.push_back(usable(sm[a]) ? sm[a] : qQNaN());
            continue;
        }
        // Both extremes, in x order, so spikes survive at any zoom.
        for (int i : {std::min(iMin, iMax), std::max(iMin, iMax)}) {
            keys.push_back(xOf(pts[i], m_xAxis));
            raw.push_back(pts[i].value);
            smooth.push_back(usable(sm[i]) ? sm[i] : qQNaN());
            if (iMin == iMax)
                break;
        }
    }
    // A min/max envelope is a dense zigzag of vertical strokes: antialiasing it costs most of the
    // frame and shows nothing at one bucket per pixel.
    g.raw->setAntialiased(false);
    g.smooth->setAntialiased(false);
    for (QCPGraph* graph : {g.raw, g.smooth}) {
        QPen pen = graph->pen();
        pen.setWidthF(0); // cosmetic one-pixel lines take the raster engine's fast path
        graph->setPen(pen);
    }
    g.raw->setData(keys, raw, true);
    if (m_smoothing > 0)
        g.smooth->setData(keys, smooth, true);
    else
        g.smooth->data()->clear();
    g.drawn = n;
}

void CurvePlot::appendToGraphs(Graphs& g) {
    const auto& pts = g.data.points();
    const auto& sm = g.data.smoothed();
    const int n = pts.size();
    if (n > kDecimateAbove) {
        g.decimated = true;
        return; // drawn after the ranges are known (replot)
    }
    if (g.drawn >= n)
        return;
    QVector<double> keys, raw, smooth;
    keys.reserve(n - g.drawn);
    raw.reserve(n - g.drawn);
    smooth.reserve(n - g.drawn);
    for (int i = g.drawn; i < n; ++i) {
        double v = pts[i].value;
        double s = sm[i];
        if (std::isinf(v))
            v = qQNaN();
        if (m_logY && !(v > 0))
            v = qQNaN();
        if (m_logY && !(s > 0))
            s = qQNaN();
        keys.push_back(xOf(pts[i], m_xAxis));
        raw.push_back(v);
        smooth.push_back(s);
    }
    // Keys arrive in order, so the graphs can append without re-sorting.
    g.raw->addData(keys, raw, true);
    if (m_smoothing > 0)
        g.smooth->addData(keys, smooth, true);
    g.drawn = n;
}

bool CurvePlot::fitRanges(QCPRange* x, QCPRange* y) const {
    double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
    std::vector<double> values;
    for (const auto& g : m_series) {
        const auto& pts = g.data.points();
        if (pts.isEmpty())
            continue;
        xmin = std::min(xmin, xOf(pts.front(), m_xAxis));
        xmax = std::max(xmax, xOf(pts.back(), m_xAxis));
        // A bounded sample keeps range finding cheap on million-point curves.
        const int stride = std::max(1, static_cast<int>(pts.size() / 20000));
        for (int i = 0; i < pts.size(); i += stride) {
            double v = pts[i].value;
            if (std::isfinite(v) && (!m_logY || v > 0))
                values.push_back(v);
        }
        double last = pts.back().value;
        if (std::isfinite(last) && (!m_logY || last > 0))
            values.push_back(last);
    }
    if (values.empty() || !std::isfinite(xmin))
        return false;
    double lo, hi;
    if (m_clip && values.size() > 20) {
        auto at = [&](double q) {
            size_t k = static_cast<size_t>(q * (values.size() - 1));
            std::nth_element(values.begin(), values.begin() + k, values.end());
            return values[k];
        };
        lo = at(0.01);
        hi = at(0.99);
    } else {
        auto [mn, mx] = std::minmax_element(values.begin(), values.end());
        lo = *mn;
        hi = *mx;
    }
    if (xmax <= xmin)
        xmax = xmin + 1;
    // A point on the range's end is drawn on the axis rect's edge, its marker cut in half: the range
    // reaches kEdgePixels beyond the data on each side (at most 5 % of it: a chart not laid out yet is
    // a few pixels wide).
    const double pixels = m_plot->axisRect()->width();
    const double pad = (xmax - xmin) * (pixels > 4 * kEdgePixels ? std::min(kEdgePixels / (pixels - 2 * kEdgePixels), 0.05) : 0.05);
    *x = QCPRange(xmin - pad, xmax + pad);
    if (m_logY) {
        *y = QCPRange(lo / 1.2, hi * 1.2);
    } else if (hi - lo <= std::max(std::abs(lo), std::abs(hi)) * 1e-3) {
        // Flat, or as good as flat (the learning rate over a long schedule's first steps): drawn as a
        // level line. Stretched over the chart, a change in the 7th digit looked like a steep slope
        // whose ticks were all labelled alike ("0.0002").
        const double mid = lo + (hi - lo) / 2;
        const double pad = std::max(std::abs(mid) * 0.05, 1e-6);
        *y = QCPRange(mid - pad, mid + pad);
    } else {
        const double pad = (hi - lo) * 0.06;
        *y = QCPRange(lo - pad, hi + pad);
    }
    return true;
}

bool CurvePlot::hasPoints() const {
    // What fitRanges() needs, found without its sampling (asked on every mouse event).
    for (const auto& g : m_series)
        for (const CurvePoint& p : g.data.points())
            if (std::isfinite(p.value) && (!m_logY || p.value > 0))
                return true;
    return false;
}

void CurvePlot::updateRanges() {
    if (!m_follow)
        return;
    // The axis rect laid out for the chart's size now (a resize lays it out only at the next replot):
    // the margin at the ends is measured in its pixels.
    for (auto phase : {QCPLayoutElement::upPreparation, QCPLayoutElement::upMargins, QCPLayoutElement::upLayout})
        m_plot->plotLayout()->update(phase);
    QCPRange x, y;
    if (!fitRanges(&x, &y))
        return;
    m_settingRange = true;
    m_plot->xAxis->setRange(x);
    m_plot->yAxis->setRange(y);
    m_settingRange = false;
}

void CurvePlot::replot() {
    if (!m_dirty)
        return;
    QElapsedTimer timer;
    timer.start();
    for (auto& g : m_series)
        appendToGraphs(g);
    updateRanges();
    for (auto& g : m_series)
        if (g.decimated)
            drawDecimated(g);
    if (m_legend->shown())
        m_legend->place();
    m_plot->replot(QCustomPlot::rpImmediateRefresh);
    m_dirty = false;
    m_lastReplotMs = timer.nsecsElapsed() / 1e6;
}

void CurvePlot::onUserRangeChange() {
    if (m_settingRange)
        return;
    m_follow = false;
    keepViewOnData();
    // Decimated curves are re-bucketed for the new view on the next timer replot.
    for (const auto& g : std::as_const(m_series))
        if (g.decimated)
            m_dirty = true;
}

void CurvePlot::keepViewOnData() {
    QCPRange fitX, fitY;
    if (!fitRanges(&fitX, &fitY))
        return;
    // Zooming and panning stay near the curves: a view at most kMaxZoomOut times as wide as the one
    // that fits them, at least 1/kMaxZoomIn of it, its middle within one such width of them. On a
    // log axis the same holds for the exponents.
    auto bounded = [](QCPRange view, QCPRange fit, bool log) {
        auto to = [log](double v) { return log ? std::log10(v) : v; };
        auto from = [log](double v) { return log ? std::pow(10.0, v) : v; };
        if (log && !(view.lower > 0 && view.upper > 0))
            return fit;
        const double lo = to(fit.lower), hi = to(fit.upper);
        const double fitWidth = std::max(hi - lo, 1e-12);
        double width = to(view.upper) - to(view.lower);
        double mid = (to(view.upper) + to(view.lower)) / 2;
        if (!std::isfinite(width) || !std::isfinite(mid))
            return fit;
        width = std::clamp(width, fitWidth / kMaxZoomIn, fitWidth * kMaxZoomOut);
        mid = std::clamp(mid, lo - fitWidth, hi + fitWidth);
        return QCPRange(from(mid - width / 2), from(mid + width / 2));
    };
    const QCPRange x = bounded(m_plot->xAxis->range(), fitX, false);
    const QCPRange y = bounded(m_plot->yAxis->range(), fitY, m_logY);
    auto differs = [](const QCPRange& a, const QCPRange& b) {
        const double tol = 1e-9 * std::max(std::abs(b.upper - b.lower), 1e-300);
        return std::abs(a.lower - b.lower) > tol || std::abs(a.upper - b.upper) > tol;
    };
    if (!differs(m_plot->xAxis->range(), x) && !differs(m_plot->yAxis->range(), y))
        return;
    m_settingRange = true;
    m_plot->xAxis->setRange(x);
    m_plot->yAxis->setRange(y);
    m_settingRange = false;
}

QString CurvePlot::valuesAt(double x) const {
    QStringList lines;
    lines << QString("%1 %2").arg(xAxisLabel(m_xAxis)).arg(x, 0, 'g', 6);
    for (const QString& name : m_order) {
        const Graphs& g = m_series[name];
        int i = lastAtOrBefore(g.data.points(), x, m_xAxis);
        if (i < 0)
            continue;
        const CurvePoint& p = g.data.points()[i];
        QString line = QString("%1: %2").arg(name).arg(p.value, 0, 'g', 5);
        if (m_smoothing > 0)
            line += QString(" (smoothed %1)").arg(g.data.smoothed()[i], 0, 'g', 5);
        lines << line;
    }
    return lines.join('\n');
}

QString CurvePlot::readoutAt(double x) const {
    // The read-out box sits inside the axis rect and is clipped by it: a line wider than the rect
    // puts its smoothed value on a line of its own, and what is still too wide is elided.
    const QFontMetrics metrics(m_crossText->font());
    const QMargins pad = m_crossText->padding();
    const int room = std::max(40, m_plot->axisRect()->width() - pad.left() - pad.right() - 8);
    QStringList fitted;
    for (const QString& line : valuesAt(x).split('\n')) {
        const int smoothed = line.indexOf(" (smoothed ");
        if (metrics.horizontalAdvance(line) > room && smoothed > 0) {
            fitted << line.left(smoothed);
            fitted << "  " + line.mid(smoothed + 2).chopped(1); // "  smoothed 0.123"
        } else {
            fitted << line;
        }
    }
    for (QString& line : fitted)
        line = metrics.elidedText(line, Qt::ElideRight, room);
    return fitted.join('\n');
}

void CurvePlot::onMouseMove(QMouseEvent* event) {
    const QRect rect = m_plot->axisRect()->rect();
    if (!rect.contains(event->pos()) || m_series.isEmpty()) {
        if (m_cross->visible()) {
            m_cross->setVisible(false);
            m_crossText->setVisible(false);
            m_plot->replot(QCustomPlot::rpQueuedReplot);
        }
        return;
    }
    double x = m_plot->xAxis->pixelToCoord(event->pos().x());
    m_cross->point1->setCoords(x, 0);
    m_cross->point2->setCoords(x, 1);
    m_cross->setVisible(true);
    m_crossText->setText(readoutAt(x));
    m_crossText->setVisible(true);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool CurvePlot::exportPng(const QString& path, int width, int height) {
    replot();
    return m_plot->savePng(path, width, height);
}

bool CurvePlot::exportPdf(const QString& path, int width, int height) {
    replot();
    return m_plot->savePdf(path, width, height);
}

bool CurvePlot::exportCsv(const QString& path, QString* error) const {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
        if (error)
            *error = tr("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    QTextStream out(&file);
    out << "series,step,epoch,tokens,wall_time,value,smoothed\n";
    for (const QString& name : m_order) {
        const CurveSeries& s = m_series[name].data;
        QString quoted = name;
        if (quoted.contains(',') || quoted.contains('"'))
            quoted = '"' + quoted.replace("\"", "\"\"") + '"';
        for (int i = 0; i < s.size(); ++i) {
            const CurvePoint& p = s.points()[i];
            out << quoted << ',' << QString::number(p.step, 'g', 12) << ',' << QString::number(p.epoch, 'g', 10) << ','
                << QString::number(p.tokens, 'g', 15) << ',' << QString::number(p.wallTime, 'g', 10) << ','
                << QString::number(p.value, 'g', 9) << ',' << QString::number(s.smoothed()[i], 'g', 9) << '\n';
        }
    }
    out.flush();
    if (file.error() != QFileDevice::NoError) {
        if (error)
            *error = tr("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

void CurvePlot::applyPalette() {
    applyPlotPalette(m_plot, m_titleElement, palette(), true);
    // The legend has a row (or column) of its own: no box around it, nothing under it to hide.
    m_plot->legend->setBorderPen(Qt::NoPen);
    m_plot->legend->setBrush(Qt::NoBrush);
    m_cross->setPen(QPen(palette().color(QPalette::Mid), 1, Qt::DashLine));
}

void CurvePlot::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange && m_plot) {
        applyPalette();
        m_plot->replot(QCustomPlot::rpQueuedReplot);
    }
}

} // namespace rslora::ui
