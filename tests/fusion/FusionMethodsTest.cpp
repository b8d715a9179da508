// Fusion methods against independent float64 loops on small random factors: exact to 1e-10, svd's
// reported error equal to the measured one and optimal, ties / dare / magnitude_prune entry by entry
// (with the same exposed DARE mask, whose keep rate is also checked), energy targets, negative weights,
// mixed ranks, scales and module sets, every refusal, cancellation, and the fused folder's record.
#include "common/AtomicFile.h"
#include "common/Error.h"
#include "engine/fusion/FusedAdapterFolder.h"
#include "engine/fusion/Fusion.h"
#include "engine/fusion/SvdCompression.h"
#include "engine/fusion/TaskArithmetic.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

// A dense matrix as nested vectors, so the reference never touches the engine's tensor code paths.
using Mat = std::vector<std::vector<double>>;

Mat zeros(int64_t rows, int64_t cols) { return Mat(size_t(rows), std::vector<double>(size_t(cols), 0.0)); }

Mat toMat(const torch::Tensor& t)
{
    const torch::Tensor c = t.to(torch::kFloat64).contiguous();
    Mat m = zeros(c.size(0), c.size(1));
    for (int64_t i = 0; i < c.size(0); ++i)
        for (int64_t j = 0; j < c.size(1); ++j)
            m[size_t(i)][size_t(j)] = c[i][j].item<double>();
    return m;
}

// λ s B A by explicit loops.
Mat weightedDelta(const ModuleFactors& f, double weight)
{
    const Mat A = toMat(f.A), B = toMat(f.B);
    Mat d = zeros(f.outFeatures(), f.inFeatures());
    for (size_t o = 0; o < d.size(); ++o)
        for (size_t i = 0; i < d[o].size(); ++i) {
            double s = 0;
            for (size_t k = 0; k < A.size(); ++k)
                s += B[o][k] * A[k][i];
            d[o][i] = weight * f.scale * s;
        }
    return d;
}

double frob2(const Mat& m)
{
    double s = 0;
    for (const auto& row : m)
        for (double v : row)
            s += v * v;
    return s;
}

double diff2(const Mat& a, const Mat& b)
{
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < a[i].size(); ++j)
            s += (a[i][j] - b[i][j]) * (a[i][j] - b[i][j]);
    return s;
}

// Trim to the entries whose magnitude reaches the k-th largest (k = round(density n), at least 1).
Mat trimmed(const Mat& t, double density)
{
    std::vector<double> mags;
    for (const auto& row : t)
        for (double v : row)
            mags.push_back(std::abs(v));
    std::sort(mags.begin(), mags.end(), std::greater<double>());
    const size_t k = size_t(std::clamp<long long>(std::llround(density * double(mags.size())), 1, (long long)mags.size()));
    const double threshold = mags[k - 1];
    Mat out = t;
    for (auto& row : out)
        for (double& v : row)
            if (std::abs(v) < threshold)
                v = 0;
    return out;
}

int sgn(double v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }

// The reference of a dense method over the weighted deltas of one module.
Mat referenceMerge(FusionMethod method, std::vector<Mat> taus, const std::vector<size_t>& indices, const FusionPlan& plan,
                   const std::string& module)
{
    for (size_t t = 0; t < taus.size(); ++t) {
        if (method == FusionMethod::Ties || method == FusionMethod::MagnitudePrune) {
            taus[t] = trimmed(taus[t], plan.density);
        } else {
            const torch::Tensor mask = dareKeepMask(plan.seed, module, indices[t],
                                                    {int64_t(taus[t].size()), int64_t(taus[t][0].size())}, plan.drop);
            for (size_t o = 0; o < taus[t].size(); ++o)
                for (size_t i = 0; i < taus[t][o].size(); ++i)
                    taus[t][o][i] = mask[int64_t(o)][int64_t(i)].item<bool>() ? taus[t][o][i] / (1.0 - plan.drop) : 0.0;
        }
    }
    Mat out = zeros(int64_t(taus[0].size()), int64_t(taus[0][0].size()));
    const bool ties = method == FusionMethod::Ties || method == FusionMethod::DareTies;
    for (size_t o = 0; o < out.size(); ++o)
        for (size_t i = 0; i < out[o].size(); ++i) {
            double sum = 0;
            for (const auto& t : taus)
                sum += t[o][i];
            if (!ties) {
                out[o][i] = sum;
                continue;
            }
            const int elected = sum >= 0 ? 1 : -1;
            double agreeing = 0;
            int count = 0;
            for (const auto& t : taus)
                if (sgn(t[o][i]) == elected) {
                    agreeing += t[o][i];
                    ++count;
                }
            out[o][i] = count ? agreeing / count : 0.0;
        }
    return out;
}

ModuleFactors randomModule(const std::string& name, int64_t rank, int64_t out, int64_t in, double scale)
{
    ModuleFactors m;
    m.module = name;
    m.A = torch::randn({rank, in}, torch::kFloat64);
    m.B = torch::randn({out, rank}, torch::kFloat64);
    m.scale = scale;
    return m;
}

// Three adapters of ranks 2/3/4 with alpha/r and alpha/√r scales; the third lacks the v_proj module
// and adds an o_proj module of its own.
std::vector<AdapterFactors> randomAdapters()
{
    torch::manual_seed(11);
    std::vector<AdapterFactors> a(3);
    const std::vector<int64_t> ranks = {2, 3, 4};
    const std::vector<double> scales = {2.0, 16.0 / std::sqrt(3.0), 0.5};
    for (size_t i = 0; i < 3; ++i) {
        a[i].label = "a" + std::to_string(i + 1);
        a[i].baseModelNameOrPath = "tiny";
        a[i].modules.push_back(randomModule("model.layers.0.self_attn.q_proj", ranks[i], 9, 7, scales[i]));
        if (i < 2)
            a[i].modules.push_back(randomModule("model.layers.0.self_attn.v_proj", ranks[i], 5, 7, scales[i]));
        else
            a[i].modules.push_back(randomModule("model.layers.1.self_attn.o_proj", ranks[i], 7, 7, scales[i]));
        std::sort(a[i].modules.begin(), a[i].modules.end(), [](const auto& x, const auto& y) { return x.module < y.module; });
    }
    return a;
}

const std::vector<double> kWeights = {0.7, -0.4, 1.3};

// Σ λᵢ sᵢ Bᵢ Aᵢ of one module by loops (missing modules contribute zero); the deltas are returned too.
Mat referenceSum(const std::vector<AdapterFactors>& adapters, const std::string& module, std::vector<Mat>* taus = nullptr,
                 std::vector<size_t>* indices = nullptr)
{
    Mat sum;
    for (size_t i = 0; i < adapters.size(); ++i) {
        const ModuleFactors* f = adapters[i].find(module);
        if (!f)
            continue;
        const Mat d = weightedDelta(*f, kWeights[i]);
        if (taus) {
            taus->push_back(d);
            indices->push_back(i);
        }
        if (sum.empty())
            sum = d;
        else
            for (size_t o = 0; o < d.size(); ++o)
                for (size_t j = 0; j < d[o].size(); ++j)
                    sum[o][j] += d[o][j];
    }
    return sum;
}

std::vector<std::string> moduleUnion(const std::vector<AdapterFactors>& adapters)
{
    std::set<std::string> names;
    for (const auto& a : adapters)
        for (const auto& m : a.modules)
            names.insert(m.module);
    return {names.begin(), names.end()};
}

FusionPlan plan(FusionMethod method)
{
    FusionPlan p;
    p.method = method;
    p.weights = kWeights;
    return p;
}

void expectRefusal(const FusionPlan& p, const std::vector<AdapterFactors>& adapters, const std::string& needle)
{
    try {
        fuse(p, adapters);
        QFAIL(("no refusal; expected: " + needle).c_str());
    } catch (const FusionCancelled&) {
        QFAIL("cancelled instead of refused");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
}

} // namespace

class FusionMethodsTest : public QObject {
    Q_OBJECT
private slots:
    void exactIsTheWeightedSum()
    {
        const auto adapters = randomAdapters();
        const FusionResult r = fuse(plan(FusionMethod::Exact), adapters);
        const auto names = moduleUnion(adapters);
        QCOMPARE(r.adapter.modules.size(), names.size());
        for (const auto& m : r.adapter.modules) {
            QCOMPARE(m.scale, 1.0);
            QCOMPARE(m.A.scalar_type(), torch::kFloat64);
            const Mat ref = referenceSum(adapters, m.module);
            const double rel = std::sqrt(diff2(toMat(m.delta()), ref) / frob2(ref));
            QVERIFY2(rel < 1e-10, (m.module + " " + std::to_string(rel)).c_str());
        }
        QCOMPARE(r.adapter.find("model.layers.0.self_attn.q_proj")->rank(), int64_t(9)); // 2 + 3 + 4
        QCOMPARE(r.adapter.find("model.layers.0.self_attn.v_proj")->rank(), int64_t(5)); // the third lacks it
        QCOMPARE(r.adapter.find("model.layers.1.self_attn.o_proj")->rank(), int64_t(4)); // only the third has it
        QCOMPARE(r.report.exactRank, int64_t(9));
        QCOMPARE(r.report.relativeError, 0.0);
        // Norms from the factors equal the dense ones.
        for (const auto& mr : r.report.modules)
            QVERIFY(std::abs(mr.norm - std::sqrt(frob2(referenceSum(adapters, mr.module)))) < 1e-9 * mr.norm);
    }

    void svdErrorIsMeasuredAndOptimal_data()
    {
        QTest::addColumn<int>("rank");
        QTest::addColumn<double>("energy");
        QTest::newRow("rank 1") << 1 << 0.0;
        QTest::newRow("rank 3") << 3 << 0.0;
        QTest::newRow("rank 7 (exact)") << 7 << 0.0;
        QTest::newRow("energy 0.9") << 0 << 0.9;
        QTest::newRow("energy 1") << 0 << 1.0;
    }
    void svdErrorIsMeasuredAndOptimal()
    {
        QFETCH(int, rank);
        QFETCH(double, energy);
        const auto adapters = randomAdapters();
        FusionPlan p = plan(FusionMethod::Svd);
        if (rank)
            p.rank = rank;
        else
            p.energy = energy;
        const FusionResult r = fuse(p, adapters);
        double err2 = 0, total2 = 0;
        for (size_t k = 0; k < r.adapter.modules.size(); ++k) {
            const ModuleFactors& m = r.adapter.modules[k];
            const ModuleReport& mr = r.report.modules[k];
            QCOMPARE(mr.module, m.module);
            const Mat ref = referenceSum(adapters, m.module);
            const double measured2 = diff2(toMat(m.delta()), ref);
            const double measured = std::sqrt(measured2 / frob2(ref));
            QVERIFY2(std::abs(measured - mr.relativeError) < 1e-9, (m.module + ": measured " + std::to_string(measured)
                                                                     + " reported " + std::to_string(mr.relativeError)).c_str());
            err2 += measured2;
            total2 += frob2(ref);
            // Optimal: the tail of the reference's own spectrum (Eckart–Young).
            torch::Tensor refT = torch::empty({int64_t(ref.size()), int64_t(ref[0].size())}, torch::kFloat64);
            for (size_t o = 0; o < ref.size(); ++o)
                for (size_t j = 0; j < ref[o].size(); ++j)
                    refT[int64_t(o)][int64_t(j)] = ref[o][j];
            const torch::Tensor s = torch::linalg_svdvals(refT);
            const double tail = s.slice(0, m.rank()).square().sum().item<double>();
            QVERIFY(std::abs(std::sqrt(tail) - std::sqrt(measured2)) < 1e-9 * std::sqrt(frob2(ref)));
            if (rank)
                QCOMPARE(m.rank(), std::min<int64_t>(rank, mr.exactRank));
            else {
                // The smallest rank that keeps the energy.
                QVERIFY(1.0 - tail / frob2(ref) >= energy - 1e-12);
                if (m.rank() > 1) {
                    const double tailOneLess = s.slice(0, m.rank() - 1).square().sum().item<double>();
                    QVERIFY(1.0 - tailOneLess / frob2(ref) < energy);
                }
            }
        }
        QVERIFY(std::abs(std::sqrt(err2 / total2) - r.report.relativeError) < 1e-9);
        if (rank == 7 || energy == 1.0)
            QVERIFY(r.report.relativeError < 1e-10);
    }

    void denseMethodsMatchLoops_data()
    {
        QTest::addColumn<int>("method");
        QTest::addColumn<double>("density");
        QTest::addColumn<double>("drop");
        QTest::newRow("ties 0.3") << int(FusionMethod::Ties) << 0.3 << 0.0;
        QTest::newRow("ties 1") << int(FusionMethod::Ties) << 1.0 << 0.0;
        QTest::newRow("magnitude_prune 0.5") << int(FusionMethod::MagnitudePrune) << 0.5 << 0.0;
        QTest::newRow("dare_linear 0.4") << int(FusionMethod::DareLinear) << 0.0 << 0.4;
        QTest::newRow("dare_ties 0.6") << int(FusionMethod::DareTies) << 0.0 << 0.6;
        QTest::newRow("dare_linear 0 (no drop)") << int(FusionMethod::DareLinear) << 0.0 << 0.0;
    }
    void denseMethodsMatchLoops()
    {
        QFETCH(int, method);
        QFETCH(double, density);
        QFETCH(double, drop);
        const auto adapters = randomAdapters();
        FusionPlan p = plan(FusionMethod(method));
        if (density > 0)
            p.density = density;
        p.drop = drop;
        p.seed = 1234;
        // Full rank: the merge itself, to 1e-10.
        p.rank = 7;
        const FusionResult full = fuse(p, adapters);
        // Rank 2: the error reported equals the one measured against the loops' merge.
        p.rank = 2;
        const FusionResult low = fuse(p, adapters);
        for (const auto& name : moduleUnion(adapters)) {
            std::vector<Mat> taus;
            std::vector<size_t> indices;
            referenceSum(adapters, name, &taus, &indices);
            const Mat ref = referenceMerge(FusionMethod(method), taus, indices, p, name);
            const double norm2 = frob2(ref);
            QVERIFY(norm2 > 0);
            const double relFull = std::sqrt(diff2(toMat(full.adapter.find(name)->delta()), ref) / norm2);
            QVERIFY2(relFull < 1e-10, (name + " " + std::to_string(relFull)).c_str());
            const ModuleFactors* m = low.adapter.find(name);
            QCOMPARE(m->rank(), int64_t(2));
            const double measured = std::sqrt(diff2(toMat(m->delta()), ref) / norm2);
            const auto it = std::find_if(low.report.modules.begin(), low.report.modules.end(),
                                         [&](const ModuleReport& r) { return r.module == name; });
            QVERIFY(std::abs(measured - it->relativeError) < 1e-9);
            QCOMPARE(it->exactRank, std::min<int64_t>(m->outFeatures(), m->inFeatures()));
        }
        // The same seed gives the same result; DARE with another seed does not.
        p.rank = 7;
        QVERIFY(torch::equal(fuse(p, adapters).adapter.modules[0].delta(), full.adapter.modules[0].delta()));
        if (drop > 0) {
            p.seed = 99;
            QVERIFY(!torch::allclose(fuse(p, adapters).adapter.modules[0].delta(), full.adapter.modules[0].delta()));
        }
    }

    void dareMaskKeepsOneMinusDrop()
    {
        // 200k draws: the keep rate within 5 standard deviations of 1 − p; streams differ per module
        // and per adapter; the same arguments give the same mask.
        for (double drop : {0.1, 0.5, 0.9}) {
            const torch::Tensor m = dareKeepMask(7, "model.layers.3.mlp.up_proj", 0, {400, 500}, drop);
            const double rate = m.to(torch::kFloat64).mean().item<double>();
            const double sd = std::sqrt(drop * (1 - drop) / 200000.0);
            QVERIFY2(std::abs(rate - (1 - drop)) < 5 * sd, std::to_string(rate).c_str());
        }
        const auto a = dareKeepMask(7, "m.a", 0, {100, 100}, 0.5);
        QVERIFY(torch::equal(a, dareKeepMask(7, "m.a", 0, {100, 100}, 0.5)));
        QVERIFY(!torch::equal(a, dareKeepMask(7, "m.b", 0, {100, 100}, 0.5)));
        QVERIFY(!torch::equal(a, dareKeepMask(7, "m.a", 1, {100, 100}, 0.5)));
        QVERIFY(!torch::equal(a, dareKeepMask(8, "m.a", 0, {100, 100}, 0.5)));
        // Two adapters' masks are independent: both kept at about (1 − p)².
        const double both = (dareKeepMask(7, "m.a", 0, {400, 500}, 0.5) & dareKeepMask(7, "m.a", 1, {400, 500}, 0.5))
                                .to(torch::kFloat64).mean().item<double>();
        QVERIFY(std::abs(both - 0.25) < 5 * std::sqrt(0.25 * 0.75 / 200000.0));
    }

    void denseCompressionUsesTheSketchForLargeMatrices()
    {
        // A 200×150 rank-5 matrix plus small noise, rank 5 requested: the sketch path runs (5 + 10 < 150 / 4)
        // and the error it reports is the measured one, within 1% of the optimum.
        torch::manual_seed(5);
        const torch::Tensor d = torch::mm(torch::randn({200, 5}, torch::kFloat64), torch::randn({5, 150}, torch::kFloat64))
                                + 0.01 * torch::randn({200, 150}, torch::kFloat64);
        RankTarget t;
        t.rank = 5;
        const Compressed c = compressDense(d, t, 42);
        const double measured = ((d - torch::mm(c.B, c.A)).norm().item<double>()) / d.norm().item<double>();
        QVERIFY(std::abs(measured - c.relativeError()) < 1e-9);
        const torch::Tensor s = torch::linalg_svdvals(d);
        const double optimum = std::sqrt(s.slice(0, 5).square().sum().item<double>()) / d.norm().item<double>();
        QVERIFY2(measured <= optimum * 1.01, (std::to_string(measured) + " vs " + std::to_string(optimum)).c_str());
    }

    void refusals()
    {
        const auto adapters = randomAdapters();
        expectRefusal(plan(FusionMethod::Exact), {}, "nothing to fuse");
        FusionPlan p = plan(FusionMethod::Exact);
        p.weights = {1.0, 2.0};
        expectRefusal(p, adapters, "2 fusion weights for 3 adapters");
        p.weights = {1.0, std::nan(""), 1.0};
        expectRefusal(p, adapters, "weight of adapter 2 (a2) is nan");
        p.weights = {1.0, 1.0, INFINITY};
        expectRefusal(p, adapters, "weight of adapter 3 (a3) is inf");
        p.weights = {0.0, 0.0, 0.0};
        expectRefusal(p, adapters, "every fusion weight is 0");
        // Weights are applied in float32: beyond it, or beyond it once multiplied by a module's scale,
        // the fused adapter used to come out as inf / NaN (and was written).
        p.weights = {1.0, -1e39, 1.0};
        expectRefusal(p, adapters, "the weight of adapter 2 (a2) is -1e+39, which does not fit float32 (at most 3.40282e+38)");
        p.weights = {2e38, 1.0, 1.0};
        expectRefusal(p, adapters, "adapter 1 (a1): model.layers.0.self_attn.q_proj: its weight 2e+38 times its scale 2 is 4e+38, "
                                   "which does not fit float32");
        p.weights = {1.0, 1.0, -1e38}; // negative weights are fine (task arithmetic) as long as they fit
        QCOMPARE(fuse(p, adapters).adapter.modules.size(), size_t(3));

        auto bad = adapters;
        bad[1].modules[0].B = bad[1].modules[0].B.clone();
        bad[1].modules[0].B[0][0] = std::nan("");
        expectRefusal(plan(FusionMethod::Svd), bad, "adapter 2 (a2): model.layers.0.self_attn.q_proj holds NaN or infinite values in lora_B");

        auto otherBase = adapters;
        otherBase[2].baseModelNameOrPath = "/models/other";
        expectRefusal(plan(FusionMethod::Exact), otherBase, "adapter 3 (a3) was trained on base model '/models/other'");
        auto sameNameOtherPath = adapters;
        sameNameOtherPath[2].baseModelNameOrPath = "/models/tiny/";
        QCOMPARE(fuse(plan(FusionMethod::Exact), sameNameOtherPath).adapter.modules.size(), size_t(3));
        auto otherShape = adapters;
        otherShape[1].modules[0] = randomModule("model.layers.0.self_attn.q_proj", 3, 9, 8, 1.0);
        expectRefusal(plan(FusionMethod::Exact), otherShape, "adapter 2 (a2) adapts model.layers.0.self_attn.q_proj as 9×8");
        FusionPlan fp = plan(FusionMethod::Exact);
        fp.baseFingerprints = {"aaaaaaaaaaaaaaaa", "", "bbbbbbbbbbbbbbbb"};
        expectRefusal(fp, adapters, "adapter 3 (a3) was trained on base model bbbbbbbbbbbb");
        fp.baseFingerprints = {"aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa"};
        // Equal fingerprints win over different names.
        QCOMPARE(fuse(fp, otherBase).adapter.modules.size(), size_t(3));

        for (double d : {0.0, -0.1, 1.5, double(NAN)}) {
            FusionPlan q = plan(FusionMethod::Ties);
            q.density = d;
            expectRefusal(q, adapters, "is outside (0, 1]");
        }
        for (double d : {1.0, -0.1, 2.0}) {
            FusionPlan q = plan(FusionMethod::DareLinear);
            q.drop = d;
            expectRefusal(q, adapters, "is outside [0, 1)");
        }
        FusionPlan q = plan(FusionMethod::Svd);
        q.rank = 0;
        expectRefusal(q, adapters, "target rank 0 is below 1");
        q.rank = 8;
        expectRefusal(q, adapters, "target rank 8 is above the exact rank 7"); // Σ rᵢ = 9 but min(out, in) = 7
        q.rank = 7;
        QCOMPARE(fuse(q, adapters).report.rank, int64_t(7));
        q.method = FusionMethod::Ties;
        q.rank = 8;
        expectRefusal(q, adapters, "target rank 8 is above the exact rank 7");
        q.rank = 2;
        q.energy = 0.5;
        expectRefusal(q, adapters, "not both");
        q.rank.reset();
        for (double e : {0.0, 1.01, -1.0}) {
            q.energy = e;
            expectRefusal(q, adapters, "is outside (0, 1]");
        }
        try {
            parseFusionMethod("linear");
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("exact|svd|ties|dare_linear|dare_ties|magnitude_prune") != std::string::npos, e.what());
        }
        for (FusionMethod m : fusionMethods())
            QVERIFY(parseFusionMethod(fusionMethodName(m)) == m);
    }

    // Weights and scales that fit float32 can still make the fused factors overflow it: refused, naming
    // the module, and a folder of non-finite factors is never written.
    void overflowingResultIsRefused()
    {
        auto adapters = randomAdapters();
        for (auto& a : adapters)
            for (auto& m : a.modules) {
                m.A = m.A.to(torch::kFloat32);
                m.B = m.B.to(torch::kFloat32);
                m.scale = 1.0;
            }
        FusionPlan p = plan(FusionMethod::Exact);
        p.weights = {3e38, 1.0, 1.0};
        expectRefusal(p, adapters, "the fused model.layers.0.self_attn.q_proj has values that are not finite in Float (the "
                                   "weighted sources overflow it); nothing was written");
        p.method = FusionMethod::Svd;
        expectRefusal(p, adapters, "has values that are not finite in Float");

        QTemporaryDir tmp;
        const fs::path out = fs::path(tmp.path().toStdString()) / "fused";
        AdapterFactors huge = adapters[0];
        huge.modules[1].scale = 1e39; // beyond float32 on its own: the product must not be formed in float32
        try {
            writeAdapterFactors(huge, out, "tiny");
            QFAIL("factors that overflow float32 were written");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("model.layers.0.self_attn.v_proj has values that are not finite in float32 (lora_B, "
                                                "with its scale folded in); nothing was written") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(out));
    }

    void progressReportsAndCancels()
    {
        const auto adapters = randomAdapters();
        std::vector<std::pair<int, int>> calls;
        fuse(plan(FusionMethod::Svd), adapters, [&](int done, int total) {
            calls.emplace_back(done, total);
            return true;
        });
        QCOMPARE(calls.size(), size_t(4));
        QCOMPARE(calls.front(), std::make_pair(0, 3));
        QCOMPARE(calls.back(), std::make_pair(3, 3));
        QVERIFY_THROWS_EXCEPTION(FusionCancelled, fuse(plan(FusionMethod::Ties), adapters, [](int done, int) { return done < 2; }));
    }

    void fusedFolderHasRecordAndReadsBack()
    {
        QTemporaryDir tmp;
        const auto adapters = randomAdapters();
        FusionPlan p = plan(FusionMethod::Svd);
        p.rank = 3;
        const FusionResult r = fuse(p, adapters);
        std::vector<FusionSource> sources;
        for (size_t i = 0; i < 3; ++i) {
            FusionSource s;
            s.label = adapters[i].label;
            s.weight = kWeights[i];
            s.sha256 = "hash" + std::to_string(i);
            if (i == 1)
                s.versionId = 42;
            sources.push_back(s);
        }
        const fs::path dir = fs::path(tmp.path().toStdString()) / "fused";
        QVERIFY_THROWS_EXCEPTION(Error, writeFusedAdapter(r, p, {sources[0]}, dir));
        QVERIFY(!fs::exists(dir));
        writeFusedAdapter(r, p, sources, dir);
        const auto rec = nlohmann::json::parse(readFile(dir / kFusionRecordFile));
        QCOMPARE(rec["method"].get<std::string>(), std::string("svd"));
        QCOMPARE(rec["weights"][1].get<double>(), -0.4);
        QCOMPARE(rec["parameters"]["rank"].get<int>(), 3);
        QCOMPARE(rec["sources"][1]["version_id"].get<int>(), 42);
        QCOMPARE(rec["sources"][2]["sha256"].get<std::string>(), std::string("hash2"));
        QCOMPARE(rec["modules"].size(), size_t(3));
        QVERIFY(std::abs(rec["relative_error"].get<double>() - r.report.relativeError) < 1e-15);
        const auto config = nlohmann::json::parse(readFile(dir / "adapter_config.json"));
        QCOMPARE(config["r"].get<int>(), 3);
        QCOMPARE(config["base_model_name_or_path"].get<std::string>(), std::string("tiny"));
        const AdapterFactors back = readAdapterFactors(dir);
        for (const auto& m : r.adapter.modules) {
            const ModuleFactors* b = back.find(m.module);
            QVERIFY(b);
            QVERIFY((b->delta().to(torch::kFloat64) - m.delta()).abs().max().item<double>() < 1e-5);
        }
    }
};

QTEST_GUILESS_MAIN(FusionMethodsTest)
#include "FusionMethodsTest.moc"
