// Entry points that make a CausalLM: from a Hugging Face folder, or randomly initialised.
#pragma once

#include "models/CausalLM.h"
#include "models/quant/QuantizedWeight.h"

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace rslora::models {

class WeightFiles;

struct LoadOptions {
    torch::Device device = torch::kCPU;
    // Unset: float32 on CPU (LibTorch's CPU kernels are fastest and complete there), the
    // checkpoint's dtype on CUDA (checkpointDtype). Float16 on CPU is upcast to float32 with a warning.
    std::optional<torch::ScalarType> dtype;
    // Set: the decoder projections are quantized to 4 bits as they load (QuantizedLinear), with
    // embeddings, norms and lm_head in `dtype`.
    std::optional<quant::QuantOptions> quantization;
    // A folder saved with bitsandbytes 4-bit weights loads them as 4-bit layers (kept as stored,
    // even with `quantization` set); with this set they are dequantized into dense `dtype` weights
    // instead (merging and exporting need the full-precision base).
    bool dequantize4bit = false;
};

// Reads config.json and the safetensors weights (single or sharded). Weights whose dtype and
// device already fit view the memory-mapped file without a copy. Throws rslora::Error naming the
// folder, file and tensor on a missing, misshapen or unreadable tensor.
std::unique_ptr<CausalLM> loadCausalLM(const std::filesystem::path& dir, const LoadOptions& options = {});

// A model with transformers' initialisation (normal(0, initializer_range) for linear and
// embedding weights, zero biases, unit norms), reproducible from `seed`.
std::unique_ptr<CausalLM> createCausalLM(const ModelConfig& config, uint64_t seed, const LoadOptions& options = {});

// The dtype a checkpoint computes in when LoadOptions::dtype is unset on CUDA, as transformers'
// torch_dtype="auto": config.json's torch_dtype (v5: dtype) when it names float32, bfloat16 or
// float16, else the floating-point dtype holding the most elements (bitsandbytes state aside);
// float32 when there is none. CPU loads still compute in float32 (see LoadOptions::dtype).
torch::ScalarType checkpointDtype(const ModelConfig& config, const WeightFiles& weights);

// "float32"/"fp32"/"f32", "bfloat16"/"bf16", "float16"/"fp16"/"half"; throws on anything else.
torch::ScalarType parseDtype(const std::string& name);
// "cpu", "cuda", "cuda:1"; throws when CUDA is asked for and absent.
torch::Device parseDevice(const std::string& name);
std::string dtypeText(torch::ScalarType type);

} // namespace rslora::models
