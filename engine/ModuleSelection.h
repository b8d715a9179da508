// Which linear modules get an adapter and with what rank/alpha: target names, "all-linear", a
// regex, layers_to_transform and PEFT-style rank/alpha patterns. The one place these rules live,
// used by validate() (before any work) and by the injector. No LibTorch.
#pragma once

#include "engine/AdapterConfig.h"
#include "engine/TrainConfig.h"

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
bool isTargeted(const AdapterConfig& config, const ModuleFacts& module);
int rankFor(const AdapterConfig& config, const std::string& moduleName);
double alphaFor(const AdapterConfig& config, const std::string& moduleName);
double adapterScale(ScalingMode mode, int rank, double alpha);
// The adapted modules in model order with their resolved rank, alpha and scale.
std::vector<ModulePlan> planModules(const AdapterConfig& config, const std::vector<ModuleFacts>& modules);

// Edit distance, for "did you mean" suggestions.
size_t editDistance(const std::string& a, const std::string& b);
// The closest candidate within a small distance, or empty.
std::string closestName(const std::string& word, const std::vector<std::string>& candidates);
// "unknown key 'K' (did you mean 'X'?); the keys are A, B, C", for config readers.
std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& known);

} // namespace rslora::engine
