// cpp-httplib's server with its connections read differently: a connection reaches a worker thread only
// once its request head has arrived whole (RequestHeadReader, one thread for all waiting connections),
// so slow or idle clients hold no worker, the head has a total deadline and a bound on its fields, and
// a keep-alive connection waits for its next request without a worker too. The worker serves one
// request with cpp-httplib's own request processing, over a stream that keeps pipelined bytes.
#pragma once

#include "app/serve/RequestHeadReader.h"

#include <httplib.h>

#include <atomic>
#include <memory>

namespace rslora::serve {

class GuardedHttpServer : public httplib::Server {
public:
    GuardedHttpServer(HeadLimits limits, size_t workers, RequestHeadReader::Refusal refusal);
    ~GuardedHttpServer() override;

    // Stops listening, closes the connections waiting for a request, and waits for the requests being
    // served to end. Call once serving should end (cpp-httplib's stop() alone leaves the workers).
    void halt();

private:
    bool process_and_close_socket(socket_t sock) override;
    void serveOne(int fd, std::string bytes, int served);

    std::unique_ptr<httplib::ThreadPool> m_workers;
    std::unique_ptr<RequestHeadReader> m_reader;
    std::atomic<bool> m_halting{false};
    bool m_halted = false;
};

} // namespace rslora::serve
