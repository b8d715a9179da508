#include "common/Paths.h"

#include "rslora/BuildInfo.h"

#include <cstdlib>
#include <string>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace rslora {
namespace {
const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : nullptr;
}
} // namespace

fs::path dataDirectory() {
    if (const char* h = env("RSLORA_HOME"))
        return fs::path(h);
    if (const char* x = env("XDG_DATA_HOME"))
        return fs::path(x) / "rslora-workbench";
    if (const char* home = env("HOME"))
        return fs::path(home) / ".local" / "share" / "rslora-workbench";
    return fs::current_path() / ".rslora-workbench";
}

fs::path defaultDatabasePath() {
    if (const char* db = env("RSLORA_DB"))
        return fs::path(db);
    return dataDirectory() / "workbench.sqlite";
}

fs::path resourcesDirectory() {
    if (const char* r = env("RSLORA_RESOURCES"))
        return fs::path(r);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path installed = exe.parent_path().parent_path() / "share" / "rslora-workbench" / "resources";
        if (fs::exists(installed, ec))
            return installed;
    }
    return fs::path(RSLORA_SOURCE_DIR) / "resources";
}

fs::path demoModelDirectory() { return resourcesDirectory() / "demo" / "model"; }

fs::path demoDataDirectory() { return resourcesDirectory() / "demo" / "data"; }

namespace {
// "merged/" → "merged": a trailing separator gives an empty filename(), as if no folder were named.
fs::path withoutTrailingSeparators(const fs::path& path) {
    std::string s = path.native();
    while (s.size() > 1 && s.back() == '/')
        s.pop_back();
    return fs::path(s);
}
} // namespace

fs::path resolvedPath(const fs::path& path) {
    std::error_code ec;
    const fs::path plain = withoutTrailingSeparators(path);
    fs::path absolute = fs::absolute(plain, ec);
    if (ec)
        absolute = plain;
    fs::path resolved = fs::weakly_canonical(absolute, ec);
    if (ec || resolved.empty())
        resolved = absolute.lexically_normal();
    return withoutTrailingSeparators(resolved);
}

bool pathLiesInside(const fs::path& path, const fs::path& folder) {
    if (path.empty() || folder.empty())
        return false; // nothing named: no folder to lie inside
    const fs::path child = resolvedPath(path);
    const fs::path parent = resolvedPath(folder);
    auto c = child.begin();
    for (auto p = parent.begin(); p != parent.end(); ++p, ++c)
        if (c == child.end() || *p != *c)
            return false;
    return true;
}

} // namespace rslora
