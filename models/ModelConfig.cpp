// config.json parsing: both the transformers 4.x keys (rope_theta, rope_scaling) and the v5
// rope_parameters, GQA and head_dim defaults, eos lists (also from generation_config.json),
// sliding-window rules per architecture.
#include "models/ModelConfig.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/ArchitectureTable.h"
#include "models/StrictJson.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace rslora::models {
namespace {

using json = nlohmann::json;

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

int64_t readInt(const json& j, const char* key, const std::string& source) {
    if (!present(j, key))
        throw Error(source + ": expected an integer \"" + key + "\", found none");
    const json& v = j[key];
    if (!v.is_number_integer())
        throw Error(source + ": expected an integer \"" + key + "\", found " + v.dump());
    return v.get<int64_t>();
}

int64_t readInt(const json& j, const char* key, int64_t fallback, const std::string& source) {
    return present(j, key) ? readInt(j, key, source) : fallback;
}

double readNumber(const json& j, const char* key, double fallback, const std::string& source) {
    if (!present(j, key))
        return fallback;
    if (!j[key].is_number())
        throw Error(source + ": expected a number for \"" + key + "\", found " + j[key].dump());
    // A literal beyond double's range (1e400) parses as infinity and would pass every "> 0" check.
    const double v = j[key].get<double>();
    if (!std::isfinite(v))
        throw Error(source + ": \"" + key + "\" is beyond the range of a double (it reads as infinity); expected a finite number");
    return v;
}

bool readBool(const json& j, const char* key, bool fallback, const std::string& source) {
    if (!present(j, key))
        return fallback;
    if (!j[key].is_boolean())
        throw Error(source + ": expected true or false for \"" + key + "\", found " + j[key].dump());
    return j[key].get<bool>();
}

RopeScaling parseRopeScaling(const json& r, const char* key, int64_t maxPos, const std::string& source) {
    RopeScaling s;
    if (!r.is_object())
        throw Error(source + ": expected an object for \"" + key + "\", found " + r.dump());
    // transformers renamed "type" to "rope_type"; old files carry the former.
    std::string type = "default";
    if (present(r, "rope_type"))
        type = r["rope_type"].is_string() ? r["rope_type"].get<std::string>() : "";
    else if (present(r, "type"))
        type = r["type"].is_string() ? r["type"].get<std::string>() : "";
    if (type != "default" && type != "linear" && type != "dynamic" && type != "llama3")
        throw Error(source + ": unsupported " + key + " type '" + type +
                    "' (supported: default, linear, dynamic, llama3)");
    s.type = type;
    s.factor = readNumber(r, "factor", 1.0, source);
    if (type == "linear" || type == "dynamic" || type == "llama3") {
        if (!present(r, "factor"))
            throw Error(source + ": " + key + " of type '" + type + "' needs \"factor\"");
        if (s.factor < 1.0)
            throw Error(source + ": " + key + " factor must be >= 1, found " + std::to_string(s.factor));
    }
    if (type == "llama3") {
        for (const char* k : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
            if (!present(r, k))
                throw Error(source + ": " + key + " of type 'llama3' needs \"" + k + "\"");
        s.lowFreqFactor = readNumber(r, "low_freq_factor", 1.0, source);
        s.highFreqFactor = readNumber(r, "high_freq_factor", 4.0, source);
        if (s.highFreqFactor <= s.lowFreqFactor)
            throw Error(source + ": " + key + " needs high_freq_factor > low_freq_factor");
    }
    s.originalMaxPositionEmbeddings = readInt(r, "original_max_position_embeddings", maxPos, source);
    // llama3 divides the trained context by both factors to find its wavelength bounds: a factor of 0
    // gave an infinite bound (transformers fails on it with a division by zero), a negative one or a
    // context of no positions turned the frequencies around without an error.
    if (type == "llama3") {
        if (!(s.lowFreqFactor > 0))
            throw Error(source + ": " + key + " low_freq_factor must be > 0, found " + r["low_freq_factor"].dump() +
                        " (the trained context is divided by it)");
        if (s.originalMaxPositionEmbeddings <= 0)
            throw Error(source + ": " + key + " original_max_position_embeddings must be > 0, found " +
                        std::to_string(s.originalMaxPositionEmbeddings));
    }
    return s;
}

// "eos_token_id" as an integer or a list of integers; empty when absent or null.
std::vector<int64_t> readEosIds(const json& j, const std::string& source) {
    std::vector<int64_t> ids;
    if (!present(j, "eos_token_id"))
        return ids;
    const json& e = j["eos_token_id"];
    if (e.is_number_integer()) {
        ids.push_back(e.get<int64_t>());
    } else if (e.is_array()) {
        for (const auto& v : e) {
            if (!v.is_number_integer())
                throw Error(source + ": expected integers in \"eos_token_id\", found " + v.dump());
            ids.push_back(v.get<int64_t>());
        }
    } else {
        throw Error(source + ": expected an integer or a list for \"eos_token_id\", found " + e.dump());
    }
    return ids;
}

// Rotary embeddings here turn the whole head; a model that turns only part of it (Phi, StableLM,
// GLM) would load with the wrong positions and no error, so the key is refused by name.
void refusePartialRotary(const json& holder, const char* where, const std::string& source) {
    if (!present(holder, "partial_rotary_factor"))
        return;
    const json& f = holder["partial_rotary_factor"];
    if (!f.is_number())
        throw Error(source + ": expected a number for " + where + "\"partial_rotary_factor\", found " + f.dump());
    if (f.get<double>() != 1.0)
        throw Error(source + ": " + where + "partial_rotary_factor " + f.dump() +
                    " is not supported: rotary embeddings are applied to the whole head_dim (partial_rotary_factor 1.0)");
}

} // namespace

ModelConfig ModelConfig::fromFile(const std::filesystem::path& path) {
    ModelConfig c = fromJson(readJsonFileStrict(path), path.string());
    const std::filesystem::path generation = path.parent_path() / "generation_config.json";
    if (std::filesystem::is_regular_file(generation))
        c.mergeGenerationConfig(readJsonFileStrict(generation), generation.string());
    return c;
}

void ModelConfig::mergeGenerationConfig(const json& j, const std::string& source) {
    if (!j.is_object())
        throw Error(source + ": expected a JSON object, found " + std::string(j.type_name()));
    for (int64_t id : readEosIds(j, source))
        if (std::find(eosTokenIds.begin(), eosTokenIds.end(), id) == eosTokenIds.end())
            eosTokenIds.push_back(id);
}

ModelConfig ModelConfig::fromJson(const json& j, const std::string& source) {
    if (!j.is_object())
        throw Error(source + ": expected a JSON object");
    ModelConfig c;
    // transformers' AutoModelForCausalLM builds the class model_type names; "architectures" only
    // records what saved the file. So model_type decides when both are given, and a model_type not
    // supported here is refused even beside a supported class name (building that class instead
    // would compute another model).
    std::string arch, type;
    if (present(j, "architectures")) {
        if (!j["architectures"].is_array() || j["architectures"].empty() || !j["architectures"][0].is_string())
            throw Error(source + ": expected \"architectures\" as a list of names, found " + j["architectures"].dump());
        arch = j["architectures"][0].get<std::string>();
    }
    if (present(j, "model_type")) {
        if (!j["model_type"].is_string())
            throw Error(source + ": expected \"model_type\" as a string, found " + j["model_type"].dump());
        type = j["model_type"].get<std::string>();
    }
    if (arch.empty() && type.empty())
        throw Error(source + ": expected \"architectures\" or \"model_type\", found neither");
    const ArchitectureSpec* byType = type.empty() ? nullptr : findArchitecture(type);
    const ArchitectureSpec* byArch = arch.empty() ? nullptr : findArchitecture(arch);
    if (!type.empty() && !byType)
        throw Error(source + ": unsupported model_type '" + type + "'" + (arch.empty() ? "" : " (architectures: '" + arch + "')")
                    + "; supported: " + supportedArchitectures());
    const ArchitectureSpec* spec = byType ? byType : byArch;
    if (!spec)
        throw Error(source + ": unsupported architecture '" + arch + "'; supported: " + supportedArchitectures());
    if (byType && byArch && byType != byArch)
        logWarning(source + ": \"architectures\" names " + arch + " but model_type is '" + type + "': the model is built as "
                   + byType->architecture + ", as transformers builds it from model_type");
    else if (byType && !arch.empty() && !byArch)
        logWarning(source + ": \"architectures\" names " + arch + ", not a class supported here; the model is built as "
                   + byType->architecture + " from model_type '" + type + "'");
    c.architecture = spec->architecture;
    c.modelType = spec->modelType;

    c.vocabSize = readInt(j, "vocab_size", source);
    c.hiddenSize = readInt(j, "hidden_size", source);
    c.intermediateSize = readInt(j, "intermediate_size", source);
    c.numLayers = readInt(j, "num_hidden_layers", source);
    c.numHeads = readInt(j, "num_attention_heads", source);
    c.numKvHeads = readInt(j, "num_key_value_heads", c.numHeads, source);
    if (c.numHeads <= 0)
        throw Error(source + ": expected num_attention_heads > 0, found " + std::to_string(c.numHeads));
    // Without head_dim each head gets hidden_size / num_attention_heads dimensions, so the two must
    // divide; otherwise the weights would not match the shapes and the user would meet a tensor
    // error instead of the contradiction in the file.
    if (!present(j, "head_dim") && c.hiddenSize > 0 && c.hiddenSize % c.numHeads != 0)
        throw Error(source + ": hidden_size (" + std::to_string(c.hiddenSize) + ") is not a multiple of num_attention_heads (" +
                    std::to_string(c.numHeads) + "), and there is no head_dim to say how wide a head is");
    c.headDim = readInt(j, "head_dim", c.hiddenSize / c.numHeads, source);
    c.maxPositionEmbeddings = readInt(j, "max_position_embeddings", 2048, source);
    c.rmsNormEps = readNumber(j, "rms_norm_eps", 1e-6, source);
    c.initializerRange = readNumber(j, "initializer_range", 0.02, source);
    if (present(j, "hidden_act") && j["hidden_act"] != "silu")
        throw Error(source + ": unsupported hidden_act " + j["hidden_act"].dump() + " (expected \"silu\")");

    // RoPE: v5 moved rope_theta into rope_parameters and renamed rope_scaling to it.
    c.ropeTheta = readNumber(j, "rope_theta", 10000.0, source);
    if (present(j, "rope_parameters")) {
        const json& rp = j["rope_parameters"];
        if (!rp.is_object())
            throw Error(source + ": expected an object for \"rope_parameters\", found " + rp.dump());
        c.ropeTheta = readNumber(rp, "rope_theta", c.ropeTheta, source);
        c.ropeScaling = parseRopeScaling(rp, "rope_parameters", c.maxPositionEmbeddings, source);
    }
    if (c.ropeScaling.type == "default" && present(j, "rope_scaling"))
        c.ropeScaling = parseRopeScaling(j["rope_scaling"], "rope_scaling", c.maxPositionEmbeddings, source);
    refusePartialRotary(j, "", source);
    if (present(j, "rope_parameters"))
        refusePartialRotary(j["rope_parameters"], "rope_parameters.", source);

    c.tieWordEmbeddings = readBool(j, "tie_word_embeddings", false, source);
    c.attentionBias = readBool(j, "attention_bias", false, source);
    c.mlpBias = spec->hasMlpBiasKey && readBool(j, "mlp_bias", false, source);

    // Sliding window only when the architecture's rule says it is on. As in transformers, a missing
    // "sliding_window" means 4096 (an explicit null means none) and a missing "max_window_layers" 28.
    constexpr int64_t kDefaultWindow = 4096;
    constexpr int64_t kDefaultMaxWindowLayers = 28;
    const bool windowNamed = !j.contains("sliding_window") || !j["sliding_window"].is_null();
    bool sliding = false;
    if (spec->sliding == SlidingRule::IfWindowSet)
        sliding = windowNamed;
    else if (spec->sliding == SlidingRule::IfUseSlidingWindow)
        sliding = readBool(j, "use_sliding_window", false, source) && windowNamed;
    if (sliding) {
        c.slidingWindow = readInt(j, "sliding_window", kDefaultWindow, source);
        if (*c.slidingWindow <= 0)
            throw Error(source + ": expected sliding_window > 0, found " + std::to_string(*c.slidingWindow));
        c.slidingLayers.assign(static_cast<size_t>(std::max<int64_t>(c.numLayers, 0)), true);
        // Mistral ignores "layer_types" (every layer slides); Qwen2/Qwen3 read it, or else slide from
        // layer max_window_layers on.
        if (spec->sliding == SlidingRule::IfUseSlidingWindow) {
            const int64_t maxWindowLayers = readInt(j, "max_window_layers", kDefaultMaxWindowLayers, source);
            for (int64_t i = 0; i < c.numLayers; ++i)
                c.slidingLayers[static_cast<size_t>(i)] = i >= maxWindowLayers;
            if (present(j, "layer_types")) {
                const json& lt = j["layer_types"];
                if (!lt.is_array() || static_cast<int64_t>(lt.size()) != c.numLayers)
                    throw Error(source + ": expected \"layer_types\" to list one type per layer (" +
                                std::to_string(c.numLayers) + ")");
                for (size_t i = 0; i < lt.size(); ++i)
                    c.slidingLayers[i] = lt[i] == "sliding_attention";
            }
        }
    }

    if (present(j, "bos_token_id"))
        c.bosTokenId = readInt(j, "bos_token_id", source);
    if (present(j, "pad_token_id") && j["pad_token_id"].is_number_integer())
        c.padTokenId = j["pad_token_id"].get<int64_t>();
    c.eosTokenIds = readEosIds(j, source);
    // transformers turns the name into torch.<name> when it reads the file (an AttributeError for a
    // name torch does not have), so a name that is no torch dtype is refused here too, by name.
    const char* dtypeKey = present(j, "dtype") ? "dtype" : "torch_dtype";
    if (present(j, dtypeKey)) {
        static const char* const kTorchDtypes[] = {
            "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex32", "chalf", "complex64",
            "cfloat", "complex128", "cdouble", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "short", "int32",
            "int", "int64", "long", "bool", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
            "float8_e8m0fnu", "float4_e2m1fn_x2"};
        const json& v = j[dtypeKey];
        const bool known = v.is_string() && std::any_of(std::begin(kTorchDtypes), std::end(kTorchDtypes),
                                                        [&](const char* n) { return v.get<std::string>() == n; });
        if (!known)
            throw Error(source + ": \"" + dtypeKey + "\" is " + v.dump() + ", which is not a torch dtype (transformers "
                        "refuses it too); the weights' dtype is usually \"float32\", \"bfloat16\" or \"float16\"",
                        "correct it, or remove the key to load the weights in the dtype they are stored in");
        c.torchDtype = v.get<std::string>();
        c.torchDtypeDeclared = true;
    }
    c.validate(source);
    return c;
}

namespace {

// The parameter count in 128 bits (tied embeddings counted once): validate() refuses sizes whose count
// passes int64, parameterCount() returns it.
__int128 wideParameterCount(const ModelConfig& c) {
    const __int128 h = c.hiddenSize, q = __int128(c.numHeads) * c.headDim, kv = __int128(c.numKvHeads) * c.headDim;
    __int128 attn = h * q + 2 * h * kv + q * h;
    if (c.qkvBias())
        attn += q + 2 * kv;
    if (c.oBias())
        attn += h;
    if (c.qkNorm())
        attn += 2 * __int128(c.headDim);
    const __int128 mlp = 3 * h * c.intermediateSize + (c.mlpBias ? 2 * __int128(c.intermediateSize) + h : 0);
    const __int128 layer = attn + mlp + 2 * h;
    __int128 total = layer * c.numLayers + __int128(c.vocabSize) * h + h;
    if (!c.tieWordEmbeddings)
        total += __int128(c.vocabSize) * h;
    return total;
}

} // namespace

void ModelConfig::validate(const std::string& source) const {
    auto positive = [&](const char* key, int64_t v) {
        if (v <= 0)
            throw Error(source + ": expected " + key + " > 0, found " + std::to_string(v));
    };
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", numLayers);
    positive("num_attention_heads", numHeads);
    positive("num_key_value_heads", numKvHeads);
    positive("head_dim", headDim);
    // The context length: the server caps prompts by it and dynamic RoPE divides by it.
    positive("max_position_embeddings", maxPositionEmbeddings);
    // Readers walk the layers' tensors by name before they compare them with the checkpoint (inspect of
    // a config with 10^12 layers ran without end), and shapes multiply these sizes: counts beyond any
    // model are refused here, naming the key and the limit.
    auto atMost = [&](const char* key, int64_t v, int64_t limit, const char* why) {
        if (v > limit)
            throw Error(source + ": " + key + " is " + std::to_string(v) + ", more than the " + std::to_string(limit) +
                        " this program reads (" + why + ")");
    };
    constexpr int64_t kMostLayers = 65536, kLargestSize = (int64_t(1) << 31) - 1;
    atMost("num_hidden_layers", numLayers, kMostLayers, "the deepest published models have a few hundred");
    atMost("vocab_size", vocabSize, kLargestSize, "token ids are 32-bit in every tokenizer format");
    for (const auto& [key, v] : {std::pair<const char*, int64_t>{"hidden_size", hiddenSize},
                                 {"intermediate_size", intermediateSize},
                                 {"num_attention_heads", numHeads},
                                 {"num_key_value_heads", numKvHeads},
                                 {"head_dim", headDim}})
        atMost(key, v, kLargestSize, "a single dimension of a weight larger than this is no model's");
    // The parameter count must be a number: the sizes above can still multiply past int64.
    const __int128 total = wideParameterCount(*this);
    if (total > std::numeric_limits<int64_t>::max())
        throw Error(source + ": the sizes in the file multiply to more than 2^63 parameters (num_hidden_layers " +
                    std::to_string(numLayers) + ", hidden_size " + std::to_string(hiddenSize) + ", intermediate_size " +
                    std::to_string(intermediateSize) + ", vocab_size " + std::to_string(vocabSize) + "); no checkpoint holds that");
    if (numHeads % numKvHeads != 0)
        throw Error(source + ": num_attention_heads (" + std::to_string(numHeads) +
                    ") must be a multiple of num_key_value_heads (" + std::to_string(numKvHeads) + ")");
    if (headDim % 2 != 0)
        throw Error(source + ": head_dim must be even for rotary embeddings, found " + std::to_string(headDim));
    const auto shown = [](double v) {
        std::ostringstream out;
        out << v;
        return out.str();
    };
    if (!(rmsNormEps > 0 && std::isfinite(rmsNormEps)))
        throw Error(source + ": expected rms_norm_eps > 0, found " + shown(rmsNormEps));
    if (!(ropeTheta > 0 && std::isfinite(ropeTheta)))
        throw Error(source + ": expected rope_theta > 0, found " + shown(ropeTheta));
    if (!findArchitecture(architecture))
        throw Error(source + ": unsupported architecture '" + architecture + "'; supported: " + supportedArchitectures());
}

const ArchitectureSpec& ModelConfig::spec() const {
    const ArchitectureSpec* s = findArchitecture(architecture);
    if (!s)
        throw Error("unsupported architecture '" + architecture + "'; supported: " + supportedArchitectures());
    return *s;
}

static bool applyBias(BiasRule rule, bool attentionBias) {
    return rule == BiasRule::Always || (rule == BiasRule::FromAttentionBias && attentionBias);
}

bool ModelConfig::qkvBias() const { return applyBias(spec().qkvBias, attentionBias); }
bool ModelConfig::oBias() const { return applyBias(spec().oBias, attentionBias); }
bool ModelConfig::qkNorm() const { return spec().qkNorm; }

bool ModelConfig::isSlidingLayer(int64_t layer) const {
    return slidingWindow && layer >= 0 && layer < static_cast<int64_t>(slidingLayers.size()) &&
           slidingLayers[static_cast<size_t>(layer)];
}

int64_t ModelConfig::parameterCount() const { return static_cast<int64_t>(wideParameterCount(*this)); }

json ModelConfig::toJson() const {
    json j;
    j["architectures"] = json::array({architecture});
    j["model_type"] = modelType;
    j["vocab_size"] = vocabSize;
    j["hidden_size"] = hiddenSize;
    j["intermediate_size"] = intermediateSize;
    j["num_hidden_layers"] = numLayers;
    j["num_attention_heads"] = numHeads;
    j["num_key_value_heads"] = numKvHeads;
    j["head_dim"] = headDim;
    j["max_position_embeddings"] = maxPositionEmbeddings;
    j["hidden_act"] = "silu";
    j["rms_norm_eps"] = rmsNormEps;
    j["rope_theta"] = ropeTheta;
    if (ropeScaling.type == "default") {
        j["rope_scaling"] = nullptr;
    } else {
        json r{{"rope_type", ropeScaling.type}, {"factor", ropeScaling.factor}};
        if (ropeScaling.type == "llama3") {
            r["low_freq_factor"] = ropeScaling.lowFreqFactor;
            r["high_freq_factor"] = ropeScaling.highFreqFactor;
            r["original_max_position_embeddings"] = ropeScaling.originalMaxPositionEmbeddings;
        }
        j["rope_scaling"] = r;
    }
    j["tie_word_embeddings"] = tieWordEmbeddings;
    j["attention_bias"] = attentionBias;
    if (spec().hasMlpBiasKey)
        j["mlp_bias"] = mlpBias;
    j["initializer_range"] = initializerRange;
    if (spec().sliding == SlidingRule::IfUseSlidingWindow) {
        j["use_sliding_window"] = slidingWindow.has_value();
        j["sliding_window"] = slidingWindow ? json(*slidingWindow) : json(nullptr);
        int64_t firstSliding = numLayers;
        for (int64_t i = 0; i < numLayers; ++i)
            if (isSlidingLayer(i)) {
                firstSliding = i;
                break;
            }
        j["max_window_layers"] = firstSliding;
        if (slidingWindow) {
            // Which layers slide, also when they are not the last ones (max_window_layers cannot say).
            json types = json::array();
            for (int64_t i = 0; i < numLayers; ++i)
                types.push_back(isSlidingLayer(i) ? "sliding_attention" : "full_attention");
            j["layer_types"] = std::move(types);
        }
    } else if (spec().sliding == SlidingRule::IfWindowSet) {
        j["sliding_window"] = slidingWindow ? json(*slidingWindow) : json(nullptr);
    }
    if (bosTokenId)
        j["bos_token_id"] = *bosTokenId;
    if (eosTokenIds.size() == 1)
        j["eos_token_id"] = eosTokenIds[0];
    else if (!eosTokenIds.empty())
        j["eos_token_id"] = eosTokenIds;
    if (padTokenId)
        j["pad_token_id"] = *padTokenId;
    j["torch_dtype"] = torchDtype;
    return j;
}

} // namespace rslora::models
