// A request head rewritten for cpp-httplib (see RequestHeadRewrite.h).
#include "app/serve/RequestHeadRewrite.h"

#include <cctype>

namespace rslora::serve {

std::string RequestHeadRewrite::originForm(const std::string& target)
{
    if (target.empty() || target[0] == '/' || target == "*")
        return target;
    const size_t scheme = target.find("://");
    if (scheme == std::string::npos)
        return target;
    // The authority ends at the first '/', '?' or '#' after the scheme (RFC 3986 §3.2).
    const size_t pathStart = target.find_first_of("/?#", scheme + 3);
    if (pathStart == std::string::npos || target[pathStart] == '#')
        return "/";
    return target[pathStart] == '/' ? target.substr(pathStart) : "/" + target.substr(pathStart);
}

std::string RequestHeadRewrite::forHttplib(std::string bytes)
{
    const size_t lineEnd = bytes.find("\r\n");
    const size_t headEnd = bytes.find("\r\n\r\n");
    if (lineEnd == std::string::npos || headEnd == std::string::npos)
        return bytes;
    std::string out;
    out.reserve(bytes.size() + 16);
    // The request line: METHOD SP TARGET SP VERSION (RequestHeadCheck has checked its shape).
    const std::string line = bytes.substr(0, lineEnd);
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (first != std::string::npos && last > first)
        out += line.substr(0, first + 1) + originForm(line.substr(first + 1, last - first - 1)) + line.substr(last);
    else
        out += line;
    // The field lines: every '%' of a value escaped, so that httplib's decoding gives it back (a name
    // may hold a '%' too, and httplib does not decode names).
    bool value = false;
    for (size_t i = lineEnd; i < headEnd + 2; ++i) {
        const char c = bytes[i];
        out += c;
        if (c == '\n')
            value = false;
        else if (c == ':')
            value = true;
        else if (c == '%' && value)
            out += "25";
    }
    out.append(bytes, headEnd + 2, std::string::npos);
    return out;
}

} // namespace rslora::serve
