// Fusing the workbench's own adapter kinds: a spectral-init adapter (whose training base is the
// residual W − s·B₀A₀) and a random-subspace adapter (coefficients over seeded bases) are saved as
// PEFT folders, fused exactly and loaded on the ORIGINAL base, which then gives the logits of the
// model they were trained in with both active at the same weights (the spectral one at weight 1).
#include "engine/AdapterSet.h"
#include "engine/PeftAdapterIO.h"
#include "engine/fusion/Fusion.h"
#include "models/ModelLoader.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

models::ModelConfig tinyConfig()
{
    models::ModelConfig c;
    c.vocabSize = 48;
    c.hiddenSize = 32;
    c.intermediateSize = 48;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 8;
    c.initializerRange = 0.2;
    return c;
}

// Moves every trainable factor of `adapter` away from its init, as training would.
void perturb(AdapterSet& set, const std::string& adapter, uint64_t seed)
{
    torch::NoGradGuard ng;
    torch::manual_seed(seed);
    for (const auto& t : set.trainableTensors(adapter))
        t.tensor.add_(torch::randn_like(t.tensor) * 0.05);
}

} // namespace

class FusionOwnAdaptersTest : public QObject {
    Q_OBJECT
private slots:
    void spectralAndSubspaceFuseAgainstTheOriginalBase()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        auto trained = models::createCausalLM(tinyConfig(), 9);
        AdapterSet set(*trained);
        AdapterConfig spectral;
        spectral.name = "spectral";
        spectral.init = InitMode::Spectral;
        spectral.targetModules = {"q_proj", "v_proj", "down_proj"};
        spectral.rank = 4;
        spectral.alpha = 8;
        set.addAdapter(spectral, 3);
        set.setTrainable("spectral");
        perturb(set, "spectral", 1);
        AdapterConfig subspace;
        subspace.name = "subspace";
        subspace.parameterization = Parameterization::RandomSubspace;
        subspace.subspaceDim = 6;
        subspace.projectionSeed = 77;
        subspace.targetModules = {"q_proj", "o_proj"};
        subspace.rank = 3;
        subspace.alpha = 6;
        subspace.scaling = ScalingMode::AlphaOverR;
        set.addAdapter(subspace, 4);
        set.setTrainable("subspace");
        perturb(set, "subspace", 2);
        savePeftAdapter(set, "spectral", spectral, root / "spectral");
        savePeftAdapter(set, "subspace", subspace, root / "subspace");

        const auto ids = torch::randint(0, 48, {2, 7}, torch::TensorOptions().dtype(torch::kLong));
        torch::NoGradGuard ng;
        // Weight 1 for the spectral adapter: its training base already lacks s·B₀A₀, so only at weight 1
        // does the trained model equal original + λ·ΔW of the exported form.
        set.setActive({{"spectral", 1.0}, {"subspace", -0.4}});
        const auto expected = trained->forward(ids).logits;

        FusionPlan plan;
        plan.method = FusionMethod::Exact;
        plan.weights = {1.0, -0.4};
        const FusionResult r = fuse(plan, {readAdapterFactors(root / "spectral"), readAdapterFactors(root / "subspace")});
        // q_proj holds both: the spectral one in its rank-2r form (8) plus the subspace one (3).
        QCOMPARE(r.adapter.find("model.layers.0.self_attn.q_proj")->rank(), int64_t(11));
        QCOMPARE(r.adapter.find("model.layers.1.self_attn.o_proj")->rank(), int64_t(3));
        QCOMPARE(r.adapter.find("model.layers.1.mlp.down_proj")->rank(), int64_t(8));
        writeAdapterFactors(r.adapter, root / "fused", "tiny");

        auto original = models::createCausalLM(tinyConfig(), 9); // the base before spectral init
        AdapterSet fresh(*original);
        loadPeftAdapter(fresh, root / "fused", "fused");
        const auto got = original->forward(ids).logits;
        const double diff = (got - expected).abs().max().item<double>();
        QVERIFY2(diff < 1e-4, std::to_string(diff).c_str());
        // Without the adapters the original base differs: the test is not vacuous.
        fresh.setActive({});
        QVERIFY((original->forward(ids).logits - expected).abs().max().item<double>() > 1e-3);
    }
};

QTEST_GUILESS_MAIN(FusionOwnAdaptersTest)
#include "FusionOwnAdaptersTest.moc"
