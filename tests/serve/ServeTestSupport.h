// Shared by the serving tests: the demo base model's folder and PEFT adapters made for it with
// non-zero B factors, so that each adapter visibly changes what the model generates.
#pragma once

#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "models/CausalLM.h"
#include "models/ModelLoader.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace rslora::servetest {

inline std::filesystem::path demoModelDir()
{
    const char* res = std::getenv("RSLORA_RESOURCES");
    return std::filesystem::path(res ? res : "resources") / "demo" / "model";
}

// Writes a rank-`rank` adapter on `targets` of the demo model to `dir`, B ~ N(0, sigma²) from `seed`.
inline void makeAdapter(const std::filesystem::path& dir, uint64_t seed, int rank, std::vector<std::string> targets,
                        double sigma = 0.05)
{
    auto model = models::loadCausalLM(demoModelDir());
    engine::AdapterSet set(*model);
    engine::AdapterConfig c;
    c.name = "default";
    c.rank = rank;
    c.alpha = 2.0 * rank;
    c.targetModules = std::move(targets);
    set.addAdapter(c, seed);
    torch::manual_seed(seed);
    torch::NoGradGuard ng;
    for (const auto& m : set.modules())
        m.module->adapter("default").factorB().normal_(0.0, sigma);
    engine::savePeftAdapter(set, "default", c, dir);
}

} // namespace rslora::servetest
