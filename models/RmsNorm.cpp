// RMSNorm with a hand-written backward (see RmsNorm.h).
#include "models/RmsNorm.h"

#include "models/PrecisionPolicy.h"

namespace rslora::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// r = (mean(x²) + eps)^(-1/2), y = w ⊙ x · r.
// With g' = gy ⊙ w:  ∂x = r · g' − x · r³ · mean(g' ⊙ x),  ∂w = Σ_rows gy ⊙ x · r.
struct RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps)
    {
        const auto r = torch::rsqrt(x.pow(2).mean(-1, true).add_(eps));
        auto y = x * r;
        y.mul_(weight);
        ctx->save_for_backward({x, weight, r});
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const auto& x = saved[0];
        const auto& weight = saved[1];
        const auto& r = saved[2];
        const auto& gy = gradOutputs[0];
        torch::Tensor gx, gw;
        if (ctx->needs_input_grad(0)) {
            gx = gy * weight;                                   // g'
            const auto dot = (gx * x).mean(-1, true);           // mean(g' ⊙ x)
            gx.mul_(r).addcmul_(x, r.pow(3).mul_(dot), -1.0);   // r g' − x r³ mean(g' ⊙ x)
        }
        if (ctx->needs_input_grad(1))
            gw = (gy * x * r).reshape({-1, x.size(-1)}).sum(0);
        return {gx, gw, torch::Tensor()};
    }
};

// The 16-bit form, as transformers computes it: n = round16(x₃₂ · r₃₂), y = w ⊙ n. Forward is the
// same arithmetic as the generic path; backward works in float32 from what it keeps: x in its own
// 16 bits and r (one float per row), instead of the generic nodes' float32 copies of x and x · r.
//   ∂x = r · g' − x · r³ · mean(g' ⊙ x) with g' = gy ⊙ w (float32),  ∂w = Σ_rows gy ⊙ n.
struct RmsNorm16Function : public torch::autograd::Function<RmsNorm16Function> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps)
    {
        const auto x32 = x.to(torch::kFloat32);
        const auto r = torch::rsqrt(x32.pow(2).mean(-1, true) + eps);
        ctx->save_for_backward({x, weight, r});
        return weight * (x32 * r).to(x.scalar_type());
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const auto& x = saved[0];
        const auto& weight = saved[1];
        const auto& r = saved[2];
        const auto gy = gradOutputs[0].to(torch::kFloat32);
        const auto x32 = x.to(torch::kFloat32);
        torch::Tensor gx, gw;
        if (ctx->needs_input_grad(0)) {
            auto g = gy * weight.to(torch::kFloat32);
            const auto dot = (g * x32).mean(-1, true);
            g.mul_(r).addcmul_(x32, r.pow(3).mul_(dot), -1.0);
            gx = g.to(x.scalar_type());
        }
        if (ctx->needs_input_grad(1))
            gw = (gy * (x32 * r).to(x.scalar_type()).to(torch::kFloat32)).reshape({-1, x.size(-1)}).sum(0).to(weight.scalar_type());
        return {gx, gw, torch::Tensor()};
    }
};

} // namespace

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps)
{
    const bool wide = x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64;
    const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
    if (wide && weight.scalar_type() == x.scalar_type()) {
        if (grad)
            return RmsNormFunction::apply(x, weight, eps);
        auto y = x * torch::rsqrt(x.pow(2).mean(-1, true).add_(eps));
        return y.mul_(weight);
    }
    if (grad && PrecisionPolicy::handWrittenTakes(x.scalar_type()) && weight.scalar_type() == x.scalar_type())
        return RmsNorm16Function::apply(x, weight, eps);
    auto x32 = x.to(torch::kFloat32);
    auto y = x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + eps);
    return weight * y.to(x.scalar_type());
}

} // namespace rslora::models
