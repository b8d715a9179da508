// The sweep dialog's check: what `rslora sweep` checks (SweepGroup::validate), and every combination
// against its model's layer shapes read from config.json (cheap: no weights), so that a rank above
// min(in, out) of a target layer is refused by value before every run of its combination fails.
#pragma once

#include "engine/sweep/SweepSpec.h"

#include <nlohmann/json.hpp>

namespace rslora::app {

class SweepChecks {
public:
    // Returns the number of runs; throws rslora::Error naming the combination and the problem.
    static int validate(const nlohmann::json& baseConfig, const engine::SweepSpec& spec);
};

} // namespace rslora::app
