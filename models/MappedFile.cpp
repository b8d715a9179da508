// mmap of checkpoint files so that weights whose dtype already fits are used without a copy.
#include "models/MappedFile.h"

#include "common/Error.h"

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
    }
    // The mapping keeps its own reference to the file.
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (m_data)
        ::munmap(m_data, m_size);
}

} // namespace rslora::models
