// The TCP connection a request arrived on, watched while its answer is being generated: a client that
// hangs up (a timeout, a cancelled call) is noticed even while nothing is written to it, so that its
// generation is cancelled instead of running to max_tokens and holding a --max-concurrent place.
#pragma once

namespace rslora::serve {

class ClientConnection {
public:
    // The connection's socket (GuardedHttpServer::servedSocket()); -1: none, closed() is always false.
    explicit ClientConnection(int fd) : m_fd(fd) {}

    // True once the client has closed its side or reset the connection. Never blocks; pipelined bytes
    // still to be read do not count as closed.
    bool closed() const;

private:
    int m_fd = -1;
};

} // namespace rslora::serve
