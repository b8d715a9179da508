// What a chart's legend must look like wherever it is placed: its entries side by side at their own
// widths (no gaps wider than the column spacing), the legend no larger than they need.
#pragma once

#include <QList>
#include <QString>
#include <qcustomplot.h>

// "" when compact, else what is wrong.
inline QString legendLayoutProblem(const QCPLegend* legend) {
    QList<QCPAbstractLegendItem*> items; // in fill order (a grid's empty cells left out)
    for (int i = 0; i < legend->itemCount(); ++i)
        if (QCPAbstractLegendItem* item = legend->item(i))
            items << item;
    if (items.size() < 2)
        return QString("%1 legend entries").arg(items.size());
    for (int i = 1; i < items.size(); ++i) {
        const QRect a = items[i - 1]->outerRect(), b = items[i]->outerRect();
        if (a.top() == b.top() && b.left() - a.right() > legend->columnSpacing() + 2)
            return QString("gap of %1 px between entries %2 and %3").arg(b.left() - a.right()).arg(i - 1).arg(i);
    }
    const QSize need = legend->minimumOuterSizeHint();
    if (legend->outerRect().width() > need.width() + 1 || legend->outerRect().height() > need.height() + 1)
        return QString("legend %1x%2, its entries need %3x%4")
            .arg(legend->outerRect().width())
            .arg(legend->outerRect().height())
            .arg(need.width())
            .arg(need.height());
    return QString();
}
