// Merging adapters into the base weights and exporting a complete Hugging Face model folder:
// W' = W + Σ λᵢ sᵢ Bᵢ Aᵢ per adapted projection (and b' = b + Σ λᵢ (bᵢ − b) for the biases an
// adapter with bias "lora_only" trained), streamed tensor by tensor from the memory-mapped
// base into safetensors shards, with config.json, tokenizer and generation files beside them.
#pragma once

#include "common/Error.h"
#include "engine/fusion/AdapterFactors.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

enum class MergeDtype { Float32, BFloat16, Float16 };

// "float32", "bfloat16", "float16" (also fp32/f32, bf16, fp16/half). Throws naming the value and
// the choices.
MergeDtype parseMergeDtype(const std::string& name);
// The name transformers writes as torch_dtype: "float32", "bfloat16", "float16".
std::string mergeDtypeName(MergeDtype dtype);

struct WeightedAdapter {
    AdapterFactors factors;
    double weight = 1.0;          // λ: its ΔW is added λ times (negative subtracts)
    // The base-model fingerprint (models::modelFingerprint) recorded with a stored version; when
    // set, the merge is refused unless the model folder has the same fingerprint.
    std::string baseModelSha256;
};

struct MergeRequest {
    std::filesystem::path modelDir;        // the base model folder (never modified)
    std::vector<WeightedAdapter> adapters;
    std::optional<MergeDtype> dtype;       // unset: the base's own dtype (config.json torch_dtype)
    uint64_t maxShardBytes = 2'000'000'000; // above this total, shards + model.safetensors.index.json
    std::filesystem::path outDir;           // must not exist or be empty
    // The store's adapter root when the adapters come from a store (empty: none): the output may not
    // lie inside it, where it would change stored versions' files. Nor may it lie inside the base
    // or any adapter's folder (factors.dir).
    std::filesystem::path adapterStoreRoot;
};

struct MergeReport {
    std::filesystem::path outDir;
    std::string dtype;                    // torch_dtype written
    int64_t tensors = 0;                  // tensors written
    int64_t mergedTensors = 0;            // of which an adapter changed
    uint64_t tensorBytes = 0;             // sum of tensor sizes (index metadata.total_size)
    uint64_t fileBytes = 0;               // sum of the safetensors files' sizes
    std::vector<std::string> shards;      // safetensors file names, in order
    std::vector<std::string> copiedFiles; // tokenizer, generation and other files copied from the base
    bool tiedEmbeddings = false;          // lm_head stays tied to the input embeddings (not written)
    // A base saved with bitsandbytes 4-bit weights: its type ("nf4"/"fp4") and how many projections
    // were dequantized into the (dense) output; empty / 0 for a float base.
    std::string baseQuantization;
    int64_t dequantized4bit = 0;
    double seconds = 0;
};

// (tensors done, tensors total); return false to cancel.
using ExportProgress = std::function<bool(int64_t done, int64_t total)>;

// Thrown when the progress callback cancels; nothing is left in or beside the output folder.
class MergeCancelled : public Error {
public:
    using Error::Error;
};

// The file written into the merged folder that says what it was made from.
constexpr const char* kMergeRecordFile = "rslora_merge.json";

// Merges and writes the folder; the merge is computed in float32 and rounded once to the output
// dtype. The folder appears whole or not at all, and never over a folder another merge finished at
// outDir meanwhile (AtomicDirectory NoReplace). Refused with an rslora::Error (before anything is
// written where possible) for: an output folder that exists and is not empty or lies inside the
// base, an adapter's folder or the adapter store root, no adapters, a non-finite weight, a zero
// shard size, a module the base lacks or of another shape (naming adapter and module), an adapter
// on lm_head of a model with tied embeddings, a trained bias the base lacks or of another shape, a stored version recorded against another base model,
// a non-finite merged value (naming the tensor).
MergeReport exportMergedModel(const MergeRequest& request, const ExportProgress& progress = {});

// Refuses (rslora::Error naming the adapter and both fingerprints) an adapter whose stored version
// records a base model fingerprint (baseModelSha256) other than models::modelFingerprint(modelDir);
// adapters without one are not checked, and only factors.label of each is read. Returns the model's
// fingerprint when it was computed, "" when no adapter records one. Used by the merge and by
// every other step that applies stored versions to a model it is given (the fusion grid search).
std::string checkRecordedBaseModel(const std::filesystem::path& modelDir, const std::vector<WeightedAdapter>& adapters);

// Throws when the output folder `out` (named `outName` in the message, e.g. "--out x") lies inside
// one of `sources` (label as shown, folder) or under `storeRoot` (the store's adapter root; empty:
// none): writing there would change an adapter's files, and a stored version whose files changed is
// refused from then on (its hash no longer matches). Used by merge and fuse.
void refuseOutputInsideAdapters(const std::filesystem::path& out, const std::string& outName,
                                const std::vector<std::pair<std::string, std::filesystem::path>>& sources,
                                const std::filesystem::path& storeRoot);

} // namespace rslora::engine::fusion
