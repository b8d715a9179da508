// Grouped attention with a hand-written backward (see Attention.h).
#include "models/Attention.h"

#include "models/Autocast.h"

#include <cmath>

namespace rslora::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Inputs in the grouped layout: q [G, rep·T, D] (G = B·nKV; the rep query heads sharing a key/value
// head stacked along the rows), k and v [G, S, D]; mask [B, 1, 1, T, S] or undefined.
// Output O [G, rep·T, D].
struct GroupedAttentionFunction : public torch::autograd::Function<GroupedAttentionFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 torch::TensorList mask, int64_t batch, int64_t rep, double scale)
    {
        const auto qs = q * scale;
        // LibTorch 1.13's CPU bmm ran 30-45% slower with a transposed operand: the small [G, S, D]
        // and [G, rep·T, D] operands are transposed into copies, the large [G, rep·T, S] ones never.
        auto p = torch::bmm(qs, k.transpose(1, 2).contiguous()); // [G, rep·T, S]
        if (!mask.empty()) {
            const int64_t G = p.size(0), S = p.size(2), T = p.size(1) / rep;
            p.view({batch, G / batch, rep, T, S}).add_(mask[0]);
        }
        p = torch::_softmax(p, -1, false);
        auto o = torch::bmm(p, v);
        ctx->save_for_backward({qs, k, v, p, o});
        ctx->saved_data["scale"] = scale;
        return o;
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const auto& qs = saved[0];
        const auto& k = saved[1];
        const auto& v = saved[2];
        const auto& p = saved[3];
        const auto& o = saved[4];
        const double scale = ctx->saved_data["scale"].toDouble();
        const auto gO = gradOutputs[0].contiguous();
        torch::Tensor gq, gk, gv;
        if (ctx->needs_input_grad(2))
            gv = torch::bmm(gO.transpose(1, 2).contiguous(), p).transpose(1, 2); // (dOᵀ P)ᵀ
        if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
            auto ds = torch::bmm(gO, v.transpose(1, 2).contiguous()); // dP
            ds.sub_((gO * o).sum(-1, true)).mul_(p);                   // dS = P ⊙ (dP − rowsum(dO ⊙ O))
            if (ctx->needs_input_grad(0))
                gq = torch::bmm(ds, k).mul_(scale);
            if (ctx->needs_input_grad(1))
                gk = torch::bmm(qs.transpose(1, 2).contiguous(), ds).transpose(1, 2); // (qsᵀ dS)ᵀ; qs carries the scale
        }
        return {gq, gk, gv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

bool handWrittenApplies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v)
{
    if (!torch::GradMode::is_enabled() || !(q.requires_grad() || k.requires_grad() || v.requires_grad()))
        return false;
    const auto t = q.scalar_type();
    return (t == torch::kFloat32 || t == torch::kFloat64) && k.scalar_type() == t && v.scalar_type() == t && !autocastEnabled();
}

} // namespace

torch::Tensor attendGrouped(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask)
{
    const int64_t B = q.size(0), nH = q.size(1), T = q.size(2), D = q.size(3);
    const int64_t nKV = k.size(1), S = k.size(2), rep = nH / nKV;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    if (handWrittenApplies(q, k, v) && (!mask.defined() || mask.scalar_type() == q.scalar_type())) {
        std::vector<torch::Tensor> maskList;
        if (mask.defined())
            maskList.push_back(mask.expand({B, 1, 1, T, S}).contiguous());
        auto out = GroupedAttentionFunction::apply(q.reshape({B * nKV, rep * T, D}), k.reshape({B * nKV, S, D}),
                                                   v.reshape({B * nKV, S, D}), torch::TensorList(maskList), B, rep, scale);
        return out.view({B, nH, T, D}).transpose(1, 2).reshape({B, T, nH * D});
    }
    auto qg = (q * scale).reshape({B, nKV, rep * T, D});
    auto scores = torch::matmul(qg, k.transpose(-1, -2)); // [B, nKV, rep*T, S]
    if (mask.defined())
        scores = (scores.view({B, nKV, rep, T, S}) + mask).view({B, nKV, rep * T, S});
    // Float32 softmax for low-precision inputs (as transformers does); a float64 model keeps float64.
    auto probs = torch::softmax(scores, -1, q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
    if (probs.scalar_type() != q.scalar_type())
        probs = probs.to(q.scalar_type());
    auto out = torch::matmul(probs, v); // [B, nKV, rep*T, D]
    return out.view({B, nH, T, D}).transpose(1, 2).reshape({B, T, nH * D});
}

} // namespace rslora::models
