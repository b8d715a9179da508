// Fusion of adapters that trained biases (bias "lora_only"): the fused adapter carries
// b + combine(λᵢ (bᵢ − b)) against the base model's biases, gives the logits of its sources applied
// together, keeps PEFT's format, and is refused without a base or against the wrong one.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/PeftConfigFile.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"
#include "FusionTestSupport.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;
using fusiontest::fixtures;
using fusiontest::maxDiff;

namespace {

const std::string kQ = "model.layers.0.self_attn.q_proj", kK = "model.layers.0.self_attn.k_proj";

torch::Tensor baseTensor(const std::string& name)
{
    return models::loadSafeTensorsMap(fixtures() / "qwen2" / "model.safetensors").at(name);
}

// A bias "lora_only" adapter on the qwen2 fixture: q_proj (and k_proj when asked) with trained biases
// base + `shift` (a tensor broadcast over the bias).
void writeBiasAdapter(const fs::path& dir, uint64_t seed, const torch::Tensor& qShift, bool withK)
{
    fs::create_directories(dir);
    torch::manual_seed(seed);
    std::vector<std::pair<std::string, torch::Tensor>> t = {
        {engine::kPeftKeyPrefix + kQ + ".lora_A.weight", torch::randn({2, 64}) * 0.2},
        {engine::kPeftKeyPrefix + kQ + ".lora_B.weight", torch::randn({64, 2}) * 0.2},
        {engine::kPeftKeyPrefix + kQ + ".bias", baseTensor(kQ + ".bias") + qShift}};
    if (withK) {
        t.push_back({engine::kPeftKeyPrefix + kK + ".lora_A.weight", torch::randn({2, 64}) * 0.2});
        t.push_back({engine::kPeftKeyPrefix + kK + ".lora_B.weight", torch::randn({32, 2}) * 0.2});
        t.push_back({engine::kPeftKeyPrefix + kK + ".bias", baseTensor(kK + ".bias") + torch::randn({32}) * 0.3});
    }
    models::saveSafeTensors(dir / engine::kPeftWeightsFile, t);
    writeFileAtomic(dir / engine::kPeftConfigFile,
                    std::string(R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "bias": "lora_only", "target_modules": [)")
                        + (withK ? R"("q_proj", "k_proj"]})" : R"("q_proj"]})"));
}

torch::Tensor logitsOf(models::CausalLM& model)
{
    torch::NoGradGuard ng;
    const torch::Tensor ids = torch::tensor({{1, 5, 9, 2, 7, 3}}, torch::kInt64);
    return model.forward(ids, torch::ones_like(ids)).logits;
}

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

class BiasFusionTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    fs::path m_a, m_b;

    AdapterFactors read(const fs::path& dir, const std::string& label)
    {
        AdapterFactors f = readAdapterFactors(dir, TrainedBiasUse::Read);
        f.label = label;
        return f;
    }

private slots:
    void initTestCase()
    {
        QVERIFY(!fixtures().empty());
        m_a = fs::path(m_tmp.path().toStdString()) / "a";
        m_b = fs::path(m_tmp.path().toStdString()) / "b";
        torch::manual_seed(1);
        writeBiasAdapter(m_a, 2, torch::rand({64}) * 0.5 + 0.1, true);  // q bias raised everywhere, k too
        writeBiasAdapter(m_b, 3, -(torch::rand({64}) * 0.2 + 0.05), false); // q bias lowered everywhere
    }

    // Exact: the fused biases are b + Σ λᵢ (bᵢ − b); written as PEFT writes lora_only adapters; loaded
    // alone it gives the logits of the two sources applied together with their weights.
    void exactFusionAddsTheChanges()
    {
        FusionPlan plan;
        plan.weights = {1.0, 0.5};
        plan.baseModelDir = fixtures() / "qwen2";
        const std::vector<AdapterFactors> sources = {read(m_a, "a"), read(m_b, "b")};
        const FusionResult r = fuse(plan, sources);
        QCOMPARE(r.report.trainedBiases, int64_t(2));
        const torch::Tensor bq = baseTensor(kQ + ".bias"), bk = baseTensor(kK + ".bias");
        const torch::Tensor wantQ = bq + (sources[0].biases.at(kQ) - bq) + 0.5 * (sources[1].biases.at(kQ) - bq);
        QVERIFY2(maxDiff(r.adapter.biases.at(kQ), wantQ) < 1e-6, "q_proj bias");
        QVERIFY2(maxDiff(r.adapter.biases.at(kK), sources[0].biases.at(kK)) < 1e-6, "k_proj bias: only adapter a trained it");

        const fs::path out = fs::path(m_tmp.path().toStdString()) / "fused-exact";
        writeFusedAdapter(r, plan, {{"a", m_a, 1.0}, {"b", m_b, 0.5}}, out);
        const auto config = nlohmann::json::parse(readFile(out / engine::kPeftConfigFile));
        QCOMPARE(config.at("bias").get<std::string>(), std::string("lora_only"));
        const auto tensors = models::loadSafeTensorsMap(out / engine::kPeftWeightsFile);
        QVERIFY(tensors.count(engine::kPeftKeyPrefix + kQ + ".bias"));
        const auto record = nlohmann::json::parse(readFile(out / kFusionRecordFile));
        QCOMPARE(record.at("trained_biases").get<int>(), 2);
        QCOMPARE(record.at("bias_base_model").get<std::string>(), (fixtures() / "qwen2").string());

        auto together = models::loadCausalLM(fixtures() / "qwen2");
        engine::AdapterSet both(*together);
        engine::loadPeftAdapter(both, m_a, "a");
        engine::loadPeftAdapter(both, m_b, "b");
        both.setActive({{"a", 1.0}, {"b", 0.5}});
        auto fusedModel = models::loadCausalLM(fixtures() / "qwen2");
        engine::AdapterSet one(*fusedModel);
        engine::loadPeftAdapter(one, out, "fused");
        one.setActive({{"fused", 1.0}});
        const double diff = maxDiff(logitsOf(*fusedModel), logitsOf(*together));
        QVERIFY2(diff < 1e-4, std::to_string(diff).c_str());
        auto plain = models::loadCausalLM(fixtures() / "qwen2");
        QVERIFY2(maxDiff(logitsOf(*plain), logitsOf(*together)) > 1e-2, "the adapters change the logits");
    }

    // svd re-compresses the weights only: the biases are the same sum. ties elects the sign of each
    // entry: a raises every q bias entry more than b (weight 0.5) lowers it, so only a's change stays.
    void otherMethodsCombineBiasesByTheirRule()
    {
        const std::vector<AdapterFactors> sources = {read(m_a, "a"), read(m_b, "b")};
        const torch::Tensor bq = baseTensor(kQ + ".bias");
        FusionPlan svd;
        svd.method = FusionMethod::Svd;
        svd.weights = {1.0, 0.5};
        svd.rank = 1;
        svd.baseModelDir = fixtures() / "qwen2";
        const torch::Tensor sum = bq + (sources[0].biases.at(kQ) - bq) + 0.5 * (sources[1].biases.at(kQ) - bq);
        QVERIFY(maxDiff(fuse(svd, sources).adapter.biases.at(kQ), sum) < 1e-6);

        FusionPlan ties = svd;
        ties.method = FusionMethod::Ties;
        ties.rank.reset();
        ties.density = 1.0;
        const FusionResult t = fuse(ties, sources);
        QVERIFY2(maxDiff(t.adapter.biases.at(kQ), sources[0].biases.at(kQ)) < 1e-6, "ties keeps the elected sign only");
        QVERIFY(maxDiff(t.adapter.biases.at(kQ), sum) > 1e-3);
    }

    void refusals()
    {
        const std::vector<AdapterFactors> sources = {read(m_a, "a"), read(m_b, "b")};
        FusionPlan plan;
        plan.weights = {1.0, 1.0};
        // No base: named, with the way to give one.
        std::string e = errorOf([&] { fuse(plan, sources); });
        QVERIFY2(e.find("adapter 'a' trained biases") != std::string::npos && e.find("--model") != std::string::npos, e.c_str());
        // A base without these biases (Llama has none): another base model.
        plan.baseModelDir = fixtures() / "llama";
        e = errorOf([&] { fuse(plan, sources); });
        QVERIFY2(e.find("has no tensor '" + kK + ".bias'") != std::string::npos, e.c_str());
        // A fingerprint recorded with a stored version that is not the named base's.
        plan.baseModelDir = fixtures() / "qwen2";
        plan.baseFingerprints = {"0123456789abcdef0123", ""};
        e = errorOf([&] { fuse(plan, sources); });
        QVERIFY2(e.find("adapter 'a' was trained on base model 0123456789ab") != std::string::npos, e.c_str());
        // The old reader rule stands where biases are not wanted.
        e = errorOf([&] { readAdapterFactors(m_a); });
        QVERIFY2(e.find("is a trained bias") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(BiasFusionTest)
#include "BiasFusionTest.moc"
