// The TCP connection a request arrived on, watched while its answer is being generated: a client that
// hangs up (a timeout, a cancelled call) is noticed even while nothing is written to it, so that its
// generation is cancelled instead of running to max_tokens and holding a --max-concurrent place.
// cpp-httplib 0.11 hands handlers no socket, so the connection is found by its addresses among the
// process's open sockets (/proc/self/fd). Where that cannot be done, closed() is always false.
#pragma once

#include <string>

namespace rslora::serve {

class ClientConnection {
public:
    // The socket whose local and peer addresses are these (as cpp-httplib reports them: numeric host).
    ClientConnection(const std::string& localAddr, int localPort, const std::string& remoteAddr, int remotePort);

    // Whether the connection was found.
    bool watched() const { return m_fd >= 0; }
    // True once the client has closed its side or reset the connection. Never blocks; pipelined bytes
    // still to be read do not count as closed.
    bool closed() const;

private:
    int m_fd = -1;
};

} // namespace rslora::serve
