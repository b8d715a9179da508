// Disk space held for recording a run's end (see DiskReserve.h).
#include "app/shared/DiskReserve.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace rslora::app {

DiskReserve::DiskReserve(std::filesystem::path path, uint64_t bytes) : m_path(std::move(path))
{
    const int fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    // Real blocks (not a sparse file): the space must exist to be given back.
    const std::vector<char> zeros(64 * 1024, 0);
    uint64_t written = 0;
    while (written < bytes) {
        const ssize_t n = ::write(fd, zeros.data(), zeros.size());
        if (n <= 0)
            break;
        written += uint64_t(n);
    }
    const bool ok = written >= bytes && ::fsync(fd) == 0;
    ::close(fd);
    m_held = ok;
    if (!ok)
        ::unlink(m_path.c_str());
}

DiskReserve::~DiskReserve() { release(); }

bool DiskReserve::release()
{
    if (!m_held)
        return false;
    m_held = false;
    return ::unlink(m_path.c_str()) == 0;
}

} // namespace rslora::app
