// A buffered socket stream for cpp-httplib (see BufferedSocketStream.h).
#include "app/serve/BufferedSocketStream.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <linux/sockios.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace rslora::serve {
namespace {

constexpr size_t kReadChunk = 16 * 1024;

bool waitFor(int fd, short events, int ms)
{
    pollfd p {fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
    }
}

void numericAddress(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        ip = host;
        port = std::atoi(serv);
    }
}

} // namespace

BufferedSocketStream::BufferedSocketStream(int fd, std::string pending, double readSeconds, double writeSeconds,
                                           double streamWriteSeconds, const std::atomic<bool>& halting)
    : m_fd(fd), m_buffer(std::move(pending)), m_readMs(static_cast<int>(readSeconds * 1000)),
      m_writeMs(static_cast<int>(writeSeconds * 1000)), m_streamWriteMs(static_cast<int>(streamWriteSeconds * 1000)),
      m_halting(halting)
{
}

bool BufferedSocketStream::is_readable() const
{
    return m_offset < m_buffer.size() || waitFor(m_fd, POLLIN, m_readMs);
}

bool BufferedSocketStream::is_writable() const { return waitWritable(writeLimitMs()); }

int BufferedSocketStream::writeLimitMs() const
{
    if (!m_streaming)
        return m_writeMs;
    if (m_streamWriteMs <= 0)
        return 0; // no limit
    const auto stalled = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m_progressAt).count();
    return static_cast<int>(std::max<long long>(1, m_streamWriteMs - stalled));
}

bool BufferedSocketStream::clientStalled()
{
    // The bytes sent and not yet acknowledged by the client's side: it takes no more once its
    // receive buffer is full, and then this count only grows.
    int queued = 0;
    if (::ioctl(m_fd, SIOCOUTQ, &queued) != 0)
        return false;
    const auto now = Clock::now();
    if (queued == 0 || queued < m_queuedAfterSend)
        m_progressAt = now;
    m_queuedAfterSend = queued;
    return now - m_progressAt >= std::chrono::milliseconds(m_streamWriteMs);
}

bool BufferedSocketStream::waitWritable(int limitMs) const
{
    // Waited for in slices, so that a server that is halting does not wait for a client that reads nothing.
    constexpr int kSliceMs = 200;
    int waitedMs = 0;
    for (;;) {
        pollfd p {m_fd, POLLOUT, 0};
        const int sliceMs = limitMs > 0 ? std::min(kSliceMs, limitMs - waitedMs) : kSliceMs;
        const int n = ::poll(&p, 1, std::max(0, sliceMs));
        if (n < 0 && errno != EINTR)
            return false;
        if (n > 0)
            return (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
        if (n == 0)
            waitedMs += sliceMs;
        if (m_halting.load() || (limitMs > 0 && waitedMs >= limitMs))
            return false;
    }
}

ssize_t BufferedSocketStream::read(char* ptr, size_t size)
{
    if (m_offset >= m_buffer.size()) {
        m_buffer.clear();
        m_offset = 0;
        if (!waitFor(m_fd, POLLIN, m_readMs))
            return -1;
        m_buffer.resize(kReadChunk);
        ssize_t n;
        do
            n = ::recv(m_fd, m_buffer.data(), m_buffer.size(), 0);
        while (n < 0 && errno == EINTR);
        m_buffer.resize(n > 0 ? static_cast<size_t>(n) : 0);
        if (n <= 0)
            return n;
    }
    const size_t n = std::min(size, m_buffer.size() - m_offset);
    std::copy_n(m_buffer.data() + m_offset, n, ptr);
    m_offset += n;
    return static_cast<ssize_t>(n);
}

ssize_t BufferedSocketStream::write(const char* ptr, size_t size)
{
    if (!m_headWritten) {
        // The answer's head is read as it goes out, for its Connection field.
        m_answerHead.append(ptr, size);
        const size_t end = m_answerHead.find("\r\n\r\n");
        if (end != std::string::npos) {
            m_headWritten = true;
            std::string head = m_answerHead.substr(0, end + 2);
            std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            m_closeAnnounced = head.find("\r\nconnection: close\r\n") != std::string::npos;
            // The events of a streamed answer may wait for a client that reads slowly (--stream-write-timeout).
            if (head.find("\r\ncontent-type: text/event-stream") != std::string::npos) {
                m_streaming = true;
                m_progressAt = Clock::now();
            }
            m_answerHead.clear();
        }
    }
    // A streamed answer's client that has taken none of its bytes for the stream's timeout is let go,
    // however much the socket's buffers could still hold (on localhost, megabytes: tens of seconds).
    const bool watched = m_streaming && m_streamWriteMs > 0;
    if (watched && clientStalled())
        return -1;
    for (;;) {
        if (!waitWritable(writeLimitMs()))
            return -1;
        // Never blocks: the socket's send timeout (SO_SNDTIMEO, cpp-httplib's write timeout) would
        // otherwise cut a send that waits for the client short of the wait chosen here.
        const ssize_t n = ::send(m_fd, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (watched && clientStalled())
                return -1;
            continue;
        }
        // What the socket held when last looked at (clientStalled), and this send.
        if (watched && n > 0)
            m_queuedAfterSend += static_cast<int>(n);
        return n;
    }
}

void BufferedSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const
{
    sockaddr_storage addr {};
    socklen_t len = sizeof addr;
    if (::getpeername(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        numericAddress(addr, len, ip, port);
}

void BufferedSocketStream::get_local_ip_and_port(std::string& ip, int& port) const
{
    sockaddr_storage addr {};
    socklen_t len = sizeof addr;
    if (::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        numericAddress(addr, len, ip, port);
}

std::string BufferedSocketStream::takeUnread()
{
    std::string rest = m_buffer.substr(std::min(m_offset, m_buffer.size()));
    m_buffer.clear();
    m_offset = 0;
    return rest;
}

} // namespace rslora::serve
