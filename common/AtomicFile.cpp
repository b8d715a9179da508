#include "common/AtomicFile.h"

#include "common/Error.h"
#include "common/Paths.h"
#include "common/ReadWholeFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace rslora {
namespace {

std::string uniqueSuffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<unsigned long>(::getpid())};
    std::ostringstream s;
    s << ".tmp-" << ::getpid() << "-" << std::hex << rng();
    return s.str();
}

std::string errnoText() { return std::strerror(errno); }

// Whether `name` is a staging name of `target` (".<target>.tmp-<pid>-<hex>", or a staging of such a
// staging, as written by a writer nested in another) whose every writer process has ended.
bool deadStagingOf(const std::string& name, const std::string& target) {
    std::size_t dots = 0;
    while (dots < name.size() && name[dots] == '.')
        ++dots;
    const std::string marker = ".tmp-";
    if (dots == 0 || name.compare(dots, target.size(), target) != 0 || name.compare(dots + target.size(), marker.size(), marker) != 0)
        return false;
    for (std::size_t at = dots + target.size(); at < name.size();) {
        if (name.compare(at, marker.size(), marker) != 0)
            return false;
        const std::size_t digits = at + marker.size();
        const std::size_t dash = name.find('-', digits);
        if (dash == std::string::npos || dash == digits || dash - digits > 9
            || name.find_first_not_of("0123456789", digits) != dash)
            return false;
        const pid_t pid = static_cast<pid_t>(std::stol(name.substr(digits, dash - digits)));
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM)
            return false; // still writing (or another user's process of that id)
        const std::size_t next = name.find('.', dash);
        if (name.find_first_not_of("0123456789abcdef", dash + 1) != next)
            return false;
        at = next == std::string::npos ? name.size() : next;
    }
    return true;
}

// Removes what killed writers of `target` left beside it (hidden, never visible as the target).
void removeDeadStaging(const fs::path& parent, const std::string& target) {
    std::error_code ec;
    std::vector<fs::path> dead;
    for (const auto& e : fs::directory_iterator(parent, ec))
        if (deadStagingOf(e.path().filename().string(), target))
            dead.push_back(e.path());
    for (const auto& p : dead)
        fs::remove_all(p, ec);
}

} // namespace

void fsyncPath(const fs::path& path, bool isDirectory) {
    int fd = ::open(path.c_str(), isDirectory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}

void writeFileAtomic(const fs::path& path, std::string_view bytes) {
    fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::path tmp = dir / (path.filename().string() + uniqueSuffix());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Error("cannot create " + tmp.string() + ": " + errnoText());
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::string why = errnoText();
            ::close(fd);
            ::unlink(tmp.c_str());
            throw Error("cannot write " + path.string() + ": " + why);
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        std::string why = errnoText();
        ::unlink(tmp.c_str());
        throw Error("cannot flush " + path.string() + ": " + why);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string why = errnoText();
        ::unlink(tmp.c_str());
        throw Error("cannot rename " + tmp.string() + " to " + path.string() + ": " + why);
    }
    fsyncPath(dir, true);
}

std::string readFile(const fs::path& path) { return readWholeFile(path); }

AtomicDirectory::AtomicDirectory(fs::path target, OnExisting onExisting)
    : m_target(resolvedPath(target)), m_onExisting(onExisting) {
    const std::string name = m_target.filename().string();
    if (target.empty() || name.empty() || name == "." || name == "..")
        throw Error("cannot write a folder at '" + target.string() + "': name a folder");
    const fs::path parent = m_target.parent_path();
    fs::create_directories(parent);
    removeDeadStaging(parent, name);
    m_staging = parent / ("." + name + uniqueSuffix());
    fs::create_directory(m_staging);
}

AtomicDirectory::~AtomicDirectory() {
    if (!m_committed) {
        std::error_code ec;
        fs::remove_all(m_staging, ec);
    }
}

void AtomicDirectory::commit() {
    for (const auto& entry : fs::recursive_directory_iterator(m_staging)) {
        if (entry.is_regular_file())
            fsyncPath(entry.path(), false);
    }
    fsyncPath(m_staging, true);
    if (m_onExisting == OnExisting::NoReplace)
        commitNew();
    else
        commitReplacing();
    fsyncPath(m_target.parent_path(), true);
}

void AtomicDirectory::commitReplacing() {
    fs::path old;
    std::error_code ec;
    if (fs::exists(m_target, ec) &&
        ::renameat2(AT_FDCWD, m_staging.c_str(), AT_FDCWD, m_target.c_str(), RENAME_EXCHANGE) == 0) {
        // The staging name now holds the old folder.
        m_committed = true;
        fsyncPath(m_target.parent_path(), true);
        fs::remove_all(m_staging, ec);
        return;
    }
    // No target yet, or a filesystem without RENAME_EXCHANGE: move the old folder aside first.
    if (fs::exists(m_target, ec)) {
        old = m_target.parent_path() / ("." + m_target.filename().string() + ".old" + uniqueSuffix());
        if (::rename(m_target.c_str(), old.c_str()) != 0)
            throw Error("cannot replace " + m_target.string() + ": " + errnoText());
    }
    if (::rename(m_staging.c_str(), m_target.c_str()) != 0) {
        std::string why = errnoText();
        if (!old.empty())
            ::rename(old.c_str(), m_target.c_str());
        throw Error("cannot move " + m_staging.string() + " to " + m_target.string() + ": " + why);
    }
    m_committed = true;
    if (!old.empty()) {
        fsyncPath(m_target.parent_path(), true);
        fs::remove_all(old, ec);
    }
}

void AtomicDirectory::commitNew() {
    for (int attempt = 0;; ++attempt) {
        int rc = ::renameat2(AT_FDCWD, m_staging.c_str(), AT_FDCWD, m_target.c_str(), RENAME_NOREPLACE);
        if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
            // A filesystem without RENAME_NOREPLACE: rename(2) of a folder still never replaces a
            // folder that has entries, nor a file or a link (ENOTEMPTY, EEXIST, ENOTDIR); only an
            // empty folder, which is what the retry below would remove anyway.
            rc = ::rename(m_staging.c_str(), m_target.c_str());
        }
        if (rc == 0) {
            m_committed = true;
            return;
        }
        const int err = errno;
        const bool occupied = err == EEXIST || err == ENOTEMPTY || err == ENOTDIR || err == EISDIR;
        if (occupied && attempt == 0) {
            // An empty folder in the way (lstat: a link to one is not it) is taken over: rmdir fails
            // for one that has anything in it, so another writer's result is never removed.
            struct stat st {};
            if (::lstat(m_target.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::rmdir(m_target.c_str()) == 0)
                continue;
        }
        std::error_code ec;
        fs::remove_all(m_staging, ec);
        if (occupied)
            throw Error(m_target.string() + " appeared while writing; the result was not moved into place",
                        "another process wrote there meanwhile; what it wrote was left as it is");
        throw Error("cannot move " + m_staging.string() + " to " + m_target.string() + ": " + std::strerror(err));
    }
}

void removeDirectoryAtomic(const fs::path& dir, std::error_code& ec) {
    ec.clear();
    const fs::path hidden = dir.parent_path() / ("." + dir.filename().string() + uniqueSuffix());
    if (::rename(dir.c_str(), hidden.c_str()) != 0) {
        if (errno != ENOENT)
            ec = std::error_code(errno, std::generic_category());
        return;
    }
    fs::remove_all(hidden, ec);
}

} // namespace rslora
