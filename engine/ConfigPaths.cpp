// Config paths relative to the config file (see ConfigPaths.h).
#include "engine/ConfigPaths.h"

#include "common/Error.h"

#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

namespace rslora::engine {

namespace fs = std::filesystem;

namespace {

// The training config keys that hold one path.
const std::vector<std::pair<std::string, std::string>> kPathKeys{
    {"model", "path"}, {"data", "train"}, {"data", "validation"}, {"output", "dir"}};
// The training config keys that hold a list of paths.
const std::vector<std::pair<std::string, std::string>> kPathListKeys{{"adapter", "stack_on"}};

} // namespace

std::string expandHome(const std::string& path)
{
    if (path != "~" && path.compare(0, 2, "~/") != 0)
        return path;
    // As the shell expands it: without this a folder literally named "~" is created beside the config.
    const char* home = std::getenv("HOME");
    if (!home || !*home)
        throw Error("the path '" + path + "' starts with '~' but HOME is not set", "write the path out in full");
    return path == "~" ? std::string(home) : (fs::path(home) / path.substr(2)).string();
}

std::string resolveConfigPath(const std::string& path, const std::string& folder)
{
    const std::string expanded = expandHome(path);
    if (expanded.empty() || folder.empty() || fs::path(expanded).is_absolute())
        return expanded;
    return (fs::path(folder) / expanded).lexically_normal().string();
}

void resolveConfigPaths(nlohmann::json& config, const std::string& folder)
{
    if (!config.is_object())
        return;
    auto valueOf = [&config](const std::string& section, const std::string& key) -> nlohmann::json* {
        auto s = config.find(section);
        if (s == config.end() || !s->is_object())
            return nullptr;
        auto k = s->find(key);
        return k == s->end() ? nullptr : &*k;
    };
    for (const auto& [section, key] : kPathKeys)
        if (nlohmann::json* v = valueOf(section, key); v && v->is_string())
            *v = resolveConfigPath(v->get<std::string>(), folder);
    for (const auto& [section, key] : kPathListKeys)
        if (nlohmann::json* v = valueOf(section, key); v && v->is_array())
            for (auto& item : *v)
                if (item.is_string())
                    item = resolveConfigPath(item.get<std::string>(), folder);
}

std::string configFolder(const std::string& configFile)
{
    return fs::absolute(configFile).parent_path().lexically_normal().string();
}

} // namespace rslora::engine
