// JSON parsing for model-folder files that rejects duplicate keys (nlohmann keeps one silently) and
// reports errors with the file name; a NaN or Infinity literal (Python's json writes them) is named by
// the key that holds it ("config.json: rms_norm_eps is NaN, ...").
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace rslora::models {

nlohmann::json parseJsonStrict(const std::string& text, const std::string& fileName);
nlohmann::json readJsonFileStrict(const std::filesystem::path& path);

} // namespace rslora::models
