// PEFT folder checks against a base model's shapes (see PeftFolderCheck.h).
#include "engine/PeftFolderCheck.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/PeftConfigFile.h"
#include "models/ModelConfig.h"
#include "models/ModuleShapes.h"
#include "models/SafeTensorsFile.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

namespace rslora::engine {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string shapeText(const std::vector<uint64_t>& s)
{
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i)
        t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

} // namespace

PeftFolderFacts checkPeftFolder(const fs::path& dir, const std::optional<fs::path>& modelDir)
{
    const fs::path configPath = dir / kPeftConfigFile, weightsPath = dir / kPeftWeightsFile;
    if (!fs::is_directory(dir))
        throw Error("adapter folder '" + dir.string() + "' does not exist");
    if (!fs::is_regular_file(configPath))
        throw Error("'" + dir.string() + "' is not a PEFT adapter folder: " + kPeftConfigFile + " is missing");
    if (!fs::is_regular_file(weightsPath))
        throw Error("'" + dir.string() + "' is not a PEFT adapter folder: " + kPeftWeightsFile + " is missing");
    // The same reading (and the same messages) as loading the folder later.
    const std::string text = readFile(configPath);
    const AdapterConfig config = parsePeftAdapterConfig(text, configPath.string());
    PeftFolderFacts f;
    f.rank = config.rank;
    f.alpha = config.alpha;
    f.rsLora = config.scaling == ScalingMode::AlphaOverSqrtR;
    const json cfg = json::parse(text);
    if (!config.targetRegex.empty())
        f.targets.push_back(config.targetRegex);
    else if (cfg.contains("target_modules") && !cfg["target_modules"].is_null())
        f.targets = config.targetModules; // absent: the modules found in the weights (below)
    if (cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string())
        f.baseModelNameOrPath = cfg["base_model_name_or_path"].get<std::string>();

    std::map<std::string, models::ModuleShape> shapes;
    if (modelDir) {
        const auto mc = models::ModelConfig::fromFile(*modelDir / "config.json");
        for (const auto& m : models::linearModuleShapes(mc))
            shapes[m.name] = m;
    }
    const models::SafeTensorsFile weights(weightsPath);
    std::set<std::string> modules;
    for (const auto& t : weights.tensors()) {
        std::string name = t.name;
        if (name.rfind(kPeftKeyPrefix, 0) == 0)
            name.erase(0, std::string(kPeftKeyPrefix).size());
        const bool isA = name.find(".lora_A.") != std::string::npos, isB = name.find(".lora_B.") != std::string::npos;
        if (!isA && !isB)
            continue;
        const std::string module = name.substr(0, name.find(isA ? ".lora_A." : ".lora_B."));
        if (t.shape.size() != 2)
            throw Error(weightsPath.string() + ": tensor '" + t.name + "' has shape " + shapeText(t.shape) + ", expected 2 dimensions");
        modules.insert(module);
        f.parameters += int64_t(t.numel());
        if (!modelDir)
            continue;
        const auto it = shapes.find(module);
        if (it == shapes.end())
            throw Error(weightsPath.string() + ": tensor '" + t.name + "' adapts '" + module + "', which the model in "
                        + modelDir->string() + " does not have");
        const uint64_t want = uint64_t(isA ? it->second.inFeatures : it->second.outFeatures);
        const uint64_t got = isA ? t.shape[1] : t.shape[0];
        if (got != want)
            throw Error(weightsPath.string() + ": tensor '" + t.name + "' has shape " + shapeText(t.shape) + ", but "
                        + module + " of the model in " + modelDir->string() + " has " + std::to_string(it->second.inFeatures)
                        + " inputs and " + std::to_string(it->second.outFeatures) + " outputs");
    }
    if (modules.empty())
        throw Error(weightsPath.string() + ": holds no lora_A / lora_B tensors");
    f.modules = int64_t(modules.size());
    if (f.targets.empty())
        f.targets.assign(modules.begin(), modules.end());
    return f;
}

} // namespace rslora::engine
