// Low-rank re-compression of a fused delta: from factors (QR of the stacked factors, then an SVD of
// the small core, never a dense out×in matrix) or from a dense ΔW (one module of ties/dare/prune).
// Results come back as B [out, k], A [k, in] in float64 with the energy kept and discarded, so that
// the relative Frobenius error is exactly that of B A against the input.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace rslora::engine::fusion {

// Exactly one of the two is used: `energy` when set, else `rank`.
struct RankTarget {
    int64_t rank = 1;             // keep at most this many singular directions
    std::optional<double> energy; // keep the fewest directions whose σ² sum reaches this fraction of ‖ΔW‖²
};

struct Compressed {
    torch::Tensor A; // [k, in], rows orthonormal
    torch::Tensor B; // [out, k] = U_k diag(σ_k)
    double totalEnergy = 0;     // ‖ΔW‖²_F
    double discardedEnergy = 0; // ‖ΔW − B A‖²_F
    int64_t rank() const { return A.size(0); }
    double relativeError() const;
};

// The smallest k ≥ 1 whose leading σ² (descending `sigma`) keep at least `energy` of their sum.
int64_t rankForEnergy(const torch::Tensor& sigma, double energy);

// ΔW = B A (B [out, R], A [R, in]): reduced QR of B and Aᵀ, SVD of the R×R core, truncated.
Compressed compressFactors(const torch::Tensor& B, const torch::Tensor& A, const RankTarget& target);

// ΔW dense [out, in]. A fixed rank well below min(out, in) uses a seeded randomized range finder
// (oversampling 10, two power iterations) whose result is a projection of ΔW, so the reported error
// is still exactly ‖ΔW − B A‖; an energy target or a rank near min(out, in) uses a full SVD.
Compressed compressDense(const torch::Tensor& delta, const RankTarget& target, uint64_t sketchSeed);

} // namespace rslora::engine::fusion
