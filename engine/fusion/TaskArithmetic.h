// Task arithmetic on dense deltas of one module: TIES (trim, elect sign, disjoint mean), DARE (seeded
// random drop and rescale), magnitude pruning. The random draws are exposed so that a test or an
// external check can reproduce them exactly.
#pragma once

#include "engine/fusion/FusionPlan.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

// The seed of one module's random streams: depends on the fusion seed and the module's name only,
// so a module's draws do not change when other modules are added or removed.
uint64_t moduleSeed(uint64_t seed, const std::string& module);

// splitmix64: the generator behind every draw here (portable, unlike std:: distributions).
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t state) : m_state(state) {}
    uint64_t next();
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
    uint64_t m_state;
};

// DARE's keep mask (bool, `shape`) for adapter `adapterIndex` in `module`: entry j (row-major) is kept
// when the j-th uniform of the stream SplitMix64(moduleSeed(seed, module) ^ streamSalt(adapterIndex))
// is ≥ drop, so it is kept with probability 1 − drop.
torch::Tensor dareKeepMask(uint64_t seed, const std::string& module, size_t adapterIndex, at::IntArrayRef shape,
                           double drop);
uint64_t streamSalt(size_t adapterIndex);

// How many of n entries a density keeps: round(density · n), at least 1.
int64_t keptCount(int64_t n, double density);
// Trimming keeps the entries whose magnitude is at least the keptCount-th largest (ties at that
// magnitude all stay).

// A matrix [rows, cols] of ±1 from SplitMix64(seed) (the sketch of the randomized range finder).
torch::Tensor rademacherMatrix(int64_t rows, int64_t cols, uint64_t seed);

// Combines the weighted deltas τᵢ = λᵢ sᵢ Bᵢ Aᵢ of one module (same shape, float64) by a dense method:
//   magnitude_prune: Σ trim(τᵢ)
//   ties:            elect σ = sign(Σ trim(τᵢ)) (0 → +1); Σ_{sign τᵢ = σ} trim(τᵢ) / #{i: sign τᵢ = σ}
//   dare_linear:     Σ mᵢ ⊙ τᵢ / (1 − p)
//   dare_ties:       the ties election and disjoint mean over mᵢ ⊙ τᵢ / (1 − p)
// `adapterIndices[i]` is τᵢ's position among all adapters (it picks the DARE stream).
torch::Tensor mergeDeltas(FusionMethod method, const std::vector<torch::Tensor>& weighted,
                          const std::vector<size_t>& adapterIndices, const FusionPlan& plan, const std::string& module);

} // namespace rslora::engine::fusion
