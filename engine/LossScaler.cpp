// Dynamic loss scaling (see LossScaler.h).
#include "engine/LossScaler.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine {

LossScaler::LossScaler(bool enabled, double initialScale, int growthInterval)
    : m_enabled(enabled), m_scale(enabled ? initialScale : 1.0), m_growthInterval(growthInterval)
{
}

bool LossScaler::unscale(std::vector<AdamWParam>& params)
{
    if (!m_enabled)
        return true;
    torch::NoGradGuard ng;
    // One device-side flag for all gradients: a single host read per step.
    torch::Tensor finite;
    for (auto& p : params) {
        auto& g = p.param.mutable_grad();
        if (!g.defined())
            continue;
        g.mul_(1.0 / m_scale);
        const torch::Tensor ok = torch::isfinite(g).all();
        finite = finite.defined() ? finite.logical_and(ok) : ok;
    }
    if (!finite.defined() || finite.item<bool>()) {
        if (++m_goodSteps >= m_growthInterval) {
            m_scale *= 2.0;
            m_goodSteps = 0;
        }
        return true;
    }
    for (auto& p : params)
        if (p.param.grad().defined())
            p.param.mutable_grad().zero_();
    m_scale = std::max(1.0, m_scale * 0.5);
    m_goodSteps = 0;
    ++m_skipped;
    return false;
}

void LossScaler::setState(double scale, double goodSteps)
{
    if (!m_enabled || !(scale >= 1.0) || !std::isfinite(scale))
        return;
    m_scale = scale;
    m_goodSteps = int64_t(goodSteps);
}

} // namespace rslora::engine
