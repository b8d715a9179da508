// JSON parsing for model-folder files that rejects duplicate keys (nlohmann keeps one silently) and
// reports errors with the file name.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace rslora::models {

nlohmann::json parseJsonStrict(const std::string& text, const std::string& fileName);
nlohmann::json readJsonFileStrict(const std::filesystem::path& path);

} // namespace rslora::models
