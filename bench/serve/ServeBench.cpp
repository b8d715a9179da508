// Serving benchmark (not run by CI): `rslora serve`'s server in-process on a free localhost port,
// a random model of a benchmark shape (default SmolLM-135M's), r16 all-linear adapters. Measures
// adapter swap time (load from disk + unload), and with 1, 4, 16 concurrent streaming clients:
// generated tokens/s and time to first token, all clients on one adapter vs each on its own.
// `--engine-only`: no HTTP; the session generates one batch of `clients` rows that start and end
// together (no joins, no leaves), all on one adapter vs one per row, `--repeats` times each,
// alternating: the decoding cost of a mixed batch without the scheduling noise of arrivals.
// Usage: rslora-serve-bench [--shape 135m] [--clients 1,4,16] [--new-tokens 32] [--prompt-tokens 16]
//                           [--requests 2] [--rank 16] [--swaps 5] [--swap-only] [--engine-only]
//                           [--repeats 3] [--json]
#include "app/serve/OpenAiServer.h"
#include "common/ProcessEnvironment.h"
#include "engine/AdapterSet.h"
#include "engine/EngineBench.h"
#include "engine/PeftAdapterIO.h"
#include "engine/Runtime.h"
#include "engine/generation/GenerationSession.h"
#include "models/CausalLM.h"
#include "models/ModelLoader.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

using namespace rslora;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Phase {
    int clients = 0;
    bool mixed = false;
    double tokensPerSecond = 0, ttftMedian = 0, ttftMax = 0;
    int64_t tokens = 0;
};

} // namespace

int main(int argc, char** argv)
{
    rslora::ensureProcessEnvironment(argv); // passive OpenMP waits, as the rslora executables run
    std::string shape = "135m", clientList = "1,4,16";
    int newTokens = 32, promptTokens = 16, requests = 2, rank = 16, swaps = 5;
    int repeats = 3;
    bool asJson = false, swapOnly = false, engineOnly = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc)
                throw std::runtime_error(a + " needs a value");
            return std::string(argv[++i]);
        };
        if (a == "--shape") shape = next();
        else if (a == "--clients") clientList = next();
        else if (a == "--new-tokens") newTokens = std::stoi(next());
        else if (a == "--prompt-tokens") promptTokens = std::stoi(next());
        else if (a == "--requests") requests = std::stoi(next());
        else if (a == "--rank") rank = std::stoi(next());
        else if (a == "--swaps") swaps = std::max(1, std::stoi(next()));
        else if (a == "--swap-only") swapOnly = true;
        else if (a == "--engine-only") engineOnly = true;
        else if (a == "--repeats") repeats = std::max(1, std::stoi(next()));
        else if (a == "--json") asJson = true;
        else {
            std::cerr << "unknown option " << a << "\n";
            return 2;
        }
    }
    std::vector<int> clientCounts;
    {
        std::stringstream in(clientList);
        std::string item;
        while (std::getline(in, item, ','))
            clientCounts.push_back(std::stoi(item));
    }
    const int maxClients = *std::max_element(clientCounts.begin(), clientCounts.end());
    engine::applyThreadSettings({});
    const models::ModelConfig config = engine::benchShape(shape);
    const fs::path tmp = fs::temp_directory_path() / ("rslora-serve-bench-" + std::to_string(::getpid()));
    fs::create_directories(tmp);

    // Adapters: r16 on every linear projection, B random so that they are not no-ops.
    {
        auto donor = models::createCausalLM(config, 7);
        engine::AdapterSet set(*donor);
        for (int i = 0; i < maxClients; ++i) {
            engine::AdapterConfig c;
            c.name = "a" + std::to_string(i);
            c.rank = rank;
            c.alpha = 2.0 * rank;
            c.targetModules = {"all-linear"};
            set.addAdapter(c, 100 + static_cast<uint64_t>(i));
            torch::NoGradGuard ng;
            for (const auto& m : set.modules())
                if (m.module->hasAdapter(c.name))
                    m.module->adapter(c.name).factorB().normal_(0.0, 0.01);
            engine::savePeftAdapter(set, c.name, c, tmp / c.name);
        }
    }
    engine::GenerationSession session(models::createCausalLM(config, 1234), std::nullopt, "random-" + shape);

    // Swap time: load from disk and unload, --swaps times.
    std::vector<double> loads, unloads;
    for (int i = 0; i < swaps; ++i) {
        const auto info = session.loadAdapter("swap", tmp / "a0");
        loads.push_back(info.loadSeconds);
        const auto t = Clock::now();
        session.unloadAdapter("swap");
        unloads.push_back(since(t));
    }

    auto printSwap = [&] {
        std::printf("adapter swap: load %.1f ms, unload %.1f ms (median of %d)\n", 1e3 * median(loads), 1e3 * median(unloads), swaps);
    };
    if (swapOnly) {
        printSwap();
        fs::remove_all(tmp);
        return 0;
    }
    // Client c's r-th prompt: promptTokens ids spread over the vocabulary.
    auto promptFor = [&](int c, int r) {
        std::vector<int64_t> ids;
        for (int t = 0; t < promptTokens; ++t)
            ids.push_back((c * 7919 + r * 31 + t * 104729 + 17) % config.vocabSize);
        return ids;
    };
    if (engineOnly) {
        for (int i = 0; i < maxClients; ++i)
            session.loadAdapter("a" + std::to_string(i), tmp / ("a" + std::to_string(i)));
        nlohmann::json rows = nlohmann::json::array();
        if (!asJson) {
            printSwap();
            std::printf("engine only: one batch per run, %d new tokens after %d prompt tokens, %d thread(s), best of %d\n",
                        newTokens, promptTokens, torch::get_num_threads(), repeats);
            std::printf("%8s %16s %16s %14s\n", "rows", "one for all t/s", "one per row t/s", "mixed/single");
        }
        for (int rowsInBatch : clientCounts) {
            double best[2] = {0, 0};
            for (int rep = 0; rep < repeats; ++rep)
                for (int mixed = 0; mixed < 2; ++mixed) {
                    std::vector<engine::GenerationRequest> batch;
                    for (int c = 0; c < rowsInBatch; ++c) {
                        engine::GenerationRequest r;
                        r.promptIds = promptFor(c, 0);
                        r.adapters = {{mixed ? "a" + std::to_string(c) : std::string("a0"), 1.0}};
                        r.sampling.maxNewTokens = newTokens;
                        r.sampling.ignoreEos = true;
                        batch.push_back(std::move(r));
                    }
                    const auto t0 = Clock::now();
                    int64_t tokens = 0;
                    for (const auto& out : session.generate(std::move(batch)))
                        tokens += static_cast<int64_t>(out.tokens.size());
                    best[mixed] = std::max(best[mixed], tokens / since(t0));
                }
            rows.push_back({{"rows", rowsInBatch}, {"single_tokens_per_second", best[0]}, {"mixed_tokens_per_second", best[1]}});
            if (!asJson)
                std::printf("%8d %16.1f %16.1f %14.2f\n", rowsInBatch, best[0], best[1], best[1] / best[0]);
        }
        if (asJson)
            std::cout << nlohmann::json{{"shape", shape}, {"rank", rank}, {"new_tokens", newTokens}, {"prompt_tokens", promptTokens},
                                        {"threads", torch::get_num_threads()}, {"repeats", repeats}, {"engine_only", rows}}.dump(2)
                      << "\n";
        fs::remove_all(tmp);
        return 0;
    }
    serve::ServeOptions options;
    options.port = 0;
    options.logRequests = false;
    options.maxBatch = static_cast<size_t>(maxClients);
    options.limits.maxTokens = newTokens;
    serve::OpenAiServer server(session, options, [](const std::string& p) { return serve::AdapterSource{p, 1.0}; });
    for (int i = 0; i < maxClients; ++i)
        server.addAdapter("a" + std::to_string(i), (tmp / ("a" + std::to_string(i))).string());
    const int port = server.bind();
    std::thread listener([&] { server.serve(); });

    auto runPhase = [&](int clients, bool mixed) {
        Phase ph;
        ph.clients = clients;
        ph.mixed = mixed;
        std::vector<double> ttft;
        std::mutex m;
        std::vector<std::thread> threads;
        const auto start = Clock::now();
        for (int c = 0; c < clients; ++c)
            threads.emplace_back([&, c] {
                httplib::Client client("127.0.0.1", port);
                client.set_read_timeout(600, 0);
                for (int r = 0; r < requests; ++r) {
                    const nlohmann::json prompt = promptFor(c, r);
                    nlohmann::json body = {{"model", mixed ? "a" + std::to_string(c) : std::string("a0")},
                                           {"prompt", prompt}, {"max_tokens", newTokens}, {"temperature", 0},
                                           {"ignore_eos", true}, {"stream", true}};
                    const auto sent = Clock::now();
                    double first = -1;
                    int64_t chunks = 0;
                    std::string pending;
                    httplib::Request req;
                    req.method = "POST";
                    req.path = "/v1/completions";
                    req.body = body.dump();
                    req.set_header("Content-Type", "application/json");
                    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
                        if (first < 0)
                            first = since(sent);
                        pending.append(data, len);
                        size_t at;
                        while ((at = pending.find("\n\n")) != std::string::npos) {
                            if (pending.compare(0, 6, "data: ") == 0 && pending.compare(6, 6, "[DONE]") != 0)
                                ++chunks;
                            pending.erase(0, at + 2);
                        }
                        return true;
                    };
                    auto res = client.send(req);
                    if (!res || res->status != 200) {
                        std::cerr << "request failed: " << (res ? std::to_string(res->status) : httplib::to_string(res.error())) << "\n";
                        continue;
                    }
                    std::lock_guard<std::mutex> lock(m);
                    ttft.push_back(first);
                    ph.tokens += chunks - 1;  // one chunk per token, then the finish chunk
                }
            });
        for (auto& t : threads)
            t.join();
        const double wall = since(start);
        ph.tokensPerSecond = wall > 0 ? ph.tokens / wall : 0;
        ph.ttftMedian = median(ttft);
        ph.ttftMax = ttft.empty() ? 0 : *std::max_element(ttft.begin(), ttft.end());
        return ph;
    };
    runPhase(1, false);  // warm-up
    std::vector<Phase> phases;
    for (int clients : clientCounts)
        for (bool mixed : {false, true})
            phases.push_back(runPhase(clients, mixed));
    server.shutdown(0);
    listener.join();
    fs::remove_all(tmp);

    nlohmann::json out = {{"shape", shape}, {"rank", rank}, {"new_tokens", newTokens}, {"prompt_tokens", promptTokens},
                          {"requests_per_client", requests}, {"threads", torch::get_num_threads()},
                          {"swap_load_seconds_median", median(loads)}, {"swap_unload_seconds_median", median(unloads)}};
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& p : phases)
        rows.push_back({{"clients", p.clients}, {"adapters", p.mixed ? "one per client" : "one for all"},
                        {"tokens_per_second", p.tokensPerSecond}, {"ttft_median_seconds", p.ttftMedian},
                        {"ttft_max_seconds", p.ttftMax}, {"tokens", p.tokens}});
    out["phases"] = rows;
    if (asJson) {
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::printf("shape %s, r%d all-linear adapters, %d new tokens, %d prompt tokens, %d request(s) per client, %d thread(s)\n",
                shape.c_str(), rank, newTokens, promptTokens, requests, torch::get_num_threads());
    printSwap();
    std::printf("%8s %-15s %10s %12s %12s\n", "clients", "adapters", "tokens/s", "TTFT med s", "TTFT max s");
    for (size_t i = 0; i < phases.size(); ++i) {
        const auto& p = phases[i];
        std::printf("%8d %-15s %10.1f %12.3f %12.3f", p.clients, p.mixed ? "one per client" : "one for all", p.tokensPerSecond,
                    p.ttftMedian, p.ttftMax);
        if (p.mixed && i > 0 && phases[i - 1].tokensPerSecond > 0)
            std::printf("   mixed/single %.2f", p.tokensPerSecond / phases[i - 1].tokensPerSecond);
        std::printf("\n");
    }
    return 0;
}
