// Finding and watching a request's connection (see ClientConnection.h).
#include "app/serve/ClientConnection.h"

#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

namespace rslora::serve {
namespace {

// An address as cpp-httplib writes it (getnameinfo, numeric host and port).
bool sameAddress(const sockaddr_storage& a, socklen_t len, const std::string& host, int port)
{
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    return host == h && port == std::atoi(p);
}

} // namespace

ClientConnection::ClientConnection(const std::string& localAddr, int localPort, const std::string& remoteAddr, int remotePort)
{
    if (localPort < 0 || remotePort < 0)
        return;
    DIR* dir = opendir("/proc/self/fd");
    if (!dir)
        return;
    const int own = dirfd(dir);
    while (const dirent* entry = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == own)
            continue;
        struct stat st {};
        if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        sockaddr_storage local {}, peer {};
        socklen_t localLen = sizeof local, peerLen = sizeof peer;
        if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &localLen) != 0 ||
            getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0)
            continue;
        if (sameAddress(local, localLen, localAddr, localPort) && sameAddress(peer, peerLen, remoteAddr, remotePort)) {
            m_fd = static_cast<int>(fd);
            break;
        }
    }
    closedir(dir);
}

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
