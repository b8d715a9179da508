// A live metric chart on QCustomPlot: several curves, raw and smoothed drawn together, log-y,
// outlier clipping, mouse zoom and pan, a crosshair with values, x by step/epoch/tokens/time, and
// export to PNG, PDF and CSV. New points are buffered; replot() draws them once (the owner calls
// it from a coalescing timer, never per point).
#pragma once

#include "ui/CurveSeries.h"

#include <QHash>
#include <QWidget>

class QCustomPlot;
class QCPGraph;
class QCPRange;
class QCPItemStraightLine;
class QCPItemText;
class QCPTextElement;
class QMouseEvent;

namespace rslora::ui {

class PlotLegend;

class CurvePlot : public QWidget {
    Q_OBJECT
public:
    explicit CurvePlot(const QString& title, const QString& yLabel, QWidget* parent = nullptr);

    // Adds points to a curve (created on first use with the next palette colour).
    void addPoints(const QString& series, const QVector<CurvePoint>& points);
    void setSeriesColor(const QString& series, const QColor& color);
    void clear();
    QStringList seriesNames() const;
    const CurveSeries* series(const QString& name) const;

    void setSmoothing(double weight);
    double smoothing() const { return m_smoothing; }
    void setLogY(bool on);
    bool logY() const { return m_logY; }
    void setClipOutliers(bool on);
    void setXAxis(XAxis axis);
    XAxis xAxis() const { return m_xAxis; }
    // Vertical marks at steps, labelled (a pipeline's stage boundaries); drawn on the step axis only.
    void setStepMarks(const QVector<QPair<double, QString>>& marks);
    int stepMarkCount() const { return m_marks.size(); }
    // How far the mouse may zoom, against the view that fits every curve (wider / narrower). A
    // chart without points is not zoomed or panned at all.
    static constexpr double kMaxZoomOut = 8;
    static constexpr double kMaxZoomIn = 1e4;
    // Pixels kept free between the curves' first and last points and the chart's left and right
    // edges when it fits them: an evaluation's marker (a 6-pixel disc) is drawn whole at either end.
    static constexpr double kEdgePixels = 6;
    // Back to following the data (after the user zoomed or panned).
    void resetView();

    // Draws what changed since the last call; cheap when nothing did.
    void replot();
    bool isDirty() const { return m_dirty; }
    // Time the last replot took, for the benchmarks.
    double lastReplotMs() const { return m_lastReplotMs; }

    bool exportPng(const QString& path, int width = 1200, int height = 700);
    bool exportPdf(const QString& path, int width = 1200, int height = 700);
    // series,step,epoch,tokens,wall_time,value,smoothed; returns false with *error on failure.
    bool exportCsv(const QString& path, QString* error = nullptr) const;

    QCustomPlot* plot() const { return m_plot; }
    QString title() const { return m_title; }
    // Text of the crosshair read-out at a given x (also what the crosshair shows).
    QString valuesAt(double x) const;
    // valuesAt() fitted to the width of the axis rect the crosshair shows it in.
    QString readoutAt(double x) const;

protected:
    void changeEvent(QEvent* event) override;

private:
    void applyPalette();
    struct Graphs {
        CurveSeries data;
        QCPGraph* raw = nullptr;
        QCPGraph* smooth = nullptr;
        int drawn = 0; // points already handed to the graphs
        bool decimated = false; // drawn from min/max buckets of the visible range
    };
    // Above this many points a curve is drawn from per-pixel min/max buckets of the visible range,
    // recomputed on each replot (a linear scan, a few ms for a million points), instead of handing
    // every point to QCustomPlot.
    static constexpr int kDecimateAbove = 50000;
    void drawDecimated(Graphs& g);
    Graphs& ensureSeries(const QString& name);
    void rebuildGraphs();
    void appendToGraphs(Graphs& g);
    void styleGraphs(Graphs& g);
    void updateRanges();
    // The ranges that show every curve (what following the data draws); false without a finite point.
    bool fitRanges(QCPRange* x, QCPRange* y) const;
    bool hasPoints() const;
    // After the user zoomed or panned: the view pulled back to within reach of the curves.
    void keepViewOnData();
    void onMouseMove(QMouseEvent* event);
    void onUserRangeChange();
    void updateMarks();

    QString m_title;
    QCustomPlot* m_plot = nullptr;
    QCPTextElement* m_titleElement = nullptr;
    PlotLegend* m_legend = nullptr;
    QCPItemStraightLine* m_cross = nullptr;
    QCPItemText* m_crossText = nullptr;
    QHash<QString, Graphs> m_series;
    QStringList m_order;
    double m_smoothing = 0.6;
    bool m_logY = false;
    bool m_clip = false;
    bool m_follow = true;
    bool m_dirty = false;
    bool m_settingRange = false;
    XAxis m_xAxis = XAxis::Step;
    double m_lastReplotMs = 0;
    QVector<QPair<double, QString>> m_marks;
    QList<QPair<QCPItemStraightLine*, QCPItemText*>> m_markItems;
};

} // namespace rslora::ui
