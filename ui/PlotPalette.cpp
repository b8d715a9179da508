// Chart colours from a palette (see PlotPalette.h).
#include "ui/PlotPalette.h"

#include <qcustomplot.h>

namespace rslora::ui {

void applyPlotPalette(QCustomPlot* plot, QCPTextElement* title, const QPalette& palette, bool grid) {
    plot->setBackground(palette.color(QPalette::Base));
    const QColor fg = palette.color(QPalette::Text);
    for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
        axis->setBasePen(QPen(fg));
        axis->setTickPen(QPen(fg));
        axis->setSubTickPen(QPen(fg));
        axis->setTickLabelColor(fg);
        axis->setLabelColor(fg);
        axis->grid()->setVisible(grid);
        if (grid)
            axis->grid()->setPen(QPen(palette.color(QPalette::Mid), 0, Qt::DotLine));
    }
    if (title)
        title->setTextColor(fg);
    plot->legend->setBrush(QBrush(palette.color(QPalette::Base)));
    plot->legend->setTextColor(fg);
    plot->legend->setBorderPen(QPen(palette.color(QPalette::Mid)));
}

} // namespace rslora::ui
