// Injected logging: the core libraries log through one callback that the GUI routes to its log panel
// and the CLI to stderr.
#pragma once

#include <functional>
#include <string>

namespace rslora {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

using LogCallback = std::function<void(LogLevel, const std::string&)>;

// Replaces the process-wide callback (thread-safe). An empty callback restores the default, which
// writes warnings and errors to stderr.
void setLogCallback(LogCallback callback);
void setLogLevel(LogLevel minimum);
void log(LogLevel level, const std::string& message);
const char* logLevelName(LogLevel level);

inline void logDebug(const std::string& m) { log(LogLevel::Debug, m); }
inline void logInfo(const std::string& m) { log(LogLevel::Info, m); }
inline void logWarning(const std::string& m) { log(LogLevel::Warning, m); }
inline void logError(const std::string& m) { log(LogLevel::Error, m); }

} // namespace rslora
