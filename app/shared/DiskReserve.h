// A little disk space set aside beside the store while a run trains, so that when the disk fills up
// the run's failure can still be recorded: the reserve is released and the status written then.
#pragma once

#include <cstdint>
#include <filesystem>

namespace rslora::app {

class DiskReserve {
public:
    // Writes `bytes` to `path` (best effort: no reserve when the disk is already too full).
    DiskReserve(std::filesystem::path path, uint64_t bytes);
    ~DiskReserve();
    DiskReserve(const DiskReserve&) = delete;
    DiskReserve& operator=(const DiskReserve&) = delete;

    // Frees the space; true when there was a reserve to free.
    bool release();

private:
    std::filesystem::path m_path;
    bool m_held = false;
};

} // namespace rslora::app
