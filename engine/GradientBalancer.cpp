// Gradient balancing of A and B (see GradientBalancer.h).
#include "engine/GradientBalancer.h"

#include <cmath>

namespace rslora::engine {

std::vector<ModuleStats> GradientBalancer::apply(AdapterSet& set, const std::string& adapterName, bool withWeightNorms)
{
    torch::NoGradGuard ng;
    struct Slot {
        const std::string* name;
        LoraAdapterImpl* adapter;
        torch::Tensor gradA, gradB;
    };
    std::vector<Slot> slots;
    for (const auto& m : set.modules())
        if (m.module->hasAdapter(adapterName)) {
            auto& ad = m.module->adapter(adapterName);
            slots.push_back({&m.name, &ad, ad.factorA().grad(), ad.factorB().grad()});
        }
    // Every norm of the step is computed on the device and read in one transfer (a read per module
    // would make the host wait for the device hundreds of times per step).
    std::vector<torch::Tensor> norms;
    for (const auto& s : slots) {
        const auto onDevice = torch::dtype(torch::kDouble).device(s.adapter->A().device());
        auto normOf = [&](const torch::Tensor& t) {
            return t.defined() ? t.norm().to(torch::kDouble).reshape({1}) : torch::zeros({1}, onDevice);
        };
        norms.push_back(normOf(s.gradA));
        norms.push_back(normOf(s.gradB));
        if (withWeightNorms) {
            norms.push_back(normOf(s.adapter->A()));
            norms.push_back(normOf(s.adapter->B()));
        }
    }
    const torch::Tensor read = norms.empty() ? torch::zeros({0}, torch::kDouble) : torch::cat(norms).cpu().contiguous();
    const double* v = read.data_ptr<double>();
    const size_t per = withWeightNorms ? 4 : 2;

    std::vector<ModuleStats> stats;
    const double lo = m_options.target / m_options.band, hi = m_options.target * m_options.band;
    for (size_t i = 0; i < slots.size(); ++i) {
        const Slot& slot = slots[i];
        ModuleStats s;
        s.module = *slot.name;
        s.gradNormA = v[i * per];
        s.gradNormB = v[i * per + 1];
        // Skip while either side is ~0 (B = 0 at the start gives ∇A = 0).
        const bool measurable = s.gradNormA > 1e-12 && s.gradNormB > 1e-12 && std::isfinite(s.gradNormA) && std::isfinite(s.gradNormB);
        if (measurable) {
            s.ratio = s.gradNormA / s.gradNormB;
            if (m_options.enabled) {
                auto it = m_ema.find(s.module);
                double ema = it == m_ema.end() ? s.ratio : m_options.beta * it->second + (1.0 - m_options.beta) * s.ratio;
                m_ema[s.module] = ema;
                s.ratioEma = ema;
                if (ema > hi) {
                    const double f = hi / ema; // A dominates: shrink ∇A
                    torch::Tensor g = slot.gradA;
                    g.mul_(f);
                    s.gradNormA *= f;
                } else if (ema < lo) {
                    const double f = ema / lo; // B dominates: shrink ∇B
                    torch::Tensor g = slot.gradB;
                    g.mul_(f);
                    s.gradNormB *= f;
                }
            }
            s.balancedRatio = s.gradNormA / s.gradNormB;
        }
        if (withWeightNorms) {
            s.normA = v[i * per + 2];
            s.normB = v[i * per + 3];
        }
        stats.push_back(std::move(s));
    }
    return stats;
}

} // namespace rslora::engine
