// Grouped attention with a hand-written backward (see Attention.h).
#include "models/Attention.h"

#include "models/AtenParallel.h"
#include "models/Autocast.h"
#include "models/BlasThreads.h"

#include <cmath>
#include <exception>
#include <mutex>

namespace rslora::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Runs body(g) for every group g in [0, G). Each group's products, softmax and row sums are small
// (a [rep·T, S] slice of the scores fits in the core's cache), so where there are enough groups every
// intra-op thread takes whole groups and multiplies with BLAS at one thread: a group's scores are
// written, normalised and read by the same core. Whole-tensor bmm and softmax split the same data
// differently across threads, and gained nothing from a second thread on the 135M shape. With fewer
// groups than threads the groups run in turn, each product on every BLAS thread.
// A group's arithmetic is the same either way, so results do not depend on the thread count.
template <typename Body>
void forEachGroup(int64_t groups, const Body& body)
{
    if (groups < at::get_num_threads()) {
        for (int64_t g = 0; g < groups; ++g)
            body(g);
        return;
    }
    SingleThreadedBlas blas;
    std::exception_ptr failure;
    std::mutex failureMutex;
    at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
        // Grad mode is per thread, and the pool's threads start with it on; the node's own
        // products must not be recorded. An error is carried back to the calling thread.
        const torch::NoGradGuard noGrad;
        try {
            for (int64_t g = begin; g < end; ++g)
                body(g);
        } catch (...) {
            const std::lock_guard<std::mutex> lock(failureMutex);
            if (!failure)
                failure = std::current_exception();
        }
    });
    if (failure)
        std::rethrow_exception(failure);
}

// Inputs in the grouped layout: q [G, rep·T, D] (G = B·nKV; the rep query heads sharing a key/value
// head stacked along the rows), k and v [G, S, D]; mask [B, 1, 1, T, S] or undefined.
// Output O [G, rep·T, D].
struct GroupedAttentionFunction : public torch::autograd::Function<GroupedAttentionFunction> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 torch::TensorList mask, int64_t batch, int64_t rep, double scale)
    {
        const int64_t G = q.size(0), rows = q.size(1), S = k.size(1), T = rows / rep;
        const auto qs = torch::empty_like(q, at::MemoryFormat::Contiguous);
        const auto p = torch::empty({G, rows, S}, q.options());
        const auto o = torch::empty({G, rows, v.size(2)}, q.options());
        const torch::Tensor m = mask.empty() ? torch::Tensor() : mask[0];
        forEachGroup(G, [&](int64_t g) {
            auto qg = qs[g];
            auto pg = p[g];
            auto og = o[g];
            qg.copy_(q[g]).mul_(scale);
            at::mm_out(pg, qg, k[g].t());
            if (m.defined())
                pg.view({rep, T, S}).add_(m[g / (G / batch)][0][0]);
            at::_softmax_out(pg, pg, -1, false);
            at::mm_out(og, pg, v[g]);
        });
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
        const bool wantQ = ctx->needs_input_grad(0), wantK = ctx->needs_input_grad(1), wantV = ctx->needs_input_grad(2);
        torch::Tensor gq = wantQ ? torch::empty_like(qs) : torch::Tensor();
        torch::Tensor gk = wantK ? torch::empty_like(k, at::MemoryFormat::Contiguous) : torch::Tensor();
        torch::Tensor gv = wantV ? torch::empty_like(v, at::MemoryFormat::Contiguous) : torch::Tensor();
        forEachGroup(qs.size(0), [&](int64_t g) {
            const auto gOg = gO[g];
            const auto pg = p[g];
            if (wantV) {
                auto gvg = gv[g];
                at::mm_out(gvg, pg.t(), gOg); // Pᵀ dO
            }
            if (!wantQ && !wantK)
                return;
            auto ds = at::mm(gOg, v[g].t());                  // dP
            ds.sub_((gOg * o[g]).sum(-1, true)).mul_(pg);     // dS = P ⊙ (dP − rowsum(dO ⊙ O))
            if (wantQ) {
                auto gqg = gq[g];
                at::mm_out(gqg, ds, k[g]).mul_(scale);
            }
            if (wantK) {
                auto gkg = gk[g];
                at::mm_out(gkg, ds.t(), qs[g]); // dSᵀ qs; qs carries the scale
            }
        });
        return {gq, gk, gv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

bool handWrittenApplies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v)
{
    if (!torch::GradMode::is_enabled() || !(q.requires_grad() || k.requires_grad() || v.requires_grad()))
        return false;
    // The group loop hands groups to CPU threads; on a GPU (a LibTorch 1.x CUDA build, where no
    // fused attention exists) the generic nodes keep each product one batched kernel.
    if (!q.device().is_cpu())
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
