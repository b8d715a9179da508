// See FileChangeCheck.h.
#include "common/FileChangeCheck.h"

#include "common/Error.h"

#include <sys/stat.h>

namespace rslora {

FileChangeCheck::FileChangeCheck(std::filesystem::path path) : m_path(std::move(path))
{
    struct stat st {};
    if (::stat(m_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return;
    m_regular = true;
    m_device = st.st_dev;
    m_inode = st.st_ino;
    m_size = st.st_size;
    m_modified = st.st_mtim;
}

void FileChangeCheck::verify(uint64_t bytesRead) const
{
    if (!m_regular)
        return;
    struct stat st {};
    if (::stat(m_path.c_str(), &st) != 0 || st.st_dev != m_device || st.st_ino != m_inode)
        return; // removed or replaced by another file since: what was read is the old file, whole
    const bool changed = st.st_size != m_size || st.st_mtim.tv_sec != m_modified.tv_sec || st.st_mtim.tv_nsec != m_modified.tv_nsec;
    // A pseudo-file (/proc) says 0 bytes whatever it holds: only a real size is compared with the bytes read.
    if (changed || (m_size > 0 && bytesRead != static_cast<uint64_t>(m_size)))
        throw Error(m_path.string() + " changed while it was being read (" + std::to_string(m_size) + " bytes when opened, "
                        + std::to_string(bytesRead) + " read, " + std::to_string(st.st_size) + " now)",
                    "another program is writing it: read it again when that has finished");
}

} // namespace rslora
