// The values of β and γ at which the preference losses stay finite in float32, shared by the training
// config's checks and the losses' own (no LibTorch here). β·h, 1/(2β) squared (ipo) and γ/β (simpo)
// are computed in float32: past these bounds a run failed at its first step with a non-finite loss and
// a hint about the learning rate, or β rounded to 0 and nothing trained.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace rslora::engine::objectives {

inline constexpr double kMaxDpoBeta = 1000.0;  // as `rslora eval --beta` takes it
// RPO's α multiplies the chosen responses' log-likelihood in float32: past float32's range it became
// infinite and the run failed at its first step with a non-finite loss and a hint about the learning rate.
inline constexpr double kMaxRpoAlpha = 1000.0; // as `rslora eval --rpo-alpha` takes it

// The problem with β (and γ for simpo), as a message starting with the key; empty when they are fine.
inline std::string dpoScaleProblem(double beta, bool ipo, bool simpo, double simpoGamma)
{
    auto num = [](double v) {
        char text[32];
        std::snprintf(text, sizeof text, "%g", v);
        return std::string(text);
    };
    const double floatMin = static_cast<double>(std::numeric_limits<float>::min());
    const double floatMax = static_cast<double>(std::numeric_limits<float>::max());
    if (!std::isfinite(beta) || beta <= 0 || beta > kMaxDpoBeta)
        return "dpo.beta must be in (0, " + num(kMaxDpoBeta) + "], found " + num(beta);
    if (beta < floatMin)
        return "dpo.beta " + num(beta) + " is below float32's smallest normal number (" + num(floatMin) +
               "): the loss computes with it rounded to 0 or nearly, and nothing would train";
    // ipo: (h − 1/(2β))², with room for h of the target's size.
    if (ipo && 1.0 / (2.0 * beta) > std::sqrt(floatMax) / 2.0)
        return "dpo.beta " + num(beta) + " makes ipo's target margin 1/(2β) = " + num(1.0 / (2.0 * beta)) +
               ", whose square overflows float32; use a beta of at least " + num(1.0 / std::sqrt(floatMax));
    if (simpo && std::isfinite(simpoGamma) && simpoGamma / beta > floatMax / 2.0)
        return "dpo.simpo_gamma / dpo.beta = " + num(simpoGamma / beta) + " overflows float32 (simpo computes γ/β); raise beta or lower simpo_gamma";
    return {};
}

} // namespace rslora::engine::objectives
