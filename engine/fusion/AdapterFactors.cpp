// Adapters as factors (see AdapterFactors.h; PEFT format facts from reference/peft.md §8).
#include "engine/fusion/AdapterFactors.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "engine/PeftAdapterIO.h"
#include "engine/PeftConfigFile.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace rslora::engine::fusion {

namespace fs = std::filesystem;
using nlohmann::json;

torch::Tensor ModuleFactors::delta() const
{
    return torch::mm(B, A) * scale;
}

const ModuleFactors* AdapterFactors::find(const std::string& module) const
{
    auto it = std::lower_bound(modules.begin(), modules.end(), module,
                               [](const ModuleFactors& m, const std::string& name) { return m.module < name; });
    return it != modules.end() && it->module == module ? &*it : nullptr;
}

int64_t AdapterFactors::maxRank() const
{
    int64_t r = 0;
    for (const auto& m : modules)
        r = std::max(r, m.rank());
    return r;
}

std::string modelFolderName(const std::string& nameOrPath)
{
    fs::path p(nameOrPath);
    if (p.filename().empty())
        p = p.parent_path();
    return p.filename().string();
}

AdapterFactors readAdapterFactors(const fs::path& dir, TrainedBiasUse biases)
{
    const AdapterConfig config = readPeftAdapterConfig(dir);
    const fs::path weightsPath = dir / kPeftWeightsFile;
    requirePeftWeightsFile(dir); // names PEFT's pickle format when only adapter_model.bin is there

    AdapterFactors out;
    out.dir = dir;
    out.label = dir.string();
    out.baseModelNameOrPath = readPeftBaseModelName(dir);

    // The loader's rules (readLoraTensors): keys, pairs, ranks, values.
    const LoraTensors lora = readLoraTensors(weightsPath, config);
    const auto& weights = lora.byKey;
    for (const auto& p : lora.modules) {
        ModuleFactors m;
        m.module = p.module;
        m.A = weights.at(p.a.key).to(torch::kFloat32).contiguous();
        m.B = weights.at(p.b.key).to(torch::kFloat32).contiguous();
        m.scale = adapterScale(config.scaling, int(p.rank()), alphaFor(config, p.module));
        out.modules.push_back(std::move(m));
        if (p.bias.key.empty())
            continue; // bias "lora_only" on a module without a bias trains nothing more
        if (biases == TrainedBiasUse::Refuse)
            throw Error(weightsPath.string() + ": tensor '" + p.bias.key + "' is a trained bias of " + p.module +
                        " (bias \"lora_only\"), but this reader was asked for lora_A / lora_B only and would drop it; "
                        "fusion (with the base model) and rslora merge take trained biases");
        out.biases[p.module] = weights.at(p.bias.key).to(torch::kFloat32).contiguous();
    }
    return out; // pairLoraTensors gives them sorted by module name
}

void writeAdapterFactors(const AdapterFactors& adapter, const fs::path& dir, const std::string& baseModelNameOrPath,
                         const std::map<std::string, std::string>& extraFiles)
{
    if (adapter.modules.empty())
        throw Error("an adapter without modules cannot be written to '" + dir.string() + "'");
    const int64_t maxRank = adapter.maxRank();
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    json rankPattern = json::object(), alphaPattern = json::object();
    std::vector<std::string> shortNames;
    for (const auto& m : adapter.modules) {
        const torch::Tensor A = m.A.to(torch::kFloat32).contiguous(), B = (m.B.to(torch::kFloat64) * m.scale).to(torch::kFloat32).contiguous();
        // Every reader refuses non-finite factors: a file holding them is never written.
        const bool finiteA = torch::isfinite(A).all().item<bool>();
        if (!finiteA || !torch::isfinite(B).all().item<bool>())
            throw Error("cannot write the adapter to '" + dir.string() + "': " + m.module + " has values that are not finite in "
                        "float32 (" + (finiteA ? "lora_B, with its scale folded in" : "lora_A") + "); nothing was written");
        tensors.emplace_back(kPeftKeyPrefix + m.module + ".lora_A.weight", A);
        tensors.emplace_back(kPeftKeyPrefix + m.module + ".lora_B.weight", B);
        if (m.rank() != maxRank) {
            rankPattern[m.module] = m.rank();
            alphaPattern[m.module] = double(m.rank());
        }
        const auto dot = m.module.rfind('.');
        const std::string shortName = dot == std::string::npos ? m.module : m.module.substr(dot + 1);
        if (std::find(shortNames.begin(), shortNames.end(), shortName) == shortNames.end())
            shortNames.push_back(shortName);
    }
    // Trained biases (bias "lora_only") go under the module's own bias key, whole, as PEFT saves them.
    for (const auto& [module, bias] : adapter.biases) {
        if (!adapter.find(module))
            throw Error("cannot write the adapter to '" + dir.string() + "': it holds a trained bias of " + module
                        + " but no lora_A / lora_B of it (PEFT trains only the biases of adapted modules)");
        const torch::Tensor b = bias.to(torch::kFloat32).contiguous();
        if (!torch::isfinite(b).all().item<bool>())
            throw Error("cannot write the adapter to '" + dir.string() + "': the trained bias of " + module
                        + " has values that are not finite in float32; nothing was written");
        tensors.emplace_back(kPeftKeyPrefix + module + ".bias", b);
    }
    std::sort(shortNames.begin(), shortNames.end());
    const json pc = {
        {"alpha_pattern", alphaPattern},
        {"base_model_name_or_path", baseModelNameOrPath},
        {"bias", adapter.biases.empty() ? "none" : "lora_only"},
        {"fan_in_fan_out", false},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"lora_alpha", double(maxRank)},
        {"lora_dropout", 0.0},
        {"modules_to_save", nullptr},
        {"peft_type", "LORA"},
        {"r", maxRank},
        {"rank_pattern", rankPattern},
        {"target_modules", shortNames},
        {"task_type", "CAUSAL_LM"},
        {"use_dora", false},
        {"use_rslora", false},
    };
    AtomicDirectory out(dir);
    models::saveSafeTensors(out.stagingPath() / kPeftWeightsFile, tensors);
    writeFileAtomic(out.stagingPath() / kPeftConfigFile, pc.dump(2) + "\n");
    for (const auto& [name, bytes] : extraFiles) {
        if (name.empty() || name.find('/') != std::string::npos || name == kPeftWeightsFile || name == kPeftConfigFile)
            throw Error("'" + name + "' cannot be written beside an adapter (a plain file name other than the PEFT files)");
        writeFileAtomic(out.stagingPath() / name, bytes);
    }
    out.commit();
}

} // namespace rslora::engine::fusion
