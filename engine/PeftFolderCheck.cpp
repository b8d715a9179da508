// PEFT folder checks against a base model's shapes (see PeftFolderCheck.h). The key, pairing and rank
// rules are the loader's own (PeftConfigFile.h), so that a folder registered here loads later.
#include "engine/PeftFolderCheck.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "engine/PeftConfigFile.h"
#include "models/FiniteValues.h"
#include "models/ModelConfig.h"
#include "models/ModuleShapes.h"
#include "models/SafeTensorsFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace rslora::engine {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

void checkTensorValues(const models::SafeTensorsFile& weights, const models::TensorInfo& t, const std::string& file)
{
    if (!isAdapterDtype(t.dtype))
        throw Error(adapterDtypeError(file, t.name, models::dtypeName(t.dtype)));
    // The loader's value rule (checkAdapterTensorValues), on the file's bytes.
    if (!models::allFinite(weights.data(t), t.numel(), t.dtype))
        throw Error(adapterValuesError(file, t.name));
    if (!models::allFitFloat32(weights.data(t), t.numel(), t.dtype))
        throw Error(models::beyondFloat32TensorMessage(file, t.name));
}

} // namespace

PeftFolderFacts checkPeftFolder(const fs::path& dir, const std::optional<fs::path>& modelDir)
{
    const fs::path configPath = dir / kPeftConfigFile, weightsPath = dir / kPeftWeightsFile;
    std::error_code ec;
    const fs::file_status st = fs::status(dir, ec);
    if (st.type() == fs::file_type::not_found)
        throw Error("adapter folder '" + dir.string() + "' does not exist");
    if (ec)
        throw Error("adapter folder '" + dir.string() + "' cannot be read: " + ec.message());
    if (!fs::is_directory(st))
        throw Error("'" + dir.string() + "' is " + (fs::is_regular_file(st) ? "a file" : "a FIFO, socket or device") +
                    ", not an adapter folder (a PEFT adapter folder holds " + kPeftConfigFile + " and " + kPeftWeightsFile + ")");
    requirePeftConfigFile(dir);
    requirePeftWeightsFile(dir);
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

    const std::string file = weightsPath.string();
    const models::SafeTensorsFile weights(weightsPath);
    std::vector<PeftTensorShape> shapes;
    for (const auto& t : weights.tensors()) {
        shapes.push_back({t.name, std::vector<int64_t>(t.shape.begin(), t.shape.end())});
        f.parameters += int64_t(t.numel());
    }
    const std::vector<PeftModuleShapes> modules = pairLoraTensors(shapes, config, file);
    for (const auto& t : weights.tensors())
        checkTensorValues(weights, t, file);

    if (modelDir) {
        // Every slot the loader can wrap: the decoder projections and the output head.
        const auto mc = models::ModelConfig::fromFile(*modelDir / "config.json");
        std::map<std::string, std::pair<int64_t, int64_t>> layers; // name → (in, out)
        for (const auto& m : models::linearModuleShapes(mc))
            layers[m.name] = {m.inFeatures, m.outFeatures};
        layers["lm_head"] = {mc.hiddenSize, mc.vocabSize};
        const std::string where = " of the model in " + modelDir->string();
        for (const auto& m : modules) {
            const auto it = layers.find(m.module);
            if (it == layers.end())
                throw Error(file + ": tensor '" + m.a.key + "' adapts '" + m.module + "', which the model in "
                            + modelDir->string() + " does not have");
            checkLoraFitsLayer(m, it->second.first, it->second.second, file, where);
        }
    }
    f.modules = int64_t(modules.size());
    if (f.targets.empty())
        for (const auto& m : modules)
            f.targets.push_back(m.module);
    return f;
}

double largestPeftScale(const fs::path& dir)
{
    const AdapterConfig config = readPeftAdapterConfig(dir);
    const fs::path weightsPath = dir / kPeftWeightsFile;
    const models::SafeTensorsFile weights(weightsPath);
    std::vector<PeftTensorShape> shapes;
    for (const auto& t : weights.tensors())
        shapes.push_back({t.name, std::vector<int64_t>(t.shape.begin(), t.shape.end())});
    double largest = 0;
    for (const auto& m : pairLoraTensors(shapes, config, weightsPath.string()))
        largest = std::max(largest, std::abs(adapterScale(config.scaling, int(m.rank()), alphaFor(config, m.module))));
    return largest;
}

} // namespace rslora::engine
