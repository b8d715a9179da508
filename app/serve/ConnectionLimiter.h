// Counts the server's open client connections, in all and per client address, so that idle or slow
// connections cannot take every file descriptor of the process (the model's files, an adapter being
// loaded and the store need some too) and one client cannot take every connection. A connection over a
// limit is still given an answer (503, or 429 over the client's share) before it is closed; a bounded
// number of such refused connections may be open at once while their answer goes out, past which a
// refused connection is closed at once.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include <sys/socket.h>

namespace rslora::serve {

class ConnectionLimiter {
public:
    // `maxPerClient` of 0 means `maxTotal`.
    ConnectionLimiter(size_t maxTotal, size_t maxPerClient, size_t maxRefusing = kMaxRefusing);

    enum class Verdict {
        Admitted,         // counted until release()
        TooMany,          // over maxTotal: answer 503 and close (counted as refusing until release())
        TooManyFromClient,  // over maxPerClient: answer 429 and close (counted as refusing until release())
        Drop,             // over a limit with too many refusals under way: close at once, nothing counted
    };
    // Counts the connection `fd` from `client` (an address as clientKey() gives it).
    Verdict admit(int fd, const std::string& client);
    // Forgets `fd`; call before closing it (a closed descriptor's number is reused by the next accept).
    void release(int fd);

    size_t maxTotal() const { return m_maxTotal; }
    size_t maxPerClient() const { return m_maxPerClient; }
    size_t open() const;

    // The client a connected socket counts against: its peer's numeric address, an IPv6 address by its
    // /64 prefix (one subscriber's allocation), an IPv4-mapped one as the IPv4 address.
    static std::string clientKey(int fd);
    // The same for a peer address.
    static std::string addressKey(const sockaddr_storage& addr);

    // File descriptors the process keeps for itself, apart from connections (model, adapters, store,
    // pipes, standard streams), and the refused connections open at once while their answer goes out.
    static constexpr size_t kReservedDescriptors = 64;
    static constexpr size_t kMaxRefusing = 64;
    // The most connections that fit a limit of `descriptors` open files (RLIMIT_NOFILE): what the
    // process and the refusals keep aside is taken off, or half of a small limit.
    static size_t fitting(size_t descriptors);
    // The process's current limit of open files (RLIMIT_NOFILE, soft); 0 if unknown or unlimited.
    static size_t descriptorLimit();
    // Raises the soft limit of open files to at least `descriptors` where the hard limit allows; returns
    // the limit in force afterwards.
    static size_t raiseDescriptorLimit(size_t descriptors);

private:
    struct Open {
        std::string client;
        bool refusing = false;
    };
    size_t m_maxTotal, m_maxPerClient, m_maxRefusing;
    mutable std::mutex m_mutex;
    std::map<int, Open> m_open;
    std::map<std::string, size_t> m_perClient;  // admitted connections per client
    size_t m_admitted = 0, m_refusing = 0;
};

} // namespace rslora::serve
