// See ReadWholeFile.h.
#include "common/ReadWholeFile.h"

#include "common/Error.h"
#include "common/FileChangeCheck.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rslora {

std::string readWholeFile(const std::filesystem::path& path, const std::function<void()>& afterRead)
{
    const FileChangeCheck check(path);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw Error("cannot read " + path.string() + ": it is a folder, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad())
        throw Error("cannot read " + path.string());
    std::string bytes = std::move(s).str();
    if (afterRead)
        afterRead();
    check.verify(bytes.size());
    return bytes;
}

} // namespace rslora
