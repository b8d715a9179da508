// Low-rank re-compression (see SvdCompression.h).
#include "engine/fusion/SvdCompression.h"

#include "engine/fusion/TaskArithmetic.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine::fusion {

namespace {

constexpr int64_t kOversampling = 10;
constexpr int kPowerIterations = 2;

// Truncates the SVD U S Vh of ΔW (S descending) to the target; `totalEnergy` is ‖ΔW‖².
Compressed truncate(const torch::Tensor& U, const torch::Tensor& S, const torch::Tensor& Vh, const RankTarget& target,
                    double totalEnergy, bool tailFromSpectrum)
{
    const int64_t available = S.size(0);
    int64_t k = target.energy ? rankForEnergy(S, *target.energy) : std::min<int64_t>(target.rank, available);
    k = std::max<int64_t>(1, std::min(k, available));
    Compressed c;
    c.B = (U.slice(1, 0, k) * S.slice(0, 0, k).unsqueeze(0)).contiguous();
    c.A = Vh.slice(0, 0, k).contiguous();
    c.totalEnergy = totalEnergy;
    const double kept = S.slice(0, 0, k).square().sum().item<double>();
    // The tail of a full spectrum is summed directly (no cancellation); a sketch knows only the head.
    c.discardedEnergy = tailFromSpectrum ? S.slice(0, k).square().sum().item<double>() : std::max(0.0, totalEnergy - kept);
    return c;
}

torch::Tensor orthonormalBasis(const torch::Tensor& m)
{
    return std::get<0>(torch::linalg_qr(m, "reduced"));
}

} // namespace

double Compressed::relativeError() const
{
    return totalEnergy > 0 ? std::sqrt(discardedEnergy / totalEnergy) : 0.0;
}

int64_t rankForEnergy(const torch::Tensor& sigma, double energy)
{
    const torch::Tensor sq = sigma.to(torch::kFloat64).square();
    const int64_t n = sq.size(0);
    const double total = sq.sum().item<double>();
    if (n == 0 || total <= 0)
        return 1;
    const auto* s = sq.contiguous().data_ptr<double>();
    // Tail sums from the back, so that energy 1 means "nothing non-zero discarded" despite rounding.
    std::vector<double> tail(size_t(n) + 1, 0.0);
    for (int64_t j = n - 1; j >= 0; --j)
        tail[size_t(j)] = tail[size_t(j) + 1] + s[j];
    const double allowed = (1.0 - energy) * total;
    for (int64_t k = 1; k <= n; ++k)
        if (tail[size_t(k)] <= allowed)
            return k;
    return n;
}

Compressed compressFactors(const torch::Tensor& B, const torch::Tensor& A, const RankTarget& target)
{
    const torch::Tensor b = B.to(torch::kFloat64);
    const torch::Tensor a = A.to(torch::kFloat64);
    auto [qb, rb] = torch::linalg_qr(b, "reduced");     // B = Qb Rb
    auto [qa, ra] = torch::linalg_qr(a.t(), "reduced"); // Aᵀ = Qa Ra
    const torch::Tensor core = torch::mm(rb, ra.t());   // ΔW = Qb core Qaᵀ
    auto [u, s, vh] = torch::linalg_svd(core, false);
    const double total = s.square().sum().item<double>();
    return truncate(torch::mm(qb, u), s, torch::mm(vh, qa.t()), target, total, true);
}

Compressed compressDense(const torch::Tensor& delta, const RankTarget& target, uint64_t sketchSeed)
{
    const torch::Tensor d = delta.to(torch::kFloat64);
    const int64_t n = std::min(d.size(0), d.size(1));
    const double total = d.square().sum().item<double>();
    const int64_t sketch = std::min(n, target.rank + kOversampling);
    if (target.energy || 4 * sketch >= n) {
        auto [u, s, vh] = torch::linalg_svd(d, false);
        return truncate(u, s, vh, target, total, true);
    }
    // Range finder: Q spans ΔW Ω, sharpened by power iterations; then ΔW ≈ Q (Qᵀ ΔW).
    torch::Tensor q = orthonormalBasis(torch::mm(d, rademacherMatrix(d.size(1), sketch, sketchSeed)));
    for (int i = 0; i < kPowerIterations; ++i)
        q = orthonormalBasis(torch::mm(d, orthonormalBasis(torch::mm(d.t(), q))));
    auto [u, s, vh] = torch::linalg_svd(torch::mm(q.t(), d), false);
    return truncate(torch::mm(q, u), s, vh, target, total, false);
}

} // namespace rslora::engine::fusion
