// Where the workbench keeps its data: the store, adapters, checkpoints and presets.
#pragma once

#include <filesystem>

namespace rslora {

// $RSLORA_HOME if set, else $XDG_DATA_HOME/rslora-workbench, else ~/.local/share/rslora-workbench.
std::filesystem::path dataDirectory();
// $RSLORA_DB if set, else dataDirectory()/workbench.sqlite.
std::filesystem::path defaultDatabasePath();
// The installed or in-tree resources folder (demo model, datasets, presets): $RSLORA_RESOURCES,
// then <exe>/../share/rslora-workbench/resources, then the source tree's resources/.
std::filesystem::path resourcesDirectory();
// The built-in demo base model (a Hugging Face folder) and its datasets, under resourcesDirectory().
std::filesystem::path demoModelDirectory();
std::filesystem::path demoDataDirectory();

// Where a write to `path` lands: absolute, symlinks and ".." resolved as far as the path exists
// (weakly_canonical), no trailing separator ("merged/" and "merged" are one folder).
std::filesystem::path resolvedPath(const std::filesystem::path& path);
// Whether `path` is `folder` or lies inside it, both resolved (resolvedPath): an output folder that
// would change files it must not (a base model, an adapter, the store's adapter root). False when
// either is empty.
bool pathLiesInside(const std::filesystem::path& path, const std::filesystem::path& folder);

} // namespace rslora
