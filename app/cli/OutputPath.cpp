// The check of an output path's parent folder (see OutputPath.h).
#include "app/cli/OutputPath.h"

#include "app/cli/ShellWord.h"
#include "common/Error.h"

namespace fs = std::filesystem;

namespace rslora::cli {

fs::path outputPath(const std::string& path, const std::string& label) {
    if (path.empty())
        throw Error(label + " is empty: name the file or folder to write");
    const fs::path absolute = fs::absolute(fs::path(path)).lexically_normal();
    // "out/" names the folder out: its parent is the one that must exist.
    const fs::path target = absolute.has_filename() ? absolute : absolute.parent_path();
    const fs::path parent = target.parent_path();
    std::error_code ec;
    const fs::file_status status = fs::status(parent, ec);
    if (fs::is_directory(status))
        return target;
    // A file in the way (the parent itself or a folder above it), else a missing folder.
    for (fs::path above = parent; above.has_relative_path(); above = above.parent_path())
        if (fs::exists(above, ec) && !fs::is_directory(above, ec))
            throw Error(label + " " + path + ": " + above.string() + " is a file, not a folder", "name a path inside a folder");
    throw Error(label + " " + path + ": the folder " + parent.string() + " does not exist (nothing is created for it)",
                "create it first (mkdir -p " + shellWord(parent.string()) + "), or name a path in a folder that exists");
}

} // namespace rslora::cli
