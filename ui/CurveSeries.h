// One metric curve as the charts keep it: raw points with every x-axis quantity, and a causal
// exponential moving average that is extended, never recomputed, as points arrive.
#pragma once

#include <QColor>
#include <QString>
#include <QVector>

namespace rslora::ui {

// The quantities a point can be plotted against.
enum class XAxis { Step = 0, Epoch = 1, Tokens = 2, WallTime = 3 };

struct CurvePoint {
    double step = 0;
    double epoch = 0;
    double tokens = 0;
    double wallTime = 0; // seconds since the run started
    double value = 0;
};

double xOf(const CurvePoint& p, XAxis axis);

class CurveSeries {
public:
    CurveSeries() = default;
    CurveSeries(QString name, QColor color);

    const QString& name() const { return m_name; }
    const QColor& color() const { return m_color; }
    const QVector<CurvePoint>& points() const { return m_points; }
    const QVector<double>& smoothed() const { return m_smoothed; }
    int size() const { return m_points.size(); }

    // Smoothing weight in [0, 1): 0 = raw. Changing it recomputes the smoothed values once.
    void setSmoothing(double weight);
    double smoothing() const { return m_weight; }

    // Appends points; each new smoothed value depends only on points up to it (debiased EMA, as
    // TensorBoard draws it), so values already drawn never change. Non-finite values are kept in
    // the raw data and skipped by the average.
    void append(const QVector<CurvePoint>& points);
    void clear();

private:
    double smoothNext(double value);

    QString m_name;
    QColor m_color;
    QVector<CurvePoint> m_points;
    QVector<double> m_smoothed;
    double m_weight = 0.0;
    double m_ema = 0.0;
    double m_debias = 0.0; // 1 - weight^n, the mass the average has accumulated
};

} // namespace rslora::ui
