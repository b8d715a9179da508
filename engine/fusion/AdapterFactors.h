// An adapter as plain per-module factors (A, B, scale), read from or written to a PEFT LoRA folder.
// The common currency of fusion and merged-model export: no model, no AdapterSet, no dense ΔW
// unless a method asks for one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

struct ModuleFactors {
    std::string module; // full module path, "model.layers.0.self_attn.q_proj"
    torch::Tensor A;    // [r, in]
    torch::Tensor B;    // [out, r]
    double scale = 1.0; // ΔW = scale · B A

    int64_t rank() const { return A.size(0); }
    int64_t inFeatures() const { return A.size(1); }
    int64_t outFeatures() const { return B.size(0); }
    // Dense scale · B A [out, in] in A's dtype; only for methods that need ΔW itself.
    torch::Tensor delta() const;
};

struct AdapterFactors {
    std::filesystem::path dir;          // the folder read (empty when built in memory)
    std::string label;                  // how the user named it: the folder, or "task@v3"
    std::string baseModelNameOrPath;    // adapter_config.json's base_model_name_or_path
    std::vector<ModuleFactors> modules; // sorted by module name
    // bias "lora_only" (read with TrainedBiasUse::Read only): module -> the bias it trained [out], in
    // float32. The whole trained bias, not a change to the base's: a merge writes b + λ (trained − b).
    std::map<std::string, torch::Tensor> biases;

    const ModuleFactors* find(const std::string& module) const;
    int64_t maxRank() const;
};

// The model's folder name in a base_model_name_or_path or a path: "HuggingFaceTB/SmolLM2-135M" and
// "/models/SmolLM2-135M/" both give "SmolLM2-135M" (how folders outside the store name their base).
std::string modelFolderName(const std::string& nameOrPath);

// What a reader does with the trained biases of a bias "lora_only" adapter. They are whole values
// that replace the base's, so only a merge into a full model (one writer of every base tensor) can
// apply them; fusion and other factor arithmetic would drop them silently, so it refuses them.
enum class TrainedBiasUse { Refuse, Read };

// Reads a PEFT LoRA folder (ours or PEFT's). Our random-subspace folders already hold the
// materialized A and B, and spectral ones the rank-2r form against the original base, so the
// safetensors alone describe the delta. Throws rslora::Error naming the file and tensor for: not a
// LoRA folder, DoRA, trained bias tensors (unless `biases` is Read), non-finite values, A/B shapes
// that do not pair up, a rank that disagrees with the config.
AdapterFactors readAdapterFactors(const std::filesystem::path& dir, TrainedBiasUse biases = TrainedBiasUse::Refuse);

// Writes `adapter` as a PEFT folder, atomically: r = the largest rank, rank_pattern and
// alpha_pattern (alpha = rank) for modules of other ranks, use_rslora false, so that PEFT and
// vLLM both apply scale 1; each module's scale is folded into B first. With `biases`, bias
// "lora_only" and each bias under "<module>.bias", as PEFT saves them. `extraFiles` (file name →
// bytes) are written into the same folder within the same atomic commit.
void writeAdapterFactors(const AdapterFactors& adapter, const std::filesystem::path& dir,
                         const std::string& baseModelNameOrPath,
                         const std::map<std::string, std::string>& extraFiles = {});

} // namespace rslora::engine::fusion
