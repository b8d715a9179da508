// The adapted projection's hand-written autograd node (see LowRankLinear.h).
#include "engine/LowRankLinear.h"

#include "engine/DropoutMask.h"

namespace rslora::engine {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Inputs, in autograd's edge order: x, weight, the bias when there is one (an undefined tensor cannot
// be an input), A_0..A_{n-1}, B_0..B_{n-1}, then the dropped inputs of the terms that have one
// (x_i ≠ x), then four non-tensor arguments. Terms with an in-node dropout p_i > 0 use
// x ⊙ mask(p_i, seed_i).
struct LowRankLinearFunction : public torch::autograd::Function<LowRankLinearFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, torch::TensorList bias,
                                 torch::TensorList as, torch::TensorList bs, torch::TensorList dropped, std::vector<double> scales,
                                 std::vector<int64_t> droppedIndex, std::vector<double> dropouts, std::vector<int64_t> seeds)
    {
        const size_t n = as.size();
        torch::Tensor y = bias.empty() ? torch::mm(x, weight.t()) : torch::addmm(bias[0], x, weight.t());
        variable_list saved{x, weight};
        for (size_t i = 0; i < n; ++i) {
            const torch::Tensor& in = droppedIndex[i] >= 0 ? dropped[size_t(droppedIndex[i])] : x;
            const torch::Tensor h = dropouts[i] > 0.0 ? torch::mm(x * dropoutMask(x, dropouts[i], uint64_t(seeds[i])), as[i].t())
                                                      : torch::mm(in, as[i].t()); // [N, r]
            y.addmm_(h, bs[i].t(), 1.0, scales[i]);
            saved.push_back(as[i]);
            saved.push_back(bs[i]);
            saved.push_back(h);
        }
        for (const auto& d : dropped)
            saved.push_back(d);
        ctx->save_for_backward(saved);
        ctx->saved_data["scales"] = scales;
        ctx->saved_data["dropped_index"] = droppedIndex;
        ctx->saved_data["dropouts"] = dropouts;
        ctx->saved_data["seeds"] = seeds;
        ctx->saved_data["has_bias"] = !bias.empty();
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const auto scales = ctx->saved_data["scales"].toDoubleVector();
        const auto droppedIndex = ctx->saved_data["dropped_index"].toIntVector();
        const auto dropouts = ctx->saved_data["dropouts"].toDoubleVector();
        const auto seeds = ctx->saved_data["seeds"].toIntVector();
        const size_t n = scales.size();
        size_t nDropped = 0;
        for (auto d : droppedIndex)
            nDropped += d >= 0;
        const torch::Tensor gy = gradOutputs[0].contiguous();
        const torch::Tensor& x = saved[0];
        const torch::Tensor& weight = saved[1];
        const size_t o = ctx->saved_data["has_bias"].toBool() ? 3 : 2; // first A's edge

        variable_list grads(o + 2 * n + nDropped + 4);
        const bool needX = ctx->needs_input_grad(0);
        torch::Tensor gx;
        if (needX)
            gx = torch::mm(gy, weight);
        if (ctx->needs_input_grad(1))
            grads[1] = torch::mm(gy.t(), x);
        if (o == 3 && ctx->needs_input_grad(2))
            grads[2] = gy.sum(0);
        for (size_t i = 0; i < n; ++i) {
            const torch::Tensor& a = saved[2 + 3 * i];
            const torch::Tensor& b = saved[3 + 3 * i];
            const torch::Tensor& h = saved[4 + 3 * i];
            const int64_t d = droppedIndex[i];
            const torch::Tensor& in = d >= 0 ? saved[2 + 3 * n + size_t(d)] : x;
            const bool needA = ctx->needs_input_grad(o + i);
            const bool needB = ctx->needs_input_grad(o + n + i);
            const bool needIn = d >= 0 ? ctx->needs_input_grad(o + 2 * n + size_t(d)) : needX;
            if (needB)
                grads[o + n + i] = torch::mm(gy.t(), h).mul_(scales[i]);
            if (!needA && !needIn)
                continue;
            const torch::Tensor t = torch::mm(gy, b); // [N, r]
            if (dropouts[i] > 0.0) {
                const torch::Tensor mask = dropoutMask(x, dropouts[i], uint64_t(seeds[i]));
                if (needA)
                    grads[o + i] = torch::mm(t.t(), x * mask).mul_(scales[i]);
                if (needIn)
                    gx.addcmul_(torch::mm(t, a), mask, scales[i]);
                continue;
            }
            if (needA)
                grads[o + i] = torch::mm(t.t(), in).mul_(scales[i]);
            if (needIn) {
                if (d >= 0)
                    grads[o + 2 * n + size_t(d)] = torch::mm(t, a).mul_(scales[i]);
                else
                    gx.addmm_(t, a, 1.0, scales[i]);
            }
        }
        grads[0] = gx;
        return grads;
    }
};

} // namespace

torch::Tensor lowRankLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                            const std::vector<LowRankTerm>& terms)
{
    std::vector<torch::Tensor> biasList, as, bs, dropped;
    if (bias.defined())
        biasList.push_back(bias);
    std::vector<double> scales, dropouts;
    std::vector<int64_t> droppedIndex, seeds;
    for (const auto& t : terms) {
        as.push_back(t.a);
        bs.push_back(t.b);
        scales.push_back(t.scale);
        dropouts.push_back(t.dropout);
        seeds.push_back(t.dropout > 0.0 ? int64_t(drawDropoutSeed()) : 0);
        if (t.input.is_same(x)) {
            droppedIndex.push_back(-1);
        } else {
            droppedIndex.push_back(int64_t(dropped.size()));
            dropped.push_back(t.input);
        }
    }
    return LowRankLinearFunction::apply(x, weight, torch::TensorList(biasList), torch::TensorList(as), torch::TensorList(bs), torch::TensorList(dropped),
                                        std::move(scales), std::move(droppedIndex), std::move(dropouts), std::move(seeds));
}

} // namespace rslora::engine
