// Hugging Face folders saved by transformers with bitsandbytes 4-bit weights: config.json's
// quantization_config, and per projection the tensors `<name>.weight` (packed codes, uint8),
// `.weight.absmax`, `.weight.quant_map`, with double quantization `.weight.nested_absmax` and
// `.weight.nested_quant_map`, and `.weight.quant_state.bitsandbytes__<nf4|fp4>` (the quant
// state's JSON as uint8 bytes: quant_type, blocksize, dtype, shape, nested_blocksize, nested_offset).
#pragma once

#include "models/CausalLM.h"
#include "models/WeightFiles.h"
#include "models/quant/QuantizedWeight.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace rslora::models::quant {

struct BnbQuantization {
    QuantType type = QuantType::Nf4;
    bool doubleQuant = false;
    std::string computeDtype; // bnb_4bit_compute_dtype, as written
};

// The 4-bit bitsandbytes settings of a config.json object; nullopt when it has no
// quantization_config. Throws rslora::Error naming `where` and the method for anything this
// cannot load (8-bit bitsandbytes, GPTQ, AWQ, other 4-bit types).
std::optional<BnbQuantization> readBnbQuantization(const nlohmann::json& config, const std::string& where);

// Suffixes of the tensors that belong to a 4-bit weight besides `<name>.weight` itself.
bool isBnbStateTensor(const std::string& name);

// True when the checkpoint holds `weightName` in bitsandbytes' 4-bit form.
bool hasBnbWeight(const WeightFiles& files, const std::string& weightName);

// Reads `weightName` (".../q_proj.weight") with its state tensors, checking the quant state
// against `shape` [out, in]; every tensor read is added to `used`. Throws rslora::Error naming the
// file and tensor on anything missing or inconsistent.
QuantizedWeight readBnbWeight(const WeightFiles& files, const std::string& weightName, const std::vector<int64_t>& shape,
                              std::set<std::string>& used);

// The tensors and config entry that describe `weight` in this format (the writer's side; used by
// tests and tools that write such folders): name → tensor, with the quant-state JSON as bytes.
std::vector<std::pair<std::string, torch::Tensor>> bnbTensors(const std::string& weightName, const QuantizedWeight& weight);
nlohmann::json bnbQuantizationConfig(QuantType type, bool doubleQuant, const std::string& computeDtype);
// Saves a dense model as such a folder (config.json with quantization_config, model.safetensors):
// every decoder projection weight not in `keepDense` quantized. Returns those weights dequantized
// to float32, by name.
std::map<std::string, torch::Tensor> saveBnbModelFolder(const CausalLM& model, const std::filesystem::path& dir,
                                                        const QuantOptions& options, const std::set<std::string>& keepDense = {});

} // namespace rslora::models::quant
