// cpp-httplib's server with its connections read differently: a connection reaches a worker thread only
// once its request head has arrived whole (RequestHeadReader, one thread for all waiting connections),
// so slow or idle clients hold no worker, the head has a total deadline and a bound on its fields, and
// a keep-alive connection waits for its next request without a worker too. The worker serves one
// request with cpp-httplib's own request processing, over a stream that keeps pipelined bytes.
// Open connections are counted (ConnectionLimiter): over `maxConnections` a new one is answered 503,
// over `maxPerClient` from its address 429, both with Retry-After, and closed.
#pragma once

#include "app/serve/ConnectionLimiter.h"
#include "app/serve/RequestHeadReader.h"

#include <httplib.h>

#include <atomic>
#include <memory>

namespace rslora::serve {

class GuardedHttpServer : public httplib::Server {
public:
    GuardedHttpServer(HeadLimits limits, size_t workers, RequestHeadReader::Refusal refusal, size_t maxConnections,
                      size_t maxPerClient);
    ~GuardedHttpServer() override;

    // Seconds the writes of a streamed answer (text/event-stream) may wait for a client that does not
    // read; 0: as long as its connection stays open. Other answers keep cpp-httplib's write timeout.
    void setStreamWriteTimeout(double seconds) { m_streamWriteSeconds = seconds; }
    // Listens with the system's largest backlog (SOMAXCONN) instead of cpp-httplib's 5; call once bound.
    void widenListenBacklog();
    // The socket of the request this thread is serving (-1 outside a request): its handlers watch it
    // for a client that hangs up (cpp-httplib hands them no socket).
    static int servedSocket();
    // Whether cpp-httplib announces "Connection: close" in the answer to `req` on its own (the
    // request asked for it, or it is the connection's last): a handler that wants the connection closed
    // sets the field only where this is false, else the answer carries it twice.
    static bool closesOnItsOwn(const httplib::Request& req);
    // Stops listening, closes the connections waiting for a request, and waits for the requests being
    // served to end. Call once serving should end (cpp-httplib's stop() alone leaves the workers).
    void halt();

private:
    bool process_and_close_socket(socket_t sock) override;
    void serveOne(int fd, std::string bytes, int served);
    void closeConnection(int fd);

    ConnectionLimiter m_limiter;  // outlives the reader and the workers, which close connections
    std::unique_ptr<httplib::ThreadPool> m_workers;
    std::unique_ptr<RequestHeadReader> m_reader;
    std::atomic<bool> m_halting{false};
    double m_streamWriteSeconds = 0;
    bool m_halted = false;
};

} // namespace rslora::serve
