// Trained biases in a fusion. An adapter trained with bias "lora_only" stores each adapted module's
// whole trained bias bᵢ (PEFT writes absolute values, not changes), so its change is bᵢ − b against the
// base model's bias b. The fused adapter stores b + combine(λᵢ (bᵢ − b)), where combine is the plain
// sum for exact and svd (a bias needs no re-compression) and the method's own rule for ties,
// dare_linear, dare_ties and magnitude_prune (each bias treated as an [out, 1] delta, its DARE stream
// keyed by "<module>.bias"). An adapter that trained no bias of a module contributes no change to it.
#pragma once

#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/FusionPlan.h"

#include <map>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

// Whether any adapter carries trained biases (then the plan needs baseModelDir).
bool hasTrainedBiases(const std::vector<AdapterFactors>& adapters);

// The fused biases by module (float32, [out]). Reads b of every module some adapter trained from
// plan.baseModelDir. Throws rslora::Error naming the adapter, module and file for: no base model
// folder, a base that lacks the module's bias or holds it in another shape or a non-float dtype, a
// base whose fingerprint differs from one recorded with an adapter (plan.baseFingerprints),
// non-finite base values, a fused bias that is not finite in float32.
std::map<std::string, torch::Tensor> fuseTrainedBiases(const FusionPlan& plan, const std::vector<AdapterFactors>& adapters);

} // namespace rslora::engine::fusion
