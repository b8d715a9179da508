// Copies files and folders with errors that name the file being written and the cause (a full
// disk, a file-size limit), where std::filesystem::copy names only the two folders.
#pragma once

#include <filesystem>

namespace rslora {

// Copies one regular file (its bytes, and its execute bits) to `to`, which must not exist; the copy
// gets a new file's permissions (0666 less the umask), not the source's, so a read-only source gives a
// copy the user can edit and delete. Throws
// rslora::Error "cannot write TO (copying FROM): REASON" or "cannot read FROM: REASON".
void copyFile(const std::filesystem::path& from, const std::filesystem::path& to);

// Copies the folder `from` recursively into `to` (created when missing), following symbolic links
// as std::filesystem::copy does. Throws as copyFile(); what was copied before stays for the caller
// to remove (callers copy into staging folders).
void copyFolder(const std::filesystem::path& from, const std::filesystem::path& to);

} // namespace rslora
