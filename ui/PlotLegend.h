// A chart's legend outside its plotted area, never over the curves: in a row of its own (under the
// chart's title), its entries side by side at their own width, centred and wrapped onto more rows
// where the width needs it; where that row would take much of a low chart (many entries, long
// names), in a column at the right. It follows the chart's size by itself. Laid straight into the
// plot's row, a legend spreads its entries over the whole width; here it sits in a cell of its own
// between stretching spacers, no larger than its entries need.
#pragma once

#include <QObject>

class QCustomPlot;
class QCPLayoutGrid;

namespace rslora::ui {

class PlotLegend : public QObject {
    Q_OBJECT
public:
    enum class Place { None, Above, Right };

    // Takes `plot`'s legend out of its axis rect, hidden until shown; `row` is the row of the plot's
    // layout the legend's row goes in (the one under a title). Owned by `plot`.
    PlotLegend(QCustomPlot* plot, int row);

    // Shows the legend (while it has entries) or hides it, giving its row or column back.
    void show(bool on);
    bool shown() const { return m_wanted; }
    // Places the legend again for its entries (added, renamed, hidden) and the chart's size.
    void place();
    Place placement() const { return m_place; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    QCustomPlot* m_plot = nullptr;
    int m_row = 0;
    bool m_wanted = false;
    Place m_place = Place::None;
    QCPLayoutGrid* m_cell = nullptr; // holds the legend in the plot's layout while it is shown
};

} // namespace rslora::ui
