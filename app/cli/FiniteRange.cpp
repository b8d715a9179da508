// The range checks for numeric options (see FiniteRange.h).
#include "app/cli/FiniteRange.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace rslora::cli {

CLI::Validator finiteIn(double lo, double hi, End loEnd, End hiEnd) {
    std::ostringstream range;
    if (std::isinf(hi))
        range << (loEnd == End::Open ? "> " : ">= ") << lo;
    else
        range << "in " << (loEnd == End::Open ? "(" : "[") << lo << ", " << hi << (hiEnd == End::Open ? ")" : "]");
    const std::string shown = range.str();
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            const char* begin = text.c_str();
            char* end = nullptr;
            const double v = std::strtod(begin, &end);
            const bool parsed = end != begin && *end == '\0';
            const bool inside = parsed && std::isfinite(v) && (loEnd == End::Open ? v > lo : v >= lo) &&
                                (hiEnd == End::Open ? v < hi : v <= hi);
            return inside ? std::string() : "must be a finite number " + shown + ", found " + text;
        },
        "FLOAT " + shown);
}

CLI::Validator wholeFrom(int64_t lo) {
    const std::string shown = ">= " + std::to_string(lo);
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            const char* begin = text.c_str();
            char* end = nullptr;
            errno = 0;
            const long long v = std::strtoll(begin, &end, 10);
            const bool parsed = end != begin && *end == '\0' && errno != ERANGE;
            return parsed && v >= lo ? std::string() : "must be a whole number " + shown + ", found " + text;
        },
        "INT " + shown);
}

CLI::Validator notNegative() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            const auto first = text.find_first_not_of(" \t");
            if (first != std::string::npos && text[first] == '-')
                return "must be 0 or more, found " + text;
            // CLI11 reads a value past the largest unsigned as the largest unsigned, silently.
            errno = 0;
            char* end = nullptr;
            std::strtoull(text.c_str(), &end, 0);
            if (errno == ERANGE)
                return "must be at most 18446744073709551615 (2^64 - 1), found " + text;
            // Text, nan or 1.5: CLI11 said only "Could not convert".
            if (end == text.c_str() || *end != '\0')
                return "must be a whole number, 0 or more, found " + text;
            return std::string();
        },
        "UINT");
}

} // namespace rslora::cli
