// Gradient balancing of A and B (see GradientBalancer.h).
#include "engine/GradientBalancer.h"

#include <cmath>

namespace rslora::engine {

std::vector<ModuleStats> GradientBalancer::apply(AdapterSet& set, const std::string& adapterName, bool withWeightNorms)
{
    torch::NoGradGuard ng;
    std::vector<ModuleStats> stats;
    const double lo = m_options.target / m_options.band, hi = m_options.target * m_options.band;
    for (const auto& m : set.modules()) {
        if (!m.module->hasAdapter(adapterName))
            continue;
        auto& ad = m.module->adapter(adapterName);
        ModuleStats s;
        s.module = m.name;
        torch::Tensor gA = ad.factorA().grad(), gB = ad.factorB().grad();
        s.gradNormA = gA.defined() ? gA.norm().item<double>() : 0.0;
        s.gradNormB = gB.defined() ? gB.norm().item<double>() : 0.0;
        // Skip while either side is ~0 (B = 0 at the start gives ∇A = 0).
        const bool measurable = s.gradNormA > 1e-12 && s.gradNormB > 1e-12 && std::isfinite(s.gradNormA) && std::isfinite(s.gradNormB);
        if (measurable) {
            s.ratio = s.gradNormA / s.gradNormB;
            if (m_options.enabled) {
                auto it = m_ema.find(m.name);
                double ema = it == m_ema.end() ? s.ratio : m_options.beta * it->second + (1.0 - m_options.beta) * s.ratio;
                m_ema[m.name] = ema;
                s.ratioEma = ema;
                if (ema > hi) {
                    const double f = hi / ema; // A dominates: shrink ∇A
                    gA.mul_(f);
                    s.gradNormA *= f;
                } else if (ema < lo) {
                    const double f = ema / lo; // B dominates: shrink ∇B
                    gB.mul_(f);
                    s.gradNormB *= f;
                }
            }
            s.balancedRatio = s.gradNormA / s.gradNormB;
        }
        if (withWeightNorms) {
            s.normA = ad.A().norm().item<double>();
            s.normB = ad.B().norm().item<double>();
        }
        stats.push_back(std::move(s));
    }
    return stats;
}

} // namespace rslora::engine
