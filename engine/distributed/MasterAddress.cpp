// Resolving rank 0's host name before the rendezvous (see MasterAddress.h).
#include "engine/distributed/MasterAddress.h"

#include "common/Error.h"

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

namespace rslora::engine::distributed {

void requireResolvableHost(const std::string& host, const std::string& source, int timeoutSeconds)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
    for (;;) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
        if (found)
            ::freeaddrinfo(found);
        if (rc == 0)
            return;
        if (rc == EAI_AGAIN && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            continue;
        }
        const std::string reason = rc == EAI_SYSTEM ? std::string("system error") : std::string(::gai_strerror(rc));
        throw Error(source + " '" + host + "': the host name of rank 0's machine does not resolve (" + reason
                        + (rc == EAI_AGAIN ? ", still after " + std::to_string(timeoutSeconds) + " s" : std::string()) + ")",
                    "give the name or IP address of the machine that runs rank 0 (node rank 0), as every rank can reach it");
    }
}

} // namespace rslora::engine::distributed
