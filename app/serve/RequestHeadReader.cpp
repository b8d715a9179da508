// Waiting for request heads on one thread (see RequestHeadReader.h).
#include "app/serve/RequestHeadReader.h"

#include "app/serve/RequestHeadCheck.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rslora::serve {
namespace {

// The standard HTTP reason phrases (RFC 9110) of the statuses this reader answers itself; 501 is the
// answer to a method the server does not serve (TRACE, CONNECT, an unknown one), 505 to HTTP/2 and others.
const char* reasonPhrase(int status)
{
    switch (status) {
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Bad Request";
    }
}

constexpr size_t kReadChunk = 16 * 1024;
constexpr double kDrainSeconds = 1.0;  // how long a refused client's remaining bytes are read and dropped

} // namespace

RequestHeadReader::RequestHeadReader(HeadLimits limits, Ready ready, Refusal refusal, Close close)
    : m_limits(limits), m_ready(std::move(ready)), m_refusal(std::move(refusal)), m_close(std::move(close))
{
    if (::pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0)
        m_wake[0] = m_wake[1] = -1;
    m_thread = std::thread([this] { loop(); });
}

RequestHeadReader::~RequestHeadReader()
{
    stop();
    for (int fd : m_wake)
        if (fd >= 0)
            ::close(fd);
}

bool RequestHeadReader::add(int fd, std::string bytes, int served)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stopped)
            return false;
        Waiting w;
        w.fd = fd;
        w.bytes = std::move(bytes);
        w.served = served;
        w.since = Clock::now();
        m_incoming.push_back(std::move(w));
    }
    const char byte = 0;
    [[maybe_unused]] const ssize_t n = ::write(m_wake[1], &byte, 1);
    return true;
}

bool RequestHeadReader::addRefused(int fd, int status, const std::string& message)
{
    const std::string answer = refusalText(status, message);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stopped)
            return false;
        // A small answer on a connection that has written nothing: the socket's buffer takes it whole.
        [[maybe_unused]] const ssize_t sent = ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        Waiting w;
        w.fd = fd;
        w.since = Clock::now();
        w.closing = true;
        w.closingUntil = w.since + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kDrainSeconds));
        m_incoming.push_back(std::move(w));
    }
    const char byte = 0;
    [[maybe_unused]] const ssize_t n = ::write(m_wake[1], &byte, 1);
    return true;
}

std::string RequestHeadReader::refusalText(int status, const std::string& message, const std::string& param) const
{
    const std::string body = m_refusal(status, message, param);
    // A client that was refused for want of room is told when to try again (RFC 9110 §10.2.3).
    const bool retry = status == 503 || status == 429;
    return "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           (retry ? "\r\nRetry-After: 1" : "") + "\r\nConnection: close\r\n\r\n" + body;
}

void RequestHeadReader::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stopped)
            return;
        m_stopped = true;
    }
    const char byte = 0;
    [[maybe_unused]] const ssize_t n = ::write(m_wake[1], &byte, 1);
    if (m_thread.joinable())
        m_thread.join();
}

size_t RequestHeadReader::bodyToWait(const std::string& head, const HeadLimits& limits)
{
    auto lower = [](std::string text) {
        for (char& c : text)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return text;
    };
    std::string length;
    size_t start = head.find('\n');
    while (start != std::string::npos && start + 1 < head.size()) {
        const size_t end = head.find('\n', start + 1);
        const std::string line = head.substr(start + 1, (end == std::string::npos ? head.size() : end) - start - 1);
        start = end;
        const size_t colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        const std::string name = lower(line.substr(0, colon));
        const size_t first = line.find_first_not_of(" \t", colon + 1);
        const size_t last = line.find_last_not_of(" \t\r");
        const std::string value = first == std::string::npos || last < first ? std::string() : line.substr(first, last - first + 1);
        if (name == "transfer-encoding" || (name == "expect" && lower(value).find("100-continue") != std::string::npos))
            return 0;
        if (name == "content-length") {
            if (!length.empty() && value != length)
                return 0;
            length = value;
        }
    }
    if (length.empty() || length.size() > 12 || length.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    const size_t n = std::stoull(length);
    return n <= limits.maxBodyBytes ? n : 0;
}

bool RequestHeadReader::framedAsBodyless(const std::string& head)
{
    const std::string method = head.substr(0, head.find(' '));
    if (method != "PUT" && method != "PATCH" && method != "DELETE")
        return false;
    for (size_t start = head.find('\n'); start != std::string::npos && start + 1 < head.size(); start = head.find('\n', start + 1)) {
        std::string name = head.substr(start + 1, head.find(':', start + 1) - start - 1);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (name == "content-length" || name == "transfer-encoding")
            return false;
    }
    return true;
}

RequestHeadReader::Head RequestHeadReader::judge(const std::string& bytes, const HeadLimits& limits, size_t* headEnd)
{
    const size_t lineEnd = bytes.find('\n');
    if (lineEnd == std::string::npos)
        return bytes.size() > limits.maxRequestLine ? Head::RequestLineTooLong : Head::Incomplete;
    if (lineEnd + 1 > limits.maxRequestLine)
        return Head::RequestLineTooLong;
    // A blank request line is refused by cpp-httplib at once, without reading fields.
    if (lineEnd == 0 || (lineEnd == 1 && bytes[0] == '\r')) {
        if (headEnd)
            *headEnd = lineEnd + 1;
        return Head::Complete;
    }
    // Fields end at the first empty line: CRLF, or a bare LF, which RequestHeadCheck refuses (cpp-httplib
    // would skip it and wait for more, and the client, done sending, would get a 408).
    const size_t fieldsStart = lineEnd + 1;
    size_t fields = 0;
    size_t start = fieldsStart;
    for (;;) {
        const size_t end = bytes.find('\n', start);
        if (end == std::string::npos)
            return bytes.size() - fieldsStart > limits.maxHeaderBytes ? Head::FieldsTooLong : Head::Incomplete;
        if (end == start || (end == start + 1 && bytes[start] == '\r')) {
            if (headEnd)
                *headEnd = end + 1;
            return Head::Complete;
        }
        if (++fields > limits.maxHeaderFields)
            return Head::TooManyFields;
        if (end + 1 - fieldsStart > limits.maxHeaderBytes)
            return Head::FieldsTooLong;
        start = end + 1;
    }
}

bool RequestHeadReader::readMore(Waiting& w)
{
    char buffer[kReadChunk];
    for (;;) {
        const ssize_t n = ::recv(w.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            if (!w.closing)
                w.bytes.append(buffer, static_cast<size_t>(n));
            // Enough to judge: more is read on the next round.
            if (w.closing || w.bytes.size() > std::max(w.need, m_limits.maxRequestLine + m_limits.maxHeaderBytes + 2))
                return true;
            if (static_cast<size_t>(n) < sizeof buffer)
                return true;
            continue;
        }
        if (n == 0)
            return false;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
}

void RequestHeadReader::refuse(Waiting& w, int status, const std::string& message, const std::string& param)
{
    const std::string answer = refusalText(status, message, param);
    // A small answer on a connection that has written nothing: the socket's buffer takes it whole.
    [[maybe_unused]] const ssize_t n = ::send(w.fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(w.fd, SHUT_WR);
    // What the client still sends is read and dropped for a moment: closing with unread bytes would
    // reset the connection, and the client could lose the answer.
    w.closing = true;
    w.bytes.clear();
    m_waitingBodyBytes -= w.body;
    w.body = w.need = 0;
    w.closingUntil = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kDrainSeconds));
}

void RequestHeadReader::loop()
{
    std::vector<Waiting> waiting;
    std::vector<pollfd> fds;
    auto seconds = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
    for (;;) {
        std::vector<Waiting> incoming;
        bool stopped = false;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            incoming.swap(m_incoming);
            stopped = m_stopped;
        }
        if (stopped) {
            for (auto& w : waiting)
                m_close(w.fd);
            for (auto& w : incoming)
                m_close(w.fd);
            return;
        }
        for (auto& w : incoming) {
            const size_t open = static_cast<size_t>(std::count_if(waiting.begin(), waiting.end(), [](const Waiting& x) { return !x.closing; }));
            const bool refused = w.closing;
            waiting.push_back(std::move(w));
            if (!refused && open >= m_limits.maxWaiting)
                refuse(waiting.back(), 503,
                       "the server has " + std::to_string(m_limits.maxWaiting) + " connections waiting for their request already; retry later");
        }

        // Heads already complete (a pipelined request behind the last one) or refused by their size.
        const auto now = Clock::now();
        for (size_t i = 0; i < waiting.size();) {
            Waiting& w = waiting[i];
            if (w.closing) {
                if (now >= w.closingUntil) {
                    m_close(w.fd);
                    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
                    continue;
                }
                ++i;
                continue;
            }
            auto handOver = [&] {
                Waiting done = std::move(w);
                waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
                m_waitingBodyBytes -= done.body;
                m_ready(done.fd, std::move(done.bytes), done.served);
            };
            if (w.need) {
                if (w.bytes.size() >= w.need) {
                    handOver();
                    continue;
                }
                if (now >= w.bodyUntil) {
                    char limit[32];
                    std::snprintf(limit, sizeof limit, "%.3g", m_limits.headSeconds + static_cast<double>(w.body) / m_limits.bodyBytesPerSecond);
                    refuse(w, 408, "the request's body (" + std::to_string(w.body) + " bytes) did not arrive within " + limit +
                                       " seconds of its header fields (--header-timeout, plus a second per " +
                                       std::to_string(static_cast<size_t>(m_limits.bodyBytesPerSecond)) + " bytes)");
                }
                ++i;
                continue;
            }
            size_t headEnd = 0;
            const Head head = w.bytes.empty() ? Head::Incomplete : judge(w.bytes, m_limits, &headEnd);
            if (head == Head::Complete) {
                if (const auto refusal = RequestHeadCheck::refusal(w.bytes.substr(0, headEnd))) {
                    refuse(w, refusal->status, refusal->message, refusal->param);
                    ++i;
                    continue;
                }
                if (framedAsBodyless(w.bytes.substr(0, headEnd))) {
                    const std::string length = "Content-Length: 0\r\n";
                    w.bytes.insert(w.bytes.find('\n') + 1, length);
                    headEnd += length.size();
                }
                const size_t body = bodyToWait(w.bytes.substr(0, headEnd), m_limits);
                if (body > 0 && w.bytes.size() < headEnd + body && m_waitingBodyBytes + body <= m_limits.maxWaitingBodyBytes) {
                    w.body = body;
                    w.need = headEnd + body;
                    w.bodyUntil = now + seconds(m_limits.headSeconds + static_cast<double>(body) / m_limits.bodyBytesPerSecond);
                    m_waitingBodyBytes += body;
                    ++i;
                    continue;
                }
                handOver();
                continue;
            }
            if (head == Head::RequestLineTooLong)
                refuse(w, 414, "the request target (path and query) is longer than the server accepts (" +
                                   std::to_string(m_limits.maxRequestLine) + " bytes)");
            else if (head == Head::TooManyFields)
                refuse(w, 431, "the request has more than " + std::to_string(m_limits.maxHeaderFields) + " header fields (--max-header-fields)");
            else if (head == Head::FieldsTooLong)
                refuse(w, 431, "the request's header fields are longer than the server accepts (" +
                                   std::to_string(m_limits.maxHeaderBytes) + " bytes in all)");
            else if (w.bytes.empty() && now - w.since >= seconds(m_limits.idleSeconds)) {
                // Nothing sent: an idle keep-alive connection, closed as cpp-httplib closes it.
                m_close(w.fd);
                waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
                continue;
            } else if (!w.bytes.empty() && now - w.since >= seconds(m_limits.headSeconds)) {
                char limit[32];
                std::snprintf(limit, sizeof limit, "%g", m_limits.headSeconds);
                refuse(w, 408, std::string("the request's line and header fields did not all arrive within ") + limit +
                                   " seconds (--header-timeout)");
            }
            ++i;
        }

        // Sleep until a connection has bytes, a deadline passes, or add()/stop() wakes the loop.
        fds.clear();
        fds.push_back({m_wake[0], POLLIN, 0});
        auto next = Clock::now() + std::chrono::seconds(1);
        for (const auto& w : waiting) {
            fds.push_back({w.fd, POLLIN, 0});
            next = std::min(next, w.closing ? w.closingUntil
                                  : w.need  ? w.bodyUntil
                                            : w.since + seconds(w.bytes.empty() ? m_limits.idleSeconds : m_limits.headSeconds));
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count() + 1;
        const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait, 0, 1000)));
        if (ready <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            char drain[64];
            while (::read(m_wake[0], drain, sizeof drain) > 0) {
            }
        }
        // fds[k + 1] is waiting[k]: nothing was added or removed since they were listed.
        for (size_t k = waiting.size(); k-- > 0;) {
            if (!fds[k + 1].revents)
                continue;
            Waiting& w = waiting[k];
            if (readMore(w))
                continue;
            // The client closed its side: a complete head sent before is still answered (a client may
            // half-close after its request); otherwise the connection ends here.
            Waiting done = std::move(w);
            waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(k));
            m_waitingBodyBytes -= done.body;
            // Nothing more is to be read: a refusal is sent and the connection closed at once.
            auto answerAndClose = [&](int status, const std::string& message, const std::string& param = {}) {
                const std::string answer = refusalText(status, message, param);
                [[maybe_unused]] const ssize_t sent = ::send(done.fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                m_close(done.fd);
            };
            size_t headEnd = 0;
            if (done.closing || done.bytes.empty() || judge(done.bytes, m_limits, &headEnd) != Head::Complete)
                m_close(done.fd);
            else if (done.need && done.bytes.size() < done.need)
                // Its body ended short of its Content-Length: told so (a worker would have waited for the
                // rest, then answered that the request was not valid HTTP).
                answerAndClose(400, "the request body ended after " + std::to_string(done.bytes.size() - (done.need - done.body)) +
                                        " of the " + std::to_string(done.body) +
                                        " bytes its Content-Length announced: the client closed the connection");
            else if (const auto refusal = done.need ? std::nullopt : RequestHeadCheck::refusal(done.bytes.substr(0, headEnd)))
                // Read with its end in one round: not judged above.
                answerAndClose(refusal->status, refusal->message, refusal->param);
            else
                m_ready(done.fd, std::move(done.bytes), done.served);
        }
    }
}

} // namespace rslora::serve
