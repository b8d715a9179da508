// Byte counts as people read them ("812 MiB", "3.41 GiB"), for memory figures in the CLI and the GUI.
#pragma once

#include <cstdint>
#include <string>

namespace rslora {

// Binary units: B below 1 KiB, then KiB, MiB, GiB with three significant digits where they fit.
std::string formatBytes(int64_t bytes);

} // namespace rslora
