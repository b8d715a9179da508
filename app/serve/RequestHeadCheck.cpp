// Refusing a request from the bytes of its head (see RequestHeadCheck.h).
#include "app/serve/RequestHeadCheck.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace rslora::serve {
namespace {

// A token (RFC 9110 §5.6.2): what a method and a field name are made of.
bool isToken(const std::string& s)
{
    static const std::string marks = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || marks.find(c) != std::string::npos;
    });
}

// A client's text in a message, cut to a length that reads on one line.
std::string quoted(const std::string& text)
{
    constexpr size_t kMost = 80;
    return "'" + (text.size() > kMost ? text.substr(0, kMost) + "..." : text) + "'";
}

std::string hexByte(unsigned char c)
{
    char text[8];
    std::snprintf(text, sizeof text, "\\x%02x", c);
    return text;
}

// The first control character of a field value (RFC 9110 §5.5: CR, LF and NUL are refused; other
// controls but the tab are not field content either), or -1.
int controlIn(const std::string& value)
{
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return c;
    }
    return -1;
}

bool equalsIgnoringCase(const std::string& a, const char* b)
{
    size_t i = 0;
    for (; i < a.size() && b[i]; ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return i == a.size() && !b[i];
}

bool equalsPrefix(const std::string& a, const char* b, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

HeadRefusal bad(std::string message, std::string param = {}) { return {400, std::move(message), std::move(param)}; }

// An absolute-form target's scheme (RFC 9112 §3.2.2): "http://" or "https://", in any case.
bool absoluteForm(const std::string& target)
{
    for (const char* scheme : {"http://", "https://"}) {
        const size_t n = std::char_traits<char>::length(scheme);
        if (target.size() > n && equalsPrefix(target, scheme, n))
            return true;
    }
    return false;
}

HeadRefusal bareLf(const std::string& what)
{
    return bad(what + " ends with a bare LF (\\n): HTTP/1.1 lines end with CRLF (\\r\\n)");
}

struct RequestLine {
    std::string method, target, version;
};

// Splits "METHOD SP TARGET SP VERSION" (RFC 9112 §3); false when it is not three non-empty parts
// separated by single spaces.
bool splitRequestLine(const std::string& line, RequestLine& out)
{
    const size_t first = line.find(' ');
    const size_t second = first == std::string::npos ? std::string::npos : line.find(' ', first + 1);
    if (first == std::string::npos || second == std::string::npos || line.find(' ', second + 1) != std::string::npos ||
        first == 0 || second == first + 1 || second + 1 == line.size())
        return false;
    out.method = line.substr(0, first);
    out.target = line.substr(first + 1, second - first - 1);
    out.version = line.substr(second + 1);
    return true;
}

} // namespace

std::string RequestHeadCheck::unsupportedMethod(const std::string& head)
{
    const std::string line = head.substr(0, head.find_first_of("\r\n"));
    RequestLine parts;
    if (!splitRequestLine(line, parts) || parts.version.compare(0, 7, "HTTP/1.") != 0 || !isToken(parts.method))
        return {};
    for (const char* known : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
        if (parts.method == known)
            return {};
    return parts.method;
}

std::optional<HeadRefusal> RequestHeadCheck::refusal(const std::string& head)
{
    const size_t lineEnd = head.find('\n');
    if (lineEnd == std::string::npos)
        return bad("the request has no complete request line: expected METHOD TARGET HTTP/1.1 and CRLF");
    const bool lineCrlf = lineEnd > 0 && head[lineEnd - 1] == '\r';
    const std::string line = head.substr(0, lineCrlf ? lineEnd - 1 : lineEnd);
    if (line.empty())
        return bad("the request begins with an empty line: expected its request line (METHOD TARGET HTTP/1.1)");
    if (!lineCrlf)
        return bareLf("the request line " + quoted(line));
    RequestLine parts;
    if (!splitRequestLine(line, parts))
        return bad("the request line " + quoted(line) +
                   " is not valid HTTP: expected METHOD TARGET HTTP/1.1, separated by single spaces");
    if (!isToken(parts.method))
        return bad("the request line " + quoted(line) + " is not valid HTTP: its method " + quoted(parts.method) +
                   " may hold only letters, digits and !#$%&'*+-.^_`|~");
    const std::string& version = parts.version;
    const bool versionSyntax = version.size() == 8 && version.compare(0, 5, "HTTP/") == 0 && version[5] >= '0' && version[5] <= '9' &&
                               version[6] == '.' && version[7] >= '0' && version[7] <= '9';
    if (!versionSyntax)
        return bad("the request line " + quoted(line) + " is not valid HTTP: its version " + quoted(version) +
                   " should be HTTP/1.1 (or HTTP/1.0)");
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return HeadRefusal{505, version + " is not supported: the server speaks HTTP/1.1 and HTTP/1.0", {}};
    if (const int c = controlIn(parts.target); c >= 0 || parts.target.find('\t') != std::string::npos)
        return bad("the request target " + quoted(parts.target) + " holds the control character " +
                   hexByte(static_cast<unsigned char>(c >= 0 ? c : '\t')) + ": percent-encode it");
    // httplib splits the target at every '?' and refuses more than two parts.
    if (std::count(parts.target.begin(), parts.target.end(), '?') > 1)
        return bad("the request target " + quoted(parts.target) + " has more than one '?': write a '?' inside the query as %3F");
    // Before the target's form: CONNECT's target is a host and port (authority-form), and the method is
    // what the server does not take.
    if (const std::string method = unsupportedMethod(head); !method.empty())
        return HeadRefusal{501, "the method " + method + " is not supported: each route takes GET and HEAD (/v1/models, /health) "
                                "or POST (completions, chat completions, loading and unloading adapters)", {}};
    // The forms of a target (RFC 9112 §3.2): a path, an absolute URL (answered as its path, as RFC 9112
    // §3.2.2 has a server accept it), and '*', which only OPTIONS takes (asking about the server itself).
    if (parts.target == "*" && parts.method != "OPTIONS")
        return bad("the request target '*' asks about the server itself and is sent only with OPTIONS, not " + parts.method +
                   ": expected a path such as /v1/models");
    if (parts.target != "*" && parts.target[0] != '/' && !absoluteForm(parts.target))
        return bad("the request target " + quoted(parts.target) +
                   " is not a path: expected one beginning with '/' (/v1/models) or an absolute URL (http://host/v1/models)");

    int hosts = 0;
    std::string previous;  // the name of the field before: a folded line continues it
    for (size_t start = lineEnd + 1;;) {
        const size_t end = head.find('\n', start);
        if (end == std::string::npos)
            return bad("the request's header fields do not end with an empty line");
        const bool crlf = end > start && head[end - 1] == '\r';
        const std::string text = head.substr(start, (crlf ? end - 1 : end) - start);
        if (text.empty()) {
            if (!crlf)
                return bareLf("the empty line that ends the header fields");
            break;
        }
        if (!crlf)
            return bareLf("the header line " + quoted(text));
        const size_t colon = text.find(':');
        const std::string name = text.substr(0, colon);
        if (end + 1 - start > kMaxFieldLine)
            return HeadRefusal{431, "the header field " + quoted(name) + " is " + std::to_string(end + 1 - start) +
                                        " bytes long; the server reads header lines of up to " + std::to_string(kMaxFieldLine) + " bytes",
                               colon == std::string::npos ? std::string() : name};
        if (text[0] == ' ' || text[0] == '\t')
            return bad("the header line " + quoted(text) + " begins with a space or tab, folding it into the field before it" +
                       (previous.empty() ? std::string() : " (" + quoted(previous) + ")") +
                       ", which HTTP/1.1 no longer allows (RFC 9112 §5.2): send each field on one line");
        if (colon == std::string::npos)
            return bad("the header line " + quoted(text) + " has no colon: expected NAME: VALUE");
        if (!isToken(name))
            return bad("the header line " + quoted(text) + " has no valid field name before its colon" +
                       (!name.empty() && (name.back() == ' ' || name.back() == '\t') ? " (no space may come before the colon)"
                                                                                    : " (letters, digits and !#$%&'*+-.^_`|~)"));
        if (const int c = controlIn(text.substr(colon + 1)); c >= 0)
            return bad("the value of the header field " + quoted(name) + " holds the control character " +
                           hexByte(static_cast<unsigned char>(c)),
                       name);
        if (equalsIgnoringCase(name, "host"))
            ++hosts;
        // httplib 0.11 percent-decodes field values: "%35%32" would frame a body of 52 bytes that no
        // proxy, and not the wait for the body here, reads as a length.
        if (equalsIgnoringCase(name, "content-length") && text.find('%', colon) != std::string::npos) {
            const size_t first = text.find_first_not_of(" \t", colon + 1);
            const size_t last = text.find_last_not_of(" \t");
            return bad("'Content-Length': expected the body's size in bytes (digits only), found " +
                           quoted(first == std::string::npos ? std::string() : text.substr(first, last - first + 1)),
                       "Content-Length");
        }
        previous = name;
        start = end + 1;
    }
    // RFC 9112 §3.2: a server answers 400 to an HTTP/1.1 request without Host, and to any with several.
    if (hosts == 0 && parts.version == "HTTP/1.1")
        return bad("HTTP/1.1 requests must carry a Host header", "Host");
    if (hosts > 1)
        return bad("the request has " + std::to_string(hosts) + " Host headers; a request carries one", "Host");
    return std::nullopt;
}

} // namespace rslora::serve
