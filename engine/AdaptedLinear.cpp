// The adapted projection (see AdaptedLinear.h).
#include "engine/AdaptedLinear.h"

#include "common/Error.h"
#include "engine/DropoutMask.h"
#include "engine/LowRankLinear.h"
#include "models/PrecisionPolicy.h"

namespace rslora::engine {

AdaptedLinear::AdaptedLinear(std::shared_ptr<models::LinearLayer> base, std::string moduleName)
    : m_base(std::move(base)), m_moduleName(std::move(moduleName))
{
    if (!m_base || (m_base->weight.defined() ? m_base->weight.dim() != 2 : m_base->inFeatures() <= 0))
        throw Error(m_moduleName + ": cannot adapt a linear layer without a 2-D weight");
    if (m_base->weight.defined())
        weight = register_parameter("weight", m_base->weight, /*requires_grad=*/false);
    else // a base that computes from its own form (4-bit codes) stays a child, so it moves with the model
        register_module("base_layer", m_base);
    if (m_base->bias.defined())
        bias = register_parameter("bias", m_base->bias, /*requires_grad=*/false);
}

bool AdaptedLinear::s_handWritten = true;

torch::Tensor AdaptedLinear::forward(const torch::Tensor& x)
{
    if (m_rowCount > 0)
        return forwardMixed(x);
    if (m_activeResolved.empty())
        return baseOutput(x);
    if (!m_rowWeights.empty())
        return forwardPerRow(x);
    // The factors meet x in the compute dtype (the base's): fp32 master factors are cast per
    // forward, and their gradients come back in fp32 (PrecisionPolicy).
    const auto compute = x.scalar_type();
    if (s_handWritten && weight.defined() && compute == weight.scalar_type() && models::PrecisionPolicy::handWrittenTakes(compute)) {
        const int64_t in = weight.size(1), out = weight.size(0);
        const torch::Tensor x2 = x.reshape({-1, in});
        // On the CPU the node drops the input itself (its mask is regenerated in backward).
        const bool seeded = x2.device().is_cpu() && models::PrecisionPolicy::seededDropoutTakes(compute);
        std::vector<LowRankTerm> terms;
        for (const auto& [ad, w] : m_activeResolved) {
            const double p = ad->spec().dropout;
            const bool drop = p > 0.0 && is_training();
            const bool inNode = drop && seeded;
            terms.push_back({drop && !inNode ? x2 * dropoutMask(x2, p) : x2, models::PrecisionPolicy::asCompute(ad->A(), compute),
                             models::PrecisionPolicy::asCompute(ad->B(), compute), ad->scale() * w, inNode ? p : 0.0});
        }
        auto outShape = x.sizes().vec();
        outShape.back() = out;
        torch::Tensor b = bias;
        if (const torch::Tensor shift = activeBiasShift(); shift.defined())
            b = b.defined() ? b + shift.to(compute) : shift.to(compute);
        return lowRankLinear(x2, weight, b, terms).view(outShape);
    }
    // The generic path (autocast, mixed dtypes): the same sum through autograd's own nodes.
    torch::Tensor y = baseOutput(x);
    if (!y.is_contiguous())
        y = y.contiguous();
    // Work on 2-D views: the low-rank path accumulates into y through addmm_, so no [N, out]
    // temporary is created per adapter.
    const int64_t in = inFeatures(), out = outFeatures();
    const torch::Tensor x2 = x.reshape({-1, in});
    torch::Tensor y2 = y.view({-1, out});
    for (const auto& [ad, w] : m_activeResolved) {
        const double p = ad->spec().dropout;
        const torch::Tensor xin = (p > 0.0 && is_training()) ? x2 * dropoutMask(x2, p) : x2;
        const torch::Tensor h = torch::mm(xin, models::PrecisionPolicy::asCompute(ad->A(), xin.scalar_type()).t()).mul_(ad->scale() * w);
        // In-place addmm_ is outside autocast: under bf16 autocast y and h are bf16 while B is
        // fp32, so B meets them in their dtype (a no-op in fp32 training).
        y2.addmm_(models::PrecisionPolicy::asCompute(h, y2.scalar_type()), models::PrecisionPolicy::asCompute(ad->B().t(), y2.scalar_type()));
    }
    if (const torch::Tensor shift = activeBiasShift(); shift.defined())
        y2.add_(shift.to(y2.scalar_type()));
    return y;
}

torch::Tensor AdaptedLinear::activeBiasShift() const
{
    torch::Tensor shift;
    for (const auto& [ad, w] : m_activeResolved)
        if (const torch::Tensor& d = ad->biasDelta(); d.defined())
            shift = shift.defined() ? shift + d * w : d * w;
    return shift;
}

torch::Tensor AdaptedLinear::forwardPerRow(const torch::Tensor& x)
{
    if (x.dim() < 2)
        throw Error(m_moduleName + ": per-row adapter weights need a batched input, found " + std::to_string(x.dim()) + " dimension(s)");
    torch::Tensor y = baseOutput(x);
    // [batch, 1, ..., 1] so that each row's weight broadcasts over its tokens and features.
    std::vector<int64_t> rowShape(size_t(x.dim()), 1);
    rowShape[0] = x.size(0);
    for (size_t i = 0; i < m_activeResolved.size(); ++i) {
        const auto& [ad, w] = m_activeResolved[i];
        const double p = ad->spec().dropout;
        const torch::Tensor xin = (p > 0.0 && is_training()) ? x * dropoutMask(x, p) : x;
        torch::Tensor h = torch::matmul(xin.to(ad->A().scalar_type()), ad->A().t()) * (ad->scale() * w);
        if (const auto& rw = m_rowWeights[i]; rw.defined()) {
            if (rw.dim() != 1 || rw.size(0) != x.size(0))
                throw Error(m_moduleName + ": per-row weights of adapter '" + m_active[i].name + "' have shape "
                            + c10::str(rw.sizes()) + ", the input has " + std::to_string(x.size(0)) + " rows");
            h = h * rw.to(h.scalar_type()).view(rowShape);
        }
        y = y + torch::matmul(h, ad->B().t()).to(y.scalar_type());
        if (const torch::Tensor& d = ad->biasDelta(); d.defined()) {
            const torch::Tensor& rw = m_rowWeights[i];
            y = y + (rw.defined() ? rw.to(y.scalar_type()).view(rowShape) * w : torch::full(rowShape, w, y.options()))
                        * d.to(y.scalar_type());
        }
    }
    return y;
}

void AdaptedLinear::setRowAdapters(const std::vector<RowAdapterSet>& rows)
{
    m_rowPasses.clear();
    m_rowBiasShift = torch::Tensor();
    m_rowCount = static_cast<int64_t>(rows.size());
    if (rows.empty())
        return;
    torch::NoGradGuard ng;
    const int64_t B = m_rowCount, in = inFeatures(), out = outFeatures();
    // Set position k of every row forms one pass; rows without a k-th adapter here add zero.
    std::vector<std::vector<std::pair<const LoraAdapterImpl*, double>>> present(rows.size());
    size_t passes = 0;
    for (size_t b = 0; b < rows.size(); ++b) {
        for (const auto& [name, w] : rows[b])
            if (hasAdapter(name))
                present[b].emplace_back(&adapter(name), w);
        passes = std::max(passes, present[b].size());
    }
    auto opts = m_base->weightOptions().requires_grad(false);
    for (size_t b = 0; b < present.size(); ++b)
        for (const auto& [ad, w] : present[b])
            if (const torch::Tensor& d = ad->biasDelta(); d.defined()) {
                if (!m_rowBiasShift.defined())
                    m_rowBiasShift = torch::zeros({B, 1, out}, opts);
                m_rowBiasShift[int64_t(b)][0].add_(d.to(opts.dtype()), w);
            }
    // On the CPU in float32 the kernel reads every row's factors where they are.
    bool inPlace = opts.device().is_cpu() && opts.dtype() == torch::kFloat32;
    for (size_t k = 0; k < passes && inPlace; ++k) {
        RowPass pass;
        for (const auto& p : present) {
            RowFactors f;
            if (k < p.size()) {
                f.a = p[k].first->A().detach();
                f.b = p[k].first->B().detach();
                f.coef = static_cast<float>(p[k].first->scale() * p[k].second);
                inPlace = inPlace && rowLowRankReads(f.a) && rowLowRankReads(f.b);
            }
            pass.rows.push_back(std::move(f));
        }
        m_rowPasses.push_back(std::move(pass));
    }
    if (inPlace)
        return;
    m_rowPasses.clear();
    for (size_t k = 0; k < passes; ++k) {
        int64_t rank = 0;
        for (const auto& p : present)
            if (k < p.size())
                rank = std::max<int64_t>(rank, p[k].first->A().size(0));
        // One stack per factor (a single copy of every row's factors); rows without an adapter at
        // this position, or of a smaller rank, get zero-padded factors.
        std::vector<torch::Tensor> at, bt;
        std::vector<double> coef;
        torch::Tensor zeroA, zeroB;
        for (size_t b = 0; b < present.size(); ++b) {
            if (k >= present[b].size()) {
                if (!zeroA.defined()) {
                    zeroA = torch::zeros({in, rank}, opts);
                    zeroB = torch::zeros({rank, out}, opts);
                }
                at.push_back(zeroA);
                bt.push_back(zeroB);
                coef.push_back(0.0);
                continue;
            }
            const auto& [ad, w] = present[b][k];
            torch::Tensor A = ad->A().detach().t(), Bf = ad->B().detach().t();  // [in, r], [r, out]
            if (A.size(1) < rank) {
                A = torch::cat({A.to(opts.dtype()), torch::zeros({in, rank - A.size(1)}, opts)}, 1);
                Bf = torch::cat({Bf.to(opts.dtype()), torch::zeros({rank - Bf.size(0), out}, opts)}, 0);
            }
            at.push_back(A.to(opts.dtype()));
            bt.push_back(Bf.to(opts.dtype()));
            coef.push_back(ad->scale() * w);
        }
        RowPass pass{{}, torch::stack(at), torch::stack(bt),
                     torch::tensor(coef, torch::kFloat64).to(opts.dtype()).to(opts.device()).view({B, 1, 1})};
        m_rowPasses.push_back(std::move(pass));
    }
}

torch::Tensor AdaptedLinear::forwardMixed(const torch::Tensor& x)
{
    if (x.dim() < 2 || x.size(0) != m_rowCount)
        throw Error(m_moduleName + ": the mixed batch was set for " + std::to_string(m_rowCount) + " rows, the input has "
                    + (x.dim() < 2 ? std::string("no batch dimension") : std::to_string(x.size(0)) + " rows"));
    torch::Tensor y = baseOutput(x);
    if (!y.is_contiguous())
        y = y.contiguous();
    const int64_t in = inFeatures(), out = outFeatures();
    const torch::Tensor x3 = x.reshape({m_rowCount, -1, in});
    torch::Tensor y3 = y.view({m_rowCount, -1, out});
    // The in-place passes (a float32 base on the CPU) read x and add into y as float32.
    const bool inPlace = !m_rowPasses.empty() && !m_rowPasses.front().rows.empty();
    const torch::Tensor x3f = inPlace ? x3.to(torch::kFloat32).contiguous() : torch::Tensor();
    for (const auto& pass : m_rowPasses) {
        if (!pass.rows.empty()) {
            addRowLowRank(x3f, y3, pass.rows);
            continue;
        }
        const torch::Tensor h = torch::bmm(x3.to(pass.at.scalar_type()), pass.at).mul_(pass.coef);
        y3.baddbmm_(h.to(y3.scalar_type()), pass.bt.to(y3.scalar_type()));
    }
    if (m_rowBiasShift.defined())
        y3.add_(m_rowBiasShift.to(y3.scalar_type()));
    return y;
}

LoraAdapterImpl& AdaptedLinear::addAdapter(const std::string& name, const AdapterSpec& spec)
{
    if (hasAdapter(name))
        throw Error(m_moduleName + " already has an adapter named '" + name + "'");
    if (spec.init == InitMode::Spectral && spec.parameterization == Parameterization::RandomSubspace)
        throw Error("spectral init and the random_subspace parameterization cannot be combined (" + m_moduleName + ")");
    if (!weight.defined() && spec.init == InitMode::Spectral)
        throw Error(m_moduleName + ": spectral init needs the full-precision base weight, but this base is held in 4 bits"
                    " (model.quantization); use init lora, gaussian or rescaled, or model.quantization none");
    // A 4-bit base has no dense weight to hand over; the adapter needs only its shape, dtype and device.
    LoraAdapter ad(m_moduleName, name, spec,
                   weight.defined() ? weight
                                    : torch::zeros({1, 1}, m_base->weightOptions()).expand({outFeatures(), inFeatures()}));
    // A name used before keeps its slot after removeAdapter (a Module cannot unregister): reuse it.
    if (named_children().find("lora_" + name))
        replace_module("lora_" + name, ad);
    else
        register_module("lora_" + name, ad);
    if (spec.init == InitMode::Spectral) {
        torch::NoGradGuard ng;
        // The base may view a read-only mapped checkpoint: give it its own memory before
        // turning it into the residual (set_data keeps the tensor shared with the base layer).
        weight.set_data(weight.detach().clone());
        weight.sub_(ad->baseCorrection().to(weight.dtype()));
    }
    m_adapters.emplace_back(name, ad);
    auto active = m_active;
    active.push_back({name, 1.0});
    setActiveAdapters(active);
    return *ad;
}

bool AdaptedLinear::hasAdapter(const std::string& name) const
{
    for (const auto& [n, a] : m_adapters)
        if (n == name)
            return true;
    return false;
}

LoraAdapterImpl& AdaptedLinear::adapter(const std::string& name)
{
    for (auto& [n, a] : m_adapters)
        if (n == name)
            return *a;
    throw Error(m_moduleName + " has no adapter named '" + name + "'");
}

const LoraAdapterImpl& AdaptedLinear::adapter(const std::string& name) const
{
    return const_cast<AdaptedLinear*>(this)->adapter(name);
}

std::vector<std::string> AdaptedLinear::adapterNames() const
{
    std::vector<std::string> names;
    for (const auto& [n, a] : m_adapters)
        names.push_back(n);
    return names;
}

void AdaptedLinear::removeAdapter(const std::string& name)
{
    for (auto it = m_adapters.begin(); it != m_adapters.end(); ++it) {
        if (it->first != name)
            continue;
        if (it->second->initialA().defined()) {
            torch::NoGradGuard ng;
            weight.add_(it->second->baseCorrection().to(weight.dtype()));
        }
        m_adapters.erase(it);
        // torch::nn::Module cannot unregister; replace the slot by an empty module.
        replace_module("lora_" + name, std::make_shared<torch::nn::Module>());
        std::vector<ActiveAdapter> active;
        for (const auto& a : m_active)
            if (a.name != name)
                active.push_back(a);
        setActiveAdapters(active);
        return;
    }
    throw Error(m_moduleName + " has no adapter named '" + name + "'");
}

void AdaptedLinear::setActiveAdapters(std::vector<ActiveAdapter> active)
{
    std::vector<std::pair<LoraAdapterImpl*, double>> resolved;
    std::vector<torch::Tensor> rowWeights;
    bool perRow = false;
    for (const auto& a : active) {
        resolved.emplace_back(&adapter(a.name), a.weight);
        rowWeights.push_back(a.rowWeights);
        perRow = perRow || a.rowWeights.defined();
    }
    m_active = std::move(active);
    m_activeResolved = std::move(resolved);
    m_rowWeights = perRow ? std::move(rowWeights) : std::vector<torch::Tensor>{};
}

torch::Tensor AdaptedLinear::baseOutput(const torch::Tensor& x)
{
    return weight.defined() ? torch::linear(x, weight, bias) : m_base->forward(x);
}

torch::Tensor AdaptedLinear::denseBase() const
{
    return weight.defined() ? weight.detach().clone() : m_base->denseWeight();
}

torch::Tensor AdaptedLinear::originalWeight() const
{
    torch::NoGradGuard ng;
    torch::Tensor w = denseBase();
    for (const auto& [n, a] : m_adapters)
        if (a->initialA().defined())
            w.add_(a->baseCorrection().to(w.dtype()));
    return w;
}

torch::Tensor AdaptedLinear::mergedWeight() const
{
    if (!m_rowWeights.empty())
        throw Error(m_moduleName + ": per-row adapter weights cannot be merged into one weight");
    torch::NoGradGuard ng;
    torch::Tensor w = denseBase();
    for (const auto& [ad, wt] : m_activeResolved)
        w.add_(ad->deltaWeight().to(w.dtype()), wt);
    return w;
}

void AdaptedLinear::setBiasTrainable(bool trainable)
{
    if (bias.defined())
        bias.set_requires_grad(trainable);
}

} // namespace rslora::engine
