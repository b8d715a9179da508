// Fuzz target for the heads of HTTP requests as the server judges them before cpp-httplib reads them
// (RequestHeadCheck): any bytes are accepted or refused with a 400, 431, 501 or 505 and a message,
// and an accepted head is one httplib reads as the client meant it: a known method, every line ending
// in CRLF up to the empty line, no folded line, every field with a colon, and a Host in HTTP/1.1.
#include "FuzzGuard.h"
#include "app/serve/RequestHeadCheck.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace {

bool startsWithIgnoringCase(const std::string& text, size_t at, const std::string& prefix)
{
    if (text.size() - at < prefix.size())
        return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[at + i])) != prefix[i])
            return false;
    return true;
}

void checkAccepted(const std::string& head)
{
    bool known = false;
    for (const char* method : {"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH "})
        known = known || head.rfind(method, 0) == 0;
    fuzz::require(known, "an accepted head has a method the server routes");
    const size_t end = head.find("\r\n\r\n");
    fuzz::require(end != std::string::npos, "an accepted head ends with an empty line");
    const size_t lineEnd = head.find("\r\n");
    for (size_t i = 0; i < end + 4; ++i)
        fuzz::require(head[i] != '\n' || (i > 0 && head[i - 1] == '\r'), "every line of an accepted head ends in CRLF");
    bool host = false;
    for (size_t start = lineEnd + 2; start < end + 2; start = head.find("\r\n", start) + 2) {
        fuzz::require(head[start] != ' ' && head[start] != '\t', "an accepted head has no folded line");
        const size_t next = head.find("\r\n", start);
        fuzz::require(head.find(':', start) < next, "every field line of an accepted head has a colon");
        fuzz::require(next + 2 - start <= rslora::serve::RequestHeadCheck::kMaxFieldLine, "no field line is longer than httplib reads");
        host = host || startsWithIgnoringCase(head, start, "host:");
    }
    fuzz::require(host || head.compare(lineEnd - 8, 8, "HTTP/1.1") != 0, "an accepted HTTP/1.1 head has a Host");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string head(reinterpret_cast<const char*>(data), size);
    try {
        const auto refusal = rslora::serve::RequestHeadCheck::refusal(head);
        if (refusal) {
            const int s = refusal->status;
            fuzz::require(s == 400 || s == 431 || s == 501 || s == 505, "a head is refused with 400, 431, 501 or 505");
            fuzz::require(!refusal->message.empty(), "a refusal says why");
        } else
            checkAccepted(head);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "an exception escaped the request head check: %s\n", e.what());
        std::abort();
    }
    return 0;
}
