// A step mark on a QCustomPlot chart: a dashed vertical line at a step and its label at the top of the
// axis rect (a pipeline's stage boundaries on the curves and on the balance heat map).
#pragma once

#include <QColor>
#include <QPair>
#include <QString>

class QCustomPlot;
class QCPItemStraightLine;
class QCPItemText;

namespace rslora::ui {

struct StepMarkColors {
    QColor line;
    QColor text;
    QColor background = Qt::transparent; // behind the label
};

// Adds the line and the label to `plot` (which owns them; remove them with QCustomPlot::removeItem).
QPair<QCPItemStraightLine*, QCPItemText*> addStepMark(QCustomPlot* plot, double step, const QString& label,
                                                     const StepMarkColors& colors);

} // namespace rslora::ui
