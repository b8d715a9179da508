// The fused adapter on disk: a PEFT LoRA folder (writeAdapterFactors: r = the largest rank,
// rank_pattern / alpha_pattern, scale 1) plus rslora_fusion.json beside it, which records the method,
// the weights, the sources (label, path, stored version, hash), the parameters and the errors.
#pragma once

#include "engine/fusion/Fusion.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

inline constexpr const char* kFusionRecordFile = "rslora_fusion.json";

struct FusionSource {
    std::string label;               // as the user named it: a folder or "task@v3"
    std::filesystem::path path;      // the folder read
    double weight = 1.0;
    std::optional<int64_t> versionId; // the stored version, when it was one
    std::string uuid;                 // the stored version's uuid ("" for folders)
    std::string sha256;               // over the folder's files (computed by writeFusedAdapter when empty)
};

// The record as JSON (sources' sha256 as given).
nlohmann::ordered_json fusionRecord(const FusionPlan& plan, const FusionReport& report, const std::vector<FusionSource>& sources);

// Writes the fused folder atomically (it appears whole or not at all; an existing `dir` is replaced,
// so callers refuse one the user did not mean to overwrite). `sources` has one entry per adapter.
void writeFusedAdapter(const FusionResult& result, const FusionPlan& plan, std::vector<FusionSource> sources,
                       const std::filesystem::path& dir);

} // namespace rslora::engine::fusion
