// Relative paths in config files (training, pipeline and sweep configs) are taken from the folder of
// the file that holds them, so a config works whatever the current directory. Paths given on the
// command line (--set, --exact-match) stay relative to the current directory. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace rslora::engine {

// A leading "~/" (or a lone "~") replaced by $HOME; other paths unchanged. Throws rslora::Error when
// the path needs HOME and it is not set.
std::string expandHome(const std::string& path);

// `path` with "~" expanded (expandHome), then against `folder` when it is relative (and neither is
// empty); unchanged otherwise.
std::string resolveConfigPath(const std::string& path, const std::string& folder);

// Resolves the path keys of a training config in JSON form (model.path, data.train,
// data.validation, output.dir and the folders of adapter.stack_on) against `folder`. Values that
// are not strings are left for the config reader to refuse.
void resolveConfigPaths(nlohmann::json& config, const std::string& folder);

// The absolute folder of a config file, for resolveConfigPaths.
std::string configFolder(const std::string& configFile);

} // namespace rslora::engine
