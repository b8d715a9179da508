// Adapters that cancel: an adapter fused with its negation (or weights that sum to 0 over copies of one
// adapter) is refused with a message saying that they cancel, for every method whose full result is
// the zero matrix; a fusion where only some modules cancel writes those modules as exact zeros, flags
// them and keeps them out of the error (which would otherwise be a ratio of rounding noise); a
// near-cancellation above the tolerance is an ordinary fusion with a meaningful error.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

ModuleFactors randomModule(const std::string& name, int64_t rank, int64_t out, int64_t in, double scale, torch::Dtype dtype)
{
    ModuleFactors m;
    m.module = name;
    m.A = torch::randn({rank, in}, torch::kFloat64).to(dtype);
    m.B = torch::randn({out, rank}, torch::kFloat64).to(dtype);
    m.scale = scale;
    return m;
}

const std::string kQ = "model.layers.0.self_attn.q_proj";
const std::string kV = "model.layers.0.self_attn.v_proj";

// An r4 adapter on q_proj and v_proj, as read from a file (float32), scale α/r = 2.
AdapterFactors fileLikeAdapter(const std::string& label, uint64_t seed)
{
    torch::manual_seed(seed);
    AdapterFactors a;
    a.label = label;
    a.baseModelNameOrPath = "tiny";
    a.modules.push_back(randomModule(kQ, 4, 24, 16, 2.0, torch::kFloat32));
    a.modules.push_back(randomModule(kV, 4, 8, 16, 2.0, torch::kFloat32));
    return a;
}

FusionPlan plan(FusionMethod method, std::vector<double> weights)
{
    FusionPlan p;
    p.method = method;
    p.weights = std::move(weights);
    return p;
}

std::string refusalOf(const FusionPlan& p, const std::vector<AdapterFactors>& adapters)
{
    try {
        fuse(p, adapters);
    } catch (const FusionCancelled&) {
        return "cancelled by progress";
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

} // namespace

class FusionCancellationTest : public QObject {
    Q_OBJECT
private slots:
    void adapterWithItsNegationIsRefused_data()
    {
        QTest::addColumn<int>("method");
        QTest::newRow("exact") << int(FusionMethod::Exact);
        QTest::newRow("svd") << int(FusionMethod::Svd);
        QTest::newRow("magnitude_prune") << int(FusionMethod::MagnitudePrune);
        QTest::newRow("dare_linear, drop 0") << int(FusionMethod::DareLinear);
    }
    void adapterWithItsNegationIsRefused()
    {
        QFETCH(int, method);
        const AdapterFactors a = fileLikeAdapter("task@v1", 3);
        FusionPlan p = plan(FusionMethod(method), {1.0, -1.0});
        p.drop = 0.0; // DARE without drops is the plain sum
        const std::string message = refusalOf(p, {a, a});
        QVERIFY2(message.find("the adapters cancel") != std::string::npos, message.c_str());
        QVERIFY2(message.find("adapter 2 (task@v1) weighted -1") != std::string::npos, message.c_str());
        QVERIFY2(message.find("nothing was written") != std::string::npos, message.c_str());
    }

    void weightsSummingToZeroOverCopiesAreRefused()
    {
        const AdapterFactors a = fileLikeAdapter("a", 5);
        const std::string message = refusalOf(plan(FusionMethod::Svd, {0.25, 0.75, -1.0}), {a, a, a});
        QVERIFY2(message.find("the adapters cancel") != std::string::npos, message.c_str());
        // An opposite-signed copy whose scale compensates (α/r halved, weight doubled) cancels too.
        AdapterFactors b = a;
        for (auto& m : b.modules)
            m.scale = 1.0;
        const std::string scaled = refusalOf(plan(FusionMethod::Exact, {1.0, -2.0}), {a, b});
        QVERIFY2(scaled.find("the adapters cancel") != std::string::npos, scaled.c_str());
    }

    void cancelledModulesAreZerosAndKeptOutOfTheError()
    {
        const AdapterFactors a = fileLikeAdapter("a", 7);
        AdapterFactors b = fileLikeAdapter("b", 8);
        b.modules[0] = a.modules[0]; // q_proj: b holds a's own factors, so a − b cancels there
        QCOMPARE(b.modules[0].module, kQ);
        for (FusionMethod method : {FusionMethod::Svd, FusionMethod::Exact}) {
            FusionPlan p = plan(method, {1.0, -1.0});
            if (method == FusionMethod::Svd)
                p.rank = 2; // v_proj (rank 8 in sum) is truncated: a real error there
            const FusionResult r = fuse(p, {a, b});
            QCOMPARE(r.report.cancelledModules, int64_t(1));
            QCOMPARE(r.report.zeroModules, int64_t(1));
            const ModuleReport& q = r.report.modules[0];
            const ModuleReport& v = r.report.modules[1];
            QCOMPARE(q.module, kQ);
            QVERIFY(q.cancelled && q.zero);
            QVERIFY(!v.cancelled && !v.zero);
            QCOMPARE(q.relativeError, 0.0);
            QCOMPARE(q.norm, 0.0);
            QCOMPARE(q.rank, int64_t(1));
            const ModuleFactors* fq = r.adapter.find(kQ);
            QVERIFY(fq);
            QCOMPARE(fq->rank(), int64_t(1));
            QCOMPARE(fq->outFeatures(), int64_t(24));
            QCOMPARE(fq->inFeatures(), int64_t(16));
            QCOMPARE(fq->delta().abs().max().item<double>(), 0.0);
            // The overall error is v_proj's alone.
            QVERIFY2(std::abs(r.report.relativeError - v.relativeError) < 1e-12,
                     (std::to_string(r.report.relativeError) + " vs " + std::to_string(v.relativeError)).c_str());
            if (method == FusionMethod::Svd)
                QVERIFY(v.relativeError > 0.01);
            else
                QCOMPARE(v.relativeError, 0.0);
        }
    }

    void methodThatLeavesNothingSaysWhy()
    {
        // Two different adapters do not cancel; DARE dropping (almost) every entry leaves zero.
        const AdapterFactors a = fileLikeAdapter("a", 13), b = fileLikeAdapter("b", 14);
        FusionPlan p = plan(FusionMethod::DareLinear, {1.0, 1.0});
        p.drop = 0.9999999;
        const std::string message = refusalOf(p, {a, b});
        QVERIFY2(message.find("dare_linear left nothing") != std::string::npos, message.c_str());
        QVERIFY2(message.find("drop 1") != std::string::npos || message.find("drop 0.9999") != std::string::npos, message.c_str());
        QVERIFY2(message.find("the adapters cancel") == std::string::npos, message.c_str());
    }

    void tiesOfCancellingSourcesIsFlaggedButNotZero()
    {
        // TIES elects the sign of the sum (+ on a tie), so X and −X give the positive parts: not zero.
        const AdapterFactors a = fileLikeAdapter("a", 15);
        const FusionResult r = fuse(plan(FusionMethod::Ties, {1.0, -1.0}), {a, a});
        QCOMPARE(r.report.cancelledModules, int64_t(2));
        QCOMPARE(r.report.zeroModules, int64_t(0));
        for (const auto& m : r.report.modules)
            QVERIFY(m.norm > 0);
    }

    void nearCancellationAboveTheToleranceIsAnOrdinaryFusion()
    {
        const AdapterFactors a = fileLikeAdapter("a", 9);
        // 1 − 0.999 leaves 1e-3 of each delta: well above the tolerance, and exactly rank 4.
        const FusionResult r = fuse(plan(FusionMethod::Svd, {1.0, -0.999}), {a, a});
        QCOMPARE(r.report.cancelledModules, int64_t(0));
        for (const auto& m : r.report.modules) {
            QVERIFY(!m.cancelled);
            QVERIFY2(m.relativeError < 1e-6, (m.module + " " + std::to_string(m.relativeError)).c_str());
            const ModuleFactors& src = *a.find(m.module);
            const torch::Tensor expected = src.delta().to(torch::kFloat64) * 1e-3;
            const torch::Tensor got = r.adapter.find(m.module)->delta().to(torch::kFloat64);
            const double rel = ((got - expected).norm() / expected.norm()).item<double>();
            QVERIFY2(rel < 1e-3, (m.module + " " + std::to_string(rel)).c_str());
        }
    }

    void recordNamesTheCancelledModules()
    {
        QTemporaryDir tmp;
        const AdapterFactors a = fileLikeAdapter("a", 11);
        AdapterFactors b = fileLikeAdapter("b", 12);
        b.modules[1] = a.modules[1]; // v_proj cancels
        const FusionPlan p = plan(FusionMethod::Svd, {1.0, -1.0});
        const FusionResult r = fuse(p, {a, b});
        std::vector<FusionSource> sources(2);
        sources[0].label = "a";
        sources[0].weight = 1.0;
        sources[1].label = "b";
        sources[1].weight = -1.0;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "fused";
        writeFusedAdapter(r, p, sources, dir);
        const auto rec = nlohmann::json::parse(readFile(dir / kFusionRecordFile));
        QCOMPARE(rec["cancelled_modules"].get<int>(), 1);
        QCOMPARE(rec["zero_modules"].get<int>(), 1);
        QCOMPARE(rec["modules"][0]["cancelled"].get<bool>(), false);
        QCOMPARE(rec["modules"][1]["cancelled"].get<bool>(), true);
        QCOMPARE(rec["modules"][1]["zero"].get<bool>(), true);
        QCOMPARE(rec["modules"][1]["relative_error"].get<double>(), 0.0);
        const AdapterFactors back = readAdapterFactors(dir);
        QCOMPARE(back.find(kV)->delta().abs().max().item<double>(), 0.0);
    }
};

QTEST_GUILESS_MAIN(FusionCancellationTest)
#include "FusionCancellationTest.moc"
