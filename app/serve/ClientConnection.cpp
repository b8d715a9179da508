// Watching a request's connection (see ClientConnection.h).
#include "app/serve/ClientConnection.h"

#include <cerrno>
#include <poll.h>
#include <sys/socket.h>

namespace rslora::serve {

bool ClientConnection::closed() const
{
    if (m_fd < 0)
        return false;
    pollfd p {};
    p.fd = m_fd;
    p.events = POLLIN;
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return true;
    // Readable: the end of the stream (0) or a reset, unless bytes of a next request are waiting.
    char byte = 0;
    const ssize_t n = recv(m_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

} // namespace rslora::serve
