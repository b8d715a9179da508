// Colours of a chart from a widget's palette: background, axes, tick labels, axis labels, grid and
// title. Charts apply it when built and again when the palette changes (a switch between light and
// dark), so they never keep the colours of the theme they were created under.
#pragma once

class QCustomPlot;
class QCPTextElement;
class QPalette;

namespace rslora::ui {

void applyPlotPalette(QCustomPlot* plot, QCPTextElement* title, const QPalette& palette, bool grid);

} // namespace rslora::ui
