// The training-memory model against bytes really held: on the CPU (fp32, unfused attention) the tensor
// bytes that one forward pass with its graph leaves allocated (activations kept for backward, the
// loss's saved gradient), counted by LibTorch's allocator rather than by malloc's statistics (which a
// sanitizer's allocator does not keep), are compared with the model's activation term, for two shapes and two sequence lengths;
// the weight and adapter terms are checked by counting, and the dtype, 4-bit and checkpointing terms
// by their definitions.
#include "engine/AdapterSet.h"
#include "engine/CpuAllocationMeter.h"
#include "engine/EngineBench.h"
#include "engine/MemoryEstimate.h"
#include "models/CausalLmLoss.h"
#include "models/ModuleShapes.h"
#include "models/ModelLoader.h"

#include <QtTest>

using namespace rslora;
using namespace rslora::engine;

namespace {

struct Measured {
    int64_t activations = 0;
    int64_t trainable = 0;
};

// Tensor bytes held after a forward + loss with the graph alive, minus those held before it.
Measured measureForward(const models::ModelConfig& cfg, int64_t batch, int64_t seq, int rank)
{
    auto model = models::createCausalLM(cfg, 3);
    AdapterSet set(*model);
    AdapterConfig ac;
    ac.rank = rank;
    ac.alpha = 2.0 * rank;
    ac.targetModules = {"all-linear"};
    set.addAdapter(ac, 7);
    set.setTrainable(ac.name);
    model->train();
    Measured m;
    for (const auto& p : model->parameters())
        if (p.requires_grad())
            m.trainable += p.numel();
    const auto ids = torch::randint(0, cfg.vocabSize, {batch, seq}, torch::kLong);
    const auto mask = torch::ones({batch, seq}, torch::kLong);
    const CpuAllocationMeter meter;
    const int64_t before = meter.currentBytes();
    const auto hidden = model->hiddenStates(ids, mask);
    const auto loss = models::causalLmLossSum(hidden, *model->lmHead(), ids, 1024);
    m.activations = meter.currentBytes() - before;
    loss.sum.backward(); // the graph was complete
    return m;
}

} // namespace

class MemoryEstimateTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void activationsMatchTheTensorBytesOnTheCpu()
    {
        torch::set_num_threads(1);
        for (const char* shape : {"5m", "30m"})
            for (int64_t seq : {64, 128}) {
                const auto cfg = benchShape(shape);
                const Measured m = measureForward(cfg, 4, seq, 16);
                MemoryEstimateInput in;
                in.trainableParams = m.trainable;
                in.adapterRank = 16;
                in.batch = 4;
                in.seqLen = seq;
                const MemoryEstimate e = estimateTrainingMemory(cfg, in);
                // The logits chunk is freed inside the loss; what stays is the activation term.
                const double ratio = double(e.activations) / double(m.activations);
                qInfo("%s seq %lld: estimated %lld, held %lld bytes (ratio %.3f)", shape, (long long)seq,
                      (long long)e.activations, (long long)m.activations, ratio);
                QVERIFY2(ratio > 0.95 && ratio < 1.05, qPrintable(QString("%1 seq %2: ratio %3").arg(shape).arg(seq).arg(ratio)));
            }
    }

    void weightsAndAdapterStateByCounting()
    {
        const auto cfg = benchShape("135m");
        MemoryEstimateInput in;
        in.trainableParams = 1000;
        const MemoryEstimate fp32 = estimateTrainingMemory(cfg, in);
        QCOMPARE(fp32.weights, cfg.parameterCount() * 4);
        QCOMPARE(fp32.adapterState, int64_t(16000));
        in.dtype = "bfloat16";
        const MemoryEstimate bf16 = estimateTrainingMemory(cfg, in);
        QCOMPARE(bf16.weights, cfg.parameterCount() * 2);
        QCOMPARE(bf16.adapterState, int64_t(18000)); // plus the bf16 compute copies
        QCOMPARE(bf16.activations * 2, fp32.activations);
        // 4-bit projections: about 0.52 bytes per projection weight instead of 2.
        in.quantization = "nf4";
        const MemoryEstimate nf4 = estimateTrainingMemory(cfg, in);
        int64_t projection = 0;
        for (const auto& m : models::linearModuleShapes(cfg))
            projection += m.inFeatures * m.outFeatures;
        const double saved = double(bf16.weights - nf4.weights);
        QVERIFY(saved > 1.4 * double(projection) && saved < 1.5 * double(projection));
    }

    void checkpointingKeepsOnlyLayerInputs()
    {
        const auto cfg = benchShape("135m");
        MemoryEstimateInput in;
        in.batch = 8;
        in.seqLen = 1024;
        in.dtype = "bfloat16";
        in.fusedAttention = true;
        const MemoryEstimate plain = estimateTrainingMemory(cfg, in);
        in.gradientCheckpointing = true;
        const MemoryEstimate ckpt = estimateTrainingMemory(cfg, in);
        QVERIFY(ckpt.activations * 5 < plain.activations);
        QCOMPARE(ckpt.weights, plain.weights);
        // Unfused attention keeps every head's probabilities: quadratic in the sequence.
        in.gradientCheckpointing = false;
        in.fusedAttention = false;
        QVERIFY(estimateTrainingMemory(cfg, in).activations > plain.activations + int64_t(8) * 1024 * 1024 * 9 * 30 * 2 / 2);
    }
};

QTEST_GUILESS_MAIN(MemoryEstimateTest)
#include "MemoryEstimateTest.moc"
