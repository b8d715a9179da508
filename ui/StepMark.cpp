// See StepMark.h.
#include "ui/StepMark.h"

#include <QPen>
#include <qcustomplot.h>

namespace rslora::ui {

QPair<QCPItemStraightLine*, QCPItemText*> addStepMark(QCustomPlot* plot, double step, const QString& label,
                                                     const StepMarkColors& colors)
{
    auto* line = new QCPItemStraightLine(plot);
    line->point1->setCoords(step, 0);
    line->point2->setCoords(step, 1);
    line->setPen(QPen(colors.line, 1, Qt::DashLine));
    line->setSelectable(false);
    auto* text = new QCPItemText(plot);
    text->position->setTypeX(QCPItemPosition::ptPlotCoords);
    text->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    text->position->setCoords(step, 0.0);
    text->setPositionAlignment(Qt::AlignTop | Qt::AlignLeft);
    text->setPadding(QMargins(3, 1, 3, 1));
    text->setColor(colors.text);
    text->setBrush(colors.background);
    text->setText(label);
    text->setSelectable(false);
    return {line, text};
}

} // namespace rslora::ui
