// File and folder copies with specific errors (see FolderCopy.h).
#include "common/FolderCopy.h"

#include "common/Error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace rslora {
namespace {

// Closes a descriptor on every way out.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0)
            ::close(fd);
    }
};

} // namespace

void copyFile(const fs::path& from, const fs::path& to) {
    Fd in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0)
        throw Error("cannot read " + from.string() + ": " + std::strerror(errno));
    // A new file's permissions (read and write as the umask allows), whatever the source's: a copy of a
    // read-only file (a model in a read-only cache or store) is the user's to edit and delete. Only the
    // execute bits are carried over.
    struct stat st {};
    const mode_t mode = 0666 | (::fstat(in.fd, &st) == 0 ? (st.st_mode & 0111) : 0);
    Fd out{::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)};
    if (out.fd < 0)
        throw Error("cannot write " + to.string() + " (copying " + from.string() + "): " + std::strerror(errno));
    std::vector<char> buffer(1 << 20);
    for (;;) {
        const ssize_t n = ::read(in.fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw Error("cannot read " + from.string() + ": " + std::strerror(errno));
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(out.fd, buffer.data() + done, size_t(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                throw Error("cannot write " + to.string() + " (copying " + from.string() + "): " + std::strerror(errno));
            done += w;
        }
    }
    if (::close(out.fd) != 0) {
        out.fd = -1;
        throw Error("cannot write " + to.string() + " (copying " + from.string() + "): " + std::strerror(errno));
    }
    out.fd = -1;
}

void copyFolder(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(from)) {
        const fs::path target = to / entry.path().filename();
        if (entry.is_directory())
            copyFolder(entry.path(), target);
        else
            copyFile(entry.path(), target);
    }
}

} // namespace rslora
