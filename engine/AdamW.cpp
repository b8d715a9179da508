// AdamW (see AdamW.h): the update of torch.optim.AdamW (decoupled decay, bias-corrected moments).
#include "engine/AdamW.h"

#include "common/Error.h"
#include "models/PrecisionPolicy.h"

#include <cmath>

namespace rslora::engine {

AdamW::AdamW(std::vector<AdamWParam> params, AdamWOptions options)
    : m_params(std::move(params)), m_options(options)
{
    for (const auto& p : m_params) {
        const auto options = p.param.options().dtype(models::PrecisionPolicy::optimizerStateDtype(p.param.scalar_type()));
        m_expAvg.push_back(torch::zeros(p.param.sizes(), options));
        m_expAvgSq.push_back(torch::zeros(p.param.sizes(), options));
    }
}

void AdamW::step(double lr, const torch::Tensor& apply)
{
    torch::NoGradGuard ng;
    ++m_step;
    const double b1 = m_options.beta1, b2 = m_options.beta2;
    const double bc1 = 1.0 - std::pow(b1, double(m_step));
    const double bc2 = 1.0 - std::pow(b2, double(m_step));
    const bool masked = apply.defined();
    for (size_t i = 0; i < m_params.size(); ++i) {
        auto& p = m_params[i];
        if (!p.param.grad().defined())
            continue;
        // A 16-bit parameter is updated in the state's float32 and rounded once at the end. Under a
        // mask the update is computed on copies and kept only where `apply` is true.
        const auto stateType = m_expAvg[i].scalar_type();
        const bool narrow = p.param.scalar_type() != stateType;
        torch::Tensor param = narrow ? p.param.to(stateType) : masked ? p.param.clone() : p.param;
        torch::Tensor avg = masked ? m_expAvg[i].clone() : m_expAvg[i];
        torch::Tensor avgSq = masked ? m_expAvgSq[i].clone() : m_expAvgSq[i];
        const torch::Tensor g = narrow ? p.param.grad().to(stateType) : p.param.grad();
        const double plr = lr * p.lrMultiplier;
        if (p.decay && m_options.weightDecay != 0.0)
            param.mul_(1.0 - plr * m_options.weightDecay);
        avg.mul_(b1).add_(g, 1.0 - b1);
        avgSq.mul_(b2).addcmul_(g, g, 1.0 - b2);
        const torch::Tensor denom = (avgSq.sqrt() / std::sqrt(bc2)).add_(m_options.eps);
        param.addcdiv_(avg, denom, -plr / bc1);
        if (masked) {
            m_expAvg[i].copy_(torch::where(apply, avg, m_expAvg[i]));
            m_expAvgSq[i].copy_(torch::where(apply, avgSq, m_expAvgSq[i]));
            p.param.copy_(torch::where(apply, narrow ? param.to(p.param.scalar_type()) : param, p.param));
        } else if (narrow) {
            p.param.copy_(param);
        }
    }
}

void AdamW::zeroGrad()
{
    for (auto& p : m_params) {
        auto& g = p.param.mutable_grad();
        if (g.defined())
            g.zero_();
    }
}

std::map<std::string, torch::Tensor> AdamW::state() const
{
    std::map<std::string, torch::Tensor> s;
    for (size_t i = 0; i < m_params.size(); ++i) {
        s["exp_avg." + m_params[i].name] = m_expAvg[i];
        s["exp_avg_sq." + m_params[i].name] = m_expAvgSq[i];
    }
    return s;
}

void AdamW::loadState(const std::map<std::string, torch::Tensor>& state, int64_t step)
{
    torch::NoGradGuard ng;
    for (size_t i = 0; i < m_params.size(); ++i) {
        for (auto [prefix, target] : {std::pair{"exp_avg.", &m_expAvg[i]}, std::pair{"exp_avg_sq.", &m_expAvgSq[i]}}) {
            auto it = state.find(prefix + m_params[i].name);
            if (it == state.end())
                throw Error("checkpoint lacks optimizer state '" + std::string(prefix) + m_params[i].name + "'");
            if (it->second.sizes() != target->sizes())
                throw Error("checkpoint optimizer state '" + std::string(prefix) + m_params[i].name + "' has shape "
                            + c10::str(it->second.sizes()) + ", expected " + c10::str(target->sizes()));
            target->copy_(it->second);
        }
    }
    m_step = step;
}

} // namespace rslora::engine
