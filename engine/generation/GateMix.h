// A learned gate as a generation request's adapter set: the gate's adapters are attached to the
// session once (checked against the hashes the gate recorded), and one prompt's mix is the gate's
// weights for that prompt, read from the base model's pooled prompt state as the gate was trained.
#pragma once

#include "engine/generation/GenerationTypes.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

class GenerationSession;

namespace fusion {
class FusionGate;
}

struct GateMix {
    AdapterMix mix;                     // session adapter names with the gate's weights
    std::vector<std::string> labels;    // the gate's names for them, in the same order
};

// The session name of a gate adapter: "gate:" and its folder's recorded hash (its path when none),
// so two gates over the same folder share one attached copy.
std::string gateAdapterSessionName(const std::string& sha256, const std::string& path);

// Attaches the gate's adapters the session lacks; throws naming the gate when its hidden size is
// not the model's, or an adapter folder is gone or changed.
void attachGateAdapters(GenerationSession& session, const fusion::FusionGate& gate);

// The gate's weights for this prompt as a request's adapter set (attachGateAdapters first).
GateMix gateMixForPrompt(GenerationSession& session, const fusion::FusionGate& gate, const std::vector<int64_t>& promptIds);

} // namespace rslora::engine
