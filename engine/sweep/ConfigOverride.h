// `section.key=value` assignments on a training config's JSON, as `--set` and `--vary` write them:
// one reading of keys and values for every command that overrides a config. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace rslora::engine {

// A config key as "section.key", split.
struct ConfigKey {
    std::string section;
    std::string key;
    std::string dotted() const { return section + "." + key; }
};

// "section.key" → its parts; throws rslora::Error naming `option` and the text when it is not of that form.
ConfigKey parseConfigKey(const std::string& text, const std::string& option);
// A value as written on a command line: JSON when it parses ("8", "true", "[\"q_proj\"]"),
// a bracketed list of bare words ("[q_proj,v_proj]") as a list, any other text as a string.
nlohmann::json parseConfigValue(const std::string& text);
// The text parseConfigValue reads back as `value`: a string bare where that is unambiguous
// ("full", "alpha/sqrt(r)"), quoted JSON otherwise ("8" as a string, one with a comma); others as JSON.
std::string formatConfigValue(const nlohmann::json& value);
// Values as one `--vary` list: "4,8,16" (formatConfigValue of each, joined by commas).
std::string formatConfigValues(const std::vector<nlohmann::json>& values);
// "section.key=value" → key and value; throws rslora::Error naming `option` and the text.
std::pair<ConfigKey, nlohmann::json> parseAssignment(const std::string& text, const std::string& option);
// Throws rslora::Error when two of `assignments` ("section.key=value", each given with `option`) name
// the same key: one would silently replace the other. Entries without '=' are left to parseAssignment.
void refuseRepeatedKeys(const std::vector<std::string>& assignments, const std::string& option);
// Sets one key of a config JSON object (the section is created when missing).
void setConfigValue(nlohmann::json& config, const ConfigKey& key, const nlohmann::json& value);
// Splits "v1,v2,[a,b]" at the commas outside brackets, braces and quotes.
std::vector<std::string> splitTopLevel(const std::string& text);

} // namespace rslora::engine
