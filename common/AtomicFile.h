// Crash-safe file and folder writes: write beside the target, fsync, rename over it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace rslora {

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of
// the folder. On any failure the previous content of `path` is untouched and the temporary removed.
void writeFileAtomic(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file; throws rslora::Error naming the file when it cannot be read.
std::string readFile(const std::filesystem::path& path);

// A folder that becomes visible under its final name only when commit() succeeds. Files are written
// into stagingPath(); commit() fsyncs them and renames the staging folder to the target.
// The target is resolved first (resolvedPath: "out/" is "out", and a symlink to a folder elsewhere
// gets the data where it points, staged on that filesystem, the link left as it is).
// What commit() does when the target exists:
// - Replace (checkpoints, a folder saved again): the two folders swap names in one step (renameat2
//   RENAME_EXCHANGE, so the target name never goes missing, even for a process killed then), and
//   the old one is removed from its hidden staging name.
// - NoReplace (an output that must be new: a merged model, a fused adapter): renamed with
//   RENAME_NOREPLACE; an empty folder in the way (made up front by the user or this program) is
//   removed and the rename tried once more; anything else there (another writer's finished result)
//   is left untouched, the staging folder removed, and an rslora::Error says so.
// Without commit() the destructor removes the staging folder.
class AtomicDirectory {
public:
    enum class OnExisting { Replace, NoReplace };

    explicit AtomicDirectory(std::filesystem::path target, OnExisting onExisting = OnExisting::Replace);
    ~AtomicDirectory();
    AtomicDirectory(const AtomicDirectory&) = delete;
    AtomicDirectory& operator=(const AtomicDirectory&) = delete;

    const std::filesystem::path& stagingPath() const { return m_staging; }
    // The resolved target (absolute, symlinks followed).
    const std::filesystem::path& targetPath() const { return m_target; }
    void commit();

private:
    void commitReplacing();
    void commitNew();

    std::filesystem::path m_target;
    std::filesystem::path m_staging;
    OnExisting m_onExisting = OnExisting::Replace;
    bool m_committed = false;
};

// Removes a folder so that no half-removed copy is ever visible under its name: it is first renamed
// to a hidden staging name (".<name>.tmp-…", which a process killed while removing leaves for the
// staging clean-up), then removed. Errors go to `ec`; a missing folder is no error.
void removeDirectoryAtomic(const std::filesystem::path& dir, std::error_code& ec);

// fsync a file or folder by path (no-op on failure to open a folder on exotic filesystems).
void fsyncPath(const std::filesystem::path& path, bool isDirectory);

} // namespace rslora
