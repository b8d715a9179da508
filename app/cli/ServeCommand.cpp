// `rslora serve`: the base model resident behind an OpenAI-compatible HTTP API, with adapters chosen
// per request by the `model` field and loaded/unloaded at runtime (app/serve/OpenAiServer).
// SIGTERM or Ctrl-C: stop listening, let running requests finish for --shutdown-grace seconds,
// cancel the rest, exit 0.
#include "app/cli/Commands.h"
#include "app/cli/FiniteRange.h"
#include "app/cli/StorageCli.h"

#include "app/serve/OpenAiServer.h"
#include "app/shared/AdapterReference.h"
#include "common/Error.h"
#include "engine/Runtime.h"
#include "engine/generation/GenerationSession.h"
#include "models/ModelConfig.h"
#include "models/ModelLoader.h"

#include <csignal>
#include <cerrno>
#include <unistd.h>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace rslora::cli {
namespace {

struct ServeArgs {
    std::string dir, device = "cpu", dtype = "auto";
    std::vector<std::string> adapters;
    serve::ServeOptions options;
    double graceSeconds = 5.0;
    bool quiet = false;
    storecli::Common store;
};

// SIGTERM and SIGINT are handled whatever thread they reach (LibTorch and OpenMP may have started
// threads before the server, so a blocked mask cannot be relied on): the handler only writes the
// signal number to a pipe the main thread waits on. Later signals are ignored while shutting down.
int g_signalPipe[2] = {-1, -1};

extern "C" void onServeSignal(int sig)
{
    const unsigned char byte = static_cast<unsigned char>(sig);
    [[maybe_unused]] const ssize_t n = ::write(g_signalPipe[1], &byte, 1);
}

int waitForStopSignal()
{
    unsigned char byte = 0;
    while (::read(g_signalPipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    return byte;
}

// An adapter argument that names something on disk other than a folder (a file, such as the adapter's
// own adapter_config.json, or a symbolic link to nothing) is refused saying so. A ":WEIGHT" suffix
// is looked through.
void refuseNonFolder(const std::string& argument)
{
    std::vector<std::string> candidates{argument};
    if (const auto colon = argument.rfind(':'); colon != std::string::npos && colon > 0)
        candidates.push_back(argument.substr(0, colon));
    for (const auto& candidate : candidates) {
        std::error_code ec;
        const fs::path path(candidate);
        const fs::file_status link = fs::symlink_status(path, ec);
        if (ec || !fs::exists(link) || fs::is_directory(path, ec))
            continue;
        if (fs::is_symlink(link) && !fs::exists(path, ec))
            throw Error("'" + argument + "' is a symbolic link to " + fs::read_symlink(path, ec).string() +
                        ", which does not exist; expected an adapter folder");
        const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
        const std::string name = path.filename().string();
        const bool adapterFile = name == "adapter_config.json" || name == "adapter_model.safetensors" || name == "adapter_model.bin";
        throw Error("'" + argument + "' is a file, not an adapter folder" +
                    (adapterFile ? "; give the folder that holds it, " + folder.string()
                                 : "; expected a folder holding adapter_config.json and adapter_model.safetensors"));
    }
}

void runServe(ServeArgs& a)
{
    std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-stream is a failed write, not an exit
    engine::applyThreadSettings({});
    models::LoadOptions load;
    // Named with their options ("unknown dtype 'foo'" did not say which option held it).
    try {
        load.device = models::parseDevice(a.device);
    } catch (const Error& e) {
        throw Error("--device: " + e.message(), e.hint());
    }
    if (!a.dtype.empty() && a.dtype != "auto") {
        try {
            load.dtype = models::parseDtype(a.dtype);
        } catch (const Error& e) {
            throw Error("--dtype: " + e.message() + "; or auto, the model's own", e.hint());
        }
    }
    if (!fs::is_directory(a.dir))
        throw Error("serve: expected a model folder at " + a.dir + ", found " + (fs::exists(a.dir) ? "a file" : "nothing"));
    engine::GenerationSession session(a.dir, load);
    a.options.logRequests = !a.quiet;
    if (a.options.limits.contextLength > session.contextLength())
        std::cerr << "serve: warning: --max-model-len " << a.options.limits.contextLength
                  << " is longer than the model's max_position_embeddings (" << session.contextLength()
                  << "); text past that position may degrade\n";

    std::unique_ptr<storage::Store> store;
    serve::AdapterResolver resolver = [&](const std::string& argument) {
        app::ResolvedAdapter r;
        try {
            r = app::resolveAdapterArgument(argument, nullptr, "");  // a folder needs no store
        } catch (const Error&) {
            if (!store)
                store = storecli::openStore(a.store);
            try {
                // Named as given: the same resolver answers --adapter at start-up and lora_path requests.
                r = app::resolveAdapterArgument(argument, store.get(), "");
            } catch (const Error&) {
                // A file or a broken link was reported as "no such folder and no stored version".
                refuseNonFolder(argument);
                throw;
            }
        }
        return serve::AdapterSource{r.path, r.weight};
    };
    serve::OpenAiServer server(session, a.options, resolver);
    for (const auto& spec : a.adapters) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
            throw Error("--adapter: expected NAME=DIR or NAME=task@vN, found '" + spec + "'");
        server.addAdapter(spec.substr(0, eq), spec.substr(eq + 1));
    }
    const int port = server.bind();
    // Until here a signal ends the process at once (the default), so that Ctrl-C stops a long load;
    // from here on it shuts the server down gracefully.
    if (::pipe(g_signalPipe) != 0)
        throw Error("serve: cannot create the signal pipe");
    struct sigaction action {};
    action.sa_handler = onServeSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    std::thread listener([&] { server.serve(); });
    // An IPv6 address is bracketed in a URL (RFC 3986 §3.2.2): http://[::1]:8000/v1.
    const bool ipv6 = a.options.host.find(':') != std::string::npos;
    std::cout << "listening on http://" << (ipv6 ? "[" : "") << a.options.host << (ipv6 ? "]" : "") << ":" << port << "/v1 (model '"
              << (a.options.servedModelName.empty() ? fs::path(a.dir).filename().string() : a.options.servedModelName)
              << "', " << a.adapters.size() << " adapter(s))" << std::endl;
    const int sig = waitForStopSignal();
    std::ostringstream stopping;  // written at once: request log lines may be written meanwhile
    stopping << "serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", finishing running requests (up to " << a.graceSeconds << " s)\n";
    std::cerr << stopping.str() << std::flush;
    server.shutdown(a.graceSeconds);
    listener.join();
    std::cerr << "serve: stopped\n";
}

} // namespace

void registerServeCommand(CLI::App& app)
{
    auto a = std::make_shared<ServeArgs>();
    auto* cmd = app.add_subcommand(
        "serve",
        "Serve a model over an OpenAI-compatible HTTP API, adapters chosen per request by `model`.\n"
        "Routes: POST /v1/completions, POST /v1/chat/completions (both with \"stream\": true as server-sent events\n"
        "ending 'data: [DONE]'), GET /v1/models (the base and every loaded adapter), GET /v1/models/NAME,\n"
        "POST /v1/load_lora_adapter {\"lora_name\", \"lora_path\"}, POST /v1/unload_lora_adapter {\"lora_name\"},\n"
        "GET /health, OPTIONS * (200 with Allow). Request fields: model, prompt (text, texts or token ids) or\n"
        "messages, max_tokens (max_completion_tokens), temperature (default 1; below 1e-5 greedy), top_p, top_k,\n"
        "repetition_penalty, seed, stop (up to 4), min_tokens, logit_bias, ignore_eos, stream,\n"
        "stream_options.include_usage; n must be 1, and fields that cannot be honoured (tools, response_format other\n"
        "than text, ...) are refused. Errors are 4xx with {\"error\": {\"message\", \"type\", \"param\", \"code\"}}. Requests\n"
        "running together are decoded as one batch whatever their adapters; a client that hangs up cancels its\n"
        "generation. SIGTERM or Ctrl-C stops listening, lets running requests finish for --shutdown-grace seconds,\n"
        "cancels the rest (finish_reason \"abort\") and exits 0.");
    cmd->add_option("DIR", a->dir, "Hugging Face model folder (the base, loaded once)")->required();
    cmd->add_option("--adapter", a->adapters,
                    "NAME=DIR or NAME=task@vN[:WEIGHT]: serve a PEFT adapter (a folder or a stored version) as model NAME (repeatable)");
    cmd->add_option("--host", a->options.host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", a->options.port, "Port (0: any free port, printed at start)")->capture_default_str()->check(CLI::Range(0, 65535));
    cmd->add_option("--api-key", a->options.apiKey, "Require 'Authorization: Bearer KEY' on every request but GET /health");
    cmd->add_option("--served-model-name", a->options.servedModelName, "The base model's name in `model` (default: the folder's name)");
    cmd->add_option("--max-body-bytes", a->options.maxBodyBytes, "Largest request body (413 above)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    cmd->add_option("--max-prompt-tokens", a->options.limits.maxPromptTokens, "Longest prompt in tokens (400 above)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_option("--max-model-len", a->options.limits.contextLength,
                    "Context length: prompt plus max_tokens may not exceed it (400 above); a request without max_tokens\n"
                    "gets the room left (default: the model's max_position_embeddings)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    cmd->add_option("--max-tokens", a->options.limits.maxTokens, "Largest max_tokens a request may ask (400 above)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_option("--max-concurrent", a->options.maxConcurrent, "Requests generating at once (429 above)")->capture_default_str()->check(CLI::Range(1, 4096));
    cmd->add_option("--max-batch", a->options.maxBatch, "Rows decoded together; more requests wait for a free row")->capture_default_str()->check(CLI::Range(1, 1024));
    cmd->add_option("--header-timeout", a->options.headerTimeout,
                    "Seconds a request's line and header fields may take to arrive (408 after); a client sending\n"
                    "slowly holds no worker thread meanwhile")->capture_default_str()->check(finiteIn(0.1, 3600));
    cmd->add_option("--stream-write-timeout", a->options.streamWriteTimeout,
                    "Seconds a streamed answer waits for a client that has stopped reading before it is cut off, its\n"
                    "generation cancelled and its --max-concurrent places given back, as nginx's send_timeout (0: as long\n"
                    "as the client keeps its connection open, so a client that never reads holds its places; other\n"
                    "answers wait 5 s)")
        ->capture_default_str()->check(finiteIn(0, 86400));
    cmd->add_option("--max-header-fields", a->options.maxHeaderFields, "Most header fields a request may have (431 above)")->capture_default_str()->check(CLI::Range(1, 100000));
    cmd->add_option("--max-connections", a->options.maxConnections,
                    "Client connections open at once, idle ones included; a connection over it is answered 503 with\n"
                    "Retry-After and closed (default: what the open-file limit, ulimit -n, leaves after 128 for the\n"
                    "model, the adapters and the store)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 24));
    cmd->add_option("--max-connections-per-client", a->options.maxConnectionsPerClient,
                    "Connections open at once from one client address (an IPv6 one by its /64), so that one client\n"
                    "cannot take them all; over it 429 with Retry-After (default: half of --max-connections; behind a\n"
                    "reverse proxy, whose connections all come from one address, set it to --max-connections)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 24));
    cmd->add_option("--shutdown-grace", a->graceSeconds, "Seconds running requests may finish after SIGTERM")->capture_default_str()->check(finiteIn(0, 3600));
    cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
    cmd->add_option("--dtype", a->dtype, "auto, float32, bfloat16 or float16")->capture_default_str();
    cmd->add_option("--db", a->store.db, "Experiment database for task@vN adapters (default: $RSLORA_DB, else <data folder>/workbench.sqlite)");
    cmd->add_flag("--quiet", a->quiet, "Do not log each request to stderr");
    cmd->callback([a] { runServe(*a); });
}

} // namespace rslora::cli
