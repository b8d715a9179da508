#include "app/serve/HttpText.h"

#include <algorithm>
#include <cctype>

namespace rslora::serve {

std::string bearerToken(const std::string& header)
{
    const std::string scheme = "bearer";
    if (header.size() <= scheme.size() || header[scheme.size()] != ' ')
        return {};
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
            return {};
    return header.substr(header.find_first_not_of(' ', scheme.size()));
}

bool sameKey(const std::string& offered, const std::string& key)
{
    // Every byte of the key is compared, whatever came before; only the lengths, which a client
    // knows of its own key, decide anything early.
    unsigned difference = offered.size() == key.size() ? 0u : 1u;
    for (size_t i = 0; i < key.size(); ++i) {
        const unsigned char theirs = i < offered.size() ? static_cast<unsigned char>(offered[i]) : 0;
        difference |= theirs ^ static_cast<unsigned char>(key[i]);
    }
    return difference == 0;
}

bool isDecimal(const std::string& s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool takesBody(const std::string& method)
{
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

std::string mediaType(const std::string& contentType)
{
    std::string type = contentType.substr(0, contentType.find(';'));
    const size_t first = type.find_first_not_of(" \t");
    const size_t last = type.find_last_not_of(" \t");
    type = first == std::string::npos ? std::string() : type.substr(first, last - first + 1);
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return type;
}

bool isJsonMediaType(const std::string& type)
{
    const std::string suffix = "+json";
    return type == "application/json" ||
           (type.rfind("application/", 0) == 0 && type.size() > suffix.size() + 12 &&
            type.compare(type.size() - suffix.size(), suffix.size(), suffix) == 0);
}

std::string logText(const std::string& text)
{
    std::string out;
    for (const unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else
            out += static_cast<char>(c);
    }
    return out;
}

std::string statusMessage(int status)
{
    switch (status) {
    case 400: return "the request could not be read as HTTP/1.1 (its body did not arrive whole within the read timeout, or its framing is malformed)";
    case 404: return "no such route";
    case 405: return "method not allowed";
    case 413: return "the request body is larger than the server's limit (--max-body-bytes)";
    case 414: return "the request target (path and query) is longer than the server accepts (8192 bytes)";
    case 415: return "the request body's encoding is not supported (send it uncompressed)";
    default: return "HTTP error " + std::to_string(status);
    }
}

std::string statusCode(int status)
{
    switch (status) {
    case 400: return "malformed_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    default: return {};
    }
}

} // namespace rslora::serve
