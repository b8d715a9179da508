// Fusion of adapters into one: fuse(plan, adapters) → the fused adapter as factors plus a report of
// the rank and relative Frobenius error per module and overall. Methods and parameters: FusionPlan.h.
// exact and svd work on the factors only; the dense methods build one module's ΔWᵢ at a time.
#pragma once

#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/FusionPlan.h"

#include <functional>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

struct ModuleReport {
    std::string module;
    int64_t rank = 0;           // rank of the fused module
    int64_t exactRank = 0;      // exact: Σ rᵢ; svd: min(Σ rᵢ, out, in); dense methods: min(out, in)
    double relativeError = 0;   // ‖ΔW − B A‖_F / ‖ΔW‖_F against the method's own full result (0 when ΔW = 0)
    double norm = 0;            // ‖ΔW‖_F of that full result
};

struct FusionReport {
    std::vector<ModuleReport> modules; // sorted by module name (the union of the sources' modules)
    double relativeError = 0;          // sqrt(Σ errors²) / sqrt(Σ ‖ΔW‖²) over all modules
    int64_t exactRank = 0;             // the largest module exactRank: the highest rank a plan may ask for
    int64_t rank = 0;                  // the largest fused module rank
    int64_t trainedBiases = 0;         // modules whose fused bias the adapter carries (bias "lora_only" sources)
};

struct FusionResult {
    AdapterFactors adapter; // scale 1 in every module
    FusionReport report;
};

// Called after each module (and once before the first with done = 0); returning false cancels.
using FusionProgress = std::function<bool(int done, int total)>;

// Thrown when the progress callback asked to stop; nothing was produced.
class FusionCancelled : public Error {
public:
    using Error::Error;
};

// Every refusal, before any work: adapters of different base models (fingerprints when the plan has
// them, else base_model_name_or_path and module shapes; naming the adapter that differs), a weight
// count that does not match, non-finite weights or factors, density outside (0, 1], drop outside
// [0, 1), a rank < 1 or above the exact rank, energy outside (0, 1], rank and energy both set.
void validateFusion(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters);

// Refuses adapters of different base models: per pair, the recorded fingerprints when both have one
// (`baseFingerprints`: one per adapter, "" for a folder outside the store, or none at all), else
// base_model_name_or_path when both name one (compared by folder name), and module shapes that
// differ. Names both adapters and what differs. Only label, dir, baseModelNameOrPath and modules
// are read, so a caller that has no factors yet may pass adapters with no modules.
void checkSameBaseModel(const std::vector<std::string>& baseFingerprints, const std::vector<AdapterFactors>& adapters);

// The exact rank of a plan over these adapters (what validateFusion compares --rank with).
int64_t exactRankOf(FusionMethod method, const std::vector<AdapterFactors>& adapters);

// Validates, then fuses. A module missing from an adapter contributes zero; the result covers the
// union. Factors come out in float64 when any source holds float64, else float32. Trained biases
// (bias "lora_only") are fused against plan.baseModelDir as BiasFusion.h describes.
FusionResult fuse(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters, const FusionProgress& progress = {});

} // namespace rslora::engine::fusion
