// Counting open connections (see ConnectionLimiter.h).
#include "app/serve/ConnectionLimiter.h"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

namespace rslora::serve {

ConnectionLimiter::ConnectionLimiter(size_t maxTotal, size_t maxPerClient, size_t maxRefusing)
    : m_maxTotal(maxTotal), m_maxPerClient(maxPerClient == 0 || maxPerClient > maxTotal ? maxTotal : maxPerClient),
      m_maxRefusing(maxRefusing)
{
}

ConnectionLimiter::Verdict ConnectionLimiter::admit(int fd, const std::string& client)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    // A number still listed was closed without release(): it is counted afresh.
    if (auto stale = m_open.find(fd); stale != m_open.end()) {
        if (stale->second.refusing)
            --m_refusing;
        else {
            --m_admitted;
            if (--m_perClient[stale->second.client] == 0)
                m_perClient.erase(stale->second.client);
        }
        m_open.erase(stale);
    }
    Verdict verdict = Verdict::Admitted;
    if (m_admitted >= m_maxTotal)
        verdict = Verdict::TooMany;
    else if (auto it = m_perClient.find(client); it != m_perClient.end() && it->second >= m_maxPerClient)
        verdict = Verdict::TooManyFromClient;
    if (verdict == Verdict::Admitted) {
        ++m_admitted;
        ++m_perClient[client];
        m_open[fd] = {client, false};
        return verdict;
    }
    if (m_refusing >= m_maxRefusing)
        return Verdict::Drop;
    ++m_refusing;
    m_open[fd] = {client, true};
    return verdict;
}

void ConnectionLimiter::release(int fd)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_open.find(fd);
    if (it == m_open.end())
        return;
    if (it->second.refusing)
        --m_refusing;
    else {
        --m_admitted;
        if (auto c = m_perClient.find(it->second.client); c != m_perClient.end() && --c->second == 0)
            m_perClient.erase(c);
    }
    m_open.erase(it);
}

size_t ConnectionLimiter::open() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_admitted;
}

std::string ConnectionLimiter::clientKey(int fd)
{
    sockaddr_storage addr {};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return "unknown";
    return addressKey(addr);
}

std::string ConnectionLimiter::addressKey(const sockaddr_storage& addr)
{
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
        if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text))
            return text;
    } else if (addr.ss_family == AF_INET6) {
        in6_addr a = reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            in_addr v4 {};
            std::memcpy(&v4, a.s6_addr + 12, 4);
            if (::inet_ntop(AF_INET, &v4, text, sizeof text))
                return text;
        } else {
            std::memset(a.s6_addr + 8, 0, 8);
            if (::inet_ntop(AF_INET6, &a, text, sizeof text))
                return std::string(text) + "/64";
        }
    }
    return "unknown";
}

size_t ConnectionLimiter::fitting(size_t descriptors)
{
    const size_t kept = kReservedDescriptors + kMaxRefusing;
    return descriptors >= 2 * kept ? descriptors - kept : descriptors / 2;
}

size_t ConnectionLimiter::descriptorLimit()
{
    rlimit r {};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
        return 0;
    return static_cast<size_t>(r.rlim_cur);
}

size_t ConnectionLimiter::raiseDescriptorLimit(size_t descriptors)
{
    rlimit r {};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0)
        return 0;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < descriptors) {
        rlimit raised = r;
        raised.rlim_cur = r.rlim_max == RLIM_INFINITY ? descriptors : std::min<rlim_t>(r.rlim_max, descriptors);
        if (::setrlimit(RLIMIT_NOFILE, &raised) != 0)
            return descriptorLimit();
    }
    return descriptorLimit();
}

} // namespace rslora::serve
