// Parameters and initialization of one adapter (see LoraAdapter.h; math in DESIGN.md §4).
#include "engine/LoraAdapter.h"

#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "models/PrecisionPolicy.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace rslora::engine {

namespace {

at::Generator cpuGenerator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

// Random values are drawn on the CPU in float32 and then moved, so that a seed gives the same
// numbers whatever the device or dtype of the model.
torch::Tensor randnCpu(at::IntArrayRef shape, at::Generator& gen)
{
    return at::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
}

torch::ScalarType factorDtype(const AdapterSpec& spec, const torch::Tensor& weight)
{
    return spec.dtype.value_or(models::PrecisionPolicy().adapterDtypeFor(weight.scalar_type()));
}

} // namespace

double AdapterSpec::scale() const { return adapterScale(scaling, rank, alpha); }

uint64_t stableHash(const std::string& s, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    // Final avalanche so that nearby seeds give unrelated generators.
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

LoraAdapterImpl::LoraAdapterImpl(std::string moduleName, std::string adapterName, const AdapterSpec& spec,
                                 const torch::Tensor& weight)
    : m_moduleName(std::move(moduleName)), m_adapterName(std::move(adapterName)), m_spec(spec)
{
    const int64_t out = weight.size(0), in = weight.size(1);
    // A drawn init needs r <= min(in, out) (an SVD of the weight, a meaningful new adapter); saved
    // factors load at any rank, as PEFT loads them: B A has rank min(r, in, out) all the same.
    if (spec.rank < 1)
        throw Error("rank " + std::to_string(spec.rank) + " for " + m_moduleName + " must be at least 1");
    if (spec.drawInit && spec.rank > std::min(in, out))
        throw Error("rank " + std::to_string(spec.rank) + " for " + m_moduleName + " must be between 1 and min(in, out) = "
                    + std::to_string(std::min(in, out)));
    m_scale = spec.scale();
    if (spec.parameterization == Parameterization::RandomSubspace)
        initSubspace(weight);
    else
        initFull(weight);
}

void LoraAdapterImpl::initFull(const torch::Tensor& weight)
{
    const int64_t out = weight.size(0), in = weight.size(1), r = m_spec.rank;
    const auto opts = weight.options().dtype(factorDtype(m_spec, weight)).requires_grad(false);
    at::Generator gen = cpuGenerator(stableHash(m_moduleName + "/" + m_adapterName, m_spec.initSeed));
    torch::Tensor A, B;
    if (!m_spec.drawInit) {
        m_A = register_parameter("A", torch::zeros({r, in}, opts));
        m_B = register_parameter("B", torch::zeros({out, r}, opts));
        return;
    }
    switch (m_spec.init) {
    case InitMode::Lora: {
        // Kaiming-uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in)), as nn.Linear and PEFT.
        const double bound = 1.0 / std::sqrt(double(in));
        A = at::empty({r, in}, torch::kFloat32).uniform_(-bound, bound, gen);
        B = torch::zeros({out, r}, torch::kFloat32);
        break;
    }
    case InitMode::Gaussian:
        A = randnCpu({r, in}, gen).mul_(1.0 / double(r)); // PEFT: std = 1/r
        B = torch::zeros({out, r}, torch::kFloat32);
        break;
    case InitMode::Rescaled:
        A = randnCpu({r, in}, gen).mul_(m_spec.initSigma / std::sqrt(double(r)));
        B = torch::zeros({out, r}, torch::kFloat32);
        break;
    case InitMode::Spectral: {
        torch::Tensor U, S, V;
        truncatedSvd(weight.detach().to(torch::kFloat64).cpu(), int(r), m_spec.randomizedSvd, m_spec.svdIterations,
                     stableHash(m_moduleName, m_spec.initSeed), U, S, V);
        // Split S_r / s evenly so that |A|_F = |B|_F and s·B A is the top-r part of W.
        const torch::Tensor root = (S / m_scale).sqrt();
        A = (root.unsqueeze(1) * V.t());
        B = (U * root.unsqueeze(0));
        break;
    }
    }
    m_A = register_parameter("A", A.to(opts).contiguous());
    m_B = register_parameter("B", B.to(opts).contiguous());
    if (m_spec.init == InitMode::Spectral) {
        m_A0 = register_buffer("A0", m_A.detach().clone());
        m_B0 = register_buffer("B0", m_B.detach().clone());
    }
}

void LoraAdapterImpl::initSubspace(const torch::Tensor& weight)
{
    const int64_t out = weight.size(0), in = weight.size(1), r = m_spec.rank, k = m_spec.subspaceDim;
    const auto opts = weight.options().dtype(factorDtype(m_spec, weight)).requires_grad(false);
    // Bases depend on the module and the projection seed only: never stored, regenerated on load.
    at::Generator pgen = cpuGenerator(stableHash(m_moduleName, m_spec.projectionSeed));
    torch::Tensor PA = randnCpu({k, r, in}, pgen).mul_(1.0 / std::sqrt(double(in)));
    torch::Tensor PB = randnCpu({k, out, r}, pgen).mul_(1.0 / std::sqrt(double(r)));
    m_PA = register_buffer("PA", PA.to(opts).contiguous());
    m_PB = register_buffer("PB", PB.to(opts).contiguous());
    at::Generator gen = cpuGenerator(stableHash(m_moduleName + "/" + m_adapterName, m_spec.initSeed));
    // a small and random, b = 0: ΔW = 0 at step 0 while B's coefficients still get a gradient.
    m_a = register_parameter("a", randnCpu({k}, gen).mul_(1.0 / std::sqrt(double(k))).to(opts));
    m_b = register_parameter("b", torch::zeros({k}, opts));
}

torch::Tensor LoraAdapterImpl::A() const
{
    if (m_spec.parameterization == Parameterization::Full)
        return m_A;
    const int64_t k = m_PA.size(0);
    return torch::mv(m_PA.view({k, -1}).t(), m_a).view({m_PA.size(1), m_PA.size(2)});
}

torch::Tensor LoraAdapterImpl::B() const
{
    if (m_spec.parameterization == Parameterization::Full)
        return m_B;
    const int64_t k = m_PB.size(0);
    return torch::mv(m_PB.view({k, -1}).t(), m_b).view({m_PB.size(1), m_PB.size(2)});
}

torch::Tensor LoraAdapterImpl::deltaWeight() const { return torch::mm(B(), A()) * m_scale; }

torch::Tensor LoraAdapterImpl::baseCorrection() const
{
    if (!m_A0.defined())
        return {};
    return torch::mm(m_B0, m_A0) * m_scale;
}

void LoraAdapterImpl::setFactors(const torch::Tensor& A, const torch::Tensor& B)
{
    if (m_spec.parameterization != Parameterization::Full)
        throw Error(m_moduleName + ": adapter '" + m_adapterName + "' is a random-subspace adapter; set its coefficients instead of A and B");
    if (A.sizes() != m_A.sizes() || B.sizes() != m_B.sizes())
        throw Error(m_moduleName + ": adapter '" + m_adapterName + "' expects A " + c10::str(m_A.sizes()) + " and B "
                    + c10::str(m_B.sizes()) + ", found " + c10::str(A.sizes()) + " and " + c10::str(B.sizes()));
    torch::NoGradGuard ng;
    m_A.copy_(A);
    m_B.copy_(B);
}

void LoraAdapterImpl::setCoefficients(const torch::Tensor& a, const torch::Tensor& b)
{
    if (m_spec.parameterization != Parameterization::RandomSubspace)
        throw Error(m_moduleName + ": adapter '" + m_adapterName + "' is not a random-subspace adapter");
    if (a.sizes() != m_a.sizes() || b.sizes() != m_b.sizes())
        throw Error(m_moduleName + ": adapter '" + m_adapterName + "' expects " + std::to_string(m_a.size(0))
                    + " coefficients per factor, found " + c10::str(a.sizes()) + " and " + c10::str(b.sizes()));
    torch::NoGradGuard ng;
    m_a.copy_(a);
    m_b.copy_(b);
}

void LoraAdapterImpl::setInitialFactors(const torch::Tensor& A0, const torch::Tensor& B0)
{
    torch::NoGradGuard ng;
    if (m_A0.defined()) {
        m_A0.copy_(A0);
        m_B0.copy_(B0);
    } else {
        m_A0 = register_buffer("A0", A0.detach().clone());
        m_B0 = register_buffer("B0", B0.detach().clone());
    }
}

void LoraAdapterImpl::setBiasDelta(const torch::Tensor& delta)
{
    torch::NoGradGuard ng;
    if (m_biasDelta.defined())
        m_biasDelta.copy_(delta);
    else
        m_biasDelta = register_buffer("bias_delta", delta.detach().clone());
}

void LoraAdapterImpl::setTrainable(bool trainable)
{
    factorA().set_requires_grad(trainable);
    factorB().set_requires_grad(trainable);
}

void truncatedSvd(const torch::Tensor& W, int r, bool randomized, int iterations, uint64_t seed, torch::Tensor& U,
                  torch::Tensor& S, torch::Tensor& V)
{
    if (!randomized) {
        auto [u, s, vh] = torch::linalg_svd(W, /*full_matrices=*/false);
        U = u.slice(1, 0, r);
        S = s.slice(0, 0, r);
        V = vh.slice(0, 0, r).t();
        return;
    }
    // Halko–Martinsson–Tropp: sample the range with oversampling, refine with power iterations
    // (re-orthonormalized each time), then an exact SVD of the small projected matrix.
    const int64_t n = W.size(1);
    const int64_t q = std::min<int64_t>(std::min(W.size(0), n), r + 8);
    at::Generator gen = cpuGenerator(seed);
    torch::Tensor omega = at::randn({n, q}, gen, torch::TensorOptions().dtype(torch::kFloat32)).to(W.options());
    torch::Tensor Q = std::get<0>(torch::linalg_qr(torch::mm(W, omega)));
    for (int i = 0; i < iterations; ++i) {
        torch::Tensor Z = std::get<0>(torch::linalg_qr(torch::mm(W.t(), Q)));
        Q = std::get<0>(torch::linalg_qr(torch::mm(W, Z)));
    }
    torch::Tensor small = torch::mm(Q.t(), W); // [q, n]
    auto [ub, s, vh] = torch::linalg_svd(small, false);
    U = torch::mm(Q, ub).slice(1, 0, r);
    S = s.slice(0, 0, r);
    V = vh.slice(0, 0, r).t();
}

} // namespace rslora::engine
