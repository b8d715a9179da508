// Whether the process that claimed a run is still the one alive under its pid (Linux /proc).
#pragma once

#include <cstdint>
#include <optional>

namespace rslora::storage {

// False for pids that do not exist or are zombies (killed, not yet reaped).
bool processAlive(int64_t pid);
// When the process started, in seconds since the epoch; nullopt when unknown.
std::optional<double> processStartTime(int64_t pid);

} // namespace rslora::storage
