// cpp-httplib with request heads read before a worker is taken (see GuardedHttpServer.h).
#include "app/serve/GuardedHttpServer.h"

#include "app/serve/BufferedSocketStream.h"
#include "app/serve/RequestHeadRewrite.h"

#include <sys/socket.h>
#include <unistd.h>

namespace rslora::serve {
namespace {

// Requests on one connection before it is closed (cpp-httplib's own bound is 5).
constexpr int kRequestsPerConnection = 1000;

void closeSocket(int fd)
{
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
}

} // namespace

GuardedHttpServer::GuardedHttpServer(HeadLimits limits, size_t workers, RequestHeadReader::Refusal refusal,
                                     size_t maxConnections, size_t maxPerClient)
    : m_limiter(maxConnections, maxPerClient), m_workers(std::make_unique<httplib::ThreadPool>(std::max<size_t>(1, workers)))
{
    // cpp-httplib's own queue only hands accepted sockets over to the reader.
    new_task_queue = [] { return new httplib::ThreadPool(1); };
    set_keep_alive_max_count(kRequestsPerConnection);  // as the Keep-Alive header announces it
    m_reader = std::make_unique<RequestHeadReader>(
        limits,
        [this](int fd, std::string bytes, int served) {
            m_workers->enqueue([this, fd, bytes = std::move(bytes), served]() mutable { serveOne(fd, std::move(bytes), served); });
        },
        std::move(refusal), [this](int fd) { closeConnection(fd); });
}

GuardedHttpServer::~GuardedHttpServer() { halt(); }

void GuardedHttpServer::halt()
{
    if (m_halted)
        return;
    m_halted = true;
    m_halting = true;
    stop();
    // The reader first: it hands no more connections to the workers, whose queue can then drain.
    m_reader->stop();
    m_workers->shutdown();
}

void GuardedHttpServer::widenListenBacklog()
{
    // With a backlog of 5, a burst of clients connecting while the accepting thread waits for a core
    // overflowed the queue: their handshakes were dropped, and some connections were reset.
    if (svr_sock_ != INVALID_SOCKET)
        ::listen(svr_sock_, SOMAXCONN);
}

void GuardedHttpServer::closeConnection(int fd)
{
    m_limiter.release(fd);
    closeSocket(fd);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock)
{
    if (m_halting) {
        closeSocket(sock);
        return false;
    }
    const std::string client = ConnectionLimiter::clientKey(sock);
    switch (m_limiter.admit(sock, client)) {
    case ConnectionLimiter::Verdict::Admitted:
        if (m_reader->add(sock, {}, 0))
            return true;
        break;
    case ConnectionLimiter::Verdict::TooMany:
        if (m_reader->addRefused(sock, 503, "the server has " + std::to_string(m_limiter.maxTotal()) +
                                                " connections open, the most it takes (--max-connections); retry later"))
            return false;
        break;
    case ConnectionLimiter::Verdict::TooManyFromClient:
        if (m_reader->addRefused(sock, 429, "this client (" + client + ") has " + std::to_string(m_limiter.maxPerClient()) +
                                                " connections open, the most one client may have (--max-connections-per-client); "
                                                "close one or retry later"))
            return false;
        break;
    case ConnectionLimiter::Verdict::Drop:
        break;
    }
    closeConnection(sock);
    return false;
}

namespace {
thread_local int t_servedSocket = -1;
thread_local bool t_lastRequest = false;
} // namespace

int GuardedHttpServer::servedSocket() { return t_servedSocket; }

bool GuardedHttpServer::closesOnItsOwn(const httplib::Request& req)
{
    // cpp-httplib compares the field's value with "close" as written (case and all).
    return t_lastRequest || req.get_header_value("Connection") == "close";
}

void GuardedHttpServer::serveOne(int fd, std::string bytes, int served)
{
    struct Serving {
        Serving(int fd, bool last)
        {
            t_servedSocket = fd;
            t_lastRequest = last;
        }
        ~Serving()
        {
            t_servedSocket = -1;
            t_lastRequest = false;
        }
    };
    // Header values as the client sent them, and an absolute-form target as its path (RequestHeadRewrite).
    BufferedSocketStream stream(fd, RequestHeadRewrite::forHttplib(std::move(bytes)), static_cast<double>(read_timeout_sec_) + read_timeout_usec_ / 1e6,
                                static_cast<double>(write_timeout_sec_) + write_timeout_usec_ / 1e6, m_streamWriteSeconds, m_halting);
    const bool last = m_halting || served + 1 >= kRequestsPerConnection;
    const Serving serving(fd, last);
    bool closed = false;
    // Called once the request line and header fields have been read: a request that was not (answered
    // 400 or 414) leaves the connection's framing unknown, so nothing after it is read as a request.
    bool parsed = false;
    const bool ok = process_request(stream, last, closed, [&parsed](httplib::Request&) { parsed = true; });
    if (ok && parsed && !closed && !last && !stream.answerClosesConnection() && !m_halting &&
        m_reader->add(fd, stream.takeUnread(), served + 1))
        return;
    closeConnection(fd);
}

} // namespace rslora::serve
