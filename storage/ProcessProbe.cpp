#include "storage/ProcessProbe.h"

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <unistd.h>

namespace rslora::storage {
namespace {

// The fields after "pid (comm)" of /proc/<pid>/stat; comm may hold spaces and parentheses.
std::optional<std::string> statTail(int64_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return std::nullopt;
    auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 > line.size())
        return std::nullopt;
    return line.substr(close + 2);
}

std::optional<double> bootTime() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value;
    while (in >> key) {
        if (key == "btime" && in >> value)
            return value;
        in.ignore(1 << 20, '\n');
    }
    return std::nullopt;
}

} // namespace

bool processAlive(int64_t pid) {
    if (pid <= 0)
        return false;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)
        return false;
    if (auto tail = statTail(pid))
        return !tail->empty() && (*tail)[0] != 'Z' && (*tail)[0] != 'X';
    return true; // no /proc: trust kill()
}

std::optional<double> processStartTime(int64_t pid) {
    auto tail = statTail(pid);
    auto boot = bootTime();
    if (!tail || !boot)
        return std::nullopt;
    // tail starts at field 3 (state); starttime is field 22.
    std::istringstream s(*tail);
    std::string field;
    for (int i = 3; i <= 22; ++i)
        if (!(s >> field))
            return std::nullopt;
    long ticks = ::sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        return std::nullopt;
    return *boot + std::stod(field) / static_cast<double>(ticks);
}

} // namespace rslora::storage
