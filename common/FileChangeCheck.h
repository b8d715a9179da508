// Noticing that a file changed while it was read: its identity, size and modification time taken
// before the read and compared after it. A file replaced by a rename meanwhile is no change (the
// reader holds the old file whole); one written or truncated in place is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <sys/types.h>

namespace rslora {

class FileChangeCheck {
public:
    // Looks at `path` now (nothing is checked later for what is not a regular file).
    explicit FileChangeCheck(std::filesystem::path path);
    // Throws rslora::Error naming the file when the same file now has another size or modification
    // time, or when `bytesRead` differs from the size it had.
    void verify(uint64_t bytesRead) const;

private:
    std::filesystem::path m_path;
    bool m_regular = false;
    dev_t m_device = 0;
    ino_t m_inode = 0;
    off_t m_size = 0;
    struct timespec m_modified {};
};

} // namespace rslora
