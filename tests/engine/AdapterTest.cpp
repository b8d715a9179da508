// Adapter math on standalone linear layers: gradients against finite differences in float64 for
// every option, α/√r scaling, spectral init (unchanged output, balanced norms), random subspace
// (coefficients only, bases regenerated from the seed), rescaled init std, weighted active sets,
// mixed batches (each row its own adapters) against the formula, read in place and gathered.
#include "common/Error.h"
#include "engine/AdaptedLinear.h"
#include "engine/DropoutMask.h"
#include "engine/ModuleSelection.h"
#include "engine/RowLowRank.h"

#include <QtTest>

#include <cmath>

using namespace rslora;
using namespace rslora::engine;

namespace {

// True when fn throws rslora::Error.
template <typename F>
bool throwsError(F&& fn)
{
    try {
        fn();
    } catch (const rslora::Error&) {
        return true;
    }
    return false;
}

std::shared_ptr<models::LinearLayer> makeBase(int64_t out, int64_t in, bool bias, uint64_t seed)
{
    torch::manual_seed(seed);
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    return std::make_shared<models::LinearLayer>(torch::randn({out, in}, opts), bias ? torch::randn({out}, opts) : torch::Tensor());
}

// A loss with a non-trivial gradient everywhere: sum(y * R) + 0.5 sum(y^2).
double lossOf(AdaptedLinear& layer, const torch::Tensor& x, const torch::Tensor& R)
{
    torch::NoGradGuard ng;
    const auto y = layer.forward(x);
    return ((y * R).sum() + 0.5 * (y * y).sum()).item<double>();
}

// Central differences on every entry of every trainable tensor; returns the largest relative error.
double maxGradientError(AdaptedLinear& layer, const torch::Tensor& x, const torch::Tensor& R)
{
    for (auto& p : layer.parameters())
        if (p.grad().defined())
            p.mutable_grad().zero_();
    const auto y = layer.forward(x);
    ((y * R).sum() + 0.5 * (y * y).sum()).backward();
    double worst = 0.0;
    int checked = 0;
    for (auto& p : layer.parameters()) {
        if (!p.requires_grad())
            continue;
        const auto g = p.grad().clone();
        auto flat = p.data().view({-1});
        for (int64_t i = 0; i < flat.numel(); ++i) {
            const double eps = 1e-6;
            const double orig = flat[i].item<double>();
            flat[i] = orig + eps;
            const double lp = lossOf(layer, x, R);
            flat[i] = orig - eps;
            const double lm = lossOf(layer, x, R);
            flat[i] = orig;
            const double fd = (lp - lm) / (2 * eps);
            const double an = g.view({-1})[i].item<double>();
            worst = std::max(worst, std::abs(fd - an) / std::max(1.0, std::abs(fd)));
            ++checked;
        }
    }
    if (checked == 0)
        return 1e9; // nothing trainable: the test must fail
    return worst;
}

AdapterSpec spec(InitMode init, Parameterization par = Parameterization::Full)
{
    AdapterSpec s;
    s.rank = 3;
    s.alpha = 6.0;
    s.init = init;
    s.parameterization = par;
    s.subspaceDim = 4;
    s.projectionSeed = 7;
    s.initSeed = 11;
    return s;
}

void randomizeB(LoraAdapterImpl& ad, uint64_t seed)
{
    torch::NoGradGuard ng;
    torch::manual_seed(seed);
    ad.factorB().copy_(torch::randn_like(ad.factorB()) * 0.3);
}

} // namespace

class AdapterTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void gradientsMatchFiniteDifferences_data()
    {
        QTest::addColumn<int>("init");
        QTest::addColumn<int>("parameterization");
        QTest::addColumn<int>("scaling");
        QTest::addColumn<bool>("loraOnlyBias");
        QTest::newRow("lora alpha/r") << int(InitMode::Lora) << int(Parameterization::Full) << int(ScalingMode::AlphaOverR) << false;
        QTest::newRow("lora alpha/sqrt(r)") << int(InitMode::Lora) << int(Parameterization::Full) << int(ScalingMode::AlphaOverSqrtR) << false;
        QTest::newRow("gaussian") << int(InitMode::Gaussian) << int(Parameterization::Full) << int(ScalingMode::AlphaOverSqrtR) << false;
        QTest::newRow("rescaled") << int(InitMode::Rescaled) << int(Parameterization::Full) << int(ScalingMode::AlphaOverSqrtR) << false;
        QTest::newRow("spectral") << int(InitMode::Spectral) << int(Parameterization::Full) << int(ScalingMode::AlphaOverSqrtR) << false;
        QTest::newRow("random subspace") << int(InitMode::Lora) << int(Parameterization::RandomSubspace) << int(ScalingMode::AlphaOverSqrtR) << false;
        QTest::newRow("bias lora_only") << int(InitMode::Lora) << int(Parameterization::Full) << int(ScalingMode::AlphaOverR) << true;
    }

    void gradientsMatchFiniteDifferences()
    {
        QFETCH(int, init);
        QFETCH(int, parameterization);
        QFETCH(int, scaling);
        QFETCH(bool, loraOnlyBias);
        AdaptedLinear layer(makeBase(5, 6, true, 1), "model.layers.0.self_attn.q_proj");
        auto s = spec(InitMode(init), Parameterization(parameterization));
        s.scaling = ScalingMode(scaling);
        auto& ad = layer.addAdapter("default", s);
        randomizeB(ad, 3); // B = 0 would hide errors in A's gradient
        layer.setBiasTrainable(loraOnlyBias);
        torch::manual_seed(5);
        const auto x = torch::randn({2, 4, 6}, torch::kFloat64);
        const auto R = torch::randn({2, 4, 5}, torch::kFloat64);
        QVERIFY2(maxGradientError(layer, x, R) < 1e-7, "analytic and finite-difference gradients differ");
        QCOMPARE(layer.weight.requires_grad(), false);
        QCOMPARE(layer.bias.requires_grad(), loraOnlyBias);
    }

    void twoWeightedAdaptersGradients()
    {
        AdaptedLinear layer(makeBase(5, 6, false, 2), "m.v_proj");
        randomizeB(layer.addAdapter("one", spec(InitMode::Lora)), 4);
        randomizeB(layer.addAdapter("two", spec(InitMode::Gaussian)), 5);
        layer.setActiveAdapters({{"one", 0.3}, {"two", -0.7}});
        torch::manual_seed(6);
        const auto x = torch::randn({3, 6}, torch::kFloat64);
        const auto R = torch::randn({3, 5}, torch::kFloat64);
        QVERIFY(maxGradientError(layer, x, R) < 1e-7);
        // The output is the weighted sum of the deltas.
        torch::NoGradGuard ng;
        const auto expected = torch::linear(x, layer.weight)
            + 0.3 * torch::linear(x, layer.adapter("one").deltaWeight()) - 0.7 * torch::linear(x, layer.adapter("two").deltaWeight());
        QVERIFY(torch::allclose(layer.forward(x), expected, 1e-12, 1e-12));
        QVERIFY(torch::allclose(torch::linear(x, layer.mergedWeight()), expected, 1e-12, 1e-12));
        // Switching the active set needs no reload of the base.
        layer.setActiveAdapters({});
        QVERIFY(torch::allclose(layer.forward(x), torch::linear(x, layer.weight), 0, 0));
    }

    // The hand-written forward/backward node against autograd's generic nodes: an input that needs
    // its gradient, two weighted adapters (one with dropout, one frozen like an earlier stage), a
    // random-subspace one and a trainable bias.
    void handWrittenBackwardMatchesAutograd()
    {
        AdaptedLinear layer(makeBase(5, 6, true, 4), "m.up_proj");
        auto dropped = spec(InitMode::Lora);
        dropped.dropout = 0.3;
        randomizeB(layer.addAdapter("dropped", dropped), 4);
        randomizeB(layer.addAdapter("frozen", spec(InitMode::Gaussian)), 5);
        layer.adapter("frozen").setTrainable(false);
        randomizeB(layer.addAdapter("subspace", spec(InitMode::Lora, Parameterization::RandomSubspace)), 6);
        layer.setActiveAdapters({{"dropped", 0.6}, {"frozen", -0.4}, {"subspace", 1.0}});
        layer.setBiasTrainable(true);
        layer.train();
        torch::manual_seed(8);
        const auto x0 = torch::randn({2, 3, 6}, torch::kFloat64);
        const auto R = torch::randn({2, 3, 5}, torch::kFloat64);
        auto run = [&](bool handWritten) {
            AdaptedLinear::setHandWrittenBackward(handWritten);
            for (auto& p : layer.parameters())
                if (p.grad().defined())
                    p.mutable_grad().zero_();
            auto x = x0.clone().set_requires_grad(true);
            torch::manual_seed(99); // the same dropout masks on both paths
            const auto y = layer.forward(x);
            ((y * R).sum() + 0.5 * (y * y).sum()).backward();
            std::vector<torch::Tensor> out{y.detach(), x.grad()};
            for (auto& p : layer.parameters())
                out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros({1}, torch::kFloat64));
            return out;
        };
        const auto generic = run(false);
        const auto hand = run(true);
        AdaptedLinear::setHandWrittenBackward(true);
        QCOMPARE(hand.size(), generic.size());
        for (size_t i = 0; i < hand.size(); ++i)
            QVERIFY2(torch::allclose(hand[i], generic[i], 1e-12, 1e-12), qPrintable(QString("tensor %1 differs").arg(i)));
        // The frozen adapter got no gradient, the dropped one did, and dropout was active.
        QVERIFY(!layer.adapter("frozen").factorA().grad().defined() || layer.adapter("frozen").factorA().grad().abs().sum().item<double>() == 0.0);
        QVERIFY(layer.adapter("dropped").factorA().grad().abs().sum().item<double>() > 0.0);
        QVERIFY(hand[1].abs().sum().item<double>() > 0.0);
    }

    // The adapters' dropout masks: only 0 and 1/(1-p), the kept fraction near 1-p, a fresh mask
    // per call, the same masks again after re-seeding, and spread over threads without changing.
    void dropoutMasks()
    {
        const auto x = torch::zeros({1000, 1000});
        torch::manual_seed(3);
        const auto m1 = dropoutMask(x, 0.25);
        const auto m2 = dropoutMask(x, 0.25);
        const auto values = std::get<0>(torch::_unique(m1));
        QCOMPARE(values.numel(), int64_t(2));
        QCOMPARE(values[0].item<float>(), 0.0f);
        QCOMPARE(values[1].item<float>(), float(1.0 / 0.75));
        const double kept = (m1 > 0).to(torch::kFloat64).mean().item<double>();
        QVERIFY2(std::abs(kept - 0.75) < 0.002, qPrintable(QString::number(kept)));
        QVERIFY(!torch::equal(m1, m2));
        const int threads = torch::get_num_threads();
        torch::set_num_threads(2);
        torch::manual_seed(3);
        QVERIFY(torch::equal(dropoutMask(x, 0.25), m1));
        torch::set_num_threads(threads);
        // Neighbouring elements are not correlated.
        const auto k = (m1 > 0).to(torch::kFloat64).view({-1});
        const double both = (k.narrow(0, 0, k.numel() - 1) * k.narrow(0, 1, k.numel() - 1)).mean().item<double>();
        QVERIFY(std::abs(both - 0.5625) < 0.003);
    }

    void rankStabilizedScaling()
    {
        QCOMPARE(adapterScale(ScalingMode::AlphaOverSqrtR, 16, 8.0), 2.0);
        QCOMPARE(adapterScale(ScalingMode::AlphaOverR, 16, 8.0), 0.5);
        // The forward applies alpha/sqrt(r): ΔW = s·B A with s = 6/sqrt(3).
        AdaptedLinear layer(makeBase(5, 6, false, 3), "m.q_proj");
        auto& ad = layer.addAdapter("default", spec(InitMode::Lora));
        randomizeB(ad, 9);
        QCOMPARE(ad.scale(), 6.0 / std::sqrt(3.0));
        torch::NoGradGuard ng;
        const auto x = torch::randn({4, 6}, torch::kFloat64);
        const auto expected = torch::linear(x, layer.weight) + (6.0 / std::sqrt(3.0)) * torch::linear(torch::linear(x, ad.A()), ad.B());
        QVERIFY(torch::allclose(layer.forward(x), expected, 1e-12, 1e-12));
    }

    void defaultInitsAreNoOps_data()
    {
        QTest::addColumn<int>("init");
        QTest::newRow("lora") << int(InitMode::Lora);
        QTest::newRow("gaussian") << int(InitMode::Gaussian);
        QTest::newRow("rescaled") << int(InitMode::Rescaled);
    }
    void defaultInitsAreNoOps()
    {
        QFETCH(int, init);
        AdaptedLinear layer(makeBase(8, 10, true, 4), "m.up_proj");
        torch::NoGradGuard ng;
        const auto x = torch::randn({3, 10}, torch::kFloat64);
        const auto before = layer.forward(x);
        auto& ad = layer.addAdapter("default", spec(InitMode(init)));
        QVERIFY(torch::equal(layer.forward(x), before));
        QCOMPARE(ad.B().abs().max().item<double>(), 0.0);
        QVERIFY(ad.A().abs().max().item<double>() > 0.0);
        if (InitMode(init) == InitMode::Lora)
            QVERIFY(ad.A().abs().max().item<double>() <= 1.0 / std::sqrt(10.0));
    }

    void rescaledInitStd()
    {
        // Article B's check: std of lora_A ≈ σ/√r (0.007 for σ = 0.02, r = 8).
        auto opts = torch::TensorOptions().dtype(torch::kFloat32);
        auto base = std::make_shared<models::LinearLayer>(torch::zeros({64, 4096}, opts));
        AdaptedLinear layer(base, "m.q_proj");
        AdapterSpec s;
        s.rank = 8;
        s.init = InitMode::Rescaled;
        s.initSigma = 0.02;
        auto& ad = layer.addAdapter("default", s);
        const double stdA = ad.A().std().item<double>();
        QVERIFY2(std::abs(stdA - 0.02 / std::sqrt(8.0)) < 0.0002, qPrintable(QString::number(stdA)));
    }

    void spectralInitKeepsOutputAndBalances_data()
    {
        QTest::addColumn<bool>("randomized");
        QTest::newRow("exact svd") << false;
        QTest::newRow("randomized svd") << true;
    }
    void spectralInitKeepsOutputAndBalances()
    {
        QFETCH(bool, randomized);
        auto base = makeBase(12, 9, true, 5);
        const auto W = base->weight.clone();
        AdaptedLinear layer(base, "m.o_proj");
        torch::NoGradGuard ng;
        const auto x = torch::randn({4, 9}, torch::kFloat64);
        const auto before = layer.forward(x);
        auto s = spec(InitMode::Spectral);
        s.randomizedSvd = randomized;
        auto& ad = layer.addAdapter("default", s);
        QVERIFY(torch::allclose(layer.forward(x), before, 1e-12, 1e-12));
        QVERIFY(!torch::allclose(layer.weight, W)); // the base became the residual
        QVERIFY(torch::allclose(layer.originalWeight(), W, 1e-12, 1e-12));
        const double nA = ad.A().norm().item<double>(), nB = ad.B().norm().item<double>();
        QVERIFY2(std::abs(nA - nB) < 1e-9 * nA, qPrintable(QString("|A| %1 |B| %2").arg(nA).arg(nB)));
        // s·B A is the best rank-r approximation of W (Eckart–Young): compare with the SVD.
        auto [U, S, Vh] = torch::linalg_svd(W, false);
        const auto best = torch::mm(U.slice(1, 0, 3) * S.slice(0, 0, 3).unsqueeze(0), Vh.slice(0, 0, 3));
        QVERIFY(torch::allclose(ad.deltaWeight(), best, 1e-6, 1e-6));
        // Removing the adapter restores the original base.
        layer.removeAdapter("default");
        QVERIFY(torch::allclose(layer.weight, W, 1e-12, 1e-12));
    }

    void randomSubspaceTrainsCoefficientsOnly()
    {
        auto base = makeBase(7, 6, true, 6);
        AdaptedLinear layer(base, "model.layers.1.mlp.down_proj");
        torch::NoGradGuard ng;
        const auto x = torch::randn({3, 6}, torch::kFloat64);
        const auto before = layer.forward(x);
        auto s = spec(InitMode::Lora, Parameterization::RandomSubspace);
        auto& ad = layer.addAdapter("task1", s);
        QVERIFY(torch::equal(layer.forward(x), before)); // b = 0: ΔW = 0 at start
        int64_t trainable = 0;
        for (const auto& p : layer.parameters())
            if (p.requires_grad())
                trainable += p.numel();
        QCOMPARE(trainable, int64_t(2 * s.subspaceDim));
        QVERIFY(ad.factorA().abs().sum().item<double>() > 0);

        // Same seed and module: identical bases; another projection seed (another task): different.
        AdaptedLinear again(makeBase(7, 6, true, 99), "model.layers.1.mlp.down_proj");
        auto& same = again.addAdapter("task1", s);
        QVERIFY(torch::equal(same.basesA(), ad.basesA()));
        QVERIFY(torch::equal(same.basesB(), ad.basesB()));
        auto other = s;
        other.projectionSeed = 8;
        auto& diff = again.addAdapter("task2", other);
        QVERIFY(!torch::allclose(diff.basesA(), ad.basesA()));
        // Coefficients determine A and B exactly: A = Σ a_j P^A_j.
        randomizeB(ad, 12);
        auto expectA = torch::zeros_like(ad.A());
        for (int j = 0; j < s.subspaceDim; ++j)
            expectA += ad.factorA()[j] * ad.basesA()[j];
        QVERIFY(torch::allclose(ad.A(), expectA, 1e-12, 1e-12));
        same.setCoefficients(ad.factorA(), ad.factorB());
        QVERIFY(torch::allclose(same.deltaWeight(), ad.deltaWeight(), 0, 0));
    }

    void mixedRowsMatchTheFormula_data()
    {
        QTest::addColumn<bool>("single");
        QTest::addColumn<int>("tokens");
        // float32 on the CPU reads each row's factors in place (RowLowRank: one vector kernel below
        // 4 tokens per row, BLAS per row from 4); float64 gathers them.
        QTest::newRow("float32, 1 token per row") << true << 1;
        QTest::newRow("float32, 3 tokens per row") << true << 3;
        QTest::newRow("float32, 6 tokens per row") << true << 6;
        QTest::newRow("float64, gathered") << false << 3;
    }

    void mixedRowsMatchTheFormula()
    {
        QFETCH(bool, single);
        QFETCH(int, tokens);
        const auto dtype = single ? torch::kFloat32 : torch::kFloat64;
        auto base = makeBase(11, 37, true, 21);  // 37 inputs: not a multiple of the kernel's 8 lanes
        base->weight = base->weight.to(dtype);
        base->bias = base->bias.to(dtype);
        AdaptedLinear layer(base, "m.up_proj");
        auto sp = spec(InitMode::Gaussian);
        auto& p = layer.addAdapter("p", sp);
        sp.rank = 5;
        sp.initSeed = 12;
        auto& q = layer.addAdapter("q", sp);
        randomizeB(p, 31);
        randomizeB(q, 32);
        const std::vector<RowAdapterSet> rows = {{{"p", 1.0}}, {{"q", 0.5}}, {}, {{"p", 0.7}, {"q", -1.2}}, {{"q", 1.0}, {"absent", 2.0}}};
        layer.setRowAdapters(rows);
        torch::NoGradGuard ng;
        torch::manual_seed(5);
        // Given as a non-contiguous view.
        const auto x = torch::randn({tokens, 5, 37}, torch::kFloat64).transpose(0, 1).to(dtype);
        const auto y = layer.forward(x).to(torch::kFloat64);
        const auto x64 = x.to(torch::kFloat64);
        const auto w = base->weight.to(torch::kFloat64), bias = base->bias.to(torch::kFloat64);
        for (size_t b = 0; b < rows.size(); ++b) {
            const auto xb = x64[static_cast<int64_t>(b)];
            auto expected = torch::linear(xb, w, bias);
            for (const auto& [name, weight] : rows[b]) {
                if (!layer.hasAdapter(name))
                    continue;
                const auto& ad = layer.adapter(name);
                expected += weight * ad.scale() * torch::linear(torch::linear(xb, ad.A().to(torch::kFloat64)), ad.B().to(torch::kFloat64));
            }
            const double tol = single ? 2e-5 : 1e-12;
            QVERIFY2(torch::allclose(y[static_cast<int64_t>(b)], expected, tol, tol),
                     qPrintable(QString("row %1: largest difference %2").arg(b).arg((y[static_cast<int64_t>(b)] - expected).abs().max().item<double>())));
        }
        // A batch of another size is refused by name.
        QVERIFY(throwsError([&] { layer.forward(torch::randn({4, 1, 37}).to(dtype)); }));
        layer.setRowAdapters({});
        QVERIFY(!layer.hasRowAdapters());
    }

    void rowLowRankRefusesMisfits()
    {
        const auto x = torch::randn({2, 1, 6}), a = torch::randn({3, 6}), b = torch::randn({4, 3});
        auto y = torch::zeros({2, 1, 4});
        addRowLowRank(x, y, {{a, b, 1.0f}, {}});
        QVERIFY(torch::allclose(y[0][0], torch::mv(b, torch::mv(a, x[0][0])), 1e-5, 1e-6));
        QCOMPARE(y[1].abs().sum().item<float>(), 0.0f);
        auto message = [&](const std::function<void()>& fn) {
            try {
                fn();
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        QVERIFY(message([&] { addRowLowRank(x, y, {{a, b.t().contiguous(), 1.0f}, {}}); }).find("do not fit") != std::string::npos);
        QVERIFY(message([&] { addRowLowRank(x, y, {{a, b, 1.0f}}); }).find("one factor pair per row (1 given)") != std::string::npos);
        QVERIFY(message([&] { addRowLowRank(x.to(torch::kFloat64), y, {{a, b, 1.0f}, {}}); }).find("float32") != std::string::npos);
    }

    void rankLargerThanLayerIsRefused()
    {
        AdaptedLinear layer(makeBase(4, 6, false, 7), "m.k_proj");
        auto s = spec(InitMode::Lora);
        s.rank = 5;
        QVERIFY(throwsError([&] { layer.addAdapter("default", s); }));
        // Saved factors (no init drawn) load at any rank, as PEFT loads them.
        s.drawInit = false;
        auto& loaded = layer.addAdapter("saved", s);
        QVERIFY(loaded.A().sizes() == torch::IntArrayRef({5, 6}));
        QVERIFY(loaded.B().sizes() == torch::IntArrayRef({4, 5}));
        s.rank = 0;
        QVERIFY(throwsError([&] { layer.addAdapter("none", s); }));
    }
};

QTEST_GUILESS_MAIN(AdapterTest)
#include "AdapterTest.moc"
