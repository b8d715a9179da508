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

} // namespace rslora
