// Reading `section.key=value` assignments and list values of the command line.
#include "engine/sweep/ConfigOverride.h"

#include "common/Error.h"

namespace rslora::engine {

ConfigKey parseConfigKey(const std::string& text, const std::string& option)
{
    const auto dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size() || text.find('.', dot + 1) != std::string::npos)
        throw Error(option + " expects a config key as section.key (e.g. adapter.r), found '" + text + "'");
    return {text.substr(0, dot), text.substr(dot + 1)};
}

std::vector<std::string> splitTopLevel(const std::string& text)
{
    std::vector<std::string> parts;
    std::string current;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            current += c;
            if (c == '\\' && i + 1 < text.size())
                current += text[++i];
            else if (c == '"')
                quoted = false;
            continue;
        }
        if (c == '"')
            quoted = true;
        else if (c == '[' || c == '{')
            ++depth;
        else if ((c == ']' || c == '}') && depth > 0)
            --depth;
        else if (c == ',' && depth == 0) {
            parts.push_back(current);
            current.clear();
            continue;
        }
        current += c;
    }
    parts.push_back(current);
    return parts;
}

nlohmann::json parseConfigValue(const std::string& text)
{
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
    }
    // "[q_proj,v_proj]": a list typed without JSON quotes.
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        nlohmann::json list = nlohmann::json::array();
        const std::string inner = text.substr(1, text.size() - 2);
        if (inner.find_first_not_of(' ') != std::string::npos)
            for (const auto& item : splitTopLevel(inner)) {
                const auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
                list.push_back(parseConfigValue(b == std::string::npos ? std::string() : item.substr(b, e - b + 1)));
            }
        return list;
    }
    return text;
}

std::string formatConfigValue(const nlohmann::json& value)
{
    if (value.is_string()) {
        const std::string& text = value.get_ref<const std::string&>();
        // A bare word must survive splitting at commas and read back as the same string.
        const bool bare = !text.empty() && text.find_first_of(",[]{}\"") == std::string::npos
            && text.front() != ' ' && text.back() != ' ' && parseConfigValue(text) == value;
        return bare ? text : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string formatConfigValues(const std::vector<nlohmann::json>& values)
{
    std::string text;
    for (const auto& v : values)
        text += (text.empty() ? "" : ",") + formatConfigValue(v);
    return text;
}

std::pair<ConfigKey, nlohmann::json> parseAssignment(const std::string& text, const std::string& option)
{
    const auto eq = text.find('=');
    if (eq == std::string::npos)
        throw Error(option + " expects section.key=value, found '" + text + "'");
    return {parseConfigKey(text.substr(0, eq), option), parseConfigValue(text.substr(eq + 1))};
}

void refuseRepeatedKeys(const std::vector<std::string>& assignments, const std::string& option)
{
    for (size_t i = 0; i < assignments.size(); ++i) {
        const auto eq = assignments[i].find('=');
        if (eq == std::string::npos)
            continue;
        const std::string key = assignments[i].substr(0, eq + 1);
        for (size_t k = 0; k < i; ++k)
            if (assignments[k].compare(0, key.size(), key) == 0)
                throw Error(key.substr(0, eq) + " is set twice (" + option + " " + assignments[k] + " and " + option + " "
                                + assignments[i] + ")",
                            "give each key once, with the value you mean");
    }
}

void setConfigValue(nlohmann::json& config, const ConfigKey& key, const nlohmann::json& value)
{
    nlohmann::json& section = config[key.section];
    if (!section.is_object())
        section = nlohmann::json::object();
    section[key.key] = value;
}

} // namespace rslora::engine
