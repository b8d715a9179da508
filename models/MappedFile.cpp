// mmap of checkpoint files so that weights whose dtype already fits are used without a copy.
#include "models/MappedFile.h"

#include "common/Error.h"
#include "models/MappedRegions.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rslora::models {

MappedFile::MappedFile(const std::filesystem::path& path) : m_path(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        std::string why = std::strerror(errno);
        ::close(fd);
        throw Error("cannot stat " + path.string() + ": " + why);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error("expected a regular file, found something else at " + path.string());
    }
    m_size = static_cast<uint64_t>(st.st_size);
    if (m_size > 0) {
        void* p = ::mmap(nullptr, m_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            std::string why = std::strerror(errno);
            ::close(fd);
            throw Error("cannot map " + path.string() + " (" + std::to_string(m_size) + " bytes): " + why);
        }
        m_data = static_cast<uint8_t*>(p);
        registerMappedRegion(m_data, m_size, path);
    }
    // The mapping keeps its own reference to the file.
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (m_data) {
        unregisterMappedRegion(m_data);
        ::munmap(m_data, m_size);
    }
}

void MappedFile::release(uint64_t offset, uint64_t size) const {
    if (!m_data || offset >= m_size)
        return;
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t end = std::min(m_size, offset + size);
    // Only whole pages inside the range: a page shared with a neighbouring tensor stays.
    const uint64_t first = (offset + page - 1) / page * page;
    const uint64_t last = end / page * page;
    if (last > first)
        ::madvise(m_data + first, last - first, MADV_DONTNEED);
}

} // namespace rslora::models
