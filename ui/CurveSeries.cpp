#include "ui/CurveSeries.h"

#include <algorithm>
#include <cmath>

namespace rslora::ui {

double xOf(const CurvePoint& p, XAxis axis) {
    switch (axis) {
    case XAxis::Step: return p.step;
    case XAxis::Epoch: return p.epoch;
    case XAxis::Tokens: return p.tokens;
    case XAxis::WallTime: return p.wallTime;
    }
    return p.step;
}

CurveSeries::CurveSeries(QString name, QColor color) : m_name(std::move(name)), m_color(std::move(color)) {}

double CurveSeries::smoothNext(double value) {
    if (!std::isfinite(value))
        return m_debias > 0 ? m_ema / m_debias : value;
    m_ema = m_weight * m_ema + (1.0 - m_weight) * value;
    m_debias = m_weight * m_debias + (1.0 - m_weight);
    return m_ema / m_debias;
}

void CurveSeries::setSmoothing(double weight) {
    weight = std::clamp(weight, 0.0, 0.999);
    if (weight == m_weight)
        return;
    m_weight = weight;
    m_ema = 0;
    m_debias = 0;
    m_smoothed.clear();
    m_smoothed.reserve(m_points.size());
    for (const auto& p : m_points)
        m_smoothed.push_back(smoothNext(p.value));
}

void CurveSeries::append(const QVector<CurvePoint>& points) {
    // No exact reserve here: live curves grow a point at a time, and reserving size + 1 would copy
    // the whole curve on every append; the vectors' own geometric growth keeps appends amortized O(1).
    for (const auto& p : points) {
        m_points.push_back(p);
        m_smoothed.push_back(smoothNext(p.value));
    }
}

void CurveSeries::clear() {
    m_points.clear();
    m_smoothed.clear();
    m_ema = 0;
    m_debias = 0;
}

} // namespace rslora::ui
