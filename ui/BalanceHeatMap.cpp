#include "ui/BalanceHeatMap.h"
#include "ui/EmptyPlotGuard.h"

#include <QFile>
#include <QTextStream>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "ui/PlotPalette.h"
#include "ui/StepMark.h"

#include <algorithm>
#include <cmath>

namespace rslora::ui {

BalanceHeatMap::BalanceHeatMap(QWidget* parent) : QWidget(parent) {
    setObjectName("balanceHeatMap");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_plot = new QCustomPlot(this);
    m_plot->setMinimumSize(240, 160);
    m_plot->plotLayout()->insertRow(0);
    // The title is short enough for the map's column in a window of 800 pixels (with its formula it was
    // cut at both ends); the colour scale names the quantity.
    m_title = new QCPTextElement(m_plot, tr("A/B gradient balance"),
                                 QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_plot->plotLayout()->addElement(0, 0, m_title);
    m_plot->xAxis->setLabel(tr("step"));
    m_plot->yAxis->setLabel(tr("module"));
    m_plot->yAxis->setRangeReversed(true); // the first layer on top, read downwards
    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_scale = new QCPColorScale(m_plot);
    m_plot->plotLayout()->addElement(1, 1, m_scale);
    m_scale->setType(QCPAxis::atRight);
    m_scale->axis()->setLabel(tr("log₂(‖∇A‖/‖∇B‖)"));
    applyPalette();
    m_map->setColorScale(m_scale);
    // Balance (log2 ρ = 0) is white; B's gradient dominating is blue, A's red; no data is transparent.
    QCPColorGradient gradient;
    gradient.setColorStopAt(0.0, QColor(33, 102, 172));
    gradient.setColorStopAt(0.5, QColor(247, 247, 247));
    gradient.setColorStopAt(1.0, QColor(178, 24, 43));
    gradient.setNanHandling(QCPColorGradient::nhTransparent);
    m_map->setGradient(gradient);
    m_map->setDataRange(QCPRange(-4, 4));
    m_map->setInterpolate(false);
    auto* margins = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    new EmptyPlotGuard(m_plot, [this] { return m_steps.isEmpty(); });
    layout->addWidget(m_plot);
}

namespace {
// Text order, except that runs of digits compare as numbers ("layers.2." before "layers.10.").
bool numberAwareLess(const QString& a, const QString& b) {
    int i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i].isDigit() && b[j].isDigit()) {
            int ei = i, ej = j;
            while (ei < a.size() && a[ei].isDigit())
                ++ei;
            while (ej < b.size() && b[ej].isDigit())
                ++ej;
            const QStringView x = QStringView(a).mid(i, ei - i), y = QStringView(b).mid(j, ej - j);
            const qulonglong nx = x.toULongLong(), ny = y.toULongLong();
            if (nx != ny)
                return nx < ny;
            i = ei;
            j = ej;
            continue;
        }
        if (a[i] != b[j])
            return a[i] < b[j];
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j;
}
} // namespace

QStringList BalanceHeatMap::inLayerOrder(QStringList modules) {
    // Rows go by layer, then by module name within a layer, whatever order the names arrived in.
    std::stable_sort(modules.begin(), modules.end(), numberAwareLess);
    return modules;
}

void BalanceHeatMap::addColumn(double step, const QStringList& modules, const QVector<double>& ratios) {
    if (m_modules.isEmpty())
        m_modules = inLayerOrder(modules);
    QVector<double> column(m_modules.size(), qQNaN());
    for (int i = 0; i < modules.size() && i < ratios.size(); ++i) {
        int row = (modules.size() == m_modules.size() && modules[i] == m_modules[i]) ? i : m_modules.indexOf(modules[i]);
        double r = ratios[i];
        if (row >= 0 && r > 0 && std::isfinite(r))
            column[row] = std::log2(r);
    }
    m_steps.push_back(step);
    m_columns.push_back(column);
    if (m_columns.size() > kMaxColumns)
        compact();
    m_dirty = true;
}

void BalanceHeatMap::compact() {
    QVector<double> steps;
    QVector<QVector<double>> cols;
    for (int i = 0; i + 1 < m_columns.size(); i += 2) {
        QVector<double> merged(m_modules.size());
        for (int r = 0; r < m_modules.size(); ++r) {
            double a = m_columns[i][r], b = m_columns[i + 1][r];
            merged[r] = std::isnan(a) ? b : (std::isnan(b) ? a : 0.5 * (a + b));
        }
        steps.push_back(m_steps[i + 1]);
        cols.push_back(merged);
    }
    if (m_columns.size() % 2 == 1) {
        steps.push_back(m_steps.back());
        cols.push_back(m_columns.back());
    }
    m_steps = steps;
    m_columns = cols;
}

void BalanceHeatMap::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    m_dirty = true; // the number of module labels that fit depends on the height
}

void BalanceHeatMap::setStepMarks(const QVector<QPair<double, QString>>& marks) {
    for (QCPAbstractItem* item : std::as_const(m_markItems))
        m_plot->removeItem(item);
    m_markItems.clear();
    for (const auto& [x, label] : marks) {
        // Darker than on the curves, the label on white: readable over any cell colour.
        const auto [line, text] = addStepMark(m_plot, x, label, {QColor(60, 60, 60), QColor(40, 40, 40), QColor(255, 255, 255, 190)});
        m_markItems << line << text;
    }
    m_dirty = true;
}

void BalanceHeatMap::clear() {
    setStepMarks({});
    m_modules.clear();
    m_steps.clear();
    m_columns.clear();
    m_dirty = true;
    // The previous run's module labels and step range go with its data.
    m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    m_plot->xAxis->setRange(0, 1);
    m_plot->yAxis->setRange(0, 1);
}

double BalanceHeatMap::cell(int row, int column) const { return m_columns.value(column).value(row, qQNaN()); }

void BalanceHeatMap::replot() {
    if (!m_dirty)
        return;
    const int nx = m_columns.size(), ny = m_modules.size();
    if (nx > 0 && ny > 0) {
        m_map->data()->setSize(nx, ny);
        // With two cells or more, the data range holds the centres of the first and last cells and each
        // cell reaches half a cell either side of its centre; a single cell fills the range given, so
        // a lone column spans one step and a lone row one row, centred as the others are.
        QCPRange keys(m_steps.front() - 0.5, m_steps.front() + 0.5);
        if (nx > 1) // steps that do not increase (never logged so) still get one unit per column
            keys = m_steps.back() > m_steps.front() ? QCPRange(m_steps.front(), m_steps.back()) : QCPRange(m_steps.front(), m_steps.front() + nx - 1);
        const QCPRange rows = ny > 1 ? QCPRange(0, ny - 1) : QCPRange(-0.5, 0.5);
        m_map->data()->setRange(keys, rows);
        for (int x = 0; x < nx; ++x)
            for (int y = 0; y < ny; ++y)
                m_map->data()->setCell(x, y, m_columns[x][y]);
        auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
        // One label per ~16 px of height, shortened to "layer.projection".
        const int fit = std::max(2, (m_plot->height() - 70) / 16);
        const int every = std::max(1, (ny + fit - 1) / fit);
        for (int y = 0; y < ny; y += every) {
            QString label = m_modules[y];
            label.remove("model.layers.").remove("self_attn.").remove("mlp.");
            ticker->addTick(y, label);
        }
        m_plot->yAxis->setTicker(ticker);
        // The axes show every cell whole: rescaleAxes() stopped at the first and last cells' centres
        // and so drew the outer columns and rows half as wide as the others.
        const double halfColumn = nx > 1 ? 0.5 * keys.size() / (nx - 1) : 0.0;
        m_plot->xAxis->setRange(keys.lower - halfColumn, keys.upper + halfColumn);
        m_plot->yAxis->setRange(-0.5, ny - 0.5);
    } else {
        m_map->data()->clear();
    }
    m_plot->replot(QCustomPlot::rpImmediateRefresh);
    m_dirty = false;
}

bool BalanceHeatMap::exportPng(const QString& path, int width, int height) {
    replot();
    return m_plot->savePng(path, width, height);
}

bool BalanceHeatMap::exportPdf(const QString& path, int width, int height) {
    replot();
    return m_plot->savePdf(path, width, height);
}

bool BalanceHeatMap::exportCsv(const QString& path, QString* error) const {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
        if (error)
            *error = tr("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    QTextStream out(&file);
    out << "step,module,log2_ratio\n";
    for (int x = 0; x < m_columns.size(); ++x)
        for (int y = 0; y < m_modules.size(); ++y)
            out << m_steps[x] << ',' << m_modules[y] << ',' << QString::number(m_columns[x][y], 'g', 8) << '\n';
    return file.error() == QFileDevice::NoError;
}

void BalanceHeatMap::applyPalette() {
    applyPlotPalette(m_plot, m_title, palette(), false);
    m_scale->axis()->setTickLabelColor(palette().color(QPalette::Text));
    m_scale->axis()->setLabelColor(palette().color(QPalette::Text));
    m_scale->axis()->setBasePen(QPen(palette().color(QPalette::Text)));
    m_scale->axis()->setTickPen(QPen(palette().color(QPalette::Text)));
}

void BalanceHeatMap::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange && m_plot) {
        applyPalette();
        m_plot->replot(QCustomPlot::rpQueuedReplot);
    }
}

} // namespace rslora::ui
