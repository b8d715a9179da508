// What a fusion of adapters should do, as a plain value: the method, one weight per adapter and the
// method's parameters. Built by the CLI and the Fuse dialog, consumed by fuse() (Fusion.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

enum class FusionMethod {
    Exact,          // Σ λᵢ sᵢ Bᵢ Aᵢ by concatenation: rank Σ rᵢ, no approximation
    Svd,            // the exact sum re-compressed to a target rank (or an energy fraction)
    Ties,           // trim each λᵢ ΔWᵢ to a density by magnitude, elect the sign by total mass, disjoint mean
    DareLinear,     // drop entries with probability p, rescale by 1/(1−p), sum
    DareTies,       // DARE's drop and rescale, then TIES's sign election and disjoint mean
    MagnitudePrune, // trim each λᵢ ΔWᵢ to a density by magnitude, sum
};

// Every method, in the order the CLI and dialog list them.
const std::vector<FusionMethod>& fusionMethods();
// "exact", "svd", "ties", "dare_linear", "dare_ties", "magnitude_prune".
std::string fusionMethodName(FusionMethod method);
// The inverse; throws rslora::Error listing the valid names for anything else.
FusionMethod parseFusionMethod(const std::string& name);
// "exact|svd|ties|dare_linear|dare_ties|magnitude_prune".
std::string fusionMethodList();
// Whether the method works on dense ΔWᵢ (one module at a time) and re-compresses afterwards.
bool isDenseMethod(FusionMethod method);
// Whether the method reads `density` (ties, magnitude_prune) / `drop` (dare_linear, dare_ties).
bool usesDensity(FusionMethod method);
bool usesDrop(FusionMethod method);

// Defaults: density 0.2 (the value of PEFT's merging guide), drop 0.8 (the same share of entries
// kept), seed 0.
inline constexpr double kDefaultDensity = 0.2;
inline constexpr double kDefaultDrop = 0.8;

struct FusionPlan {
    FusionMethod method = FusionMethod::Exact;
    std::vector<double> weights;  // one per adapter, in the adapters' order; negative = task negation
    // Target of the re-compression (svd and the dense methods; exact ignores both). At most one is
    // set; neither: the largest rank among the source adapters.
    std::optional<int64_t> rank;  // the same cap for every module (a module keeps fewer when its exact rank is lower)
    std::optional<double> energy; // per module, the smallest rank keeping this fraction of ‖ΔW‖²_F
    double density = kDefaultDensity; // ties, magnitude_prune: share of entries kept, in (0, 1]
    double drop = kDefaultDrop;       // dare_linear, dare_ties: drop probability, in [0, 1)
    uint64_t seed = 0;                // dare_*: masks (one stream per module, from seed and module name)
    // Optional: per adapter, the fingerprint of the base model it was trained on (a stored version's
    // base_model_sha256; "" when unknown). Two known fingerprints that differ refuse the fusion.
    std::vector<std::string> baseFingerprints;
    // The base model folder, read only when an adapter trained biases (bias "lora_only"): PEFT stores
    // those whole, so the fused bias b + combine(λᵢ (bᵢ − b)) needs the base's own b. Empty: such
    // adapters are refused.
    std::filesystem::path baseModelDir;
};

} // namespace rslora::engine::fusion
