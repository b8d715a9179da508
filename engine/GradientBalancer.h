// Gradient balancing of A and B (DESIGN.md §4): per module ρ = |∇A|/|∇B| after backward, an EMA ρ̄,
// and when ρ̄ leaves [κ/τ, κ·τ] the dominant side's gradient is scaled back to the band's edge.
#pragma once

#include "engine/AdapterConfig.h"
#include "engine/AdapterSet.h"
#include "engine/TrainObserver.h"

#include <map>
#include <string>
#include <vector>

namespace rslora::engine {

class GradientBalancer {
public:
    explicit GradientBalancer(GradientBalancing options) : m_options(options) {}

    // Applies balancing to the gradients of `adapterName` (when enabled) and returns per-module
    // statistics (norms before/after, ρ, ρ̄). With enabled = false only the statistics are computed.
    std::vector<ModuleStats> apply(AdapterSet& set, const std::string& adapterName, bool withWeightNorms);

    // EMA state for checkpoints.
    const std::map<std::string, double>& state() const { return m_ema; }
    void setState(std::map<std::string, double> ema) { m_ema = std::move(ema); }

private:
    GradientBalancing m_options;
    std::map<std::string, double> m_ema;
};

} // namespace rslora::engine
