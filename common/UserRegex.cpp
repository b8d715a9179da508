// User-written regular expressions (see UserRegex.h).
#include "common/UserRegex.h"

namespace rslora {

namespace {

constexpr size_t kLongestNumber = 9; // below 2^31: no count or reference of that size means anything
// libstdc++ compiles and matches by recursion, about one level per term or group: a pattern of a few
// hundred thousand characters overflowed the stack. Names of modules are far shorter than this.
constexpr size_t kLongestPattern = 1000;

bool holdsLongNumber(const std::string& pattern)
{
    size_t run = 0;
    for (char c : pattern) {
        run = c >= '0' && c <= '9' ? run + 1 : 0;
        if (run > kLongestNumber)
            return true;
    }
    return false;
}

} // namespace

std::string userRegexProblem(const std::string& pattern)
{
    if (pattern.size() > kLongestPattern)
        return "it is " + std::to_string(pattern.size()) + " characters long; at most " + std::to_string(kLongestPattern) + " are read";
    if (holdsLongNumber(pattern))
        return "it holds a number of more than " + std::to_string(kLongestNumber) + " digits";
    try {
        std::regex re(pattern);
    } catch (const std::regex_error& e) {
        return e.what();
    }
    return {};
}

std::regex userRegex(const std::string& pattern)
{
    if (pattern.size() > kLongestPattern)
        throw std::regex_error(std::regex_constants::error_complexity);
    if (holdsLongNumber(pattern))
        throw std::regex_error(std::regex_constants::error_badbrace);
    return std::regex(pattern);
}

} // namespace rslora
