#include "storage/Naming.h"

#include "common/Error.h"
#include "common/Sha256.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>
#include <unistd.h>

namespace rslora::storage {

std::string sanitizeId(std::string_view text) {
    std::string out;
    bool lastWasUnderscore = false;
    for (char c : text) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.';
        if (ok) {
            out += c;
            lastWasUnderscore = (c == '_');
        } else if (!lastWasUnderscore) {
            out += '_';
            lastWasUnderscore = true;
        }
    }
    while (!out.empty() && out.front() == '.')
        out.erase(out.begin());
    if (out.size() > 48)
        out.resize(48);
    if (out != text || out.empty()) {
        std::string h = Sha256::hex(text).substr(0, 8);
        out = out.empty() ? "id-" + h : out + "-" + h;
    }
    return out;
}

std::string defaultAdapterName(std::string_view task, std::string_view variant, int64_t version, double time) {
    std::time_t t = static_cast<std::time_t>(std::floor(time));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[40];
    std::snprintf(date, sizeof date, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    std::string name(task);
    if (!variant.empty())
        name += "_" + std::string(variant);
    return name + "_v" + std::to_string(version) + "_" + date;
}

std::filesystem::path adapterFolder(const std::filesystem::path& adapterRoot, std::string_view task, int64_t version,
                                    std::string_view uuid) {
    std::string leaf = "v" + std::to_string(version);
    std::string id = sanitizeId(uuid.substr(0, 8));
    if (!uuid.empty())
        leaf += "-" + id;
    return adapterRoot / sanitizeId(task) / leaf;
}

std::string newUuid() {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                            (static_cast<uint64_t>(::getpid()) << 32) ^
                                            static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
    uint64_t a = rng(), b = rng();
    a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version 4
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // variant 10
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                  static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

double nowSeconds() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string isoTime(double seconds) {
    if (!std::isfinite(seconds))
        return {};
    std::time_t t = static_cast<std::time_t>(std::floor(seconds));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double parseIsoTime(const std::string& text) {
    int y, mo, d, h, mi;
    double s;
    char z = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 || z != 'Z')
        throw rslora::Error("expected a UTC time like 2025-03-15T12:00:00Z, found \"" + text + "\"");
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = 0;
    return static_cast<double>(timegm(&tm)) + s;
}

std::string hostName() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        return "unknown";
    return buf;
}

} // namespace rslora::storage
