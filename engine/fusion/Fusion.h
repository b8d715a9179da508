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
    // The method's full result is zero: ‖ΔW‖_F is at most kCancelTolerance of Σ ‖λᵢ sᵢ Bᵢ Aᵢ‖_F, i.e. zero
    // up to the rounding of the sources. The module is then written as exact zeros (rank 1, B = A = 0),
    // and its relativeError and norm are 0: an error against a delta made of rounding means nothing.
    bool zero = false;
    // The adapters cancel here: their plain weighted sum Σ λᵢ sᵢ Bᵢ Aᵢ is zero in the same sense (for
    // exact and svd the same as `zero`; ties can elect a non-zero result from cancelling sources, and
    // dare or a trim can leave zero from sources that do not cancel).
    bool cancelled = false;
};

// How small a module's fused ΔW must be, relative to the sum of its weighted sources' norms, to count
// as zero (float32 sources carry a relative rounding of about 6e-8 per entry).
inline constexpr double kCancelTolerance = 1e-6;

struct FusionReport {
    std::vector<ModuleReport> modules; // sorted by module name (the union of the sources' modules)
    double relativeError = 0;          // sqrt(Σ errors²) / sqrt(Σ ‖ΔW‖²) over all modules
    int64_t exactRank = 0;             // the largest module exactRank: the highest rank a plan may ask for
    int64_t rank = 0;                  // the largest fused module rank
    int64_t trainedBiases = 0;         // modules whose fused bias the adapter carries (bias "lora_only" sources)
    int64_t zeroModules = 0;           // modules written as zeros (ModuleReport::zero)
    int64_t cancelledModules = 0;      // modules whose sources cancel (ModuleReport::cancelled)
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
// union. When the result is zero in every module and no trained bias is carried, throws an Error, as
// for weights that are all 0: saying that the adapters cancel (for example one adapter given twice with
// weights 1 and -1), or that the method's drop or density left nothing. Factors come out in float64 when any source holds float64, else float32. Trained biases
// (bias "lora_only") are fused against plan.baseModelDir as BiasFusion.h describes.
FusionResult fuse(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters, const FusionProgress& progress = {});

} // namespace rslora::engine::fusion
