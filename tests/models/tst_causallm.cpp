// The Llama-family decoder against transformers' reference dumps (fixtures/README.md): logits,
// losses, hidden states, greedy continuations, KV-cache decoding, sharded and reduced-precision
// checkpoints, projection slotList and saving; the loader's dtype choice, unsupported weight dtypes,
// and the folder's tokenizer checked against vocab_size.
#include "models/CausalLmLoss.h"
#include "models/LlamaFamilyModel.h"
#include "models/ModelLoader.h"
#include "models/ModelTokenizer.h"
#include "models/SafeTensorsWriter.h"
#include "models/WeightFiles.h"
#include "models/Attention.h"
#include "models/RmsNorm.h"
#include "models/RotaryEmbedding.h"
#include "models/TensorIO.h"

#include "common/Error.h"
#include "common/Log.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>

using namespace rslora::models;
namespace fs = std::filesystem;

namespace {

// One layer, two heads of 8, hidden 16: the smallest model the checks below need.
ModelConfig tinyModelConfig(int64_t vocabSize) {
    ModelConfig c;
    c.vocabSize = vocabSize;
    c.hiddenSize = 16;
    c.intermediateSize = 32;
    c.numLayers = 1;
    c.numHeads = 2;
    c.numKvHeads = 2;
    c.headDim = 8;
    return c;
}

fs::path fixtures() {
    const char* shared = std::getenv("RSLORA_SHARED_DIR");
    return shared ? fs::path(shared) / "fixtures" : fs::path();
}

#define REQUIRE_FIXTURES()                                                                       \
    if (fixtures().empty() || !fs::exists(fixtures() / "llama" / "config.json"))                 \
    QSKIP("RSLORA_SHARED_DIR is not set or has no fixtures; skipping transformers parity checks")

nlohmann::json readJson(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

// Largest absolute difference relative to the largest reference magnitude.
double relDiff(const torch::Tensor& a, const torch::Tensor& ref) {
    auto d = (a.to(torch::kFloat64) - ref.to(torch::kFloat64)).abs().max().item<double>();
    return d / std::max(1e-12, ref.abs().max().item<double>());
}

// Greedy decoding with the cache, as HF generate: prefill, then one token per step.
std::vector<int64_t> greedyWithCache(CausalLM& m, const torch::Tensor& prompt, int steps, torch::Tensor* stepLogits) {
    KVCache cache = m.makeCache();
    auto out = m.forward(prompt, {}, {}, &cache);
    std::vector<int64_t> tokens;
    std::vector<torch::Tensor> logits;
    for (int s = 0; s < steps; ++s) {
        auto last = out.logits.select(1, out.logits.size(1) - 1);
        logits.push_back(last[0]);
        int64_t next = last.argmax(-1).item<int64_t>();
        tokens.push_back(next);
        out = m.forward(torch::tensor({next}, torch::kInt64).view({1, 1}), {}, {}, &cache);
    }
    if (stepLogits)
        *stepLogits = torch::stack(logits);
    return tokens;
}

} // namespace

class TestCausalLM : public QObject {
    Q_OBJECT
private slots:
    // RMSNorm in bfloat16 and float16: the forward is bitwise the generic float32-normalising path
    // (as transformers computes it), and the hand-written node's gradients (in float32 from x in 16
    // bits) are those of the float64 math to the 16-bit rounding of their result, and as close as
    // the generic nodes' own.
    void rmsNormSixteenBit() {
        torch::manual_seed(4);
        for (auto dtype : {torch::kBFloat16, torch::kFloat16}) {
            const auto x64 = torch::randn({3, 5, 64}, torch::kFloat64) * 2.0;
            const auto w64 = torch::rand({64}, torch::kFloat64) + 0.5;
            const auto R = torch::randn({3, 5, 64}, torch::kFloat64);
            auto x = x64.to(dtype).requires_grad_(true), w = w64.to(dtype).requires_grad_(true);
            const auto y = rmsNorm(x, w, 1e-5);
            (y * R.to(dtype)).sum().backward();
            // The generic path, spelled out.
            auto xg = x.detach().clone().requires_grad_(true), wg = w.detach().clone().requires_grad_(true);
            const auto x32 = xg.to(torch::kFloat32);
            const auto yg = wg * (x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + 1e-5)).to(dtype);
            (yg * R.to(dtype)).sum().backward();
            QVERIFY(torch::equal(y.detach(), yg.detach()));
            // Float64 reference from the 16-bit inputs.
            auto xr = x.detach().to(torch::kFloat64).requires_grad_(true), wr = w.detach().to(torch::kFloat64).requires_grad_(true);
            ((wr * xr * torch::rsqrt(xr.pow(2).mean(-1, true) + 1e-5)) * R.to(dtype).to(torch::kFloat64)).sum().backward();
            auto err = [](const torch::Tensor& g, const torch::Tensor& ref) {
                return (g.to(torch::kFloat64) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
            };
            const double ours = err(x.grad(), xr.grad()), generic = err(xg.grad(), xr.grad());
            const double oursW = err(w.grad(), wr.grad()), genericW = err(wg.grad(), wr.grad());
            qInfo("%s: input gradient %.2e (generic nodes %.2e), weight gradient %.2e (generic %.2e) of the largest",
                  c10::toString(dtype), ours, generic, oursW, genericW);
            const double unit = dtype == torch::kBFloat16 ? 7.8e-3 : 9.8e-4; // 2^-7, 2^-10
            QVERIFY(ours <= unit && ours <= generic * 1.5 + 1e-12);
            QVERIFY(oursW <= 4 * unit && oursW <= genericW * 1.5 + 1e-12);
            QCOMPARE(x.grad().scalar_type(), dtype);
            QCOMPARE(w.grad().scalar_type(), dtype);
        }
    }

    // The hand-written autograd nodes (RMSNorm, rotary, linear + cross-entropy) against the same
    // math through autograd's generic nodes, in float64: values and every gradient.
    void handWrittenNodesMatchAutograd() {
        torch::manual_seed(3);
        const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
        auto close = [](const torch::Tensor& a, const torch::Tensor& b) { return torch::allclose(a, b, 1e-10, 1e-12); };

        // RMSNorm, weight trainable (full-parameter mode) and input gradient.
        auto x = torch::randn({2, 3, 8}, f64).requires_grad_(true);
        auto w = (torch::rand({8}, f64) + 0.5).requires_grad_(true);
        auto R = torch::randn({2, 3, 8}, f64);
        auto y = rmsNorm(x, w, 1e-5);
        (y * R).sum().backward();
        auto gx = x.grad().clone(), gw = w.grad().clone();
        x.mutable_grad().zero_();
        w.mutable_grad().zero_();
        auto yRef = x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-5) * w;
        (yRef * R).sum().backward();
        QVERIFY(close(y, yRef));
        QVERIFY(close(gx, x.grad()));
        QVERIFY(close(gw, w.grad()));

        // Rotary, with cos/sin halves that differ (so a transpose mixing up the halves shows).
        auto q = torch::randn({2, 3, 4, 8}, f64).requires_grad_(true);
        auto cos = torch::randn({2, 3, 1, 8}, f64), sin = torch::randn({2, 3, 1, 8}, f64);
        auto Rq = torch::randn({2, 3, 4, 8}, f64);
        auto r = applyRotary(q, cos, sin);
        (r * Rq).sum().backward();
        auto gq = q.grad().clone();
        q.mutable_grad().zero_();
        auto rRef = q * cos + torch::cat({-q.narrow(-1, 4, 4), q.narrow(-1, 0, 4)}, -1) * sin;
        (rRef * Rq).sum().backward();
        QVERIFY(close(r, rRef));
        QVERIFY(close(gq, q.grad()));

        // Grouped attention (3 query heads per key/value head) with a padding + causal mask.
        {
            const int64_t B = 2, nH = 6, nKV = 2, T = 5, D = 4;
            auto qa = torch::randn({B, nH, T, D}, f64).requires_grad_(true);
            auto ka = torch::randn({B, nKV, T, D}, f64).requires_grad_(true);
            auto va = torch::randn({B, nKV, T, D}, f64).requires_grad_(true);
            auto allowed = torch::ones({T, T}, torch::kBool).tril().unsqueeze(0).repeat({B, 1, 1});
            allowed[1].narrow(1, 0, 2).fill_(false); // row 1: two padded keys
            allowed[1].narrow(0, 0, 2).fill_(false);
            for (int64_t t = 0; t < 2; ++t)
                allowed[1][t][t] = true; // padded queries see themselves, as buildMask does
            auto mask = torch::zeros({B, T, T}, f64).masked_fill_(allowed.logical_not(), std::numeric_limits<double>::lowest())
                            .view({B, 1, 1, T, T});
            auto Ro = torch::randn({B, T, nH * D}, f64);
            // The B·nKV = 4 groups split over the threads at 1 and 2 threads, and run in turn at 8
            // (fewer groups than threads): the same arithmetic per group, so the same bits.
            const int threadsBefore = torch::get_num_threads();
            std::vector<torch::Tensor> runs;
            for (int threads : {1, 2, 8}) {
                torch::set_num_threads(threads);
                auto out = attendGrouped(qa, ka, va, mask);
                (out * Ro).sum().backward();
                runs.push_back(torch::cat({out.flatten(), qa.grad().flatten(), ka.grad().flatten(), va.grad().flatten()}));
                qa.mutable_grad().zero_();
                ka.mutable_grad().zero_();
                va.mutable_grad().zero_();
            }
            torch::set_num_threads(threadsBefore);
            QVERIFY(torch::equal(runs[0], runs[1]));
            QVERIFY(torch::equal(runs[0], runs[2]));
            auto o = attendGrouped(qa, ka, va, mask);
            (o * Ro).sum().backward();
            auto gqa = qa.grad().clone(), gka = ka.grad().clone(), gva = va.grad().clone();
            qa.mutable_grad().zero_();
            ka.mutable_grad().zero_();
            va.mutable_grad().zero_();
            auto kr = ka.repeat_interleave(nH / nKV, 1), vr = va.repeat_interleave(nH / nKV, 1);
            auto scores = torch::matmul(qa, kr.transpose(-1, -2)) / std::sqrt(double(D)) + mask.view({B, 1, T, T});
            auto oRef = torch::matmul(torch::softmax(scores, -1), vr).transpose(1, 2).reshape({B, T, nH * D});
            (oRef * Ro).sum().backward();
            QVERIFY(close(o, oRef));
            QVERIFY(close(gqa, qa.grad()));
            QVERIFY(close(gka, ka.grad()));
            QVERIFY(close(gva, va.grad()));

            // Frozen keys and values: the node gives the query gradient alone, the same one.
            auto qb = qa.detach().clone().requires_grad_(true);
            (attendGrouped(qb, ka.detach(), va.detach(), mask) * Ro).sum().backward();
            QVERIFY(close(qb.grad(), qa.grad()));
        }

        // Linear + cross-entropy over a frozen head, ignored labels, chunks of 3 rows.
        LinearLayer head(torch::randn({11, 6}, f64));
        head.weight.set_requires_grad(false);
        auto h = torch::randn({2, 5, 6}, f64).requires_grad_(true);
        auto labels = torch::randint(0, 11, {2, 5}, torch::kInt64);
        labels[0][2] = kIgnoreIndex;
        labels[1][4] = kIgnoreIndex;
        auto sum = causalLmLossSum(h, head, labels, 3);
        QCOMPARE(sum.tokens, int64_t(6));
        (sum.sum * 0.7).backward();
        auto gh = h.grad().clone();
        h.mutable_grad().zero_();
        auto logits = torch::linear(h, head.weight).narrow(1, 0, 4).reshape({-1, 11});
        auto target = labels.narrow(1, 1, 4).reshape({-1});
        auto ref = torch::nn::functional::cross_entropy(
            logits, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
        (ref * 0.7).backward();
        QVERIFY(std::abs(sum.sum.item<double>() - ref.item<double>()) < 1e-5 * std::abs(ref.item<double>()));
        QVERIFY(close(gh, h.grad()));

        // A trainable head takes the generic path and gets its gradient.
        head.weight.set_requires_grad(true);
        auto h2 = torch::randn({1, 4, 6}, f64);
        causalLmLossSum(h2, head, torch::randint(0, 11, {1, 4}, torch::kInt64), 2).sum.backward();
        QVERIFY(head.weight.grad().defined() && head.weight.grad().abs().sum().item<double>() > 0);
    }

    void initTestCase() { torch::set_num_threads(1); }

    void parity_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("folder");
        QTest::newRow("llama") << "llama" << "llama";
        QTest::newRow("llama_sharded") << "llama" << "llama_sharded";
        QTest::newRow("qwen2") << "qwen2" << "qwen2";
        QTest::newRow("mistral") << "mistral" << "mistral";
    }
    void parity() {
        REQUIRE_FIXTURES();
        QFETCH(QString, model);
        QFETCH(QString, folder);
        torch::NoGradGuard noGrad;
        auto lm = loadCausalLM(fixtures() / folder.toStdString());
        auto ref = loadSafeTensorsMap(fixtures() / "reference" / (model.toStdString() + ".safetensors"));
        auto refJson = readJson(fixtures() / "reference" / (model.toStdString() + ".json"));
        auto ids = ref.at("input_ids");
        auto mask = ref.at("attention_mask");
        auto pos = ref.at("position_ids_masked");
        auto labelsMasked = ref.at("labels_masked");

        // No padding: every position compared.
        auto out = lm->forward(ids, torch::ones_like(mask), {}, nullptr, true);
        QVERIFY(relDiff(out.logits, ref.at("logits_nomask")) < 1e-4);
        auto loss = causalLmLoss(out.logits, ids).item<double>();
        QVERIFY2(std::abs(loss - refJson["loss_nomask"].get<double>()) < 1e-5, std::to_string(loss).c_str());
        auto refHidden = ref.at("hidden_states_nomask");
        QCOMPARE(static_cast<int64_t>(out.hiddenStates.size()), refHidden.size(0));
        for (size_t i = 0; i < out.hiddenStates.size(); ++i)
            QVERIFY(relDiff(out.hiddenStates[i], refHidden[static_cast<int64_t>(i)]) < 1e-4);

        // Left padding: padded positions of row 1 (0-2) are implementation-defined.
        auto masked = lm->forward(ids, mask, pos).logits;
        auto refMasked = ref.at("logits_masked");
        QVERIFY(relDiff(masked[0], refMasked[0]) < 1e-4);
        QVERIFY(relDiff(masked[1].narrow(0, 3, 9), refMasked[1].narrow(0, 3, 9)) < 1e-4);
        auto lossMasked = causalLmLoss(masked, labelsMasked).item<double>();
        QVERIFY(std::abs(lossMasked - refJson["loss_masked"].get<double>()) < 1e-5);

        // The chunked loss over hidden states agrees with the logits loss.
        auto hidden = lm->hiddenStates(ids, mask, pos);
        auto sum = causalLmLossSum(hidden, *lm->lmHead(), labelsMasked, 5);
        QCOMPARE(sum.tokens, int64_t(19));
        QVERIFY(std::abs(sum.sum.item<double>() / sum.tokens - lossMasked) < 1e-5);

        // Greedy continuation with the KV cache, and its step logits.
        auto prompt = torch::tensor(refJson["gen_prompt"].get<std::vector<int64_t>>(), torch::kInt64).unsqueeze(0);
        torch::Tensor stepLogits;
        auto tokens = greedyWithCache(*lm, prompt, 8, &stepLogits);
        QCOMPARE(tokens, refJson["gen_new_tokens"].get<std::vector<int64_t>>());
        QVERIFY(relDiff(stepLogits, ref.at("gen_step_logits")) < 1e-4);
    }

    void kvCacheEqualsRecompute_data() {
        QTest::addColumn<QString>("folder");
        QTest::newRow("llama") << "llama";
        QTest::newRow("qwen2") << "qwen2";
        QTest::newRow("mistral") << "mistral";
    }
    void kvCacheEqualsRecompute() {
        REQUIRE_FIXTURES();
        QFETCH(QString, folder);
        torch::NoGradGuard noGrad;
        auto lm = loadCausalLM(fixtures() / folder.toStdString());
        // Left-padded batch, prefill 5 tokens, then chunks of 3 and 1 (T != S in both).
        auto ids = torch::tensor({1, 239, 179, 14, 112, 17, 149, 78, 203, 0, 0, 1, 136, 57, 80, 148, 149, 133},
                                 torch::kInt64)
                       .view({2, 9});
        auto mask = torch::ones({2, 9}, torch::kInt64);
        mask[1][0] = 0;
        mask[1][1] = 0;
        auto pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
        auto full = lm->forward(ids, mask, pos).logits;

        KVCache cache = lm->makeCache();
        std::vector<torch::Tensor> parts;
        int64_t start = 0;
        for (int64_t len : {5, 3, 1}) {
            auto sl = [&](const torch::Tensor& t) { return t.narrow(1, start, len); };
            parts.push_back(lm->forward(sl(ids), mask.narrow(1, 0, start + len), sl(pos), &cache).logits);
            start += len;
        }
        QCOMPARE(cache.length(), int64_t(9));
        auto incremental = torch::cat(parts, 1);
        // Row 1's padded positions differ by design; compare the real tokens.
        QVERIFY(relDiff(incremental[0], full[0]) < 1e-5);
        QVERIFY(relDiff(incremental[1].narrow(0, 2, 7), full[1].narrow(0, 2, 7)) < 1e-5);
    }

    void bf16CheckpointLoads() {
        REQUIRE_FIXTURES();
        torch::NoGradGuard noGrad;
        QTemporaryDir tmp;
        fs::path dir = tmp.path().toStdString();
        auto ref = loadCausalLM(fixtures() / "llama");
        // Write a bf16 and an f16 copy of the checkpoint.
        for (auto type : {torch::kBFloat16, torch::kFloat16}) {
            auto tensors = ref->checkpointTensors();
            for (auto& [name, t] : tensors)
                t = t.to(type);
            fs::path d = dir / dtypeText(type);
            fs::create_directories(d);
            saveSafeTensors(d / "model.safetensors", tensors);
            fs::copy_file(fixtures() / "llama" / "config.json", d / "config.json");
            auto ids = torch::tensor({1, 239, 179, 14, 112, 17}, torch::kInt64).unsqueeze(0);
            auto want = ref->forward(ids).logits;
            // Default on CPU: upcast to float32.
            auto up = loadCausalLM(d);
            QCOMPARE(up->dtype(), torch::kFloat32);
            QVERIFY(relDiff(up->forward(ids).logits, want) < 2e-2);
            if (type == torch::kBFloat16) {
                LoadOptions o;
                o.dtype = torch::kBFloat16;
                auto native = loadCausalLM(d, o);
                QCOMPARE(native->dtype(), torch::kBFloat16);
                auto logits = native->forward(ids).logits;
                QCOMPARE(logits.scalar_type(), torch::kBFloat16);
                QVERIFY(relDiff(logits.to(torch::kFloat32), want) < 5e-2);
            }
        }
    }

    void slotsReplaceAndRegister() {
        ModelConfig c;
        c.architecture = "Qwen3ForCausalLM";
        c.modelType = "qwen3";
        c.vocabSize = 32;
        c.hiddenSize = 16;
        c.intermediateSize = 24;
        c.numLayers = 2;
        c.numHeads = 4;
        c.numKvHeads = 2;
        c.headDim = 8;
        c.tieWordEmbeddings = true;
        auto lm = createCausalLM(c, 7);
        auto slotList = lm->linearSlots();
        QCOMPARE(slotList.size(), size_t(2 * 7 + 1));
        QCOMPARE(QString::fromStdString(slotList[0].name), QString("model.layers.0.self_attn.q_proj"));
        QCOMPARE(slotList.back().layer, -1);
        // Qwen3: q_norm/k_norm, head_dim 8 != 16/4.
        auto names = lm->namedParameters();
        bool hasQNorm = false;
        for (auto& [n, t] : names)
            hasQNorm |= n == "model.layers.1.self_attn.q_norm.weight";
        QVERIFY(hasQNorm);
        QCOMPARE(slotList[0].get()->outFeatures(), int64_t(32));
        QCOMPARE(static_cast<int64_t>(names.size()), int64_t(1 + 2 * (2 + 4 + 2 + 3) + 1));
        int64_t count = 0;
        for (auto& [n, t] : names)
            count += t.numel();
        QCOMPARE(count, c.parameterCount());

        // A wrapper in the slot is called and its parameters are visible under the slot's name.
        struct Scaled : LinearLayer {
            Scaled(std::shared_ptr<LinearLayer> base) : LinearLayer(base->weight, base->bias), m_base(std::move(base)) {
                extra = register_parameter("extra", torch::ones({1}));
            }
            torch::Tensor forward(const torch::Tensor& x) override { return LinearLayer::forward(x) * extra; }
            std::shared_ptr<LinearLayer> m_base;
            torch::Tensor extra;
        };
        auto ids = torch::tensor({1, 2, 3}, torch::kInt64).unsqueeze(0);
        auto before = lm->forward(ids).logits.detach();
        auto wrapped = std::make_shared<Scaled>(slotList[2].get());
        slotList[2].set(wrapped);
        QVERIFY(slotList[2].get() == wrapped);
        bool found = false;
        for (auto& item : lm->named_parameters())
            found |= item.key() == "model.layers.0.self_attn.v_proj.extra";
        QVERIFY(found);
        QVERIFY(relDiff(lm->forward(ids).logits.detach(), before) < 1e-6);
        {
            torch::NoGradGuard g;
            wrapped->extra.fill_(0.5);
        }
        QVERIFY(relDiff(lm->forward(ids).logits.detach(), before) > 1e-4);
        // A layer of the wrong shape is refused.
        QVERIFY_THROWS_EXCEPTION(rslora::Error, slotList[0].set(slotList[1].get()));
    }

    void saveAndReload() {
        QTemporaryDir tmp;
        fs::path dir = fs::path(tmp.path().toStdString()) / "model";
        ModelConfig c;
        c.vocabSize = 40;
        c.hiddenSize = 16;
        c.intermediateSize = 32;
        c.numLayers = 2;
        c.numHeads = 2;
        c.numKvHeads = 1;
        c.headDim = 8;
        c.eosTokenIds = {2, 3};
        auto lm = createCausalLM(c, 11);
        lm->saveModelFolder(dir);
        auto back = loadCausalLM(dir);
        QCOMPARE(back->config().eosTokenIds, (std::vector<int64_t>{2, 3}));
        auto ids = torch::tensor({5, 6, 7, 8}, torch::kInt64).unsqueeze(0);
        torch::NoGradGuard g;
        QVERIFY(relDiff(back->forward(ids).logits, lm->forward(ids).logits) == 0.0);
        // Same seed, same model; another seed, another model.
        auto again = createCausalLM(c, 11);
        auto other = createCausalLM(c, 12);
        QVERIFY(relDiff(again->forward(ids).logits, lm->forward(ids).logits) == 0.0);
        QVERIFY(relDiff(other->forward(ids).logits, lm->forward(ids).logits) > 1e-3);
    }

    void unalignedAndZeroCopy() {
        QTemporaryDir tmp;
        fs::path file = fs::path(tmp.path().toStdString()) / "odd.safetensors";
        // A header of odd length puts the F32 data at an unaligned file offset, as some writers do.
        std::string header = R"({"b":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"a":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
        float values[2] = {1.5f, -2.25f};
        std::string bytes(8, '\0');
        for (int i = 0; i < 8; ++i)
            bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
        bytes += header + std::string("\x07\x08\x09", 3) + std::string(reinterpret_cast<const char*>(values), 8);
        std::ofstream(file, std::ios::binary) << bytes;
        auto t = loadSafeTensorsMap(file);
        QCOMPARE(t.at("a")[0].item<float>(), 1.5f);
        QCOMPARE(t.at("a")[1].item<float>(), -2.25f);
        QCOMPARE(t.at("b")[2].item<uint8_t>(), uint8_t(9));

        // Weights whose dtype already fits view the mapping (a from_blob storage is not resizable).
        REQUIRE_FIXTURES();
        auto lm = loadCausalLM(fixtures() / "llama");
        for (auto& [name, p] : lm->namedParameters())
            QVERIFY2(!p.storage().resizable(), name.c_str());
        // In-place updates (an optimizer step) are private to the process: the file is unchanged.
        auto before = rslora::models::loadSafeTensorsMap(fixtures() / "llama" / "model.safetensors").at("model.norm.weight").clone();
        {
            torch::NoGradGuard g;
            for (auto& [name, p] : lm->namedParameters())
                if (name == "model.norm.weight")
                    p.add_(1.0);
        }
        auto after = rslora::models::loadSafeTensorsMap(fixtures() / "llama" / "model.safetensors").at("model.norm.weight");
        QVERIFY(torch::equal(before, after));
    }

    void slidingWindow() {
        // One Mistral layer with a window of 3: position t sees t-2..t only.
        ModelConfig c;
        c.architecture = "MistralForCausalLM";
        c.modelType = "mistral";
        c.vocabSize = 50;
        c.hiddenSize = 16;
        c.intermediateSize = 32;
        c.numLayers = 1;
        c.numHeads = 2;
        c.numKvHeads = 1;
        c.headDim = 8;
        c.slidingWindow = 3;
        c.slidingLayers = {true};
        c.initializerRange = 0.3;
        auto lm = createCausalLM(c, 3);
        torch::NoGradGuard g;
        auto ids = torch::tensor({1, 2, 3, 4, 5, 6, 7, 8}, torch::kInt64).unsqueeze(0);
        auto changed = ids.clone();
        changed[0][0] = 9;
        auto a = lm->forward(ids).logits, b = lm->forward(changed).logits;
        QVERIFY(relDiff(a.narrow(1, 3, 5), b.narrow(1, 3, 5)) == 0.0);  // outside the window
        QVERIFY(relDiff(a.narrow(1, 2, 1), b.narrow(1, 2, 1)) > 1e-4);  // inside it
        // Cached decoding applies the same window with T != S.
        KVCache cache = lm->makeCache();
        auto p1 = lm->forward(ids.narrow(1, 0, 5), {}, {}, &cache).logits;
        auto p2 = lm->forward(ids.narrow(1, 5, 2), {}, {}, &cache).logits;
        auto p3 = lm->forward(ids.narrow(1, 7, 1), {}, {}, &cache).logits;
        QVERIFY(relDiff(torch::cat({p1, p2, p3}, 1), a) < 1e-5);
    }

    void ropeScaling() {
        ModelConfig c;
        c.headDim = 16;
        c.numHeads = 1;
        c.ropeTheta = 10000;
        c.maxPositionEmbeddings = 64;
        RotaryEmbedding plain(c);
        ModelConfig lin = c;
        lin.ropeScaling.type = "linear";
        lin.ropeScaling.factor = 4;
        RotaryEmbedding linear(lin);
        // Linear scaling: position p behaves as p / factor.
        auto p = torch::tensor({0, 4, 8, 40}, torch::kInt64).unsqueeze(0);
        auto q = torch::tensor({0, 1, 2, 10}, torch::kInt64).unsqueeze(0);
        QVERIFY(relDiff(linear.cosSin(p, torch::kFloat32).first, plain.cosSin(q, torch::kFloat32).first) < 1e-6);
        // llama3: high frequencies unchanged, the lowest divided by the factor.
        ModelConfig l3 = c;
        l3.ropeScaling.type = "llama3";
        l3.ropeScaling.factor = 8;
        l3.ropeScaling.lowFreqFactor = 1;
        l3.ropeScaling.highFreqFactor = 4;
        l3.ropeScaling.originalMaxPositionEmbeddings = 64;
        RotaryEmbedding llama3(l3);
        auto base = plain.invFreq(), scaled = llama3.invFreq();
        QCOMPARE(scaled[0].item<float>(), base[0].item<float>());
        QVERIFY(std::abs(scaled[7].item<float>() - base[7].item<float>() / 8) < 1e-9);
        // dynamic: unchanged inside the trained context, stretched beyond it.
        ModelConfig dyn = c;
        dyn.ropeScaling.type = "dynamic";
        dyn.ropeScaling.factor = 2;
        RotaryEmbedding dynamic(dyn);
        auto inside = torch::arange(0, 64, torch::kInt64).unsqueeze(0);
        QVERIFY(relDiff(dynamic.cosSin(inside, torch::kFloat32).second, plain.cosSin(inside, torch::kFloat32).second) == 0);
        auto beyond = torch::arange(0, 100, torch::kInt64).unsqueeze(0);
        QVERIFY(relDiff(dynamic.cosSin(beyond, torch::kFloat32).second, plain.cosSin(beyond, torch::kFloat32).second) > 1e-3);
    }

    void loaderErrors() {
        QTemporaryDir tmp;
        fs::path dir = tmp.path().toStdString();
        QVERIFY_THROWS_EXCEPTION(rslora::Error, loadCausalLM(dir / "missing"));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, loadCausalLM(dir));  // no config.json
        ModelConfig c = tinyModelConfig(40);
        auto lm = createCausalLM(c, 1);
        lm->saveModelFolder(dir);
        // Drop one tensor, misshape another: each is reported by name.
        auto tensors = lm->checkpointTensors();
        auto dropped = tensors;
        dropped.erase(dropped.begin() + 3);
        saveSafeTensors(dir / "model.safetensors", dropped);
        try {
            loadCausalLM(dir);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(tensors[3].first) != std::string::npos, e.what());
        }
        auto misshaped = tensors;
        misshaped[0].second = torch::zeros({41, 16});
        saveSafeTensors(dir / "model.safetensors", misshaped);
        try {
            loadCausalLM(dir);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find("model.embed_tokens.weight") != std::string::npos, e.what());
        }
        // Bad inputs to forward are errors, not crashes.
        QVERIFY_THROWS_EXCEPTION(rslora::Error, lm->forward(torch::tensor({40}, torch::kInt64).view({1, 1})));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, lm->forward(torch::tensor({1.0f}).view({1, 1})));
        QVERIFY_THROWS_EXCEPTION(rslora::Error,
                                 lm->forward(torch::tensor({1, 2}, torch::kInt64).view({1, 2}), torch::ones({1, 3})));
    }

    // tie_word_embeddings true with an lm_head.weight that differs from the embedding: the head is the
    // embedding (as before) and the ignored lm_head.weight is now named in a warning, since
    // transformers versions disagree on which one they use; an equal copy loads without one.
    void tiedHeadThatDiffersIsNamed() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        ModelConfig c = tinyModelConfig(40);
        c.tieWordEmbeddings = true;
        auto lm = createCausalLM(c, 3);
        lm->saveModelFolder(dir);
        const auto ids = torch::tensor({1, 5, 9, 2}, torch::kInt64).view({1, 4});
        torch::Tensor tiedLogits;
        {
            torch::NoGradGuard ng;
            tiedLogits = loadCausalLM(dir)->forward(ids).logits;
        }
        auto tensors = lm->checkpointTensors();
        torch::Tensor embed;
        for (const auto& [name, t] : tensors)
            if (name == "model.embed_tokens.weight")
                embed = t.detach();
        QVERIFY(embed.defined());
        std::vector<std::string> warnings;
        rslora::setLogCallback([&](rslora::LogLevel level, const std::string& m) {
            if (level == rslora::LogLevel::Warning)
                warnings.push_back(m);
        });
        auto loadWithHead = [&](const torch::Tensor& head) {
            auto withHead = tensors;
            withHead.emplace_back("lm_head.weight", head);
            saveSafeTensors(dir / "model.safetensors", withHead);
            warnings.clear();
            torch::NoGradGuard ng;
            return loadCausalLM(dir)->forward(ids).logits;
        };
        const torch::Tensor equalHead = loadWithHead(embed.clone());
        const std::vector<std::string> equalWarnings = warnings;
        const torch::Tensor otherHead = loadWithHead(embed * 2 + 1);
        const std::vector<std::string> otherWarnings = warnings;
        const torch::Tensor bf16Copy = loadWithHead(embed.to(torch::kBFloat16));
        const std::vector<std::string> bf16Warnings = warnings;
        rslora::setLogCallback({});
        QVERIFY(torch::equal(equalHead, tiedLogits));
        QVERIFY(torch::equal(otherHead, tiedLogits));
        QVERIFY2(equalWarnings.empty(), equalWarnings.empty() ? "" : equalWarnings[0].c_str());
        QCOMPARE(otherWarnings.size(), size_t(1));
        QCOMPARE(otherWarnings[0], (dir / "model.safetensors").string() +
                                       ": tensor 'lm_head.weight' differs from 'model.embed_tokens.weight', but config.json "
                                       "ties the output head to the embeddings (tie_word_embeddings is true): the head uses "
                                       "'model.embed_tokens.weight' and 'lm_head.weight' is ignored; set tie_word_embeddings "
                                       "to false in config.json to use 'lm_head.weight' instead");
        // Stored in another dtype, the head is compared by value: bf16 rounding makes it differ here.
        QCOMPARE(bf16Warnings.size(), size_t(1));
    }

    // A missing lm_head.weight says why it was expected: the error claimed that config.json said
    // tie_word_embeddings is false also when the file does not name the key.
    void missingHeadNamesTheTieSetting() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto lm = createCausalLM(tinyModelConfig(40), 4);
        lm->saveModelFolder(dir);
        auto tensors = lm->checkpointTensors();
        tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const auto& t) { return t.first == "lm_head.weight"; }),
                      tensors.end());
        saveSafeTensors(dir / "model.safetensors", tensors);
        auto message = [&] {
            try {
                loadCausalLM(dir);
            } catch (const rslora::Error& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        const std::string expected = dir.string() + ": expected tensor 'lm_head.weight' [40, 16] for LlamaForCausalLM, not "
                                                    "found in the checkpoint";
        QCOMPARE(message(), expected + " (config.json says tie_word_embeddings is false)");
        auto config = readJson(dir / "config.json");
        config.erase("tie_word_embeddings");
        std::ofstream(dir / "config.json") << config.dump();
        QCOMPARE(message(), expected + " (config.json does not set tie_word_embeddings, which is false for LlamaForCausalLM)");
    }

    // A folder holding an index and a single file loads the shards; transformers would load the single
    // file, so the ignored one is named in a warning instead of being passed over silently.
    void indexBesideSingleFileIsNamed() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto lm = createCausalLM(tinyModelConfig(40), 5);
        lm->saveModelFolder(dir);
        auto tensors = lm->checkpointTensors();
        nlohmann::json map = nlohmann::json::object();
        for (const auto& [name, t] : tensors)
            map[name] = "model-00001-of-00001.safetensors";
        saveSafeTensors(dir / "model-00001-of-00001.safetensors", tensors);
        std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"weight_map", map}}.dump();
        std::vector<std::string> warnings;
        rslora::setLogCallback([&](rslora::LogLevel level, const std::string& m) {
            if (level == rslora::LogLevel::Warning)
                warnings.push_back(m);
        });
        const bool loaded = loadCausalLM(dir) != nullptr;
        const std::vector<std::string> both = warnings;
        fs::remove(dir / "model.safetensors");
        warnings.clear();
        (void)loadCausalLM(dir);
        const std::vector<std::string> shardsOnly = warnings;
        rslora::setLogCallback({});
        QVERIFY(loaded);
        QCOMPARE(both.size(), size_t(1));
        QCOMPARE(both[0], dir.string() + ": holds both model.safetensors.index.json and model.safetensors: the shards the "
                                         "index names are loaded and model.safetensors is ignored (transformers would load "
                                         "model.safetensors); remove the file that is not the model's");
        QVERIFY(shardsOnly.empty());
    }

    // An index that leaves a shard file out (as transformers, the loader reads only the files the
    // weight_map names) named only the first tensor it lacked; the file is named now: present in the
    // folder but not listed, or in neither.
    void shardLeftOutOfIndexIsNamed() {
        if (fixtures().empty() || !fs::exists(fixtures() / "llama_sharded"))
            QSKIP("RSLORA_SHARED_DIR is not set; skipping the sharded fixture");
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "m";
        fs::copy(fixtures() / "llama_sharded", dir);
        auto index = readJson(dir / "model.safetensors.index.json");
        for (auto it = index["weight_map"].begin(); it != index["weight_map"].end();)
            it = it.value() == "model-00002-of-00005.safetensors" ? index["weight_map"].erase(it) : std::next(it);
        std::ofstream(dir / "model.safetensors.index.json") << index.dump();
        auto message = [&] {
            try {
                (void)loadCausalLM(dir);
            } catch (const rslora::Error& e) {
                return std::string(e.what());
            }
            return std::string("loaded");
        };
        std::string m = message();
        QVERIFY2(m.find("not found in the checkpoint; it is in model-00002-of-00005.safetensors, a file in the folder that "
                        "model.safetensors.index.json does not list (transformers, too, loads only the files its weight_map "
                        "names): add that file's tensors to the weight_map") != std::string::npos,
                 m.c_str());
        fs::remove(dir / "model-00002-of-00005.safetensors");
        m = message();
        QVERIFY2(m.find("not found in the checkpoint; model.safetensors.index.json names no tensor of "
                        "model-00002-of-00005.safetensors (neither in the folder nor in the index)") != std::string::npos,
                 m.c_str());
    }

    // NaN or inf in a base weight used to load silently: generation printed blanks, eval reported loss
    // nan, training blamed the learning rate, merge blamed the adapter. Each stored float type is
    // checked as it loads, whatever dtype it is loaded in.
    void nonFiniteWeightsAreRefused_data() {
        QTest::addColumn<QString>("dtype");
        QTest::addColumn<double>("value");
        QTest::addColumn<QString>("tensor");
        const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        QTest::newRow("f32 nan") << "f32" << nan << "model.layers.0.self_attn.q_proj.weight";
        QTest::newRow("f32 -inf") << "f32" << -inf << "model.layers.0.mlp.down_proj.weight";
        QTest::newRow("bf16 nan") << "bf16" << nan << "model.layers.0.self_attn.q_proj.weight";
        QTest::newRow("f16 inf") << "f16" << inf << "model.norm.weight";
        QTest::newRow("f64 nan") << "f64" << nan << "model.embed_tokens.weight";
        // Finite as F64, infinite once computed in float32: loaded silently and gave NaN logits.
        QTest::newRow("f64 beyond float32") << "f64" << -1e39 << "model.layers.0.self_attn.o_proj.weight";
    }
    void nonFiniteWeightsAreRefused() {
        QFETCH(QString, dtype);
        QFETCH(double, value);
        QFETCH(QString, tensor);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto lm = createCausalLM(tinyModelConfig(40), 1);
        lm->saveModelFolder(dir);
        const auto type = dtype == "bf16" ? torch::kBFloat16 : dtype == "f16" ? torch::kFloat16 : dtype == "f64" ? torch::kFloat64
                                                                                                              : torch::kFloat32;
        auto tensors = lm->checkpointTensors();
        bool edited = false;
        for (auto& [name, t] : tensors) {
            t = t.detach().to(type).clone();
            if (name == tensor.toStdString()) {
                t.view({-1})[t.numel() - 1] = value; // the last element: a check that stops early misses it
                edited = true;
            }
        }
        QVERIFY(edited);
        saveSafeTensors(dir / "model.safetensors", tensors);
        const std::string expected = (dir / "model.safetensors").string() + ": tensor '" + tensor.toStdString() +
                                     (std::isfinite(value) ? "' holds F64 values beyond float32's range (magnitude above "
                                                             "3.4e38), which become infinite when computed in float32 or narrower"
                                                           : "' holds NaN or infinite values");
        for (const auto loadAs : {torch::kFloat32, torch::kBFloat16}) {
            LoadOptions o;
            o.dtype = loadAs;
            try {
                loadCausalLM(dir, o);
                QFAIL("a checkpoint holding NaN or inf loaded");
            } catch (const rslora::Error& e) {
                QCOMPARE(std::string(e.what()), expected);
            }
        }
        // The same file with finite values loads.
        for (auto& [name, t] : tensors) {
            t = torch::nan_to_num(t, 0.0, 1.0, -1.0);
            if (t.scalar_type() == torch::kFloat64)
                t = t.clamp(-1.0, 1.0);
        }
        saveSafeTensors(dir / "model.safetensors", tensors);
        QVERIFY(loadCausalLM(dir) != nullptr);
    }

    // The compute dtype of an unset LoadOptions::dtype on CUDA follows transformers'
    // torch_dtype="auto": config.json's torch_dtype (or v5's dtype) when it names a supported float
    // dtype, else the dtype holding the most elements. Before, the first float tensor decided (here
    // the float32 one, which the writer lays out first).
    void checkpointDtypeChoice() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto config = [](const char* key, const char* value) {
            nlohmann::json j{{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 40}, {"hidden_size", 16},
                             {"intermediate_size", 32}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
            if (key)
                j[key] = value;
            return ModelConfig::fromJson(j, "config.json");
        };
        saveSafeTensors(dir / "model.safetensors", {{"a.weight", torch::zeros({8})}, {"b.weight", torch::zeros({64}, torch::kBFloat16)}});
        {
            WeightFiles weights(dir);
            QCOMPARE(weights.files().front()->tensors().front().dtype, Dtype::F32);
            QCOMPARE(checkpointDtype(config(nullptr, nullptr), weights), torch::kBFloat16);  // most elements
            QCOMPARE(checkpointDtype(config("torch_dtype", "bfloat16"), weights), torch::kBFloat16);
            QCOMPARE(checkpointDtype(config("dtype", "float16"), weights), torch::kFloat16);
            QCOMPARE(checkpointDtype(config("torch_dtype", "float32"), weights), torch::kFloat32);
            QCOMPARE(checkpointDtype(config("torch_dtype", "float64"), weights), torch::kBFloat16);  // not supported: by elements
        }
        // torch_dtype bfloat16 while the first and largest tensor is float32: the config decides.
        saveSafeTensors(dir / "model.safetensors", {{"a.weight", torch::zeros({64})}, {"b.weight", torch::zeros({8}, torch::kBFloat16)}});
        WeightFiles weights(dir);
        QCOMPARE(weights.files().front()->tensors().front().dtype, Dtype::F32);
        QCOMPARE(checkpointDtype(config("torch_dtype", "bfloat16"), weights), torch::kBFloat16);
        QCOMPARE(checkpointDtype(config(nullptr, nullptr), weights), torch::kFloat32);
        // The CPU still computes in float32 unless asked otherwise (LoadOptions::dtype).
    }

    // FP8 weights without a quantization_config the loader knows: the message says what the dtype
    // is and what is supported, not just "expected a floating-point dtype".
    void fp8WeightsAreNamed() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        ModelConfig c = tinyModelConfig(40);
        auto lm = createCausalLM(c, 1);
        lm->saveModelFolder(dir);
        const std::string fp8 = "model.layers.0.self_attn.q_proj.weight";
        std::vector<torch::Tensor> keep;
        std::vector<uint8_t> codes;
        std::vector<TensorBytes> tensors;
        for (const auto& [name, t] : lm->checkpointTensors()) {
            TensorBytes b;
            b.name = name;
            for (auto d : t.sizes())
                b.shape.push_back(static_cast<uint64_t>(d));
            if (name == fp8) {
                codes.assign(static_cast<size_t>(t.numel()), 0);
                b.dtype = Dtype::F8_E4M3;
                b.data = codes.data();
                b.size = codes.size();
            } else {
                keep.push_back(t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
                b.dtype = Dtype::F32;
                b.data = keep.back().data_ptr();
                b.size = static_cast<uint64_t>(keep.back().numel()) * 4;
            }
            tensors.push_back(b);
        }
        SafeTensorsWriter::write(dir / "model.safetensors", tensors);
        try {
            loadCausalLM(dir);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QString::fromStdString("'" + fp8 + "' is stored as F8_E4M3, a quantized 8-bit float")), e.what());
            QVERIFY2(what.contains("not supported") && what.contains("F32, F16 and BF16"), e.what());
        }
    }

    // A tokenizer whose ids reach past config.json's vocab_size is refused where the model's folder
    // is read (an id past the embedding is a device-side assert on CUDA); one that fits loads.
    void tokenizerMustFitTheVocabulary() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        ModelConfig c = tinyModelConfig(40);
        c.eosTokenIds = {2};
        std::ofstream(dir / "config.json") << c.toJson().dump();
        // `count` tokens of its own, and optionally an added token at id `added`.
        auto tokenizerJson = [](int count, int added) {
            nlohmann::json vocab = {{"a", 0}, {"b", 1}};
            for (int i = 2; i < count; ++i)
                vocab["t" + std::to_string(i)] = i;
            nlohmann::json j = {{"version", "1.0"},
                                {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
            if (added >= 0)
                j["added_tokens"] = nlohmann::json::array({{{"id", added}, {"content", "<pad>"}, {"special", true},
                                                            {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                                                            {"normalized", false}}});
            return j.dump();
        };
        std::ofstream(dir / "tokenizer.json") << tokenizerJson(41, -1);
        try {
            loadModelTokenizer(dir);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains("the tokenizer has 41 tokens but config.json vocab_size is 40"), e.what());
            QVERIFY2(what.contains(QString::fromStdString(dir.string())), e.what());
        }
        // An added token past the rows (a <pad> added without resizing the embeddings) is tolerated
        // at load, as transformers does; the forward pass refuses its id.
        std::ofstream(dir / "tokenizer.json") << tokenizerJson(40, 40);
        QCOMPARE(loadModelTokenizer(dir).idLimit(), int64_t(41));
        std::ofstream(dir / "tokenizer.json") << tokenizerJson(40, -1);
        std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "b"})";
        const Tokenizer tok = loadModelTokenizer(dir);
        QCOMPARE(tok.idLimit(), int64_t(40));
        // Generation stops on the model's eos ids, then the tokenizer's when it is not among them.
        QCOMPARE(stopTokenIds(c, tok), (std::vector<int64_t>{2, 1}));
        c.eosTokenIds = {1, 2};
        QCOMPARE(stopTokenIds(c, tok), (std::vector<int64_t>{1, 2}));
        c.eosTokenIds.clear();
        QCOMPARE(stopTokenIds(c, tok), (std::vector<int64_t>{1}));
    }
};

QTEST_GUILESS_MAIN(TestCausalLM)
#include "tst_causallm.moc"
