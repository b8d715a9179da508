// What a request is refused for from its line and header fields alone, before its body is read: the
// server shutting down (503), a missing or wrong API key (401), a Content-Length that is malformed,
// disagrees with itself, comes with a Transfer-Encoding or is over --max-body-bytes (400, 413), a body whose size --max-body-bytes
// cannot bound (chunked: 411, compressed: 415) or that is a form (415), and a body on a method that
// takes none (400: it would otherwise be read as the connection's next request). Used before routing
// and to answer "Expect: 100-continue" with the refusal instead of inviting a body that is refused.
#pragma once

#include "app/serve/ApiError.h"

#include <httplib.h>

#include <optional>
#include <string>

namespace rslora::serve {

class RequestScreen {
public:
    // `apiKey` empty: no key is asked; `healthPath` stays open without one.
    RequestScreen(std::string apiKey, size_t maxBodyBytes, std::string healthPath);

    // The refusal of a request, if it is refused.
    std::optional<ApiError> refusal(const httplib::Request& req, bool stopping) const;

private:
    std::string m_apiKey;
    size_t m_maxBodyBytes;
    std::string m_healthPath;
};

} // namespace rslora::serve
