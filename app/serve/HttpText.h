// The HTTP-level text the server reads and writes around its routes: the bearer key of an
// Authorization header and its comparison, Content-Length digits, which methods carry a body, whether a body's type is
// JSON, a client's text made safe
// for the request log, and the explanation of an HTTP error status.
#pragma once

#include <string>

namespace rslora::serve {

// The key of an "Authorization: Bearer KEY" header; empty when it is not a bearer credential. The
// scheme's case does not matter and more than one space may follow it (RFC 7235 §2.1).
std::string bearerToken(const std::string& header);
// Whether the key a client offered is the server's, in a time that does not depend on how much of it
// matches (a comparison that stops at the first differing byte lets a client find the key byte by
// byte from response times; vLLM compares keys so too).
bool sameKey(const std::string& offered, const std::string& key);
// A Content-Length value as RFC 9110 §8.6 has it: one or more digits, nothing else.
bool isDecimal(const std::string& s);
// Methods whose body httplib reads (it reads a body without Content-Length until the client closes).
bool takesBody(const std::string& method);
// A Content-Type header's media type, lowercased and without its parameters ("application/json" of
// "Application/JSON; charset=utf-8").
std::string mediaType(const std::string& contentType);
// Whether a media type is JSON as FastAPI reads it for vLLM: application/json, or an application/ type
// with the +json suffix (application/merge-patch+json).
bool isJsonMediaType(const std::string& type);
// A client's text as one line of the request log: control bytes (a decoded %0A, an escape sequence)
// are written as \xNN, so that a request path cannot forge log lines or drive the terminal.
std::string logText(const std::string& text);
// What an HTTP error status the server answers by itself means, for the error body.
std::string statusMessage(int status);
// The error code of such a status ("malformed_request" for 400, "method_not_allowed" for 405, ...),
// the same whether the refusal comes from the request's head or from httplib; empty for other statuses.
std::string statusCode(int status);

} // namespace rslora::serve
