// Small typed accessors for tokenizer.json / tokenizer_config.json fields with error messages that
// name the file and JSON path.
#pragma once

#include "common/Error.h"

#include <nlohmann/json.hpp>

#include <string>

namespace rslora::models::jsonf {

inline std::string typeName(const nlohmann::json& j) { return j.type_name(); }

inline const nlohmann::json& require(const nlohmann::json& j, const char* key, const std::string& where) {
    if (!j.is_object())
        throw Error(where + ": expected a JSON object, found " + typeName(j));
    auto it = j.find(key);
    if (it == j.end())
        throw Error(where + ": missing field \"" + key + "\"");
    return *it;
}

inline std::string getString(const nlohmann::json& j, const char* key, const std::string& where,
                             const std::string& fallback = {}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_string())
        throw Error(where + "." + key + ": expected a string, found " + typeName(*it));
    return it->get<std::string>();
}

inline std::string requireString(const nlohmann::json& j, const char* key, const std::string& where) {
    const auto& v = require(j, key, where);
    if (!v.is_string())
        throw Error(where + "." + key + ": expected a string, found " + typeName(v));
    return v.get<std::string>();
}

inline bool getBool(const nlohmann::json& j, const char* key, const std::string& where, bool fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_boolean())
        throw Error(where + "." + key + ": expected true or false, found " + typeName(*it));
    return it->get<bool>();
}

inline long long getInt(const nlohmann::json& j, const char* key, const std::string& where, long long fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_number_integer())
        throw Error(where + "." + key + ": expected an integer, found " + typeName(*it));
    return it->get<long long>();
}

} // namespace rslora::models::jsonf
