#include "common/Log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace rslora {
namespace {
std::mutex g_mutex;
LogCallback g_callback;
std::atomic<int> g_minimum{static_cast<int>(LogLevel::Info)};
} // namespace

void setLogCallback(LogCallback callback) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_callback = std::move(callback);
}

void setLogLevel(LogLevel minimum) { g_minimum = static_cast<int>(minimum); }

const char* logLevelName(LogLevel level) {
    switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    }
    return "?";
}

void log(LogLevel level, const std::string& message) {
    if (static_cast<int>(level) < g_minimum.load())
        return;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_callback) {
        g_callback(level, message);
        return;
    }
    if (level >= LogLevel::Warning)
        std::fprintf(stderr, "%s: %s\n", logLevelName(level), message.c_str());
}

} // namespace rslora
