// Loading: config.json → architecture row → decoder built from a tensor source that reads the
// mapped checkpoint and checks every name and shape.
#include "models/ModelLoader.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/LlamaFamilyModel.h"
#include "models/ReadableDtype.h"
#include "models/TensorIO.h"
#include "models/WeightFiles.h"
#include "models/quant/BaseQuantizer.h"
#include "models/quant/BnbCheckpoint.h"

#include <nlohmann/json.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace rslora::models {
namespace {

std::string shapeText(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

torch::ScalarType resolveDtype(const LoadOptions& options, torch::ScalarType stored) {
    torch::ScalarType want = options.dtype ? *options.dtype
                             : options.device.is_cpu() ? torch::kFloat32
                                                       : stored;
    if (options.device.is_cpu() && want == torch::kFloat16) {
        logWarning("float16 is not fully supported by LibTorch on CPU; computing in float32 instead");
        want = torch::kFloat32;
    }
    return want;
}

// The decoder from `source`; with quantization its projections become 4-bit layers on the way.
// `quantizer` may already hold 4-bit weights read from the checkpoint.
std::unique_ptr<CausalLM> buildModel(const ModelConfig& config, const TensorSource& source, const LoadOptions& options,
                                     torch::ScalarType dtype, quant::BaseQuantizer& quantizer) {
    auto model = std::make_unique<LlamaFamilyModel>(config, options.quantization ? quantizer.wrap(source) : source);
    if (!options.quantization && quantizer.empty())
        return model;
    quantizer.install(*model, dtype, options.device);
    logInfo("4-bit base: " + quant::summaryText(quant::BaseQuantizer::summarize(*model)));
    return model;
}

// Whether two stored tensors hold the same values: byte for byte when stored alike, else as float32.
bool sameStoredValues(const SafeTensorsFile& fa, const TensorInfo& a, const SafeTensorsFile& fb, const TensorInfo& b) {
    if (a.shape != b.shape)
        return false;
    if (a.dtype == b.dtype)
        return a.byteSize() == b.byteSize() && std::memcmp(fa.data(a), fb.data(b), a.byteSize()) == 0;
    return torch::equal(tensorFromFile(fa, a).to(torch::kFloat32), tensorFromFile(fb, b).to(torch::kFloat32));
}

// With tie_word_embeddings the output head is the embedding and a stored lm_head.weight is not read.
// One that differs is a contradiction transformers versions resolve differently (some use the stored
// head), so the choice made here is said instead of being silent.
void warnIfTiedHeadDiffers(const ModelConfig& config, const WeightFiles& weights) {
    const std::string head = "lm_head.weight", embed = "model.embed_tokens.weight";
    if (!config.tieWordEmbeddings || !weights.contains(head) || !weights.contains(embed))
        return;
    const SafeTensorsFile& headFile = weights.fileOf(head);
    if (sameStoredValues(headFile, headFile.at(head), weights.fileOf(embed), weights.info(embed)))
        return;
    logWarning(headFile.path().string() + ": tensor '" + head + "' differs from '" + embed +
               "', but config.json ties the output head to the embeddings (tie_word_embeddings is true): the head uses '" +
               embed + "' and '" + head + "' is ignored; set tie_word_embeddings to false in config.json to use '" + head +
               "' instead");
}

} // namespace

torch::ScalarType checkpointDtype(const ModelConfig& config, const WeightFiles& weights) {
    if (config.torchDtypeDeclared) {
        const std::string& named = config.torchDtype;
        if (named == "float32" || named == "bfloat16" || named == "float16")
            return parseDtype(named);
    }
    // Elements per floating-point dtype, in the order first met (a tie goes to the first).
    std::vector<std::pair<Dtype, uint64_t>> counts;
    for (const auto& f : weights.files())
        for (const auto& t : f->tensors()) {
            if (!isReadableFloat(t.dtype) || quant::isBnbStateTensor(t.name))
                continue;
            auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == t.dtype; });
            if (it == counts.end())
                counts.emplace_back(t.dtype, t.numel());
            else
                it->second += t.numel();
        }
    if (counts.empty())
        return torch::kFloat32;
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it)
        if (it->second > best->second)
            best = it;
    return torchScalarType(best->first, weights.directory().string());
}

torch::ScalarType parseDtype(const std::string& name) {
    if (name == "float32" || name == "fp32" || name == "f32")
        return torch::kFloat32;
    if (name == "bfloat16" || name == "bf16")
        return torch::kBFloat16;
    if (name == "float16" || name == "fp16" || name == "f16" || name == "half")
        return torch::kFloat16;
    throw Error("unknown dtype '" + name + "' (expected float32, bfloat16 or float16)");
}

std::string dtypeText(torch::ScalarType type) {
    switch (type) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return c10::toString(type);
    }
}

torch::Device parseDevice(const std::string& name) {
    try {
        torch::Device d(name);
        if (d.is_cuda() && !torch::cuda::is_available())
            throw Error("device '" + name + "' requested, but this LibTorch has no usable CUDA device");
        if (!d.is_cpu() && !d.is_cuda())
            throw Error("unsupported device '" + name + "' (expected cpu or cuda[:N])");
        return d;
    } catch (const c10::Error&) {
        throw Error("invalid device '" + name + "' (expected cpu or cuda[:N])");
    }
}

std::unique_ptr<CausalLM> loadCausalLM(const fs::path& dir, const LoadOptions& options) {
    if (!fs::is_directory(dir))
        throw Error("expected a model folder at " + dir.string() + ", found " +
                    (fs::exists(dir) ? "a file" : "nothing"));
    const fs::path configPath = dir / "config.json";
    if (!fs::exists(configPath))
        throw Error("expected config.json in " + dir.string() + ", found none");
    ModelConfig config = ModelConfig::fromFile(configPath);
    WeightFiles weights(dir);
    // transformers reads model.safetensors when both are there; the index wins here (formats.md
    // §1.4), so a leftover single file from an earlier save is named instead of silently passed over.
    if (weights.sharded() && fs::is_regular_file(dir / WeightFiles::kSingleFile))
        logWarning(dir.string() + ": holds both " + WeightFiles::kIndexFile + " and " + WeightFiles::kSingleFile +
                   ": the shards the index names are loaded and " + WeightFiles::kSingleFile +
                   " is ignored (transformers would load " + WeightFiles::kSingleFile +
                   "); remove the file that is not the model's");
    std::optional<quant::BnbQuantization> bnb;
    bool tieNamed = false;
    {
        std::ifstream in(configPath);
        const auto raw = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (raw.is_object()) {
            bnb = quant::readBnbQuantization(raw, configPath.string());
            tieNamed = raw.contains("tie_word_embeddings") && !raw["tie_word_embeddings"].is_null();
        }
    }

    const torch::ScalarType dtype = resolveDtype(options, checkpointDtype(config, weights));

    std::set<std::string> used;
    quant::BaseQuantizer quantizer(options.quantization.value_or(quant::QuantOptions{}));
    int dequantized = 0;
    TensorSource source = [&](const std::string& name, const std::vector<int64_t>& shape, TensorRole role) {
        if (bnb && role == TensorRole::Linear && quant::hasBnbWeight(weights, name)) {
            std::set<std::string> read{name};
            auto weight = quant::readBnbWeight(weights, name, shape, read);
            // The packed 4-bit codes cannot be NaN; their float state (absmax, quant_map, ...) can.
            for (const std::string& n : read)
                checkFiniteValues(weights.fileOf(n), weights.info(n));
            used.insert(read.begin(), read.end());
            if (options.dequantize4bit) {
                ++dequantized;
                return weight.dequantize(dtype).to(options.device);
            }
            quantizer.add(name, weight.to(options.device));
            return torch::empty(shape, torch::TensorOptions().dtype(dtype).device(torch::kMeta));
        }
        if (!weights.contains(name))
            throw Error(dir.string() + ": expected tensor '" + name + "' " + shapeText(shape) + " for " +
                        config.architecture + ", not found in the checkpoint" +
                        (name != "lm_head.weight" ? ""
                         : tieNamed ? " (config.json says tie_word_embeddings is false)"
                                    : " (config.json does not set tie_word_embeddings, which is false for " +
                                          config.architecture + ")") +
                        weights.missingTensorHint(name));
        const SafeTensorsFile& file = weights.fileOf(name);
        const TensorInfo& info = file.at(name);
        std::vector<int64_t> found(info.shape.begin(), info.shape.end());
        if (found != shape)
            throw Error(file.path().string() + ": tensor '" + name + "': expected shape " + shapeText(shape) +
                        " from config.json, found " + shapeText(found));
        if (isEightBitFloat(info.dtype))
            throw Error(file.path().string() + ": tensor '" + name + "' is stored as " + dtypeName(info.dtype) +
                        ", a quantized 8-bit float (an FP8 checkpoint), which is not supported; the loader reads "
                        "F32, F16 and BF16 weights (and F64): use the model's bfloat16 release or dequantize it first");
        if (!isReadableFloat(info.dtype))
            throw Error(file.path().string() + ": tensor '" + name + "': expected a floating-point dtype (F32, F16 or "
                        "BF16), found " + dtypeName(info.dtype));
        // NaN or inf in a base weight gave blank generations, loss nan, and refusals that blamed the
        // learning rate or an adapter; one pass over the mapped bytes per tensor, as it is loaded.
        checkFiniteValues(file, info);
        used.insert(name);
        return tensorFromFile(file, info).to(options.device, dtype);
    };
    // Stored 4-bit weights go to the quantizer as they are; only dense projections are quantized.
    if (bnb && !options.dequantize4bit && options.quantization)
        logInfo(dir.string() + ": the checkpoint's bitsandbytes " + quant::quantTypeName(bnb->type) +
                " weights are used as stored");
    auto model = buildModel(config, source, options, dtype, quantizer);
    if (dequantized > 0)
        logInfo(dir.string() + ": " + std::to_string(dequantized) + " bitsandbytes " + quant::quantTypeName(bnb->type) +
                " projections dequantized to " + dtypeText(dtype));

    std::vector<std::string> unused;
    for (const auto& name : weights.names())
        if (!used.count(name) && name.find("rotary_emb.inv_freq") == std::string::npos &&
            !(config.tieWordEmbeddings && name == "lm_head.weight"))
            unused.push_back(name);
    warnIfTiedHeadDiffers(config, weights);
    if (!unused.empty()) {
        std::string list;
        for (size_t i = 0; i < unused.size() && i < 5; ++i)
            list += (i ? ", " : "") + unused[i];
        logWarning(dir.string() + ": " + std::to_string(unused.size()) + " checkpoint tensor(s) not used by " +
                   config.architecture + ": " + list + (unused.size() > 5 ? ", ..." : ""));
    }
    logInfo("loaded " + config.architecture + " from " + dir.string() + " (" + std::to_string(config.parameterCount()) +
            " parameters, " + dtypeText(dtype) + ", " + options.device.str() + ")");
    return model;
}

std::unique_ptr<CausalLM> createCausalLM(const ModelConfig& config, uint64_t seed, const LoadOptions& options) {
    config.validate("model configuration");
    const torch::ScalarType dtype = resolveDtype(options, torch::kFloat32);
    auto gen = at::detail::createCPUGenerator(seed);
    const double stdDev = config.initializerRange;
    TensorSource source = [&](const std::string&, const std::vector<int64_t>& shape, TensorRole role) {
        torch::Tensor t;
        switch (role) {
        case TensorRole::Norm: t = torch::ones(shape); break;
        case TensorRole::Bias: t = torch::zeros(shape); break;
        default: t = torch::empty(shape).normal_(0.0, stdDev, gen); break;
        }
        return t.to(options.device, dtype);
    };
    quant::BaseQuantizer quantizer(options.quantization.value_or(quant::QuantOptions{}));
    return buildModel(config, source, options, dtype, quantizer);
}

} // namespace rslora::models
