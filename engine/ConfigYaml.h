// Reads the YAML subset training configs use (nested maps by indentation, scalars, flow lists/maps,
// block lists) into JSON, so one reader (TrainConfig::fromJson) handles both formats. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace rslora::engine {

// Throws rslora::Error naming the file and line for anything outside the subset.
nlohmann::json yamlToJson(const std::string& text, const std::string& fileName);

} // namespace rslora::engine
