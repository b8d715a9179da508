#include "common/ByteSize.h"

#include <cmath>
#include <cstdio>

namespace rslora {

std::string formatBytes(int64_t bytes)
{
    if (bytes < 0)
        return "-" + formatBytes(-bytes);
    static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024)
        return std::to_string(bytes) + " B";
    double v = double(bytes) / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        ++u;
    }
    char text[32];
    std::snprintf(text, sizeof text, v >= 100.0 ? "%.0f %s" : v >= 10.0 ? "%.1f %s" : "%.2f %s", v, units[u]);
    return text;
}

} // namespace rslora
