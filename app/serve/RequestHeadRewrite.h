// A request head as cpp-httplib is to read it, once RequestHeadCheck has accepted it. httplib 0.11
// percent-decodes every header field value, so "Authorization: Bearer sk%2Dkey" reached the server as
// the key "sk-key" (and "Content-Type: application%2Fjson" as JSON); the '%' of every value is written
// as "%25" here, which httplib decodes back, so that each value is read as the client sent it (as h11
// under vLLM reads it). An absolute-form target (GET http://host/v1/models, RFC 9112 §3.2.2), which
// httplib took for a path of its own and answered 404, becomes its path and query (/v1/models).
#pragma once

#include <string>

namespace rslora::serve {

class RequestHeadRewrite {
public:
    // `bytes`: a head that ends with an empty CRLF line, and whatever follows it (left as it is).
    static std::string forHttplib(std::string bytes);
    // The path and query of an absolute-form target ("http://host:80/a?b" -> "/a?b", "http://host" -> "/");
    // any other target as it is.
    static std::string originForm(const std::string& target);
};

} // namespace rslora::serve
