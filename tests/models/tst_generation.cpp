// Generation: greedy continuations and left-padded batches equal transformers' generate(),
// cached decoding equals recomputation, sampling is seeded, EOS / stop strings / streaming work.
#include "models/Generator.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "models/TokenPicker.h"

#include "common/Error.h"

#include <QtTest>

#include <limits>

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace rslora::models;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
    const char* shared = std::getenv("RSLORA_SHARED_DIR");
    return shared ? fs::path(shared) / "fixtures" : fs::path();
}

#define REQUIRE_FIXTURES()                                                                       \
    if (fixtures().empty() || !fs::exists(fixtures() / "llama" / "config.json"))                 \
    QSKIP("RSLORA_SHARED_DIR is not set or has no fixtures; skipping generation parity checks")

nlohmann::json readJson(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

const std::vector<int64_t> kPrompt = {1, 239, 179, 14, 112, 17};

std::string joinIds(const std::vector<int64_t>& ids) {
    std::string s;
    for (auto id : ids)
        s += std::to_string(id) + " ";
    return s;
}

std::unique_ptr<CausalLM> tinyRandom() {
    ModelConfig c;
    c.vocabSize = 64;
    c.hiddenSize = 32;
    c.intermediateSize = 48;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 8;
    c.initializerRange = 0.5;  // peaky logits so greedy paths are well separated
    return createCausalLM(c, 99);
}

// A model that gives what `inner` gives, except that from its `poisonFrom`-th forward (1-based) on,
// the logits of `token` are `value`: an overflowing model at a chosen step.
class PoisonedLogits : public CausalLM {
public:
    PoisonedLogits(std::unique_ptr<CausalLM> inner, int poisonFrom, int64_t token, float value)
        : CausalLM(inner->config()), m_poisonFrom(poisonFrom), m_token(token), m_value(value) {
        m_inner = register_module("inner", std::shared_ptr<CausalLM>(std::move(inner)));
    }
    ForwardOutput forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& positions,
                          KVCache* cache, bool returnHidden) override {
        auto out = m_inner->forward(ids, mask, positions, cache, returnHidden);
        if (++m_forwards >= m_poisonFrom)
            out.logits.select(-1, m_token).fill_(m_value);
        return out;
    }
    torch::Tensor hiddenStates(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& positions,
                               KVCache* cache) override {
        return m_inner->hiddenStates(ids, mask, positions, cache);
    }
    std::shared_ptr<LinearLayer> lmHead() override { return m_inner->lmHead(); }
    std::vector<LinearSlot> linearSlots() override { return m_inner->linearSlots(); }
    torch::Tensor embedTokens() override { return m_inner->embedTokens(); }
    std::vector<std::pair<std::string, torch::Tensor>> checkpointTensors() const override {
        return m_inner->checkpointTensors();
    }

private:
    std::shared_ptr<CausalLM> m_inner;
    int m_poisonFrom = 1, m_forwards = 0;
    int64_t m_token = 0;
    float m_value = 0;
};

} // namespace

class TestGeneration : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void matchesTransformers_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("llama") << "llama";
        QTest::newRow("qwen2") << "qwen2";
        QTest::newRow("mistral") << "mistral";
    }
    void matchesTransformers() {
        REQUIRE_FIXTURES();
        QFETCH(QString, model);
        auto lm = loadCausalLM(fixtures() / model.toStdString());
        auto ref = readJson(fixtures() / "reference" / (model.toStdString() + ".json"));
        GenerationOptions o;
        o.maxNewTokens = 8;
        auto single = generate(*lm, {kPrompt}, o);
        QCOMPARE(single.rows[0].tokens, ref["gen_new_tokens"].get<std::vector<int64_t>>());
        QCOMPARE(single.rows[0].reason, FinishReason::Length);

        // Left-padded batch: the second prompt is shorter.
        auto batch = generate(*lm, {kPrompt, {1, 136, 57, 80}}, o);
        auto want = ref["gen_batch_sequences"].get<std::vector<std::vector<int64_t>>>();
        for (size_t b = 0; b < 2; ++b) {
            std::vector<int64_t> tail(want[b].end() - 8, want[b].end());
            QCOMPARE(batch.rows[b].tokens, tail);
        }
        QCOMPARE(batch.generatedTokens, int64_t(16));
        QCOMPARE(batch.promptTokens, int64_t(10));
    }

    void cacheEqualsRecompute() {
        auto lm = tinyRandom();
        for (double temperature : {0.0, 0.9}) {
            GenerationOptions o;
            o.maxNewTokens = 12;
            o.temperature = temperature;
            o.seed = 5;
            auto cached = generate(*lm, {{3, 4, 5}, {7, 8, 9, 10, 11}}, o);
            o.useCache = false;
            auto full = generate(*lm, {{3, 4, 5}, {7, 8, 9, 10, 11}}, o);
            QCOMPARE(cached.rows[0].tokens, full.rows[0].tokens);
            QCOMPARE(cached.rows[1].tokens, full.rows[1].tokens);
        }
    }

    void sampling() {
        auto lm = tinyRandom();
        GenerationOptions o;
        o.maxNewTokens = 16;
        o.temperature = 1.5;
        o.seed = 1;
        auto a = generate(*lm, {{1, 2, 3}}, o);
        auto b = generate(*lm, {{1, 2, 3}}, o);
        QCOMPARE(a.rows[0].tokens, b.rows[0].tokens);  // seeded
        bool differs = false;
        for (uint64_t seed = 2; seed < 6 && !differs; ++seed) {
            o.seed = seed;
            differs = generate(*lm, {{1, 2, 3}}, o).rows[0].tokens != a.rows[0].tokens;
        }
        QVERIFY(differs);
        // top-k 1 is greedy whatever the temperature.
        GenerationOptions greedy;
        greedy.maxNewTokens = 16;
        auto g = generate(*lm, {{1, 2, 3}}, greedy);
        o.topK = 1;
        QCOMPARE(generate(*lm, {{1, 2, 3}}, o).rows[0].tokens, g.rows[0].tokens);
        // A tiny top-p keeps only the best token as well.
        o.topK = 0;
        o.topP = 1e-6;
        QCOMPARE(generate(*lm, {{1, 2, 3}}, o).rows[0].tokens, g.rows[0].tokens);
        // The repetition penalty changes a repetitive greedy path.
        greedy.repetitionPenalty = 5.0;
        QVERIFY(generate(*lm, {{1, 2, 3}}, greedy).rows[0].tokens != g.rows[0].tokens);
    }

    // A temperature below 1e-5 is greedy: dividing by 1e-40 overflowed the logits to inf before, and
    // the draw failed with "probability tensor contains either inf, nan or element < 0".
    void tinyTemperatureIsGreedy() {
        auto lm = tinyRandom();
        GenerationOptions greedy;
        greedy.maxNewTokens = 12;
        const auto g = generate(*lm, {{1, 2, 3}}, greedy).rows[0].tokens;
        for (double t : {1e-40, 1e-300, 9.9e-6}) {
            GenerationOptions o = greedy;
            o.temperature = t;
            o.topK = 5;
            o.topP = 0.9;
            o.seed = 3;
            QCOMPARE(generate(*lm, {{1, 2, 3}}, o).rows[0].tokens, g);
        }
    }

    // Every valid setting draws a token from any logits the model can give that are not NaN: -inf
    // everywhere but one token, +inf logits, logits near float's limits with the smallest sampled
    // temperature, penalties far beyond float's range, a bias on top of the largest float.
    void extremesDrawAValidToken() {
        const float inf = std::numeric_limits<float>::infinity(), big = std::numeric_limits<float>::max();
        auto gen = at::detail::createCPUGenerator(5);
        auto pick = [&](std::vector<float> values, GenerationOptions o, std::vector<int64_t> seen = {},
                        TokenRules rules = {}) {
            auto logits = torch::tensor(values).unsqueeze(0);
            return pickTokens(logits, {seen}, o, gen, rules)[0];
        };
        for (double t : {0.0, 1e-40, 1e-5, 0.7, 2.0}) {
            for (auto [k, p] : {std::pair<int64_t, double>{0, 1.0}, {2, 1.0}, {0, 0.5}, {1, 1e-6}, {0, 1e-50}, {0, 1e-300}}) {
                GenerationOptions o;
                o.temperature = t;
                o.topK = k;
                o.topP = p;
                const QString row = QString("temperature %1, top_k %2, top_p %3").arg(t).arg(k).arg(p);
                QVERIFY2(pick({-inf, -inf, 4.0f, -inf}, o) == 2, qPrintable(row));
                // Masked tokens stay masked next to the largest and smallest finite logits.
                for (int i = 0; i < 8; ++i) {
                    const int64_t unmasked = pick({-inf, -big, -inf, -big / 2}, o);
                    QVERIFY2(unmasked == 1 || unmasked == 3, qPrintable(row));
                }
                QVERIFY2(pick({-big, big, 0.0f, big / 2}, o) == 1 || t >= 1e-5, qPrintable(row));
                const int64_t drawn = pick({-big, big, 0.0f, big / 2}, o);
                QVERIFY2(drawn >= 0 && drawn < 4, qPrintable(row));
                // Penalties beyond float's range: 1e-300 made 0 / 0 = NaN before.
                for (double penalty : {1e-300, 1e-30, 1e30, 1e300}) {
                    o.repetitionPenalty = penalty;
                    const int64_t id = pick({0.0f, -2.0f, 3.0f, -big}, o, {0, 1, 2, 3});
                    QVERIFY2(id >= 0 && id < 4, qPrintable(row + QString(", penalty %1").arg(penalty)));
                }
                o.repetitionPenalty = 1.0;
                // A bias on top of the largest float stays finite; a +100 bias wins a greedy pick.
                TokenRules bias;
                bias.bias = {{1, 100.0}, {0, -100.0}};
                const int64_t biased = pick({big, 0.0f, -inf, 1.0f}, o, {}, bias);
                QVERIFY2(biased >= 0 && biased < 4, qPrintable(row));
                if (t < 1e-5)
                    QCOMPARE(pick({3.0f, 0.0f, 1.0f, 2.0f}, o, {}, bias), int64_t(1));
                // A banned token is never drawn, even the only likely one.
                TokenRules ban;
                ban.banned = {2};
                for (int i = 0; i < 8; ++i)
                    QVERIFY2(pick({-inf, 0.0f, 50.0f, 0.0f}, o, {}, ban) != 2, qPrintable(row));
            }
        }
        // NaN is the model's failure, named; a vocabulary entirely banned cannot be drawn from.
        GenerationOptions o;
        o.temperature = 0.7;
        try {
            pick({0.0f, std::nanf(""), 1.0f}, o);
            QFAIL("NaN logits were accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("hold NaN") != std::string::npos, e.what());
        }
        TokenRules all;
        all.banned = {0, 1};
        QVERIFY_THROWS_EXCEPTION(rslora::Error, pick({0.0f, 1.0f}, o, {}, all));
        // +inf is an overflow, not a score: refused naming the token, greedy or sampled; so is a row
        // that is -inf everywhere. (Both were clamped to float's extremes and drawn from: noise.)
        for (double t : {0.0, 0.7}) {
            o.temperature = t;
            try {
                pick({1.0f, inf, 3.0f, inf}, o);
                QFAIL("+inf logits were accepted");
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find("hold +inf (token id 1 and 1 more of 4)") != std::string::npos, e.what());
            }
            try {
                pick({-inf, -inf, -inf}, o);
                QFAIL("logits that are -inf everywhere were accepted");
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find("-inf for every token") != std::string::npos, e.what());
            }
        }
    }

    // A model whose logits overflow at a step stops there with an error naming the step and the token
    // position; one that masks a token with -inf generates on without ever picking it.
    void infiniteLogitsStopNamingTheStep() {
        GenerationOptions o;
        o.maxNewTokens = 8;  // the tiny model's config names no end token: every row runs 8 steps
        const float inf = std::numeric_limits<float>::infinity();
        PoisonedLogits overflowing(tinyRandom(), 3, 17, inf);
        try {
            generate(overflowing, {{3, 4, 5, 6}}, o);
            QFAIL("a model whose logits overflow generated");
        } catch (const rslora::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("generation step 3 (token position 6)") != std::string::npos &&
                         what.find("hold +inf (token id 17 of 64)") != std::string::npos,
                     e.what());
        }
        auto plain = generate(*tinyRandom(), {{3, 4, 5, 6}}, o);
        QVERIFY(!plain.rows[0].tokens.empty());
        const int64_t favourite = plain.rows[0].tokens[0];
        PoisonedLogits masking(tinyRandom(), 1, favourite, -inf);
        auto masked = generate(masking, {{3, 4, 5, 6}}, o);
        QCOMPARE(static_cast<int64_t>(masked.rows[0].tokens.size()), o.maxNewTokens);
        for (int64_t t : masked.rows[0].tokens)
            QVERIFY(t != favourite);
    }

    // The prompt's forward in chunks gives the logits of one forward (left-padded rows of different
    // lengths, any chunk size) and a cache that decodes the same next step; a cancel asked before a
    // chunk stops it there.
    void chunkedPrefillEqualsOneForward() {
        const char* resources = std::getenv("RSLORA_RESOURCES");
        const fs::path demo = fs::path(resources ? resources : "resources") / "demo" / "model";
        if (!fs::exists(demo / "config.json"))
            QFAIL(qPrintable(QString("the demo model is missing at ") + demo.c_str()));
        auto lm = loadCausalLM(demo);
        torch::manual_seed(3);
        torch::NoGradGuard noGrad;
        const int64_t B = 2, T = 45;
        auto ids = torch::randint(0, lm->config().vocabSize, {B, T}, torch::kInt64);
        auto mask = torch::ones({B, T}, torch::kInt64);
        mask[1].narrow(0, 0, 13).fill_(0);  // row 1: 32 tokens, left-padded
        ids[1].narrow(0, 0, 13).fill_(0);
        auto positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
        KVCache whole = lm->makeCache();
        const auto reference = lm->forward(ids, mask, positions, &whole).logits.select(1, T - 1).to(torch::kFloat32);
        auto next = torch::tensor({7, 9}, torch::kInt64).view({B, 1});
        auto nextMask = torch::cat({mask, torch::ones({B, 1}, torch::kInt64)}, 1);
        auto nextPos = positions.narrow(1, T - 1, 1) + 1;
        const auto referenceNext = lm->forward(next, nextMask, nextPos, &whole).logits.select(1, 0);
        for (int64_t chunk : {int64_t(1), int64_t(4), int64_t(16), int64_t(44), int64_t(45), kPrefillChunk}) {
            KVCache cache = lm->makeCache();
            const auto logits = prefill(*lm, ids, mask, positions, cache, chunk);
            QVERIFY(logits.defined());
            // Within 1e-6 of the largest logit: float32's rounding, as the attention sums its keys in
            // other blocks (a logit of 15 is only resolved to 1e-6 in float32).
            const double scale = reference.abs().max().item<double>();
            const double diff = (logits - reference).abs().max().item<double>();
            QVERIFY2(diff <= 1e-6 * scale, qPrintable(QString("chunk %1: logits differ by %2 (largest %3)").arg(chunk).arg(diff).arg(scale)));
            QVERIFY(torch::equal(logits.argmax(-1), reference.argmax(-1)));
            QCOMPARE(cache.length(), T);
            const auto after = lm->forward(next, nextMask, nextPos, &cache).logits.select(1, 0);
            const double nextDiff = (after - referenceNext).abs().max().item<double>();
            QVERIFY2(nextDiff <= 1e-6 * scale, qPrintable(QString("chunk %1: next step differs by %2").arg(chunk).arg(nextDiff)));
        }
        int asked = 0;
        KVCache cache = lm->makeCache();
        const auto stopped = prefill(*lm, ids, mask, positions, cache, 8, [&] { return ++asked == 3; });
        QVERIFY(!stopped.defined());
        QCOMPARE(asked, 3);
        QCOMPARE(cache.length(), int64_t(16));  // two chunks read, the third never started
        KVCache used = lm->makeCache();
        (void)prefill(*lm, ids, mask, positions, used, 8);
        QVERIFY_THROWS_EXCEPTION(rslora::Error, prefill(*lm, ids, mask, positions, used, 8));
        KVCache empty = lm->makeCache();
        QVERIFY_THROWS_EXCEPTION(rslora::Error, prefill(*lm, ids, mask, positions, empty, 0));
    }

    // generate() reads the prompt through the chunked prefill: a cancel asked before a chunk stops it
    // there (every row Cancelled, nothing generated), one asked before a decoding step keeps the
    // tokens so far, and any chunk size gives the tokens of one forward over the prompt.
    void generateReadsThePromptInChunksAndHonoursCancel() {
        auto lm = tinyRandom();
        std::vector<std::vector<int64_t>> prompts(2);
        for (int64_t i = 0; i < 45; ++i)
            prompts[0].push_back((i * 7 + 3) % 64);
        prompts[1].assign(prompts[0].begin() + 13, prompts[0].end());  // left-padded by 13
        GenerationOptions o;
        o.maxNewTokens = 6;
        o.eosTokenIds = {-1};
        o.useCache = false;
        const auto whole = generate(*lm, prompts, o);
        o.useCache = true;
        for (int64_t chunk : {int64_t(1), int64_t(8), int64_t(44), kPrefillChunk}) {
            o.prefillChunk = chunk;
            const auto r = generate(*lm, prompts, o);
            for (size_t b = 0; b < 2; ++b)
                QCOMPARE(joinIds(r.rows[b].tokens), joinIds(whole.rows[b].tokens));
        }
        // 45 tokens in chunks of 8: asked before each of the 6 chunks, then before each decoding step
        // after the first token.
        o.prefillChunk = 8;
        int asked = 0;
        o.cancelled = [&] { return ++asked == 3; };
        auto stopped = generate(*lm, prompts, o);
        QCOMPARE(asked, 3);
        for (const auto& row : stopped.rows) {
            QCOMPARE(row.reason, FinishReason::Cancelled);
            QVERIFY(row.tokens.empty());
        }
        QCOMPARE(stopped.generatedTokens, int64_t(0));
        asked = 0;
        o.cancelled = [&] { return ++asked == 6 + 2; };  // after the prompt and two tokens
        stopped = generate(*lm, prompts, o);
        for (size_t b = 0; b < 2; ++b) {
            QCOMPARE(stopped.rows[b].reason, FinishReason::Cancelled);
            QCOMPARE(joinIds(stopped.rows[b].tokens), joinIds({whole.rows[b].tokens.begin(), whole.rows[b].tokens.begin() + 2}));
        }
        o.cancelled = [] { return false; };
        o.prefillChunk = 0;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, prompts, o));
    }

    void stopping() {
        auto lm = tinyRandom();
        GenerationOptions o;
        o.maxNewTokens = 10;
        auto ref = generate(*lm, {{1, 2, 3}, {4, 5}}, o);
        // EOS: the third greedy token of row 0 ends that row; row 1 goes on.
        o.eosTokenIds = {ref.rows[0].tokens[2]};
        auto eos = generate(*lm, {{1, 2, 3}, {4, 5}}, o);
        QCOMPARE(eos.rows[0].reason, FinishReason::Eos);
        QCOMPARE(eos.rows[0].tokens.size(), size_t(3));
        if (std::find(ref.rows[1].tokens.begin(), ref.rows[1].tokens.end(), ref.rows[0].tokens[2]) == ref.rows[1].tokens.end())
            QCOMPARE(eos.rows[1].tokens, ref.rows[1].tokens);
        // Stop string through the decode callback.
        o.eosTokenIds = {-1};
        o.decode = joinIds;
        o.stopStrings = {std::to_string(ref.rows[0].tokens[1]) + " "};
        auto stop = generate(*lm, {{1, 2, 3}}, o);
        QCOMPARE(stop.rows[0].reason, FinishReason::StopString);
        QCOMPARE(stop.rows[0].tokens.size(), size_t(2));
        QCOMPARE(QString::fromStdString(stop.rows[0].stopString), QString::fromStdString(o.stopStrings[0]));
        // Streaming sees every token; returning false cancels.
        GenerationOptions s;
        s.maxNewTokens = 10;
        std::vector<int64_t> streamed;
        s.onToken = [&](int64_t row, int64_t token) {
            streamed.push_back(token);
            return streamed.size() < 4;
        };
        auto cancelled = generate(*lm, {{1, 2, 3}}, s);
        QCOMPARE(cancelled.rows[0].reason, FinishReason::Cancelled);
        QCOMPARE(streamed, cancelled.rows[0].tokens);
        QCOMPARE(streamed.size(), size_t(4));
    }

    void errors() {
        auto lm = tinyRandom();
        GenerationOptions o;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {}, o));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {{}}, o));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {{64}}, o));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {{-1}}, o));
        o.stopStrings = {"x"};
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {{1}}, o));
        o.stopStrings.clear();
        o.topP = 0;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, generate(*lm, {{1}}, o));
    }

    // Each sampling value out of range is named with the value found; NaN and infinities are refused
    // up front instead of failing in the draw (NaN temperature) or decoding noise (infinite penalty).
    void samplingValuesNamed_data() {
        QTest::addColumn<double>("temperature");
        QTest::addColumn<double>("topP");
        QTest::addColumn<qint64>("topK");
        QTest::addColumn<double>("penalty");
        QTest::addColumn<QString>("message");
        const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        QTest::newRow("NaN temperature") << nan << 1.0 << qint64(0) << 1.0 << "temperature must be a finite number >= 0 (0 = greedy), found nan";
        QTest::newRow("infinite temperature") << inf << 1.0 << qint64(0) << 1.0 << "temperature must be a finite number >= 0 (0 = greedy), found inf";
        QTest::newRow("negative temperature") << -1.0 << 1.0 << qint64(0) << 1.0 << "temperature must be a finite number >= 0 (0 = greedy), found -1";
        QTest::newRow("top_p above 1") << 0.5 << 2.0 << qint64(0) << 1.0 << "top_p must be in (0, 1] (1 = off), found 2";
        QTest::newRow("NaN top_p") << 0.5 << nan << qint64(0) << 1.0 << "top_p must be in (0, 1] (1 = off), found nan";
        QTest::newRow("negative top_k") << 0.5 << 1.0 << qint64(-3) << 1.0 << "top_k must be >= 0 (0 = off), found -3";
        QTest::newRow("infinite penalty") << 0.0 << 1.0 << qint64(0) << inf << "repetition_penalty must be a finite number > 0 (1 = off), found inf";
        QTest::newRow("zero penalty") << 0.0 << 1.0 << qint64(0) << 0.0 << "repetition_penalty must be a finite number > 0 (1 = off), found 0";
    }
    void samplingValuesNamed() {
        QFETCH(double, temperature);
        QFETCH(double, topP);
        QFETCH(qint64, topK);
        QFETCH(double, penalty);
        QFETCH(QString, message);
        auto lm = tinyRandom();
        GenerationOptions o;
        o.temperature = temperature;
        o.topP = topP;
        o.topK = topK;
        o.repetitionPenalty = penalty;
        try {
            generate(*lm, {{1, 2}}, o);
            QFAIL("accepted");
        } catch (const rslora::Error& e) {
            QCOMPARE(QString::fromStdString(e.what()), message);
        }
    }
};

QTEST_GUILESS_MAIN(TestGeneration)
#include "tst_generation.moc"
