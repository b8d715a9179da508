// A chart with nothing drawn has nothing to zoom or pan: on it the mouse wheel goes on to the parent
// (the charts' scroll area scrolls), and clicks and drags are dropped, so the axes keep the range the
// first points will be drawn in. Installed on a QCustomPlot with the chart's own test for "empty".
#pragma once

#include <QObject>

#include <functional>

namespace rslora::ui {

class EmptyPlotGuard : public QObject {
    Q_OBJECT
public:
    // Filters `plot`'s events while `isEmpty()` holds; owned by `plot`.
    EmptyPlotGuard(QWidget* plot, std::function<bool()> isEmpty);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    std::function<bool()> m_isEmpty;
};

} // namespace rslora::ui
