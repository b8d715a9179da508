// Device-side step record (see StepHealth.h).
#include "engine/StepHealth.h"

namespace rslora::engine {

void StepHealth::reset(const torch::Device& device, int64_t parameters)
{
    const auto d = torch::TensorOptions().dtype(torch::kDouble).device(device);
    m_healthy = torch::ones({}, torch::TensorOptions().dtype(torch::kBool).device(device));
    m_lastLoss = torch::zeros({}, d);
    m_lastNorm = torch::zeros({}, d);
    m_badStep = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
    m_badLoss = torch::zeros({}, d);
    m_badNorms = torch::zeros({parameters}, d);
    m_parameters = parameters;
}

StepHealth::Norms StepHealth::gradientNorms(const std::vector<torch::Tensor>& gradients, const torch::Device& device)
{
    torch::NoGradGuard ng;
    const auto d = torch::TensorOptions().dtype(torch::kDouble).device(device);
    std::vector<torch::Tensor> all, defined;
    all.reserve(gradients.size());
    for (const auto& g : gradients) {
        all.push_back(g.defined() ? g.norm().to(torch::kDouble) : torch::zeros({}, d));
        if (g.defined())
            defined.push_back(all.back());
    }
    Norms n;
    n.perParameter = all.empty() ? torch::zeros({0}, d) : torch::stack(all);
    // Over the gradients that exist only: a zero more in the sum could round it differently.
    n.global = defined.empty() ? torch::zeros({}, d) : torch::stack(defined).square().sum().sqrt();
    return n;
}

void StepHealth::record(int64_t step, const torch::Tensor& loss, const Norms& norms)
{
    torch::NoGradGuard ng;
    const torch::Tensor l = loss.detach().to(m_lastLoss.device(), torch::kDouble).reshape({});
    const torch::Tensor finite = torch::isfinite(l).logical_and(torch::isfinite(norms.global));
    const torch::Tensor firstBad = finite.logical_not().logical_and(m_healthy);
    m_badStep = torch::where(firstBad, torch::full({}, step, m_badStep.options()), m_badStep);
    m_badLoss = torch::where(firstBad, l, m_badLoss);
    if (norms.perParameter.numel() == m_parameters)
        m_badNorms = torch::where(firstBad, norms.perParameter, m_badNorms);
    m_healthy = m_healthy.logical_and(finite);
    m_lastLoss = l;
    m_lastNorm = norms.global;
}

StepHealth::Reading StepHealth::read() const
{
    Reading r;
    if (!m_healthy.defined())
        return r;
    // One transfer: [loss, norm, healthy, bad step, bad loss, bad norms...].
    const torch::Tensor all = torch::cat({torch::stack({m_lastLoss, m_lastNorm, m_healthy.to(torch::kDouble), m_badStep.to(torch::kDouble),
                                                        m_badLoss}),
                                          m_badNorms})
                                  .to(torch::kCPU);
    const double* v = all.data_ptr<double>();
    r.loss = v[0];
    r.gradNorm = v[1];
    if (v[2] == 0.0) {
        r.firstBadStep = int64_t(v[3]);
        r.badLoss = v[4];
        for (int64_t i = 0; i < m_parameters; ++i)
            if (!std::isfinite(v[5 + i])) {
                r.badParameter = i;
                break;
            }
    }
    return r;
}

} // namespace rslora::engine
