// adapter_config.json and PEFT tensor keys (see PeftConfigFile.h; format facts from reference/peft.md §1, §8).
#include "engine/PeftConfigFile.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "models/StrictJson.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace rslora::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Ranks beyond this are no adapter any model here could hold; it also keeps int conversions exact.
constexpr int64_t kMaxRank = 1 << 20;

class ConfigFields {
public:
    ConfigFields(const json& object, std::string source) : m_object(object), m_source(std::move(source)) {}

    const json& operator()(const char* key) const
    {
        static const json null;
        auto it = m_object.find(key);
        return it == m_object.end() ? null : *it;
    }

    [[noreturn]] void fail(const std::string& key, const std::string& what, const json& value) const
    {
        throw Error(m_source + ": \"" + key + "\" " + what + ", found " + jsonValueText(value));
    }

    int rank(const std::string& key, const json& v) const
    {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxRank)
            fail(key, "must be a positive integer rank", v);
        return static_cast<int>(v.get<int64_t>());
    }

    double finite(const std::string& key, const json& v) const
    {
        if (!v.is_number() || !std::isfinite(v.get<double>()))
            fail(key, "must be a finite number", v);
        return v.get<double>();
    }

    std::string string(const std::string& key, const json& v) const
    {
        if (!v.is_string())
            fail(key, "must be a string", v);
        return v.get<std::string>();
    }

private:
    const json& m_object;
    std::string m_source;
};

} // namespace

AdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& source, const std::string& adapterName)
{
    const json pc = models::parseJsonStrict(text, source);
    if (!pc.is_object())
        throw Error(source + ": expected a JSON object, found " + std::string(pc.type_name()));
    const ConfigFields field(pc, source);
    if (!field("peft_type").is_null() && field.string("peft_type", field("peft_type")) != "LORA")
        throw Error(source + ": peft_type '" + field("peft_type").get<std::string>() + "' is not supported (expected 'LORA')");
    if (!field("use_dora").is_null() && !field("use_dora").is_boolean())
        field.fail("use_dora", "must be true or false", field("use_dora"));
    if (field("use_dora").is_boolean() && field("use_dora").get<bool>())
        throw Error(source + ": DoRA adapters (use_dora: true) are not supported");
    if (field("r").is_null() || field("lora_alpha").is_null())
        throw Error(source + ": 'r' and 'lora_alpha' are required");

    AdapterConfig config;
    config.name = adapterName;
    config.rank = field.rank("r", field("r"));
    config.alpha = field.finite("lora_alpha", field("lora_alpha"));
    if (!field("use_rslora").is_null() && !field("use_rslora").is_boolean())
        field.fail("use_rslora", "must be true or false", field("use_rslora"));
    config.scaling = field("use_rslora").is_boolean() && field("use_rslora").get<bool>() ? ScalingMode::AlphaOverSqrtR
                                                                                         : ScalingMode::AlphaOverR;
    for (const char* key : {"rank_pattern", "alpha_pattern"}) {
        const json& table = field(key);
        if (table.is_null())
            continue;
        if (!table.is_object())
            field.fail(key, "must be an object of module pattern → value", table);
        for (auto it = table.begin(); it != table.end(); ++it) {
            const std::string where = std::string(key) + "." + it.key();
            if (std::string(key) == "rank_pattern")
                config.rankPattern.emplace_back(it.key(), field.rank(where, it.value()));
            else
                config.alphaPattern.emplace_back(it.key(), field.finite(where, it.value()));
        }
    }
    if (!field("lora_dropout").is_null()) {
        config.dropout = field.finite("lora_dropout", field("lora_dropout"));
        if (config.dropout < 0 || config.dropout >= 1)
            field.fail("lora_dropout", "must lie in [0, 1)", field("lora_dropout"));
    }
    if (!field("bias").is_null()) {
        const auto b = field.string("bias", field("bias"));
        if (b == "lora_only")
            config.bias = BiasMode::LoraOnly;
        else if (b != "none")
            throw Error(source + ": bias '" + b + "' is not supported (expected 'none' or 'lora_only')");
    }
    const json& targets = field("target_modules");
    if (targets.is_array()) {
        config.targetModules.clear();
        for (const auto& t : targets)
            config.targetModules.push_back(field.string("target_modules[]", t));
    } else if (targets.is_string()) {
        config.targetRegex = targets.get<std::string>();
    } else if (!targets.is_null()) {
        field.fail("target_modules", "must be a list of module names or a regex string", targets);
    }
    const json& layers = field("layers_to_transform");
    auto layerIndex = [&](const json& v) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > std::numeric_limits<int>::max())
            field.fail("layers_to_transform", "must hold non-negative layer indices", v);
        return static_cast<int>(v.get<int64_t>());
    };
    if (layers.is_array()) {
        for (const auto& l : layers)
            config.layersToTransform.push_back(layerIndex(l));
    } else if (!layers.is_null()) {
        config.layersToTransform = {layerIndex(layers)};
    }
    return config;
}

AdapterConfig readPeftAdapterConfig(const fs::path& dir, const std::string& adapterName)
{
    const fs::path configPath = dir / kPeftConfigFile;
    if (!fs::exists(configPath))
        throw Error("'" + dir.string() + "' is not a PEFT adapter folder: " + std::string(kPeftConfigFile) + " is missing");
    return parsePeftAdapterConfig(readFile(configPath), configPath.string(), adapterName);
}

std::optional<LoraKey> parseLoraKey(const std::string& key, const std::string& adapterName)
{
    std::string k = key;
    if (k.rfind(kPeftKeyPrefix, 0) == 0)
        k = k.substr(std::string(kPeftKeyPrefix).size());
    for (const auto& [suffix, part] : {std::pair<std::string, LoraKey::Part>{"lora_A", LoraKey::Part::A}, {"lora_B", LoraKey::Part::B}}) {
        for (const std::string& s : {suffix + ".weight", suffix + "." + adapterName + ".weight"}) {
            if (k.size() > s.size() && k.compare(k.size() - s.size(), s.size(), s) == 0 && k[k.size() - s.size() - 1] == '.')
                return LoraKey{k.substr(0, k.size() - s.size() - 1), part};
        }
    }
    if (k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0)
        return LoraKey{k.substr(0, k.size() - 5), LoraKey::Part::Bias};
    return std::nullopt;
}

} // namespace rslora::engine
