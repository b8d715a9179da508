// What a request is refused for from the bytes of its head (request line and header fields, through
// the blank line), before cpp-httplib reads it. httplib 0.11 skips a header line without a colon or
// ending in a bare LF, keeps a folded line (obs-fold) as a field of its own, reads "Host :" as a field
// named "Host " and takes an HTTP/1.1 request without Host; RFC 9112 has a server refuse each with a
// 400 (h11, under vLLM's server, refuses the missing colon, the space and the missing Host, and
// unfolds a folded line and reads a bare LF as a line end, which httplib cannot). httplib answers
// every other flaw of a request line with one "not valid HTTP", and it percent-decodes field values,
// so a Content-Length written with a '%' is refused here.
// Checked here, each with its own message: the request line (400; an HTTP version other than 1.0 and
// 1.1 is a 505, a method the server does not implement a 501; a target that is neither a path, an
// absolute http(s) URL nor the '*' of OPTIONS, a 400), every field line (400; one longer than httplib
// reads, 8192 bytes, a 431), and the Host field of an HTTP/1.1 request (exactly one, 400).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace rslora::serve {

struct HeadRefusal {
    int status = 400;
    std::string message;
    std::string param;  // the header field at fault (Host, Content-Length, ...), empty when it is the request line
};

class RequestHeadCheck {
public:
    // The longest field line httplib reads, its CRLF included (CPPHTTPLIB_HEADER_MAX_LENGTH).
    static constexpr size_t kMaxFieldLine = 8192;

    // `head`: the request line through the line that ends the fields (CRLF, or a bare LF, which is
    // refused). Nothing when the head may go to httplib.
    static std::optional<HeadRefusal> refusal(const std::string& head);
    // The method of a well-formed request line that the server does not implement (TRACE, CONNECT,
    // an unknown one); empty otherwise.
    static std::string unsupportedMethod(const std::string& head);
};

} // namespace rslora::serve
