// The resident generation session: a row of a mixed-adapter batch generates exactly what it
// generates alone with its adapter (and what models::generate gives on a freshly loaded model with
// that adapter, as `rslora generate` does); a swapped-in adapter equals a freshly loaded one; rows
// joining a running batch; seeded sampling; stop strings and streaming; checks and loads that do not
// wait behind a scheduler's steps; a byte-fallback tokenizer's byte runs streamed as the final text has them; refusals.
#include "ServeTestSupport.h"

#include "common/Error.h"
#include "engine/generation/GenerationBatch.h"
#include "engine/generation/GenerationScheduler.h"
#include "engine/generation/GenerationSession.h"
#include "models/CausalLM.h"
#include "models/Generator.h"
#include "models/ModelLoader.h"

#include <QTemporaryDir>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <future>
#include <numeric>
#include <thread>
#include <QtTest>

using namespace rslora;
using namespace rslora::engine;
namespace fs = std::filesystem;

namespace {

GenerationRequest request(std::vector<int64_t> prompt, AdapterMix adapters, int64_t maxNew = 12)
{
    GenerationRequest r;
    r.promptIds = std::move(prompt);
    r.adapters = std::move(adapters);
    r.sampling.maxNewTokens = maxNew;
    r.sampling.ignoreEos = true;
    return r;
}

std::string errorOf(const std::function<void()>& fn)
{
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

// The demo model, counting the prompt tokens its forwards read and setting `cancel` after the
// first: a Stop pressed while a long prompt's forward runs.
class StopDuringPrefill : public models::CausalLM {
public:
    StopDuringPrefill(std::unique_ptr<models::CausalLM> inner, std::shared_ptr<std::atomic<bool>> cancel)
        : models::CausalLM(inner->config()), m_cancel(std::move(cancel)) {
        m_inner = register_module("inner", std::shared_ptr<models::CausalLM>(std::move(inner)));
    }
    int64_t tokensRead = 0;
    models::ForwardOutput forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& positions,
                                  models::KVCache* cache, bool returnHidden) override {
        read(ids);
        return m_inner->forward(ids, mask, positions, cache, returnHidden);
    }
    torch::Tensor hiddenStates(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& positions,
                               models::KVCache* cache) override {
        read(ids);
        return m_inner->hiddenStates(ids, mask, positions, cache);
    }
    std::shared_ptr<models::LinearLayer> lmHead() override { return m_inner->lmHead(); }
    std::vector<models::LinearSlot> linearSlots() override { return m_inner->linearSlots(); }
    torch::Tensor embedTokens() override { return m_inner->embedTokens(); }
    std::vector<std::pair<std::string, torch::Tensor>> checkpointTensors() const override {
        return m_inner->checkpointTensors();
    }

private:
    void read(const torch::Tensor& ids) {
        tokensRead += ids.size(1);
        m_cancel->store(true);
    }
    std::shared_ptr<models::CausalLM> m_inner;
    std::shared_ptr<std::atomic<bool>> m_cancel;
};

// The demo model's weights under a byte-fallback tokenizer (as Llama 2's and Mistral's): ids 3..258 are
// the bytes <0x00>..<0xFF>, which its decoder reads run by run (a valid run is its characters, any
// other one replacement character per byte), the rest words.
void writeByteFallbackModel(const fs::path& dir)
{
    fs::create_directories(dir);
    for (const char* name : {"config.json", "generation_config.json", "model.safetensors"})
        fs::create_symlink(fs::absolute(servetest::demoModelDir() / name), dir / name);
    nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        vocab[name] = 3 + b;
    }
    for (int id = 259; id < 508; ++id)
        vocab["\u2581w" + std::to_string(id)] = id;
    nlohmann::json added = nlohmann::json::array();
    for (const auto& [token, id] : {std::pair<std::string, int>{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<pad>", 508}, {"<bos>", 509},
                                    {"<eos>", 510}}) {
        vocab[token] = id;
        added.push_back({{"id", id}, {"content", token}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                         {"normalized", false}, {"special", true}});
    }
    const nlohmann::json tokenizer = {
        {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
        {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}},
        {"pre_tokenizer", nullptr}, {"post_processor", nullptr},
        {"decoder", {{"type", "Sequence"},
                     {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                   {{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}}},
        {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
                   {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"vocab", vocab},
                   {"merges", nlohmann::json::array()}}}};
    std::ofstream(dir / "tokenizer.json") << tokenizer.dump();
    std::ofstream(dir / "tokenizer_config.json") << nlohmann::json{{"bos_token", "<bos>"}, {"eos_token", "<eos>"}}.dump();
}

} // namespace

class GenerationSessionTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path m_a, m_b, m_c;
    std::unique_ptr<GenerationSession> m_session;
    std::vector<std::vector<int64_t>> m_prompts;

private slots:
    void initTestCase()
    {
        torch::set_num_threads(1);
        if (!fs::exists(servetest::demoModelDir() / "config.json"))
            QFAIL(qPrintable(QString("the demo model is missing at ") + servetest::demoModelDir().c_str()));
        const fs::path root = m_tmp.path().toStdString();
        m_a = root / "a";
        m_b = root / "b";
        m_c = root / "c";
        servetest::makeAdapter(m_a, 11, 4, {"all-linear"});
        servetest::makeAdapter(m_b, 22, 8, {"all-linear"});
        servetest::makeAdapter(m_c, 33, 2, {"q_proj", "v_proj"}, 0.2);
        m_session = std::make_unique<GenerationSession>(servetest::demoModelDir());
        m_session->loadAdapter("a", m_a);
        m_session->loadAdapter("b", m_b);
        m_session->loadAdapter("c", m_c);
        m_prompts = {m_session->encode("The cat"), m_session->encode("Once upon a time there was"),
                     m_session->encode("Hello"), m_session->encode("A long sentence about rivers and"),
                     m_session->encode("Why")};
    }

    void adaptersChangeTheOutput()
    {
        // Otherwise the equalities below would prove nothing.
        auto base = m_session->generate(request(m_prompts[0], {}));
        auto a = m_session->generate(request(m_prompts[0], {{"a", 1.0}}));
        auto b = m_session->generate(request(m_prompts[0], {{"b", 1.0}}));
        QVERIFY(base.tokens != a.tokens);
        QVERIFY(base.tokens != b.tokens);
        QVERIFY(a.tokens != b.tokens);
        QCOMPARE(a.tokens.size(), size_t(12));
    }

    void mixedBatchRowsEqualRowsAlone()
    {
        const std::vector<AdapterMix> mixes = {{{"a", 1.0}}, {{"b", 1.0}}, {}, {{"c", 1.0}}, {{"a", 0.5}, {"c", 1.5}}};
        std::vector<GenerationRequest> batch;
        for (size_t i = 0; i < mixes.size(); ++i)
            batch.push_back(request(m_prompts[i], mixes[i]));
        auto together = m_session->generate(batch);
        QCOMPARE(together.size(), mixes.size());
        for (size_t i = 0; i < mixes.size(); ++i) {
            auto alone = m_session->generate(request(m_prompts[i], mixes[i]));
            QVERIFY2(together[i].tokens == alone.tokens, qPrintable(QString("row %1").arg(i)));
            QCOMPARE(together[i].text, alone.text);
            QCOMPARE(together[i].promptTokens, int64_t(m_prompts[i].size()));
        }
    }

    void rowAloneEqualsGenerateWithAFreshAdapter()
    {
        // What `rslora generate --adapter` does: a fresh model, the adapter attached, models::generate.
        auto model = models::loadCausalLM(servetest::demoModelDir());
        AdapterSet set(*model);
        loadPeftAdapter(set, m_b);
        model->eval();
        models::GenerationOptions o;
        o.maxNewTokens = 12;
        o.eosTokenIds = {-1};
        auto reference = models::generate(*model, {m_prompts[1]}, o);
        std::vector<GenerationRequest> batch = {request(m_prompts[0], {{"a", 1.0}}), request(m_prompts[1], {{"b", 1.0}})};
        auto together = m_session->generate(batch);
        QCOMPARE(together[1].tokens, reference.rows[0].tokens);
    }

    void swappedAdapterEqualsFreshlyLoaded()
    {
        GenerationSession fresh(servetest::demoModelDir());
        fresh.loadAdapter("x", m_b);
        // Swap adapters in and out of the resident session, then bring b back under another name.
        m_session->unloadAdapter("b");
        QVERIFY(!m_session->hasAdapter("b"));
        m_session->loadAdapter("tmp", m_c);
        m_session->unloadAdapter("tmp");
        m_session->loadAdapter("b2", m_b);
        for (double temperature : {0.0, 0.9}) {
            auto r1 = request(m_prompts[3], {{"b2", 1.0}});
            auto r2 = request(m_prompts[3], {{"x", 1.0}});
            r1.sampling.temperature = r2.sampling.temperature = temperature;
            r1.sampling.seed = r2.sampling.seed = 7;
            QCOMPARE(m_session->generate(r1).tokens, fresh.generate(r2).tokens);
        }
        m_session->unloadAdapter("b2");
        m_session->loadAdapter("b", m_b);
    }

    void rowsJoiningARunningBatch()
    {
        GenerationBatch batch(*m_session);
        std::map<int64_t, GenerationOutput> out;
        auto collect = [&] {
            for (auto& ended : batch.step())
                out[ended.id] = ended.output;
        };
        const int64_t first = batch.add(request(m_prompts[1], {{"a", 1.0}}, 10));
        collect();
        collect();
        collect();
        const int64_t second = batch.add(request(m_prompts[4], {{"b", 1.0}}, 6));
        const int64_t third = batch.add(request(m_prompts[2], {}, 14));
        while (!batch.empty())
            collect();
        QCOMPARE(out.size(), size_t(3));
        QCOMPARE(out[first].tokens, m_session->generate(request(m_prompts[1], {{"a", 1.0}}, 10)).tokens);
        QCOMPARE(out[second].tokens, m_session->generate(request(m_prompts[4], {{"b", 1.0}}, 6)).tokens);
        QCOMPARE(out[third].tokens, m_session->generate(request(m_prompts[2], {}, 14)).tokens);
    }

    void sampledRowsAreSeededPerRequest()
    {
        auto sampled = [&](const std::vector<int64_t>& prompt, AdapterMix mix, uint64_t seed) {
            auto r = request(prompt, std::move(mix), 16);
            r.sampling.temperature = 1.0;
            r.sampling.topK = 50;
            r.sampling.topP = 0.9;
            r.sampling.repetitionPenalty = 1.2;
            r.sampling.seed = seed;
            return r;
        };
        auto together = m_session->generate({sampled(m_prompts[0], {{"a", 1.0}}, 5), sampled(m_prompts[2], {{"c", 1.0}}, 6)});
        QCOMPARE(together[0].tokens, m_session->generate(sampled(m_prompts[0], {{"a", 1.0}}, 5)).tokens);
        QCOMPARE(together[1].tokens, m_session->generate(sampled(m_prompts[2], {{"c", 1.0}}, 6)).tokens);
        QVERIFY(m_session->generate(sampled(m_prompts[0], {{"a", 1.0}}, 5)).tokens
                != m_session->generate(sampled(m_prompts[0], {{"a", 1.0}}, 99)).tokens);
        // The same as models::generate with that seed on the base.
        auto model = models::loadCausalLM(servetest::demoModelDir());
        model->eval();
        models::GenerationOptions o;
        o.maxNewTokens = 16;
        o.eosTokenIds = {-1};
        o.temperature = 1.0;
        o.topK = 50;
        o.topP = 0.9;
        o.repetitionPenalty = 1.2;
        o.seed = 5;
        QCOMPARE(m_session->generate(sampled(m_prompts[0], {}, 5)).tokens, models::generate(*model, {m_prompts[0]}, o).rows[0].tokens);
    }

    void streamingAndStopStrings()
    {
        auto full = m_session->generate(request(m_prompts[1], {{"a", 1.0}}, 20));
        QVERIFY(full.text.size() > 6);
        // Stop at a piece of the text it generates: the output ends before it.
        const std::string stop = full.text.substr(full.text.size() / 2, 3);
        auto r = request(m_prompts[1], {{"a", 1.0}}, 20);
        r.sampling.stopStrings = {stop};
        std::string streamed;
        std::vector<int64_t> indices;
        r.onToken = [&](const TokenEvent& e) -> bool {
            indices.push_back(e.index);
            streamed += e.text;
            return true;
        };
        auto out = m_session->generate(r);
        QCOMPARE(out.reason, models::FinishReason::StopString);
        QCOMPARE(out.stopString, stop);
        QCOMPARE(out.text, full.text.substr(0, full.text.find(stop)));
        QCOMPARE(streamed, out.text);
        std::vector<int64_t> expected(out.tokens.size());
        std::iota(expected.begin(), expected.end(), 0);
        QCOMPARE(indices, expected);

        // Returning false from the callback cancels after that token.
        auto c = request(m_prompts[1], {{"a", 1.0}}, 20);
        c.onToken = [](const TokenEvent& e) { return e.index < 2; };
        auto cancelled = m_session->generate(c);
        QCOMPARE(cancelled.reason, models::FinishReason::Cancelled);
        QCOMPARE(cancelled.tokens.size(), size_t(3));
    }

    void byteTokensStreamTheFinalText()
    {
        // The stream sent an "é" once its two byte tokens had come; a third byte token made the run
        // invalid, and the final text (the run decoded whole) had three replacement characters there.
        // A stop string of U+FFFD also matched the placeholder of a character still arriving.
        const fs::path dir = fs::path(m_tmp.path().toStdString()) / "byte-fallback";
        writeByteFallbackModel(dir);
        GenerationSession session(dir);
        const std::string replacement = "\xEF\xBF\xBD";
        for (uint64_t seed = 0; seed < 12; ++seed) {
            auto r = request({5, 6, 7}, {}, 16);
            r.sampling.temperature = 1.5;
            r.sampling.seed = seed;
            r.sampling.logitBias = {{3 + 0xC3, 100.0}, {3 + 0xA9, 100.0}};
            if (seed >= 6)
                r.sampling.logitBias.push_back({300, 98.0});  // a word between runs now and then
            std::string streamed;
            r.onToken = [&](const TokenEvent& e) {
                streamed += e.text;
                return true;
            };
            const auto out = session.generate(r);
            QCOMPARE(streamed, out.text);
            r.onToken = nullptr;
            r.sampling.stopStrings = {replacement};
            const auto stopped = session.generate(r);
            const size_t at = out.text.find(replacement);
            QCOMPARE(stopped.text, out.text.substr(0, at));
            QCOMPARE(stopped.reason, at == std::string::npos ? models::FinishReason::Length : models::FinishReason::StopString);
        }
    }

    void checksAndLoadsDoNotWaitBehindSteps()
    {
        // A scheduler decodes a request whose third token holds its step until released, then
        // every token holds the step 20 ms.
        GenerationScheduler scheduler(*m_session);
        std::promise<void> release;
        std::shared_future<void> released = release.get_future().share();
        std::atomic<int> tokens{0};
        auto slow = request(m_prompts[1], {{"a", 1.0}}, 60);
        slow.onToken = [&](const TokenEvent&) {
            if (++tokens == 3)
                released.wait_for(std::chrono::seconds(30));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return true;
        };
        auto running = scheduler.submit(std::move(slow));
        while (tokens.load() < 3)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        // Checking a request and listing the adapters do not wait for the held step.
        auto check = std::async(std::launch::async, [&] {
            m_session->validate(request(m_prompts[0], {{"b", 1.0}}));
            return m_session->adapters().size();
        });
        QVERIFY(check.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
        QCOMPARE(check.get(), size_t(3));
        // A load waits for the step, then gets the model before the request's next steps.
        auto load = std::async(std::launch::async, [&] { return m_session->loadAdapter("extra", m_c); });
        QVERIFY(load.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
        release.set_value();
        QVERIFY(load.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
        QCOMPARE(load.get().name, std::string("extra"));
        QVERIFY2(tokens.load() < 30, qPrintable(QString("the load waited for %1 of 60 tokens").arg(tokens.load())));
        QVERIFY(running.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
        QCOMPARE(running.get().tokens.size(), size_t(60));
        m_session->unloadAdapter("extra");
    }

    // A failure that belongs to one request ends that request alone, and the others in its batch
    // finish with exactly what they generate alone. Before, one row's failed draw (NaN logits from its
    // adapter, or a tiny temperature's inf) failed every request of the batch.
    void oneRequestsFailureEndsItAlone()
    {
        // B factors so large that the adapted model's output is NaN.
        const fs::path poisonDir = fs::path(m_tmp.path().toStdString()) / "poison";
        servetest::makeAdapter(poisonDir, 44, 4, {"all-linear"}, 1e30);
        m_session->loadAdapter("poison", poisonDir);
        auto sampled = [&](size_t prompt, AdapterMix mix, uint64_t seed) {
            auto r = request(m_prompts[prompt], std::move(mix), 14);
            r.sampling.temperature = 0.8;
            r.sampling.topK = 40;
            r.sampling.seed = seed;
            return r;
        };
        auto tiny = [&] {
            auto r = request(m_prompts[4], {{"a", 1.0}}, 14);
            r.sampling.temperature = 1e-40;
            r.sampling.seed = 4;
            return r;
        };
        const std::vector<GenerationRequest> healthy = {sampled(0, {{"a", 1.0}}, 1), request(m_prompts[1], {{"b", 1.0}}, 14),
                                                        sampled(2, {}, 3), request(m_prompts[3], {{"c", 1.0}}, 14), tiny()};
        std::vector<GenerationOutput> alone;
        for (const auto& r : healthy)
            alone.push_back(m_session->generate(r));
        // The tiny temperature is greedy.
        QCOMPARE(alone.back().tokens, m_session->generate(request(m_prompts[4], {{"a", 1.0}}, 14)).tokens);

        GenerationScheduler scheduler(*m_session);
        // The healthy requests run; the failing ones join while the first holds its second token.
        std::promise<void> gate;
        std::shared_future<void> opened = gate.get_future().share();
        std::atomic<bool> holding{false};
        std::vector<std::future<GenerationOutput>> futures;
        for (size_t i = 0; i < healthy.size(); ++i) {
            GenerationRequest r = healthy[i];
            if (i == 0)
                r.onToken = [&](const TokenEvent& e) {
                    if (e.index == 1) {
                        holding = true;
                        opened.wait_for(std::chrono::seconds(30));
                    }
                    return true;
                };
            futures.push_back(scheduler.submit(std::move(r)));
        }
        while (!holding.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        auto poisonSampled = scheduler.submit(sampled(1, {{"poison", 1.0}}, 9));
        auto poisonGreedy = scheduler.submit(request(m_prompts[0], {{"poison", 1.0}}, 14));
        auto thrower = request(m_prompts[2], {}, 14);
        thrower.onToken = [](const TokenEvent& e) -> bool {
            if (e.index == 1)
                throw std::runtime_error("the client's callback failed");
            return true;
        };
        auto throwing = scheduler.submit(std::move(thrower));
        gate.set_value();

        for (auto* f : {&poisonSampled, &poisonGreedy}) {
            const std::string error = errorOf([&] { f->get(); });
            QVERIFY2(error.find("hold NaN") != std::string::npos && error.find("'poison'") != std::string::npos &&
                         error.find("new token 1 (token position ") != std::string::npos,
                     error.c_str());
        }
        try {
            throwing.get();
            QFAIL("the request whose callback threw succeeded");
        } catch (const std::runtime_error& e) {
            QCOMPARE(std::string(e.what()), std::string("the client's callback failed"));
        }
        for (size_t i = 0; i < healthy.size(); ++i) {
            GenerationOutput out;
            try {
                out = futures[i].get();
            } catch (const std::exception& e) {
                QFAIL(qPrintable(QString("healthy request %1 failed: %2").arg(i).arg(e.what())));
            }
            QVERIFY2(out.tokens == alone[i].tokens, qPrintable(QString("request %1").arg(i)));
            QCOMPARE(out.text, alone[i].text);
        }
        m_session->unloadAdapter("poison");
    }

    // min_tokens bans the end tokens until that many exist; logit_bias moves a token's logit.
    void minTokensAndLogitBias()
    {
        // A stop string that the first token's text holds ends the request at once.
        auto plain = m_session->generate(request(m_prompts[1], {}, 10));
        QVERIFY(plain.tokens.size() == 10);
        const std::string head = m_session->decode({plain.tokens[0]});
        auto stopped = request(m_prompts[1], {}, 10);
        stopped.sampling.stopStrings = {head};
        QCOMPARE(m_session->generate(stopped).tokens.size(), size_t(1));
        // With min_tokens 4 the stop string in the first token no longer ends it; the tokens are
        // the same as without the stop string (nothing else changes with no end token picked).
        stopped.sampling.minNewTokens = 4;
        auto held = m_session->generate(stopped);
        QVERIFY2(held.tokens.size() >= 4, qPrintable(QString::number(held.tokens.size())));
        QVERIFY(std::equal(held.tokens.begin(), held.tokens.end(), plain.tokens.begin()));
        QVERIFY(held.text.rfind(head, 0) == 0);
        // An end token made certain by a +100 bias ends the request at once; with min_tokens 3 it
        // comes fourth.
        const std::vector<int64_t> eos = models::loadCausalLM(servetest::demoModelDir())->config().eosTokenIds;
        QVERIFY(!eos.empty());
        auto ending = request(m_prompts[1], {}, 10);
        ending.sampling.ignoreEos = false;
        ending.sampling.logitBias = {{eos[0], 100.0}};
        auto ended = m_session->generate(ending);
        QCOMPARE(ended.reason, models::FinishReason::Eos);
        QCOMPARE(ended.tokens, std::vector<int64_t>{eos[0]});
        ending.sampling.minNewTokens = 3;
        ended = m_session->generate(ending);
        QCOMPARE(ended.reason, models::FinishReason::Eos);
        QCOMPARE(ended.tokens.size(), size_t(4));
        for (size_t i = 0; i < 3; ++i)
            QVERIFY(std::find(eos.begin(), eos.end(), ended.tokens[i]) == eos.end());

        // A +100 bias makes a token the greedy pick; a -100 bias on the greedy pick changes it.
        auto biased = request(m_prompts[1], {}, 3);
        biased.sampling.logitBias = {{42, 100.0}};
        QCOMPARE(m_session->generate(biased).tokens, (std::vector<int64_t>{42, 42, 42}));
        auto against = request(m_prompts[1], {}, 1);
        against.sampling.logitBias = {{plain.tokens[0], -100.0}};
        QVERIFY(m_session->generate(against).tokens[0] != plain.tokens[0]);
        QVERIFY(errorOf([&] {
                    auto r = request(m_prompts[1], {}, 3);
                    r.sampling.logitBias = {{100000, 1.0}};
                    m_session->generate(r);
                }).find("outside the vocabulary") != std::string::npos);
        QVERIFY(errorOf([&] {
                    auto r = request(m_prompts[1], {}, 3);
                    r.sampling.minNewTokens = 4;
                    m_session->generate(r);
                }).find("min new tokens") != std::string::npos);
    }

    // Stop while a long prompt's forward runs: the prefill reads the prompt in chunks and asks before
    // each, so the request ends after one chunk, cancelled without a token (it read the whole prompt
    // first, however long); the session answers the next request as before.
    void cancelDuringPrefillEndsAfterOneChunk()
    {
        auto cancel = std::make_shared<std::atomic<bool>>(false);
        auto model = std::make_unique<StopDuringPrefill>(models::loadCausalLM(servetest::demoModelDir()), cancel);
        StopDuringPrefill* probe = model.get();
        GenerationSession session(std::move(model), std::nullopt, servetest::demoModelDir());
        std::vector<int64_t> prompt;
        while (prompt.size() < 4 * size_t(models::kPrefillChunk))
            for (int64_t id : m_prompts[3])
                prompt.push_back(id);
        prompt.resize(4 * size_t(models::kPrefillChunk));
        auto r = request(prompt, {}, 8);
        r.cancel = cancel;
        const GenerationOutput stopped = session.generate(r);
        QCOMPARE(stopped.reason, models::FinishReason::Cancelled);
        QVERIFY(stopped.tokens.empty());
        QVERIFY(stopped.text.empty());
        QCOMPARE(probe->tokensRead, models::kPrefillChunk);

        // A new request runs to its end and gives what the session gives without the stop.
        cancel->store(false);
        probe->tokensRead = 0;
        auto again = request(prompt, {}, 8);
        const GenerationOutput full = session.generate(again);
        QCOMPARE(static_cast<int64_t>(full.tokens.size()), int64_t(8));
        QCOMPARE(full.tokens, m_session->generate(request(prompt, {}, 8)).tokens);
    }

    void refusals()
    {
        QVERIFY(errorOf([&] { m_session->generate(request(m_prompts[0], {{"nope", 1.0}})); }).find("no adapter named 'nope'") != std::string::npos);
        QVERIFY(errorOf([&] { m_session->generate(request({}, {})); }).find("prompt is empty") != std::string::npos);
        QVERIFY(errorOf([&] { m_session->generate(request({1, 100000}, {})); }).find("outside the vocabulary") != std::string::npos);
        QVERIFY(errorOf([&] { m_session->loadAdapter("a", m_b); }).find("already loaded") != std::string::npos);
        QVERIFY(errorOf([&] { m_session->loadAdapter("z", m_tmp.path().toStdString() + "/none"); }).find("found nothing") != std::string::npos);
        QVERIFY(errorOf([&] { m_session->unloadAdapter("z"); }).find("no adapter named 'z'") != std::string::npos);
        GenerationBatch running(*m_session);
        running.add(request(m_prompts[0], {{"a", 1.0}}));
        QVERIFY(errorOf([&] { m_session->unloadAdapter("a"); }).find("in use by 1") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(GenerationSessionTest)
#include "GenerationSessionTest.moc"
