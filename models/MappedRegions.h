// The file mappings a process reads weights through, and what happens when one of those files is
// truncated or rewritten in place by another program while it is mapped: the next read of a page past
// its new end raises SIGBUS, which would end the process with a bare "Bus error". With the mapping
// registered here, a SIGBUS inside it prints which file changed and how to avoid it, then exits with
// status 1 (nothing can be read from the mapping any more, and unwinding from a signal inside a
// tensor kernel is not safe). A SIGBUS elsewhere goes to the handler that was there before.
#pragma once

#include <cstdint>
#include <filesystem>

namespace rslora::models {

// Registers [begin, begin + size) as a mapping of `path` (the first call installs the handler).
// Silently not registered when the table (512 mappings) is full.
void registerMappedRegion(const void* begin, uint64_t size, const std::filesystem::path& path);
// Forgets the mapping that starts at `begin` (before it is unmapped).
void unregisterMappedRegion(const void* begin);

} // namespace rslora::models
