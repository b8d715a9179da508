// adapter_config.json and the PEFT folder's files (see PeftConfigFile.h; format facts from
// reference/peft.md §1, §2, §8). Tensor keys and shape rules: PeftTensorKeys.cpp.
#include "engine/PeftConfigFile.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/UserRegex.h"
#include "engine/ModuleSelection.h"
#include "models/FiniteValues.h"
#include "models/StrictJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

namespace rslora::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Python's json (PEFT's writer and reader) writes and reads NaN, Infinity and -Infinity for floats
// that are not finite; JSON has no such values. The key before the first such literal, for a message
// that names it instead of the parser's position; empty when there is none.
std::string nonFiniteLiteralKey(const std::string& text, std::string* literal)
{
    std::string lastKey, current;
    bool inString = false, escaped = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"') {
                inString = false;
                const size_t next = text.find_first_not_of(" \t\r\n", i + 1);
                if (next != std::string::npos && text[next] == ':')
                    lastKey = current;
            } else
                current += c;
            continue;
        }
        if (c == '"') {
            inString = true;
            current.clear();
            continue;
        }
        for (const char* word : {"NaN", "Infinity", "-Infinity"})
            if (text.compare(i, std::strlen(word), word) == 0) {
                *literal = word;
                return lastKey.empty() ? std::string("(a value)") : lastKey;
            }
    }
    return {};
}


// Ranks beyond this are no adapter any model here could hold; it also keeps int conversions exact.
constexpr int64_t kMaxRank = 1 << 20;
// LoraConfig's defaults (reference/peft.md §1.1): PEFT's minimal config names neither (§8.2).
constexpr int kPeftDefaultRank = 8;
constexpr double kPeftDefaultAlpha = 8.0;

// init_lora_weights values that only decide how A and B start (reference/peft.md §1.2, §2.5-2.7): the
// saved factors are the whole adapter, so they apply to the original base as they are.
const char* const kInitOnlyValues[] = {"gaussian", "eva", "orthogonal", "mica"};

constexpr const char* kConvertHint =
    "save it from PEFT as a plain LoRA against the original weights instead: "
    "save_pretrained(..., path_initial_model_for_weight_conversion=<the adapter saved right after init>) "
    "writes a LoRA of rank 2r that loads here";
// Values with which PEFT also changes the base weight, when it creates the adapter and again when it
// loads it (reference/peft.md §2.1-2.4, §2.8): the factors fit that changed weight, never the
// original one this program applies them to, so the outputs would be silently wrong.
struct BaseChangingInit {
    const char* value;
    bool prefix; // "pissa_niter_<n>"
    const char* fix;
};
const BaseChangingInit kBaseChangingInits[] = {
    {"pissa", false, kConvertHint},
    {"pissa_niter_", true, kConvertHint},
    {"olora", false, kConvertHint},
    {"corda", false, kConvertHint},
    {"lora_ga", false, kConvertHint},
    {"loftq", false,
     "LoftQ factors fit the quantized weights PEFT puts in place of the original ones and PEFT cannot "
     "convert them; merge the adapter in PEFT (merge_and_unload) and use the merged model"},
};

// Keys that change what the adapter computes and that this program does not implement: refused when
// set to anything but their "off" value (null, false, an empty list or object). Other unknown keys
// are harmless (targeting, bookkeeping) and pass.
struct UnsupportedKey {
    const char* key;
    const char* what;
};
const UnsupportedKey kUnsupportedKeys[] = {
    {"lora_bias", "a trained bias on lora_B"},
    {"modules_to_save", "whole modules trained and saved beside the adapter"},
    {"layer_replication", "decoder layers replicated before adapting"},
    {"alora_invocation_tokens", "activated LoRA (applied only after its invocation tokens)"},
    {"use_qalora", "QA-LoRA (pooled inputs for a quantized base)"},
    {"trainable_token_indices", "trained rows of the token embeddings"},
    {"target_parameters", "LoRA on bare parameters (such as MoE expert weights)"},
    // LoRA variants that replace the adapted layer's forward (reference/peft.md §8.2); VeLoRA
    // (velora_config) is not among them: it only changes what backward keeps, the adapter is plain LoRA.
    {"kasa_config", "KaSA (the base weight's smallest singular directions removed, a trained diagonal between A and B)"},
    {"use_bdlora", "block-diagonal LoRA (factors split into blocks for tensor-parallel serving)"},
    {"arrow_config", "Arrow (tokens routed among several LoRA experts)"},
    {"monteclora_config", "MonteCLoRA (factors sampled around learned means)"},
};

bool isOff(const json& v)
{
    return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_array() || v.is_object()) && v.empty());
}

std::string lowercase(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

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

    // lora_alpha and alpha_pattern values: the scale alpha / r (or / sqrt r) multiplies float32 values
    // wherever the adapter is applied, so it must be a positive float32 number.
    double alpha(const std::string& key, const json& v) const
    {
        const double a = finite(key, v);
        if (a <= 0)
            fail(key, "must be greater than 0 (an alpha of 0 makes the adapter change nothing, a negative one reverses "
                      "it: to subtract an adapter, give it a negative weight where it is applied)", v);
        if (!fitsFloat32(a))
            fail(key, "must fit float32 (at most " + float32MaxText() + "), since the adapter's scale is applied in float32", v);
        return a;
    }

    std::string string(const std::string& key, const json& v) const
    {
        if (!v.is_string())
            fail(key, "must be a string", v);
        return v.get<std::string>();
    }

    const std::string& source() const { return m_source; }

private:
    const json& m_object;
    std::string m_source;
};

void checkInitLoraWeights(const ConfigFields& field)
{
    const json& init = field("init_lora_weights");
    if (init.is_null() || init.is_boolean())
        return;
    if (!init.is_string())
        field.fail("init_lora_weights", "must be true, false or the name of an init", init);
    const std::string value = init.get<std::string>();
    for (const char* ok : kInitOnlyValues)
        if (value == ok)
            return;
    for (const auto& b : kBaseChangingInits) {
        if (b.prefix ? value.rfind(b.value, 0) == 0 : value == b.value)
            throw Error(field.source() + ": \"init_lora_weights\" is " + jsonValueText(init) + ": PEFT changes the base weight when it "
                        "loads such an adapter, so its factors would give wrong outputs on the original model; " + b.fix);
    }
    std::string known = "true, false";
    for (const char* ok : kInitOnlyValues)
        known += std::string(", \"") + ok + "\"";
    throw Error(field.source() + ": \"init_lora_weights\" is " + jsonValueText(init) + ", an init this program does not know, so it "
                "cannot tell whether PEFT changes the base weight for it; expected " + known);
}


std::string regexField(const ConfigFields& field, const char* key, const json& v)
{
    const std::string pattern = v.get<std::string>();
    if (const std::string why = userRegexProblem(pattern); !why.empty())
        field.fail(key, "is a regex (a string, matched against whole module names) that cannot be used: " + why, v);
    return pattern;
}

std::vector<std::string> stringList(const ConfigFields& field, const std::string& key, const json& v)
{
    std::vector<std::string> out;
    for (const auto& item : v)
        out.push_back(field.string(key + "[]", item));
    return out;
}

// target_modules, exclude_modules, layers_to_transform and layers_pattern, read as PEFT's LoraConfig
// reads them (a list names modules, a string is a regex over whole names, except "all-linear"), with
// the combinations LoraConfig refuses refused too.
void readTargeting(const ConfigFields& field, AdapterConfig& config)
{
    const json& targets = field("target_modules");
    config.targetModules.clear();
    if (targets.is_array()) {
        config.targetModules = stringList(field, "target_modules", targets);
        // PEFT expands only the string "all-linear"; in a list it is a module name no module has, and
        // PEFT refuses the adapter ("Target modules {'all-linear'} not found in the base model").
        for (const std::string& t : config.targetModules)
            if (lowercase(t) == "all-linear")
                field.fail("target_modules", "holds \"" + t + "\" in a list, where PEFT takes it as a module name that no "
                                             "module has (it expands only the string form); write \"target_modules\": "
                                             "\"all-linear\", or list the modules", targets);
    } else if (targets.is_string()) {
        // PEFT's shorthand for every linear layer but the output head; any other string is a regex.
        if (lowercase(targets.get<std::string>()) == "all-linear")
            config.targetModules = {"all-linear"};
        else
            config.targetRegex = regexField(field, "target_modules", targets);
    } else if (targets.is_null()) {
        config.targetsFromWeights = true;
    } else {
        field.fail("target_modules", "must be a list of module names or a regex string", targets);
    }
    const json& exclude = field("exclude_modules");
    if (exclude.is_array())
        config.excludeModules = stringList(field, "exclude_modules", exclude);
    else if (exclude.is_string() && !exclude.get<std::string>().empty())
        config.excludeRegex = regexField(field, "exclude_modules", exclude);
    else if (!exclude.is_null() && !exclude.is_string())
        field.fail("exclude_modules", "must be a list of module names or a regex string", exclude);

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
    const json& pattern = field("layers_pattern");
    if (pattern.is_string() && !pattern.get<std::string>().empty())
        config.layersPattern = {regexField(field, "layers_pattern", pattern)};
    else if (pattern.is_array())
        for (const std::string& p : stringList(field, "layers_pattern", pattern))
            if (const std::string why = userRegexProblem(p); !why.empty())
                field.fail("layers_pattern", "holds a regex that cannot be used: " + why, pattern);
            else
                config.layersPattern.push_back(p);
    else if (!pattern.is_null() && !pattern.is_string())
        field.fail("layers_pattern", "must be the name of the layer list (a string) or a list of them", pattern);

    // PEFT's LoraConfig raises on these, so no adapter PEFT saved has them; reading them some way
    // would apply a file PEFT cannot load.
    if (targets.is_string() && !layers.is_null())
        field.fail("layers_to_transform", "cannot be used with a string target_modules (PEFT refuses this config: a "
                                          "regex selects layers itself); write the layers into the regex", layers);
    if (targets.is_string() && !pattern.is_null())
        field.fail("layers_pattern", "cannot be used with a string target_modules (PEFT refuses this config)", pattern);
    if (!config.layersPattern.empty() && config.layersToTransform.empty())
        field.fail("layers_pattern", "is set without layers_to_transform (PEFT refuses this config); give the layers "
                                     "to adapt or remove layers_pattern", pattern);
}


} // namespace

AdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& source, const std::string& adapterName)
{
    json pc;
    try {
        pc = models::parseJsonStrict(text, source);
    } catch (const Error&) {
        std::string literal;
        const std::string key = nonFiniteLiteralKey(text, &literal);
        if (!key.empty())
            throw Error(source + ": \"" + key + "\" is " + literal + ", which is not a number JSON has (Python's json "
                        "writes it for a float that is not finite); \"" + key + "\" must be a finite number",
                        "write the value the adapter was trained with");
        throw;
    }
    if (!pc.is_object())
        throw Error(source + ": expected a JSON object, found " + std::string(pc.type_name()));
    const ConfigFields field(pc, source);
    // PEFT picks the config class by peft_type (PeftModel.from_pretrained fails without it), so a file
    // without it is no adapter PEFT would load, whatever its other keys say.
    if (field("peft_type").is_null())
        throw Error(source + ": \"peft_type\" is " + (pc.contains("peft_type") ? "null" : "missing")
                        + "; PEFT needs it to tell which kind of adapter the folder holds (a LoRA adapter has \"peft_type\": \"LORA\")",
                    "add \"peft_type\": \"LORA\" to the file if it describes a LoRA adapter");
    if (field.string("peft_type", field("peft_type")) != "LORA")
        throw Error(source + ": peft_type '" + field("peft_type").get<std::string>() + "' is not supported (expected 'LORA')");
    if (!field("use_dora").is_null() && !field("use_dora").is_boolean())
        field.fail("use_dora", "must be true or false", field("use_dora"));
    if (field("use_dora").is_boolean() && field("use_dora").get<bool>())
        throw Error(source + ": DoRA adapters (use_dora: true) are not supported");
    checkInitLoraWeights(field);
    for (const auto& u : kUnsupportedKeys) {
        const json& v = field(u.key);
        if (!isOff(v))
            throw Error(source + ": \"" + u.key + "\" is " + jsonValueText(v) + " (" + u.what
                        + "), which is not supported here; train and save the adapter without it");
    }

    AdapterConfig config;
    config.name = adapterName;
    config.rank = field("r").is_null() ? kPeftDefaultRank : field.rank("r", field("r"));
    config.alpha = field("lora_alpha").is_null() ? kPeftDefaultAlpha : field.alpha("lora_alpha", field("lora_alpha"));
    if (!field("use_rslora").is_null() && !field("use_rslora").is_boolean())
        field.fail("use_rslora", "must be true or false", field("use_rslora"));
    config.scaling = field("use_rslora").is_boolean() && field("use_rslora").get<bool>() ? ScalingMode::AlphaOverSqrtR
                                                                                         : ScalingMode::AlphaOverR;
    // PEFT tries the patterns in the file's order (its dict keeps it) and takes the first that matches;
    // the parsed object above is sorted by key, so the order is taken from the text again (it parsed,
    // so it parses).
    const nlohmann::ordered_json inFileOrder = nlohmann::ordered_json::parse(text);
    for (const char* key : {"rank_pattern", "alpha_pattern"}) {
        const json& table = field(key);
        if (table.is_null())
            continue;
        if (!table.is_object())
            field.fail(key, "must be an object of module pattern → value", table);
        for (const auto& item : inFileOrder.at(key).items()) {
            const std::string& pattern = item.key();
            const std::string where = std::string(key) + "." + pattern;
            // A key is a regex, matched as PEFT matches it; one that cannot be compiled would match no
            // module and its value would be dropped without a word (PEFT itself raises on it).
            if (const std::string why = userRegexProblem("(.*\\.)?(" + pattern + ")$"); !why.empty())
                throw Error(source + ": \"" + key + "\" key \"" + pattern + "\" is a module pattern (a regex, matched as PEFT "
                            "matches it: (.*\\.)?(<key>)$) that cannot be used here: " + why + "; its " +
                            (std::string(key) == "rank_pattern" ? "rank" : "alpha") + " would apply to no module",
                            "write the pattern as a plain module name or suffix (such as \"q_proj\" or "
                            "\"model.layers.0.self_attn.q_proj\") or an ECMAScript regex");
            if (std::string(key) == "rank_pattern")
                config.rankPattern.emplace_back(pattern, field.rank(where, table.at(pattern)));
            else
                config.alphaPattern.emplace_back(pattern, field.alpha(where, table.at(pattern)));
        }
    }
    if (!field("lora_dropout").is_null()) {
        config.dropout = field.finite("lora_dropout", field("lora_dropout"));
        if (config.dropout < 0 || config.dropout >= 1)
            field.fail("lora_dropout", "must lie in [0, 1)", field("lora_dropout"));
    }
    if (!field("bias").is_null()) {
        const auto b = field.string("bias", field("bias"));
        // "all" trains every bias of the model and saves them all; the biases of adapted modules are
        // what "lora_only" holds, and a bias of any other module is refused by name where the tensors
        // are paired (a model without biases, such as Llama, saves none: the adapter is plain LoRA).
        if (b == "lora_only" || b == "all")
            config.bias = BiasMode::LoraOnly;
        else if (b != "none")
            throw Error(source + ": bias '" + b + "' is not supported (expected 'none', 'lora_only' or 'all')");
    }
    readTargeting(field, config);
    return config;
}

AdapterConfig readPeftAdapterConfig(const fs::path& dir, const std::string& adapterName)
{
    const fs::path configPath = dir / kPeftConfigFile;
    requirePeftConfigFile(dir);
    return parsePeftAdapterConfig(readFile(configPath), configPath.string(), adapterName);
}

void requirePeftConfigFile(const fs::path& dir)
{
    if (fs::is_regular_file(dir / kPeftConfigFile))
        return;
    std::string message = "'" + dir.string() + "' is not a PEFT adapter folder: " + std::string(kPeftConfigFile) + " is missing";
    // `rslora train` writes the adapter to <output.dir>/adapter; the output folder is what users pick.
    if (fs::is_regular_file(dir / "adapter" / kPeftConfigFile))
        message += "; it looks like a training run's output folder, whose adapter is '" + (dir / "adapter").string() + "'";
    throw Error(message);
}

void requirePeftWeightsFile(const fs::path& dir)
{
    if (fs::is_regular_file(dir / kPeftWeightsFile))
        return;
    std::string message = "'" + dir.string() + "' is not a PEFT adapter folder: " + kPeftWeightsFile + " is missing";
    // save_pretrained(..., safe_serialization=False) writes a pickle, which only Python can read (and
    // reading one may run code).
    if (fs::is_regular_file(dir / "adapter_model.bin"))
        message += "; the folder holds adapter_model.bin, PEFT's PyTorch pickle format, which is not read here: "
                   "save the adapter with save_pretrained(..., safe_serialization=True), or convert the file with "
                   "safetensors.torch.save_file(torch.load(\"adapter_model.bin\"), \"adapter_model.safetensors\")";
    throw Error(message);
}

std::string readPeftBaseModelName(const fs::path& dir)
{
    try {
        const json pc = json::parse(readFile(dir / kPeftConfigFile), nullptr, false);
        if (pc.is_object() && pc.contains("base_model_name_or_path") && pc["base_model_name_or_path"].is_string())
            return pc["base_model_name_or_path"].get<std::string>();
    } catch (const std::exception&) {
    }
    return {};
}

} // namespace rslora::engine
