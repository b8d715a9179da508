// The OpenAI-compatible server (see OpenAiServer.h).
#include "app/serve/OpenAiServer.h"

#include "app/serve/ActiveGuard.h"
#include "app/serve/ApiError.h"
#include "app/serve/ClientConnection.h"
#include "app/serve/ConnectionLimiter.h"
#include "app/serve/GuardedHttpServer.h"
#include "app/serve/HttpText.h"
#include "app/serve/RequestScreen.h"
#include "common/Error.h"
#include "engine/ErrorText.h"
#include "engine/generation/GenerationScheduler.h"
#include "engine/generation/GenerationSession.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

namespace rslora::serve {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Route names, kept in one place.
constexpr const char* kCompletions = "/v1/completions";
constexpr const char* kChatCompletions = "/v1/chat/completions";
constexpr const char* kModels = "/v1/models";
constexpr const char* kModelById = R"(/v1/models/(.+))";
constexpr const char* kLoadAdapter = "/v1/load_lora_adapter";
constexpr const char* kUnloadAdapter = "/v1/unload_lora_adapter";
constexpr const char* kHealth = "/health";
constexpr const char* kJson = "application/json";

// Text from clients and from the model is not always valid UTF-8 (a request path of %FF, a byte token
// that completes no character): such bytes are written as U+FFFD instead of failing the answer.
std::string dumpJson(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void sendError(httplib::Response& res, const ApiError& e)
{
    res.status = e.status();
    res.set_content(dumpJson(e.body()), kJson);
}

// Closes the connection after the answer (the field once, where cpp-httplib would not set it).
void closeAfter(const httplib::Request& req, httplib::Response& res)
{
    if (!GuardedHttpServer::closesOnItsOwn(req))
        res.set_header("Connection", "close");
}

// An answer given before the body was read: the connection is closed after it, so that the unread
// body is never taken for the next request.
httplib::Server::HandlerResponse answerEarly(const httplib::Request& req, httplib::Response& res, const ApiError& e)
{
    closeAfter(req, res);
    sendError(res, e);
    return httplib::Server::HandlerResponse::Handled;
}

const char* finishReason(models::FinishReason r)
{
    switch (r) {
    case models::FinishReason::Eos:
    case models::FinishReason::StopString: return "stop";
    case models::FinishReason::Length: return "length";
    case models::FinishReason::Cancelled: return "abort";
    }
    return "stop";
}

// What a streaming response shares with the scheduler's token callbacks.
struct StreamState {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::pair<size_t, std::string>> pieces;  // (choice, text)
    std::vector<std::future<engine::GenerationOutput>> futures;
    std::vector<bool> ended;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
    std::unique_ptr<ActiveGuard> guard;
    std::shared_ptr<void> adapterUse;  // keeps the adapter from being unloaded while the stream runs
    std::unique_ptr<ClientConnection> client;  // watched between writes: a client that hangs up cancels
    bool sentRole = false;
    int64_t promptTokens = 0, completionTokens = 0;
};

std::string sse(const json& j) { return "data: " + dumpJson(j) + "\n\n"; }

// Requests are read with the resident session's vocabulary, tokenizer and chat template.
class SessionPrompts : public PromptEncoder {
public:
    explicit SessionPrompts(const engine::GenerationSession& session) : m_session(session) {}
    int64_t vocabSize() const override { return m_session.vocabSize(); }
    std::vector<int64_t> encode(const std::string& text) const override { return m_session.encode(text); }
    std::vector<int64_t> encodeChat(const nlohmann::ordered_json& messages) const override { return m_session.encodeChat(messages); }

private:
    const engine::GenerationSession& m_session;
};

} // namespace

OpenAiServer::OpenAiServer(engine::GenerationSession& session, ServeOptions options, AdapterResolver resolver)
    : m_session(session), m_options(std::move(options)), m_resolver(std::move(resolver)),
      m_scheduler(std::make_unique<engine::GenerationScheduler>(session, m_options.maxBatch)),
      m_created(static_cast<int64_t>(std::time(nullptr)))
{
    if (m_options.servedModelName.empty())
        m_options.servedModelName = session.modelDir().filename().string();
    // Room for the refused ones: requests over --max-concurrent still get their 429 at once. A
    // connection takes a worker only once its request head is in (GuardedHttpServer), so clients that
    // send slowly or nothing hold none.
    const size_t threads = static_cast<size_t>(std::max(1, m_options.maxConcurrent)) + 4;
    HeadLimits head;
    head.idleSeconds = 2.0;  // the keep-alive timeout
    head.headSeconds = m_options.headerTimeout;
    head.maxHeaderFields = m_options.maxHeaderFields;
    head.maxBodyBytes = m_options.maxBodyBytes;
    connectionLimits();
    // Refusals of a request's head carry the same type, param (the header field at fault) and code as
    // those of its fields after httplib has read it (RequestScreen): a Content-Length refused at either
    // level reads the same.
    auto refusal = [](int status, const std::string& message, const std::string& param) {
        const char* code = status == 408 ? "request_timeout" : status == 431 ? "header_fields_too_large"
                         : status == 503 || status == 429 ? "too_many_connections" : status == 501 ? "unsupported_method"
                         : status == 505 ? "unsupported_http_version" : status == 414 ? "uri_too_long" : "malformed_request";
        const char* type = status == 503 ? errtype::kServer : status == 429 ? errtype::kRateLimit : errtype::kInvalidRequest;
        return dumpJson(ApiError(status, message, type, param, code).body());
    };
    m_http = std::make_unique<GuardedHttpServer>(head, threads, refusal, m_options.maxConnections, m_options.maxConnectionsPerClient);
    m_http->set_payload_max_length(m_options.maxBodyBytes);
    m_http->setStreamWriteTimeout(m_options.streamWriteTimeout);
    // httplib's default listening socket takes SO_REUSEPORT, with which a second server binds the same
    // port as well and the kernel splits the connections between the two (each with its own model).
    // SO_REUSEADDR alone still lets a restarted server take a port whose old connections linger.
    m_http->set_socket_options([](socket_t sock) {
        int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
    });
    if (m_options.limits.contextLength <= 0)
        m_options.limits.contextLength = session.contextLength();
    m_http->set_keep_alive_timeout(2);  // what the Keep-Alive header announces: HeadLimits::idleSeconds
    routes();
}

OpenAiServer::~OpenAiServer()
{
    m_http->halt();
    m_scheduler->stop(true);
}

void OpenAiServer::connectionLimits()
{
    // Each connection is a file descriptor: connections past what RLIMIT_NOFILE leaves would make the
    // process fail to open anything else (an adapter's files, the store) and accept() spin on EMFILE.
    size_t descriptors = ConnectionLimiter::descriptorLimit();
    size_t& most = m_options.maxConnections;
    if (most == 0)
        most = descriptors ? std::max<size_t>(1, ConnectionLimiter::fitting(descriptors)) : 4096;
    else if (descriptors && ConnectionLimiter::fitting(descriptors) < most) {
        const size_t needed = most + ConnectionLimiter::kReservedDescriptors + ConnectionLimiter::kMaxRefusing;
        descriptors = ConnectionLimiter::raiseDescriptorLimit(needed);
        if (descriptors && ConnectionLimiter::fitting(descriptors) < most)
            throw Error("--max-connections " + std::to_string(most) + ": the process may open only " + std::to_string(descriptors) +
                        " files (ulimit -n), which leaves room for " + std::to_string(ConnectionLimiter::fitting(descriptors)) +
                        " connections besides the model's own files; lower --max-connections or raise the limit to " +
                        std::to_string(needed) + " (ulimit -n " + std::to_string(needed) + ")");
    }
    size_t& perClient = m_options.maxConnectionsPerClient;
    if (perClient == 0)
        perClient = std::max<size_t>(1, most / 2);
    else if (perClient > most)
        throw Error("--max-connections-per-client " + std::to_string(perClient) + ": more than the " + std::to_string(most) +
                    " connections the server takes in all (--max-connections)");
}

void OpenAiServer::addAdapter(const std::string& name, const std::string& argument)
{
    if (name.empty())
        throw Error("--adapter: expected NAME=DIR or NAME=task@vN, found '=" + argument + "'");
    if (name == m_options.servedModelName)
        throw Error("adapter name '" + name + "' is the base model's name; choose another");
    AdapterSource src;
    try {
        src = resolve(argument);
    } catch (const Error& e) {
        throw Error("--adapter " + name + "=" + argument + ": " + e.message(), e.hint());
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    m_session.loadAdapter(name, src.path);
    m_adapters[name] = {src.path, src.weight, static_cast<int64_t>(std::time(nullptr))};
}

int OpenAiServer::bind()
{
    if (m_options.port == 0) {
        const int port = m_http->bind_to_any_port(m_options.host);
        if (port < 0)
            throw Error("serve: cannot listen on " + m_options.host + " (any port)");
        m_http->widenListenBacklog();
        return port;
    }
    if (!m_http->bind_to_port(m_options.host, m_options.port))
        throw Error("serve: cannot listen on " + m_options.host + ":" + std::to_string(m_options.port) +
                    " (in use, or not an address of this machine)");
    m_http->widenListenBacklog();
    return m_options.port;
}

void OpenAiServer::serve() { m_http->listen_after_bind(); }

void OpenAiServer::shutdown(double graceSeconds)
{
    // httplib's stop() cuts streaming responses short, so it comes last: first new requests are
    // refused, running ones get the grace period, the rest are cancelled and their streams end
    // properly (finish_reason "abort", then [DONE]).
    m_stopping = true;
    auto waitIdle = [this](double seconds) {
        const auto until = Clock::now() + std::chrono::duration<double>(seconds);
        while (m_active.load() > 0 && Clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    };
    waitIdle(graceSeconds);
    m_scheduler->stop(true);
    waitIdle(5.0);  // the cancelled responses are written out (bounded: a client may not read)
    m_http->halt();
}

engine::AdapterMix OpenAiServer::resolveModel(const std::string& model, std::shared_ptr<void>& use)
{
    if (model == m_options.servedModelName)
        return {};
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_adapters.find(model);
    if (it == m_adapters.end())
        throw ApiError(404, "the model '" + model + "' does not exist: GET /v1/models lists the base model and the loaded adapters",
                       errtype::kNotFound, "model", "model_not_found");
    // Counted from here, not from when the scheduler takes the request: a request still waiting for a
    // free row holds its adapter too.
    ++it->second.requests;
    use = std::shared_ptr<void>(nullptr, [this, model](void*) {
        std::lock_guard<std::mutex> relock(m_mutex);
        if (auto found = m_adapters.find(model); found != m_adapters.end())
            --found->second.requests;
    });
    return {{model, it->second.weight}};
}

AdapterSource OpenAiServer::resolve(const std::string& argument)
{
    // The resolver may open the store, whose connection serves one thread at a time.
    std::lock_guard<std::mutex> lock(m_resolveMutex);
    return m_resolver(argument);
}

void OpenAiServer::routes()
{
    httplib::Server& s = *m_http;
    // Runs before the body is read; so does the answer to "Expect: 100-continue", which is the refusal
    // itself where there is one (httplib invited the body first, and then refused it).
    auto screen = std::make_shared<RequestScreen>(m_options.apiKey, m_options.maxBodyBytes, kHealth);
    s.set_pre_routing_handler([this, screen](const httplib::Request& req, httplib::Response& res) {
        if (auto refusal = screen->refusal(req, m_stopping))
            return answerEarly(req, res, *refusal);
        return httplib::Server::HandlerResponse::Unhandled;
    });
    s.set_expect_100_continue_handler([this, screen](const httplib::Request& req, httplib::Response& res) {
        if (auto refusal = screen->refusal(req, m_stopping)) {
            answerEarly(req, res, *refusal);
            return refusal->status();
        }
        return 100;
    });
    s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.status < 400)
            return httplib::Server::HandlerResponse::Unhandled;
        std::string message = statusMessage(res.status);
        if (res.status == 404 || res.status == 405)
            message += ": " + req.method + " " + req.path;
        sendError(res, ApiError(res.status, message, res.status == 404 ? errtype::kNotFound : errtype::kInvalidRequest,
                                res.status == 413 ? "Content-Length" : "", statusCode(res.status)));
        return httplib::Server::HandlerResponse::Handled;
    }));
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
            std::rethrow_exception(ep);
        } catch (const ApiError& e) {
            sendError(res, e);
        } catch (const std::exception& e) {
            sendError(res, ApiError(500, "internal error: " + engine::errorText(e), errtype::kServer));
        }
    });
    if (m_options.logRequests)
        s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
            // One write per line: std::cerr is unbuffered, and pieces written from several threads interleaved.
            std::cerr << (logText(req.method) + " " + logText(req.path) + " " + std::to_string(res.status) + "\n") << std::flush;
        });
    auto guarded = [](auto fn) {
        return [fn](const httplib::Request& req, httplib::Response& res) {
            try {
                fn(req, res);
            } catch (const ApiError& e) {
                sendError(res, e);
            }
        };
    };
    // The POST routes read a JSON object: a body of another type (text/plain, as some clients send
    // JSON) is refused naming it, as FastAPI refuses it under vLLM, instead of being read as JSON.
    // Without a Content-Type the body is read as JSON (FastAPI's reading too).
    auto jsonBody = [guarded](auto fn) {
        return guarded([fn](const httplib::Request& req, httplib::Response& res) {
            const std::string type = mediaType(req.get_header_value("Content-Type"));
            if (!type.empty() && !isJsonMediaType(type))
                throw ApiError(415, "the request body's type (Content-Type: " + req.get_header_value("Content-Type") +
                                        ") is not JSON: send the request as a JSON object (Content-Type: application/json)",
                               errtype::kInvalidRequest, "Content-Type", "unsupported_media_type");
            fn(req, res);
        });
    };
    s.Post(kCompletions, jsonBody([this](const auto& req, auto& res) { handleGeneration(req, res, false); }));
    s.Post(kChatCompletions, jsonBody([this](const auto& req, auto& res) { handleGeneration(req, res, true); }));
    s.Get(kModels, guarded([this](const auto&, auto& res) { handleModels(res); }));
    // OpenAI's "retrieve model": one entry of the list.
    s.Get(kModelById, guarded([this](const auto& req, auto& res) { handleModel(req.matches[1].str(), res); }));
    s.Post(kLoadAdapter, jsonBody([this](const auto& req, auto& res) { handleLoad(req, res); }));
    s.Post(kUnloadAdapter, jsonBody([this](const auto& req, auto& res) { handleUnload(req, res); }));
    s.Get(kHealth, [](const auto&, auto& res) { res.set_content("{}", kJson); });
    // "OPTIONS *" asks what the server as a whole supports (RFC 9110 §9.3.7, a "ping"): 200 with the
    // methods its routes take in Allow (it was a 404 for a route named '*'; a 405 or 501 would say the
    // server refuses a request HTTP/1.1 defines for it). No key is asked (RequestScreen): it says nothing
    // about the models, as vLLM lets OPTIONS through its key check.
    s.Options(R"(\*)", [](const auto&, auto& res) { res.set_header("Allow", "GET, HEAD, POST"); });
    // A known route with a method it does not take (PUT, DELETE, PATCH, OPTIONS, or the other of GET
    // and POST): 405 naming the ones it takes, in the message and in Allow. A GET route takes HEAD too
    // (httplib answers HEAD with the GET handler, without the body).
    auto wrongMethod = [](const char* allowed) {
        return [allowed](const httplib::Request& req, httplib::Response& res) {
            res.set_header("Allow", allowed);
            sendError(res, ApiError(405, std::string("method not allowed: ") + req.method + " " + req.path + " (this route takes " +
                                             allowed + ")",
                                    errtype::kInvalidRequest, {}, statusCode(405)));
        };
    };
    for (const char* path : {kCompletions, kChatCompletions, kLoadAdapter, kUnloadAdapter}) {
        s.Options(path, wrongMethod("POST"));
        s.Get(path, wrongMethod("POST"));
        s.Put(path, wrongMethod("POST"));
        s.Delete(path, wrongMethod("POST"));
        s.Patch(path, wrongMethod("POST"));
    }
    for (const char* path : {kModels, kModelById, kHealth}) {
        s.Options(path, wrongMethod("GET, HEAD"));
        s.Post(path, wrongMethod("GET, HEAD"));
        s.Put(path, wrongMethod("GET, HEAD"));
        s.Delete(path, wrongMethod("GET, HEAD"));
        s.Patch(path, wrongMethod("GET, HEAD"));
    }
}

nlohmann::json OpenAiServer::baseEntry() const
{
    return {{"id", m_options.servedModelName}, {"object", "model"}, {"created", m_created}, {"owned_by", "rslora"},
            {"root", m_session.modelDir().string()}, {"parent", nullptr}};
}

nlohmann::json OpenAiServer::adapterEntry(const std::string& name, const Served& a) const
{
    return {{"id", name}, {"object", "model"}, {"created", a.created}, {"owned_by", "rslora"},
            {"root", a.path.string()}, {"parent", m_options.servedModelName}};
}

void OpenAiServer::handleModels(httplib::Response& res)
{
    json data = json::array();
    data.push_back(baseEntry());
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto& [name, a] : m_adapters)
        data.push_back(adapterEntry(name, a));
    res.set_content(dumpJson(json{{"object", "list"}, {"data", data}}), kJson);
}

void OpenAiServer::handleModel(const std::string& name, httplib::Response& res)
{
    if (name == m_options.servedModelName) {
        res.set_content(dumpJson(baseEntry()), kJson);
        return;
    }
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_adapters.find(name);
    if (it == m_adapters.end())
        throw ApiError(404, "the model '" + name + "' does not exist: GET /v1/models lists the base model and the loaded adapters",
                       errtype::kNotFound, "model", "model_not_found");
    res.set_content(dumpJson(adapterEntry(name, it->second)), kJson);
}

void OpenAiServer::handleLoad(const httplib::Request& req, httplib::Response& res)
{
    const json body = parseJsonObject(req.body);
    const std::string name = requiredString(body, "lora_name");
    const std::string path = requiredString(body, "lora_path");
    // JSON can carry a NUL (\u0000), a file path cannot: the system would read the path only up to it
    // and load another folder than the one named.
    if (path.find('\0') != std::string::npos)
        throw ApiError(400, "'lora_path': " + json(path).dump() + " holds a NUL character (\\u0000), which no file path can contain",
                       errtype::kInvalidRequest, "lora_path");
    if (name == m_options.servedModelName)
        throw ApiError(400, "'lora_name': '" + name + "' is the base model's name", errtype::kInvalidRequest, "lora_name");
    {
        // The name is taken before the load: a second load of it while the first runs gets the same
        // answer as one sent after it (a 400 adapter_exists), and the load does not hold m_mutex, so the
        // model list and other requests are answered meanwhile.
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_adapters.count(name))
            throw ApiError(400, "'lora_name': an adapter named '" + name + "' is already loaded (from " +
                                    m_adapters[name].path.string() + "); unload it first",
                           errtype::kInvalidRequest, "lora_name", "adapter_exists");
        if (!m_loading.insert(name).second)
            throw ApiError(400, "'lora_name': an adapter named '" + name + "' is being loaded by another request",
                           errtype::kInvalidRequest, "lora_name", "adapter_exists");
    }
    struct Reservation {
        OpenAiServer& server;
        const std::string& name;
        ~Reservation()
        {
            std::lock_guard<std::mutex> lock(server.m_mutex);
            server.m_loading.erase(name);
        }
    } reservation{*this, name};
    AdapterSource src;
    engine::LoadedAdapterInfo info;
    try {
        src = resolve(path);
        info = m_session.loadAdapter(name, src.path);
        std::lock_guard<std::mutex> lock(m_mutex);
        m_adapters[name] = {src.path, src.weight, static_cast<int64_t>(std::time(nullptr))};
    } catch (const Error& e) {
        throw ApiError(400, "'lora_path': " + e.message(), errtype::kInvalidRequest, "lora_path");
    } catch (const std::filesystem::filesystem_error& e) {
        // The path itself is unusable (longer than the system allows, ...): the client's error, not a 500.
        throw ApiError(400, "'lora_path': cannot use '" + path + "': " + e.code().message(), errtype::kInvalidRequest, "lora_path");
    }
    res.set_content(dumpJson({{"status", "ok"}, {"lora_name", name}, {"lora_path", src.path.string()}, {"rank", info.rank},
                              {"modules", info.modules}, {"load_seconds", info.loadSeconds}}),
                    kJson);
}

void OpenAiServer::handleUnload(const httplib::Request& req, httplib::Response& res)
{
    const json body = parseJsonObject(req.body);
    const std::string name = requiredString(body, "lora_name");
    // It was "no adapter named 'model' is loaded", as if the name were unknown.
    if (name == m_options.servedModelName)
        throw ApiError(400, "'lora_name': '" + name + "' is the base model, which stays loaded; name a loaded adapter",
                       errtype::kInvalidRequest, "lora_name");
    std::lock_guard<std::mutex> lock(m_mutex);
    auto it = m_adapters.find(name);
    if (it == m_adapters.end())
        throw ApiError(404, "'lora_name': no adapter named '" + name + "' is loaded", errtype::kNotFound, "lora_name",
                       "model_not_found");
    if (it->second.requests > 0)
        throw ApiError(409,
                       "'lora_name': " + std::to_string(it->second.requests) + " request(s) running or waiting use the adapter '" +
                           name + "'; unload it when they have finished",
                       errtype::kInvalidRequest, "lora_name", "adapter_in_use");
    try {
        m_session.unloadAdapter(name);
    } catch (const Error& e) {
        throw ApiError(409, e.message(), errtype::kInvalidRequest, "lora_name", "adapter_in_use");
    }
    m_adapters.erase(name);
    res.set_content(dumpJson(json{{"status", "ok"}, {"lora_name", name}}), kJson);
}

void OpenAiServer::handleGeneration(const httplib::Request& req, httplib::Response& res, bool chat)
{
    GenerationCall call = parseGenerationCall(req.body, chat, SessionPrompts(m_session), m_options.limits);
    if (!call.sampling.stopStrings.empty() && !m_session.tokenizer())
        throw ApiError(400, "'stop': stop strings are matched in the text, and the model folder " + m_session.modelDir().string() +
                                " has no tokenizer.json to turn its tokens into text",
                       errtype::kInvalidRequest, "stop");
    std::shared_ptr<void> adapterUse;
    const engine::AdapterMix mix = resolveModel(call.model, adapterUse);
    auto guard = std::make_unique<ActiveGuard>(m_active, m_options.maxConcurrent, static_cast<int>(call.prompts.size()));
    const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(m_nextId++);
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    const std::string model = call.model;
    const char* object = chat ? "chat.completion" : "text_completion";

    auto state = std::make_shared<StreamState>();
    state->ended.assign(call.prompts.size(), false);
    try {
        for (size_t i = 0; i < call.prompts.size(); ++i) {
            engine::GenerationRequest r;
            r.promptIds = call.prompts[i];
            r.adapters = mix;
            r.sampling = call.sampling;
            r.sampling.seed = call.seeds[i];
            r.sampling.maxNewTokens = call.maxNewTokens[i];
            r.cancel = state->cancel;
            if (call.stream) {
                std::weak_ptr<StreamState> weak = state;
                // Without a tokenizer (token-id models) every token still gets its (empty) chunk.
                const bool textless = m_session.tokenizer() == nullptr;
                r.onToken = [weak, i, textless](const engine::TokenEvent& e) {
                    auto st = weak.lock();
                    if (!st)
                        return false;
                    if (!e.text.empty() || textless) {
                        std::lock_guard<std::mutex> lock(st->mutex);
                        st->pieces.emplace_back(i, e.text);
                    }
                    st->wake.notify_all();
                    return !st->cancel->load();
                };
            }
            state->promptTokens += static_cast<int64_t>(r.promptIds.size());
            state->futures.push_back(m_scheduler->submit(std::move(r)));
        }
    } catch (const Error& e) {
        state->cancel->store(true);
        // The scheduler takes no more requests once shutdown() has begun.
        if (m_stopping)
            throw ApiError(503, "the server is shutting down", errtype::kServer, {}, "shutting_down");
        throw ApiError(400, e.message());
    }
    state->client = std::make_unique<ClientConnection>(GuardedHttpServer::servedSocket());

    if (!call.stream) {
        json choices = json::array();
        int64_t completion = 0;
        for (size_t i = 0; i < state->futures.size(); ++i) {
            // A client that hung up is not waited for: its generations are cancelled.
            while (state->futures[i].wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
                if (!state->cancel->load() && state->client->closed())
                    state->cancel->store(true);
            engine::GenerationOutput out;
            try {
                out = state->futures[i].get();
            } catch (const std::exception& e) {
                state->cancel->store(true);
                throw ApiError(500, "generation failed: " + engine::errorText(e), errtype::kServer);
            }
            completion += static_cast<int64_t>(out.tokens.size());
            json choice = {{"index", i}, {"finish_reason", finishReason(out.reason)}};
            if (chat)
                choice["message"] = {{"role", "assistant"}, {"content", out.text}};
            else {
                choice["text"] = out.text;
                choice["logprobs"] = nullptr;
            }
            if (!out.stopString.empty())
                choice["stop_reason"] = out.stopString;
            choices.push_back(choice);
        }
        json body = {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"choices", choices},
                     {"usage", {{"prompt_tokens", state->promptTokens}, {"completion_tokens", completion},
                                {"total_tokens", state->promptTokens + completion}}}};
        res.set_content(dumpJson(body), kJson);
        return;
    }

    state->guard = std::move(guard);
    state->adapterUse = std::move(adapterUse);
    const bool includeUsage = call.includeUsage;
    const char* chunkObject = chat ? "chat.completion.chunk" : "text_completion";
    // With stream_options.include_usage every chunk carries "usage", null but in the last one (OpenAI's
    // reference: "All other chunks will also include a usage field, but with a null value").
    auto event = [=](json choices) {
        json e = {{"id", id}, {"object", chunkObject}, {"created", created}, {"model", model}, {"choices", std::move(choices)}};
        if (includeUsage)
            e["usage"] = nullptr;
        return e;
    };
    auto chunk = [=](size_t index, const std::string& text, const char* finish, const std::string& stopString = {}) {
        json choice = {{"index", index}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
        // The stop string that ended the choice, in its last chunk as in the whole answer (vLLM's
        // stop_reason): a streaming client could not tell which of its stop strings had matched.
        if (!stopString.empty())
            choice["stop_reason"] = stopString;
        if (chat)
            choice["delta"] = text.empty() && finish ? json::object() : json{{"content", text}};
        else {
            choice["text"] = text;
            choice["logprobs"] = nullptr;
        }
        return sse(event(json::array({choice})));
    };
    res.set_header("Cache-Control", "no-cache");
    const httplib::ContentProviderWithoutLength events = [=](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
            if (!sink.write(s.data(), s.size())) {
                state->cancel->store(true);  // the client went away
                return false;
            }
            return true;
        };
        if (chat && !state->sentRole) {
            state->sentRole = true;
            for (size_t i = 0; i < state->futures.size(); ++i) {
                json choice = {{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}};
                if (!write(sse(event(json::array({choice})))))
                    return false;
            }
        }
        // Which choices have ended, seen before taking the text: their last pieces are in.
        std::vector<bool> ready(state->futures.size(), false);
        {
            std::unique_lock<std::mutex> lock(state->mutex);
            state->wake.wait_for(lock, std::chrono::milliseconds(20), [&] { return !state->pieces.empty(); });
        }
        for (size_t i = 0; i < state->futures.size(); ++i)
            ready[i] = !state->ended[i] && state->futures[i].wait_for(std::chrono::seconds(0)) == std::future_status::ready;
        std::deque<std::pair<size_t, std::string>> pieces;
        {
            std::lock_guard<std::mutex> lock(state->mutex);
            pieces.swap(state->pieces);
        }
        if (pieces.empty() && state->client->closed())
            // Gone while nothing was written (the text is held back for a long stop string, or the
            // request waits for a free row): no write would fail to tell. The generation is cancelled
            // and the stream still ended properly (finish_reason "abort", [DONE]), as a non-streamed
            // answer is: a client that only shut down its sending side (a half-close) reads on, and
            // got a chunked stream cut off without its end. Writes to a client that is really gone fail.
            state->cancel->store(true);
        for (const auto& [i, text] : pieces)
            if (!write(chunk(i, text, nullptr)))
                return false;
        for (size_t i = 0; i < ready.size(); ++i) {
            if (!ready[i])
                continue;
            state->ended[i] = true;
            try {
                auto out = state->futures[i].get();
                state->completionTokens += static_cast<int64_t>(out.tokens.size());
                if (!write(chunk(i, "", finishReason(out.reason), out.stopString)))
                    return false;
            } catch (const std::exception& e) {
                if (!write(sse(ApiError(500, "generation failed: " + engine::errorText(e), errtype::kServer).body())))
                    return false;
            }
        }
        if (std::all_of(state->ended.begin(), state->ended.end(), [](bool b) { return b; })) {
            // Every generation has ended: the request's places (--max-concurrent) and its adapter are
            // given back before the client can read the end, since it may send its next request (or
            // unload the adapter) at once. They were held until the response was destroyed, after
            // the last byte had gone out, and such a next request could get a 429 (or a 409).
            state->guard.reset();
            state->adapterUse.reset();
            if (includeUsage) {
                json usage = {{"prompt_tokens", state->promptTokens}, {"completion_tokens", state->completionTokens},
                              {"total_tokens", state->promptTokens + state->completionTokens}};
                json last = event(json::array());
                last["usage"] = usage;
                if (!write(sse(last)))
                    return false;
            }
            if (!write("data: [DONE]\n\n"))
                return false;
            sink.done();
        }
        return true;
    };
    // Finished or abandoned: a generation still running for this response stops.
    const httplib::ContentProviderResourceReleaser release = [state](bool) { state->cancel->store(true); };
    if (req.version == "HTTP/1.0") {
        // An HTTP/1.0 client does not know chunked transfer coding (RFC 9112 §6.1: not sent to it); the
        // stream is then ended by closing the connection. It was sent chunked, the chunk sizes read as text.
        closeAfter(req, res);
        res.set_content_provider("text/event-stream", events, release);
    } else
        res.set_chunked_content_provider("text/event-stream", events, release);
}

} // namespace rslora::serve
