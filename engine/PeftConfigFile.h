// The parts of a PEFT adapter folder that are read without LibTorch: the file names, adapter_config.json,
// the tensor-key grammar and the rules every reader of adapter_model.safetensors applies (the loader,
// the fusion reader, the folder check before registration), so that what one accepts the others do.
// Kept apart from PeftAdapterIO so that the parsers of user files can be unit-tested and fuzzed on
// their own.
#pragma once

#include "engine/AdapterConfig.h"
#include "models/Dtype.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine {

// Extra-file and key names, kept in one place.
inline constexpr const char* kPeftConfigFile = "adapter_config.json";
inline constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kExtraConfigFile = "rslora_adapter.json";
inline constexpr const char* kCoefficientsFile = "rslora_coefficients.safetensors";
inline constexpr const char* kPeftKeyPrefix = "base_model.model.";

// Reads adapter_config.json of a PEFT LoRA folder into adapter options (r, lora_alpha, use_rslora,
// patterns, targets, bias). r and lora_alpha default to PEFT's 8 and 8. Throws rslora::Error naming
// the file and the key for anything that is not a plain LoRA config (DoRA, an init_lora_weights that
// changes the base weight, lora_bias, modules_to_save, ...) or has a value of the wrong type or range.
AdapterConfig readPeftAdapterConfig(const std::filesystem::path& dir, const std::string& adapterName = "default");
// Throws rslora::Error "'<dir>' is not a PEFT adapter folder: adapter_config.json is missing" when it
// is; a run's output folder (its adapter in <dir>/adapter) is told where the adapter is.
void requirePeftConfigFile(const std::filesystem::path& dir);
// Throws rslora::Error "'<dir>' is not a PEFT adapter folder: adapter_model.safetensors is missing"
// when it is; a folder holding PEFT's pickled adapter_model.bin instead is told so, and how to convert it.
void requirePeftWeightsFile(const std::filesystem::path& dir);
// adapter_config.json's base_model_name_or_path; "" when the file or the key is missing or unreadable
// (reading the folder's config reports what is wrong with it).
std::string readPeftBaseModelName(const std::filesystem::path& dir);
// The same for the file's text; `source` names it in errors.
AdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& source,
                                     const std::string& adapterName = "default");

// A tensor key of adapter_model.safetensors, split: "[base_model.model.]<module>.lora_A[.<adapter>].weight"
// (or lora_B). PEFT strips the adapter name when it saves; a file written from a state dict keeps the
// saving session's name. Files load with no name or PEFT's ".default." (which PEFT's loader also
// takes), whatever name the adapter is loaded under here; loraKeyOf refuses any other name.
struct LoraKey {
    enum class Part { A, B };
    std::string module;
    Part part = Part::A;
};
// Empty for keys that are not a lora_A / lora_B weight.
std::optional<LoraKey> parseLoraKey(const std::string& key);
// The same for a tensor of `file`; throws rslora::Error naming the file and the tensor, and saying
// what it is (a trained bias, a lora_B bias, a whole module, an embedding LoRA, ...), for any other key
// and for a lora_A / lora_B key whose adapter name is not "default" (PEFT's loader leaves it out).
LoraKey loraKeyOf(const std::string& key, const std::string& file);

// A tensor of adapter_model.safetensors by its key and shape.
struct PeftTensorShape {
    std::string key;
    std::vector<int64_t> shape;
};
// One adapted module: lora_A [r, in] and lora_B [out, r], and with bias "lora_only" the module's
// trained bias [out] (key empty when the file has none).
struct PeftModuleShapes {
    std::string module;
    PeftTensorShape a, b, bias;
    int64_t rank() const { return a.shape[0]; }
    int64_t inFeatures() const { return a.shape[1]; }
    int64_t outFeatures() const { return b.shape[0]; }
};

// Groups the tensors of an adapter file by module and checks them against each other and the config:
// every key is a lora_A / lora_B weight (loraKeyOf), or with bias "lora_only" the 1-D bias of a module
// the file adapts; one A and one B per module, both 2-D without an empty dimension, A's rows = B's
// columns = the rank r / rank_pattern gives the module. Throws
// rslora::Error naming `file` and the tensor. Modules in name order; at least one.
std::vector<PeftModuleShapes> pairLoraTensors(const std::vector<PeftTensorShape>& tensors, const AdapterConfig& config,
                                              const std::string& file);
// Throws naming `file` and the tensor when the pair does not fit a layer of [out, in]; `where` follows
// the module's name in the message (" of the model in <dir>").
void checkLoraFitsLayer(const PeftModuleShapes& module, int64_t inFeatures, int64_t outFeatures, const std::string& file,
                        const std::string& where = {});

// The element types adapter factors may have (F16, BF16, F32, F64). Values must also be finite;
// PeftAdapterIO's checkAdapterTensorValues applies both to loaded tensors.
bool isAdapterDtype(models::Dtype dtype);
// "<file>: tensor '<key>' is not floating point (dtype X; expected F16, BF16, F32 or F64)".
std::string adapterDtypeError(const std::string& file, const std::string& key, const std::string& dtypeName);
// "<file>: tensor '<key>' holds NaN or infinite values".
std::string adapterValuesError(const std::string& file, const std::string& key);

} // namespace rslora::engine
