// Reading (and writing) bitsandbytes' 4-bit checkpoint layout (see BnbCheckpoint.h).
#include "models/quant/BnbCheckpoint.h"

#include "common/Error.h"
#include "common/AtomicFile.h"
#include "common/JsonErrorText.h"
#include "models/TensorIO.h"

#include <cstring>
#include <fstream>

namespace rslora::models::quant {
namespace {

constexpr const char* kStatePrefix = ".quant_state.bitsandbytes__";
constexpr const char* kStateSuffixes[] = {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"};

std::string stateName(const std::string& weightName, QuantType type)
{
    return weightName + kStatePrefix + quantTypeName(type);
}

torch::ScalarType dtypeFromName(const std::string& name, const std::string& where)
{
    if (name == "float32")
        return torch::kFloat32;
    if (name == "bfloat16")
        return torch::kBFloat16;
    if (name == "float16")
        return torch::kFloat16;
    throw Error(where + ": unknown dtype '" + name + "' (expected float32, bfloat16 or float16)");
}

std::string dtypeName(torch::ScalarType t)
{
    return t == torch::kBFloat16 ? "bfloat16" : t == torch::kFloat16 ? "float16" : "float32";
}

} // namespace

std::optional<BnbQuantization> readBnbQuantization(const nlohmann::json& config, const std::string& where)
{
    auto it = config.find("quantization_config");
    if (it == config.end() || it->is_null())
        return std::nullopt;
    const nlohmann::json& q = *it;
    const std::string at = where + ": quantization_config";
    if (!q.is_object())
        throw Error(at + ": expected an object, found " + q.dump());
    const std::string method = q.value("quant_method", std::string("bitsandbytes"));
    if (method != "bitsandbytes")
        throw Error(at + ".quant_method '" + method +
                    "' is not supported (only bitsandbytes 4-bit checkpoints load: load_in_4bit with nf4 or fp4); "
                    "use the model's float checkpoint, optionally with model.quantization nf4");
    auto flag = [&](const char* key) {
        auto f = q.find(key);
        return f != q.end() && f->is_boolean() && f->get<bool>();
    };
    if (flag("load_in_8bit") || flag("_load_in_8bit"))
        throw Error(at + ": bitsandbytes 8-bit (load_in_8bit, LLM.int8) checkpoints are not supported; only load_in_4bit with nf4 or fp4");
    if (!flag("load_in_4bit") && !flag("_load_in_4bit"))
        throw Error(at + ": expected load_in_4bit true for a bitsandbytes checkpoint, found neither 4-bit nor 8-bit");
    BnbQuantization out;
    const std::string type = q.value("bnb_4bit_quant_type", std::string("fp4"));
    out.type = parseQuantType(type, at + ".bnb_4bit_quant_type");
    out.doubleQuant = flag("bnb_4bit_use_double_quant");
    if (auto c = q.find("bnb_4bit_compute_dtype"); c != q.end() && c->is_string())
        out.computeDtype = c->get<std::string>();
    if (auto s = q.find("bnb_4bit_quant_storage"); s != q.end() && s->is_string() && s->get<std::string>() != "uint8")
        throw Error(at + ".bnb_4bit_quant_storage '" + s->get<std::string>() + "' is not supported (expected uint8)");
    return out;
}

bool isBnbStateTensor(const std::string& name)
{
    if (name.find(kStatePrefix) != std::string::npos)
        return true;
    for (const char* s : kStateSuffixes) {
        const std::string suffix = std::string(".weight") + s;
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return true;
    }
    return false;
}

bool hasBnbWeight(const WeightFiles& files, const std::string& weightName)
{
    return files.contains(stateName(weightName, QuantType::Nf4)) || files.contains(stateName(weightName, QuantType::Fp4));
}

QuantizedWeight readBnbWeight(const WeightFiles& files, const std::string& weightName, const std::vector<int64_t>& shape,
                              std::set<std::string>& used)
{
    const QuantType type = files.contains(stateName(weightName, QuantType::Nf4)) ? QuantType::Nf4 : QuantType::Fp4;
    auto read = [&](const std::string& name) -> torch::Tensor {
        if (!files.contains(name))
            return {};
        used.insert(name);
        const SafeTensorsFile& f = files.fileOf(name);
        return tensorFromFile(f, f.at(name));
    };
    const std::string stateKey = stateName(weightName, type);
    const std::string where = files.fileOf(stateKey).path().string() + ": tensor '" + stateKey + "'";
    const torch::Tensor bytes = read(stateKey).contiguous();
    if (bytes.scalar_type() != torch::kUInt8)
        throw Error(where + ": expected the quant state as uint8 JSON bytes, found " + std::string(c10::toString(bytes.scalar_type())));
    nlohmann::json state;
    try {
        state = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), size_t(bytes.numel())));
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": the quant state is not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (!state.is_object())
        throw Error(where + ": expected a JSON object, found " + state.dump());
    auto field = [&](const char* key) -> const nlohmann::json& {
        auto it = state.find(key);
        if (it == state.end())
            throw Error(where + ": the quant state has no '" + key + "'");
        return *it;
    };
    try {
        QuantParts p;
        p.type = parseQuantType(field("quant_type").get<std::string>(), where + " quant_type");
        if (p.type != type)
            throw Error(where + ": quant_type '" + quantTypeName(p.type) + "' disagrees with the tensor's name");
        p.blockSize = field("blocksize").get<int64_t>();
        p.shape = field("shape").get<std::vector<int64_t>>();
        if (p.shape != shape)
            throw Error(where + ": expected shape [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) +
                        "] from config.json, the quant state says " + field("shape").dump());
        if (state.contains("dtype"))
            p.dtype = dtypeFromName(state["dtype"].get<std::string>(), where + " dtype");
        p.codes = read(weightName);
        p.absmax = read(weightName + ".absmax");
        p.quantMap = read(weightName + ".quant_map");
        p.nested = files.contains(weightName + ".nested_absmax");
        if (p.nested) {
            p.nestedAbsmax = read(weightName + ".nested_absmax");
            p.nestedQuantMap = read(weightName + ".nested_quant_map");
            p.nestedBlockSize = field("nested_blocksize").get<int64_t>();
            p.nestedOffset = field("nested_offset").get<float>();
        }
        return QuantizedWeight::fromParts(std::move(p), files.fileOf(weightName).path().string() + ": '" + weightName + "'");
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": unexpected value in the quant state (" + jsonErrorText(e) + ")");
    }
}

std::vector<std::pair<std::string, torch::Tensor>> bnbTensors(const std::string& weightName, const QuantizedWeight& weight)
{
    const QuantParts& p = weight.parts();
    nlohmann::json state = {{"quant_type", quantTypeName(p.type)},
                            {"blocksize", p.blockSize},
                            {"dtype", dtypeName(p.dtype)},
                            {"shape", p.shape}};
    std::vector<std::pair<std::string, torch::Tensor>> out;
    out.emplace_back(weightName, p.codes.cpu().view({-1, 1}));
    out.emplace_back(weightName + ".absmax", p.absmax.cpu());
    out.emplace_back(weightName + ".quant_map", p.quantMap.cpu());
    if (p.nested) {
        out.emplace_back(weightName + ".nested_absmax", p.nestedAbsmax.cpu());
        out.emplace_back(weightName + ".nested_quant_map", p.nestedQuantMap.cpu());
        state["nested_blocksize"] = p.nestedBlockSize;
        state["nested_dtype"] = "float32";
        state["nested_offset"] = p.nestedOffset;
    }
    const std::string text = state.dump();
    torch::Tensor bytes = torch::empty({int64_t(text.size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
    out.emplace_back(stateName(weightName, p.type), bytes);
    return out;
}

nlohmann::json bnbQuantizationConfig(QuantType type, bool doubleQuant, const std::string& computeDtype)
{
    return {{"quant_method", "bitsandbytes"},
            {"_load_in_4bit", true},
            {"_load_in_8bit", false},
            {"load_in_4bit", true},
            {"load_in_8bit", false},
            {"bnb_4bit_quant_type", quantTypeName(type)},
            {"bnb_4bit_use_double_quant", doubleQuant},
            {"bnb_4bit_compute_dtype", computeDtype},
            {"bnb_4bit_quant_storage", "uint8"},
            {"llm_int8_threshold", 6.0},
            {"llm_int8_skip_modules", nullptr},
            {"llm_int8_has_fp16_weight", false},
            {"llm_int8_enable_fp32_cpu_offload", false}};
}

std::map<std::string, torch::Tensor> saveBnbModelFolder(const CausalLM& model, const std::filesystem::path& dir,
                                                        const QuantOptions& options, const std::set<std::string>& keepDense)
{
    model.saveModelFolder(dir);
    std::map<std::string, torch::Tensor> dequantized;
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& [name, t] : model.checkpointTensors()) {
        const bool projection = name.rfind("model.layers.", 0) == 0 && name.size() > 12 &&
                                name.compare(name.size() - 12, 12, "_proj.weight") == 0;
        if (!projection || keepDense.count(name)) {
            tensors.emplace_back(name, t);
            continue;
        }
        const auto q = QuantizedWeight::quantize(t, options, name);
        dequantized[name] = q.dequantize(torch::kFloat32);
        for (auto& nt : bnbTensors(name, q))
            tensors.push_back(std::move(nt));
    }
    saveSafeTensors(dir / "model.safetensors", tensors);
    const auto configPath = dir / "config.json";
    std::ifstream in(configPath);
    nlohmann::ordered_json config = nlohmann::ordered_json::parse(in);
    config["quantization_config"] = nlohmann::ordered_json::parse(
        bnbQuantizationConfig(options.type, options.doubleQuant, dtypeName(model.dtype())).dump());
    writeFileAtomic(configPath, config.dump(2) + "\n");
    return dequantized;
}

} // namespace rslora::models::quant
