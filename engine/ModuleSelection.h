// Which linear modules get an adapter and with what rank/alpha: target names, "all-linear", a
// regex, layers_to_transform and PEFT-style rank/alpha patterns. The one place these rules live,
// used by validate() (before any work) and by the injector. No LibTorch.
#pragma once

#include "engine/AdapterConfig.h"
#include "engine/TrainConfig.h"

#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

struct ModulePlan {
    ModuleFacts module;
    int rank = 0;
    double alpha = 0.0;
    double scale = 0.0;
};

// PEFT's pattern rule: re.match(rf"(.*\.)?({key})$", name).
bool peftPatternMatches(const std::string& key, const std::string& name);

// Whether a module is adapted under a config's targets, and if not, which field leaves it out. The
// rules are PEFT's check_target_module_exists (peft/tuners/tuners_utils.py), so that a file PEFT
// would apply only in part is read the same way here: exclude_modules first (a regex matching the
// full name, or names matching exactly or as a dotted suffix); then a regex target must match the
// full name; a list target matches a name exactly, or as a dotted suffix ("all-linear": every
// projection, never the output head), and only a suffix match is subject to layers_to_transform.
// One extension: a training config's target regex also honours layersToTransform (PEFT refuses
// that pair in a file, so files never reach it). A file without target_modules (targetsFromWeights)
// targets what PEFT fills in from its table for the model type: q_proj and v_proj for every
// architecture here (peftDefaultTargets).
enum class TargetMatch { Targeted, Excluded, NotATarget, OutsideLayers };
TargetMatch matchTarget(const AdapterConfig& config, const std::string& moduleName);
// PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING entry for llama, mistral, qwen2 and qwen3.
const std::vector<std::string>& peftDefaultTargets();
bool isTargeted(const AdapterConfig& config, const ModuleFacts& module);
// The layer index PEFT reads from a module name: the digits after the last ".<name>." (any name when
// `layersPattern` is empty, else one of them) that are followed by a dot; empty when there is none.
std::optional<int> peftLayerIndex(const std::string& moduleName, const std::vector<std::string>& layersPattern);
int rankFor(const AdapterConfig& config, const std::string& moduleName);
double alphaFor(const AdapterConfig& config, const std::string& moduleName);
double adapterScale(ScalingMode mode, int rank, double alpha);
// Whether `v` is finite and within float32's range (|v| <= 3.4028235e38): scales, weights and their
// products are applied to float32 values, where anything larger overflows.
bool fitsFloat32(double v);
// float32's largest value as messages print it ("3.40282e+38").
std::string float32MaxText();
// The adapted modules in model order with their resolved rank, alpha and scale.
std::vector<ModulePlan> planModules(const AdapterConfig& config, const std::vector<ModuleFacts>& modules);

// Edit distance, for "did you mean" suggestions.
size_t editDistance(const std::string& a, const std::string& b);
// The closest candidate within a small distance, or empty.
std::string closestName(const std::string& word, const std::vector<std::string>& candidates);
// "unknown key 'K' (did you mean 'X'?); the keys are A, B, C", for config readers.
std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& known);

} // namespace rslora::engine
