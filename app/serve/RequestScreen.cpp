// Refusing a request from its head (see RequestScreen.h).
#include "app/serve/RequestScreen.h"

#include "app/serve/HttpText.h"

#include <algorithm>
#include <cctype>

namespace rslora::serve {

RequestScreen::RequestScreen(std::string apiKey, size_t maxBodyBytes, std::string healthPath)
    : m_apiKey(std::move(apiKey)), m_maxBodyBytes(maxBodyBytes), m_healthPath(std::move(healthPath))
{
}

std::optional<ApiError> RequestScreen::refusal(const httplib::Request& req, bool stopping) const
{
    if (stopping)
        return ApiError(503, "the server is shutting down", errtype::kServer, {}, "shutting_down");
    // /health stays open, as in vLLM: a load balancer's probe carries no key; so does "OPTIONS *", which
    // asks only which methods the server takes. The key is compared as the client sent it
    // (RequestHeadRewrite keeps httplib from percent-decoding it: "sk%2Dkey" is not "sk-key").
    const bool aboutServer = req.method == "OPTIONS" && req.target == "*";
    if (!m_apiKey.empty() && req.path != m_healthPath && !aboutServer) {
        const std::string auth = req.get_header_value("Authorization");
        if (!sameKey(bearerToken(auth), m_apiKey))
            return ApiError(401,
                            auth.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'"
                                         : "incorrect API key in the Authorization header",
                            errtype::kAuthentication, {}, "invalid_api_key");
    }
    // Both framings at once: which one ends the body is what request smuggling plays on (RFC 9112 §6.1).
    if (req.has_header("Content-Length") && req.has_header("Transfer-Encoding"))
        return ApiError(400, "the request has both Content-Length and Transfer-Encoding (" + req.get_header_value("Transfer-Encoding") +
                                 "): send the body with Content-Length alone",
                        errtype::kInvalidRequest, "Transfer-Encoding", statusCode(400));
    // A body's size is judged from its header, before any of it is read: httplib would otherwise
    // wait for the bytes of a size the client never sends, and read a negative one as huge.
    if (req.has_header("Content-Length")) {
        const std::string length = req.get_header_value("Content-Length");
        for (size_t i = 1; i < req.get_header_value_count("Content-Length"); ++i)
            if (req.get_header_value("Content-Length", i) != length)
                return ApiError(400, "'Content-Length': the request has several Content-Length headers that disagree ('" + length +
                                         "', '" + req.get_header_value("Content-Length", i) + "')",
                                errtype::kInvalidRequest, "Content-Length", statusCode(400));
        if (!isDecimal(length))
            return ApiError(400, "'Content-Length': expected the body's size in bytes (digits only), found '" + length + "'",
                            errtype::kInvalidRequest, "Content-Length", statusCode(400));
        if (length.size() > 19 || std::stoull(length) > m_maxBodyBytes)
            return ApiError(413, "the request body (Content-Length: " + length + ") is larger than the server's limit of " +
                                     std::to_string(m_maxBodyBytes) + " bytes (--max-body-bytes)",
                            errtype::kInvalidRequest, "Content-Length", statusCode(413));
    }
    if (!takesBody(req.method)) {
        // httplib does not read the body of a GET, HEAD or OPTIONS request: its bytes would be taken
        // for the connection's next request (a request smuggled inside another's body, whose answer a
        // proxy in front would hand to its next client).
        const bool chunked = req.has_header("Transfer-Encoding");
        if (chunked || (req.has_header("Content-Length") && std::stoull(req.get_header_value("Content-Length")) > 0))
            return ApiError(400, "a " + req.method + " request takes no body here, found " +
                                     (chunked ? "Transfer-Encoding: " + req.get_header_value("Transfer-Encoding")
                                              : "Content-Length: " + req.get_header_value("Content-Length")),
                            errtype::kInvalidRequest, chunked ? "Transfer-Encoding" : "Content-Length", "unexpected_body");
        return std::nullopt;
    }
    // --max-body-bytes is enforced through Content-Length: a chunked body or one read until the
    // client closes would not be bounded, and a compressed one would be inflated without bound.
    if (req.has_header("Transfer-Encoding"))
        return ApiError(411, "chunked request bodies are not accepted: send the body with a Content-Length header",
                        errtype::kInvalidRequest, "Transfer-Encoding", statusCode(411));
    if (!req.has_header("Content-Length"))
        return ApiError(411, "a " + req.method + " request needs a Content-Length header (0 for no body)", errtype::kInvalidRequest,
                        "Content-Length", statusCode(411));
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity")
        return ApiError(415, "compressed request bodies (Content-Encoding: " + encoding + ") are not accepted: send the body uncompressed",
                        errtype::kInvalidRequest, "Content-Encoding", "unsupported_encoding");
    // httplib would take a form's parts out of the body, leaving an empty one to be read as JSON; and
    // it refuses a URL-encoded form over 8 KiB as 413, which read as a body over --max-body-bytes (the
    // type curl -d sends without -H: a JSON body under it was read up to 8 KiB, refused above).
    std::string type = req.get_header_value("Content-Type");
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const std::string form : {"multipart/form-data", "application/x-www-form-urlencoded"})
        if (type.rfind(form, 0) == 0) {
            // The type curl -d sends unless told otherwise: the usual way a JSON body arrives as a form.
            const std::string curl = form == "multipart/form-data" ? "" : "; curl -d sends this type unless given -H 'Content-Type: application/json'";
            return ApiError(415, "form bodies (Content-Type: " + form +
                                     ") are not accepted: send the request as a JSON object (Content-Type: application/json)" + curl,
                            errtype::kInvalidRequest, "Content-Type", statusCode(415));
        }
    return std::nullopt;
}

} // namespace rslora::serve
