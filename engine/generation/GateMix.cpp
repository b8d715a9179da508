#include "engine/generation/GateMix.h"

#include "common/Error.h"
#include "engine/fusion/FusionGate.h"
#include "engine/generation/GenerationSession.h"
#include "models/CausalLM.h"

namespace rslora::engine {

std::string gateAdapterSessionName(const std::string& sha256, const std::string& path)
{
    return "gate:" + (sha256.empty() ? path : sha256.substr(0, 16));
}

void attachGateAdapters(GenerationSession& session, const fusion::FusionGate& gate)
{
    for (const auto& a : gate.adapters()) {
        const std::string name = gateAdapterSessionName(a.sha256, a.path);
        if (session.hasAdapter(name))
            continue;
        fusion::checkGateAdapterFolder(a);
        session.loadAdapter(name, a.path);
    }
}

GateMix gateMixForPrompt(GenerationSession& session, const fusion::FusionGate& gate, const std::vector<int64_t>& promptIds)
{
    const torch::Tensor pooled = session.pooledPromptState(promptIds);
    if (pooled.size(1) != gate.hiddenSize())
        throw Error("the gate reads hidden states of size " + std::to_string(gate.hiddenSize()) + ", this model's are "
                        + std::to_string(pooled.size(1)),
                    "use the gate with the base model it was trained on");
    torch::NoGradGuard ng;
    const torch::Tensor w = gate.weights(pooled).to(torch::kDouble).contiguous();
    GateMix out;
    for (size_t i = 0; i < gate.adapters().size(); ++i) {
        const auto& a = gate.adapters()[i];
        out.mix.push_back({gateAdapterSessionName(a.sha256, a.path), w[0][int64_t(i)].item<double>()});
        out.labels.push_back(a.label.empty() ? a.name : a.label);
    }
    return out;
}

} // namespace rslora::engine
