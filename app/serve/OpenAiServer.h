// The OpenAI-compatible HTTP server of `rslora serve` (cpp-httplib): completions and chat
// completions (streamed as server-sent events when asked), the model list, and loading/unloading
// adapters at runtime under vLLM's routes. The request's `model` field picks the base or an adapter
// (as vLLM does); concurrent requests join one continuously batched GenerationScheduler whatever
// their adapters. Every bad request is answered with a 4xx and an OpenAI-style error object.
#pragma once

#include "app/serve/OpenAiRequest.h"

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace rslora::engine {
class GenerationSession;
class GenerationScheduler;
}

namespace rslora::serve {

class GuardedHttpServer;

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8000;              // 0: any free port
    std::string apiKey;           // empty: no authentication
    std::string servedModelName;  // the base model's name in `model` and /v1/models
    size_t maxBodyBytes = 1 << 20;
    RequestLimits limits;
    int maxConcurrent = 64;       // requests generating at once; more get 429
    size_t maxBatch = 16;         // rows decoded together
    double headerTimeout = 10.0;  // a request's line and header fields must arrive within this (408)
    // Seconds a streamed answer waits for a client that has stopped reading before it is cut off and its
    // places (maxConcurrent) are given back, as nginx's send_timeout (60 s); 0: while its connection is open.
    double streamWriteTimeout = 60;
    size_t maxHeaderFields = 100; // more header fields in a request: 431
    size_t maxConnections = 0;    // open connections at once (503 above); 0: what RLIMIT_NOFILE leaves room for
    size_t maxConnectionsPerClient = 0;  // from one address (429 above); 0: half of maxConnections
    bool logRequests = true;
};

// Where an adapter argument ("DIR", "task@v3", optionally ":WEIGHT") points.
struct AdapterSource {
    std::filesystem::path path;
    double weight = 1.0;
};
using AdapterResolver = std::function<AdapterSource(const std::string& argument)>;

class OpenAiServer {
public:
    OpenAiServer(engine::GenerationSession& session, ServeOptions options, AdapterResolver resolver);
    ~OpenAiServer();

    // Loads an adapter served under `name` (throws rslora::Error).
    void addAdapter(const std::string& name, const std::string& argument);
    // Binds the listening socket; returns the port (a free one when options.port is 0).
    int bind();
    // Serves until shutdown() (call from another thread).
    void serve();
    // Stops taking connections, lets running requests finish for up to `graceSeconds`, then cancels
    // the rest (they end with finish_reason "abort").
    void shutdown(double graceSeconds);

private:
    void routes();
    // Fills in the connection limits left at 0 and checks those given against RLIMIT_NOFILE.
    void connectionLimits();
    void handleGeneration(const httplib::Request& req, httplib::Response& res, bool chat);
    void handleModels(httplib::Response& res);
    void handleModel(const std::string& name, httplib::Response& res);
    void handleLoad(const httplib::Request& req, httplib::Response& res);
    void handleUnload(const httplib::Request& req, httplib::Response& res);
    // The adapters of a request's `model`; `use` counts the request as using the adapter until it is
    // released (an adapter in use is not unloaded).
    engine::AdapterMix resolveModel(const std::string& model, std::shared_ptr<void>& use);
    AdapterSource resolve(const std::string& argument);

    engine::GenerationSession& m_session;
    ServeOptions m_options;
    AdapterResolver m_resolver;
    std::mutex m_resolveMutex;  // one resolution at a time
    std::unique_ptr<engine::GenerationScheduler> m_scheduler;
    std::unique_ptr<GuardedHttpServer> m_http;
    mutable std::mutex m_mutex;
    struct Served {
        std::filesystem::path path;
        double weight = 1.0;
        int64_t created = 0;
        int requests = 0;  // requests running or waiting with it
    };
    std::map<std::string, Served> m_adapters;  // served name -> source
    std::set<std::string> m_loading;           // names whose load_lora_adapter is under way
    // The entries of GET /v1/models.
    nlohmann::json baseEntry() const;
    nlohmann::json adapterEntry(const std::string& name, const Served& adapter) const;
    std::atomic<int> m_active{0};
    std::atomic<bool> m_stopping{false};  // shutting down: new requests get 503
    std::atomic<uint64_t> m_nextId{1};
    int64_t m_created = 0;
};

} // namespace rslora::serve
