// Placing a chart's legend in a row or column of its own (see PlotLegend.h).
#include "ui/PlotLegend.h"

#include <QEvent>
#include <QFontMetrics>

#include <qcustomplot.h>

#include <algorithm>

namespace rslora::ui {

PlotLegend::PlotLegend(QCustomPlot* plot, int row) : QObject(plot), m_plot(plot), m_row(row) {
    m_plot->axisRect()->insetLayout()->take(m_plot->legend);
    m_plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    m_plot->legend->setVisible(false);
    m_plot->installEventFilter(this);
}

void PlotLegend::show(bool on) {
    m_wanted = on;
    place();
}

void PlotLegend::place() {
    QCPLayoutGrid* layout = m_plot->plotLayout();
    QCPLegend* legend = m_plot->legend;
    Place want = Place::None;
    int wrap = 1;
    if (m_wanted && legend->itemCount() > 0) {
        const QFontMetrics metrics(legend->font());
        int widest = 1;
        for (int i = 0; i < legend->itemCount(); ++i)
            if (auto* item = qobject_cast<QCPPlottableLegendItem*>(legend->item(i)))
                widest = std::max(widest, metrics.horizontalAdvance(item->plottable()->name()) + 40);
        const int columns = std::max(1, (m_plot->width() - 20) / (widest + legend->columnSpacing()));
        const int rows = (legend->itemCount() + columns - 1) / columns;
        const int rowHeight = metrics.height() + 4;
        if (rows * rowHeight <= std::max(2 * rowHeight, m_plot->height() / 5)) {
            want = Place::Above;
            wrap = columns;
        } else {
            want = Place::Right;
            wrap = std::max(1, (m_plot->height() - 3 * rowHeight) / rowHeight);
        }
    }
    if (want != m_place) {
        if (m_place != Place::None) {
            // The legend leaves its cell (it belongs to the plot); the cell's spacers go with it.
            m_cell->take(legend);
            layout->remove(m_cell);
            m_cell = nullptr;
            layout->simplify();
        }
        // (The cell joins the plot before it has empty spacer slots: joining visits every slot.)
        if (want == Place::Above) {
            m_cell = new QCPLayoutGrid;
            layout->insertRow(m_row);
            layout->addElement(m_row, 0, m_cell);
            layout->setRowStretchFactor(m_row, 0.001);
            m_cell->addElement(0, 1, legend);
            m_cell->expandTo(1, 3); // spacer, legend, spacer: centred over the curves
        } else if (want == Place::Right) {
            m_cell = new QCPLayoutGrid;
            layout->addElement(layout->rowCount() - 1, 1, m_cell); // beside the axis rect, the last row
            layout->setColumnStretchFactor(1, 0.001);
            m_cell->addElement(0, 0, legend);
            m_cell->expandTo(2, 1); // legend at the top, a spacer under it
        }
        if (m_cell) {
            m_cell->setMargins(QMargins());
            m_cell->setRowSpacing(0);
            m_cell->setColumnSpacing(0);
        }
        m_place = want;
    }
    legend->setVisible(want != Place::None);
    const auto order = want == Place::Right ? QCPLegend::foRowsFirst : QCPLegend::foColumnsFirst;
    if (legend->wrap() != wrap || legend->fillOrder() != order) {
        legend->setWrap(wrap);
        legend->setFillOrder(order, true); // re-flows the entries
    }
    // No larger than its entries need (they change with names and wrapping).
    legend->setSizeConstraintRect(QCPLayoutElement::scrOuterRect);
    legend->setMaximumSize(legend->minimumOuterSizeHint());
}

bool PlotLegend::eventFilter(QObject* watched, QEvent* event) {
    // Before the chart lays itself out for its new size.
    if (event->type() == QEvent::Resize && watched == m_plot && m_wanted)
        place();
    return false;
}

} // namespace rslora::ui
