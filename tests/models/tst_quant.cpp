// 4-bit block-wise quantization (NF4, FP4) with double-quantized scales: codes bit-exact against a
// slow nearest-value reference written here, dequantization error bounds, the second level's round
// trip, and refusals of bad shapes, block sizes and values.
#include "models/quant/DynamicMap.h"
#include "models/quant/QuantizedWeight.h"

#include "common/Error.h"

#include <QtTest>

#include <cmath>

using namespace rslora::models::quant;
using rslora::Error;

namespace {

// The tables written out from the QLoRA paper / bitsandbytes (reference/perf.md §4.2), in code order.
const double kNf4Expected[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                                 -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                                 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                                 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
const double kFp4Expected[16] = {0.0,  0.0625 / 12,  8.0 / 12,  1.0,  4.0 / 12,  6.0 / 12,  2.0 / 12,  3.0 / 12,
                                 -0.0, -0.0625 / 12, -8.0 / 12, -1.0, -4.0 / 12, -6.0 / 12, -2.0 / 12, -3.0 / 12};

// The slow reference: the code whose value is nearest to x; of two equally near, the one of smaller
// magnitude (NF4: the lower value; FP4: the positive zero over the negative one); NaN (an all-zero
// block) gets code 0.
uint8_t referenceCode(float x, QuantType type)
{
    if (std::isnan(x))
        return 0;
    const double* table = type == QuantType::Nf4 ? kNf4Expected : kFp4Expected;
    int best = -1;
    double bestDist = 0;
    for (int c = 0; c < 16; ++c) {
        const double v = float(table[c]);
        const double d = std::fabs(double(x) - v);
        const bool better = best < 0 || d < bestDist ||
                            (d == bestDist && (std::fabs(v) < std::fabs(float(table[best])) ||
                                               (std::fabs(v) == std::fabs(float(table[best])) && !std::signbit(v))));
        if (better) {
            best = c;
            bestDist = d;
        }
    }
    // FP4 keeps the sign of x on a zero code, as bitsandbytes' sign bit does (-tiny -> -0).
    if (type == QuantType::Fp4 && (best & 7) == 0)
        best = x < 0.0f ? 8 : 0;
    return uint8_t(best);
}

// Packs codes the way bitsandbytes does: element 2k in the high nibble of byte k.
std::vector<uint8_t> referencePacked(const torch::Tensor& w, QuantType type, int64_t blockSize, std::vector<float>* absmax)
{
    const torch::Tensor flat = w.to(torch::kFloat32).contiguous().view({-1});
    const float* v = flat.data_ptr<float>();
    const int64_t n = flat.numel();
    std::vector<uint8_t> bytes(size_t((n + 1) / 2), 0);
    for (int64_t b = 0; b * blockSize < n; ++b) {
        float m = 0;
        for (int64_t i = b * blockSize; i < std::min(n, (b + 1) * blockSize); ++i)
            m = std::max(m, std::fabs(v[i]));
        absmax->push_back(m);
        for (int64_t i = b * blockSize; i < std::min(n, (b + 1) * blockSize); ++i) {
            const uint8_t c = referenceCode(v[i] * (1.0f / m), type);
            bytes[size_t(i / 2)] |= (i % 2 == 0) ? uint8_t(c << 4) : c;
        }
    }
    return bytes;
}

torch::Tensor gaussian(int64_t rows, int64_t cols, uint64_t seed, double stdDev = 0.02)
{
    torch::manual_seed(seed);
    return torch::randn({rows, cols}) * stdDev;
}

// Half the widest gap between neighbouring table values: the worst a nearest-value code can be off
// (in units of the block absmax).
double halfWidestGap(QuantType type)
{
    std::vector<double> v;
    for (float x : codeTable(type))
        v.push_back(x);
    std::sort(v.begin(), v.end());
    double g = 0;
    for (size_t i = 1; i < v.size(); ++i)
        g = std::max(g, v[i] - v[i - 1]);
    return g / 2;
}

#define QVERIFY_THROWS_WITH(expr, fragment)                                                             \
    do {                                                                                                \
        bool thrown = false;                                                                            \
        try {                                                                                           \
            expr;                                                                                       \
        } catch (const Error& e) {                                                                      \
            thrown = true;                                                                              \
            QVERIFY2(std::string(e.what()).find(fragment) != std::string::npos, e.what());              \
        }                                                                                               \
        QVERIFY2(thrown, "expected rslora::Error mentioning: " fragment);                               \
    } while (0)

} // namespace

class TestQuant : public QObject {
    Q_OBJECT

private slots:
    void tablesAreBitsandbytes()
    {
        for (int c = 0; c < 16; ++c) {
            QCOMPARE(codeTable(QuantType::Nf4)[size_t(c)], float(kNf4Expected[c]));
            QCOMPARE(codeTable(QuantType::Fp4)[size_t(c)], float(kFp4Expected[c]));
        }
        QCOMPARE(quantTypeName(parseQuantType("fp4", "x")), std::string("fp4"));
        QVERIFY_THROWS_WITH(parseQuantType("int4", "model.quantization"), "model.quantization: unknown 4-bit type 'int4' (expected nf4 or fp4)");
    }

    void tiesGoToSmallerMagnitude_data()
    {
        QTest::addColumn<int>("type");
        QTest::newRow("nf4") << int(QuantType::Nf4);
        QTest::newRow("fp4") << int(QuantType::Fp4);
    }
    void tiesGoToSmallerMagnitude()
    {
        QFETCH(int, type);
        const auto t = QuantType(type);
        const double* table = t == QuantType::Nf4 ? kNf4Expected : kFp4Expected;
        std::vector<std::pair<double, int>> sorted;
        for (int c = 0; c < 16; ++c)
            if (t == QuantType::Nf4 || table[c] >= 0) // FP4: the magnitudes (the sign is its own bit)
                if (!(t == QuantType::Fp4 && c == 8))
                    sorted.emplace_back(table[c], c);
        std::sort(sorted.begin(), sorted.end());
        for (size_t i = 0; i + 1 < sorted.size(); ++i) {
            // The midpoint as bitsandbytes writes its decision constants: in double, rounded to float.
            const float mid = float((sorted[i].first + sorted[i + 1].first) / 2);
            QCOMPARE(int(encodeFourBit(mid, t)), sorted[i].second);
            QCOMPARE(int(encodeFourBit(std::nextafter(mid, 2.0f), t)), sorted[i + 1].second);
            if (t == QuantType::Fp4) // the negative side mirrors it, with the sign bit
                QCOMPARE(int(encodeFourBit(-std::nextafter(mid, 2.0f), t)), sorted[i + 1].second | 8);
        }
        QCOMPARE(int(encodeFourBit(std::nanf(""), t)), 0);
    }

    void codesBitExact_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("block");
        QTest::addColumn<bool>("nested");
        QTest::newRow("nf4 64 dq") << int(QuantType::Nf4) << 48 << 96 << 64 << true;
        QTest::newRow("nf4 64 plain") << int(QuantType::Nf4) << 48 << 96 << 64 << false;
        QTest::newRow("fp4 64 dq") << int(QuantType::Fp4) << 48 << 96 << 64 << true;
        QTest::newRow("fp4 128 plain") << int(QuantType::Fp4) << 40 << 160 << 128 << false;
        QTest::newRow("nf4 32, odd count, partial block") << int(QuantType::Nf4) << 3 << 37 << 32 << true;
        QTest::newRow("nf4 4096 across rows") << int(QuantType::Nf4) << 70 << 100 << 4096 << true;
    }
    void codesBitExact()
    {
        QFETCH(int, type);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, block);
        QFETCH(bool, nested);
        torch::Tensor w = gaussian(rows, cols, 7 + uint64_t(rows));
        w.index_put_({0, torch::indexing::Slice(0, std::min(cols, 8))}, 0.0f); // exact zeros inside a block
        if (rows * cols >= 2 * block)                                           // and an all-zero block
            w.view({-1}).narrow(0, block, block).zero_();
        std::vector<float> absmax;
        const auto expected = referencePacked(w, QuantType(type), block, &absmax);
        const auto q = QuantizedWeight::quantize(w, {QuantType(type), block, nested, 256}, "w");
        const auto& p = q.parts();
        QCOMPARE(p.codes.numel(), int64_t(expected.size()));
        int64_t mismatches = 0;
        for (size_t i = 0; i < expected.size(); ++i)
            mismatches += p.codes.data_ptr<uint8_t>()[i] != expected[i];
        QCOMPARE(mismatches, int64_t(0));
        QCOMPARE(q.blockCount(), int64_t(absmax.size()));
        if (!nested)
            for (size_t b = 0; b < absmax.size(); ++b)
                QCOMPARE(p.absmax.data_ptr<float>()[b], absmax[b]);
        QCOMPARE(p.nested, nested);
    }

    void dequantizeWithinBounds_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<bool>("nested");
        QTest::addColumn<double>("maxRelativeRms");
        // Gaussian weights: NF4 is the better fit (QLoRA's point), FP4 close behind.
        QTest::newRow("nf4") << int(QuantType::Nf4) << false << 0.11;
        QTest::newRow("nf4 dq") << int(QuantType::Nf4) << true << 0.11;
        QTest::newRow("fp4 dq") << int(QuantType::Fp4) << true << 0.15;
    }
    void dequantizeWithinBounds()
    {
        QFETCH(int, type);
        QFETCH(bool, nested);
        QFETCH(double, maxRelativeRms);
        const torch::Tensor w = gaussian(64, 512, 3);
        const auto q = QuantizedWeight::quantize(w, {QuantType(type), 64, nested, 256}, "w");
        const torch::Tensor d = q.dequantize(torch::kFloat32);
        QCOMPARE(d.sizes(), w.sizes());
        // Per element: half the widest table gap times the block's stored scale, plus what the
        // second level changed in that scale.
        const torch::Tensor trueScale = w.view({-1, 64}).abs().amax(1);
        const torch::Tensor stored = q.blockScales();
        const torch::Tensor bound = (stored * halfWidestGap(QuantType(type)) + (stored - trueScale).abs()).unsqueeze(1) * 1.0001;
        const torch::Tensor err = (d - w).view({-1, 64}).abs();
        QVERIFY2((err <= bound).all().item<bool>(), qPrintable(QString::number((err - bound).max().item<double>())));
        const double relRms = ((d - w).pow(2).mean() / w.pow(2).mean()).sqrt().item<double>();
        qInfo("relative RMS error %.4f", relRms);
        QVERIFY(relRms < maxRelativeRms);
        QVERIFY(relRms > 0.01); // 4 bits cannot be that exact: the comparison looks at a real change
        // bf16 / fp16 outputs are the float32 values rounded once.
        QVERIFY(torch::equal(q.dequantize(torch::kBFloat16), d.to(torch::kBFloat16)));
        QVERIFY(torch::equal(q.dequantize(torch::kFloat16), d.to(torch::kFloat16)));
    }

    void doubleQuantRoundTrip()
    {
        const auto& map = dynamicMap();
        QVERIFY(std::is_sorted(map.begin(), map.end()));
        QCOMPARE(map[255], 1.0f);
        QVERIFY(std::count(map.begin(), map.end(), 0.0f) == 1);
        QCOMPARE(map[0], -map[254]); // signed and symmetric apart from the extra 1.0
        // 600 blocks: three nested blocks, the last one partial.
        torch::Tensor w = gaussian(600, 64, 11);
        w.mul_(torch::linspace(0.5, 2.0, 600).unsqueeze(1)); // scales that vary, as real layers do
        const auto q = QuantizedWeight::quantize(w, {QuantType::Nf4, 64, true, 256}, "w");
        const auto& p = q.parts();
        QCOMPARE(p.nestedAbsmax.numel(), int64_t(3));
        const torch::Tensor absmax = w.view({-1, 64}).abs().amax(1);
        QCOMPARE(p.nestedOffset, absmax.mean().item<float>());
        // Each 8-bit code is the nearest dynamic-map value to (absmax - mean) / nested scale.
        const torch::Tensor centred = absmax - p.nestedOffset;
        for (int64_t b = 0; b < 600; ++b) {
            const float s = p.nestedAbsmax.data_ptr<float>()[b / 256];
            const float x = centred[b].item<float>() * (1.0f / s);
            int best = 0;
            for (int i = 1; i < 256; ++i)
                if (std::fabs(x - map[size_t(i)]) < std::fabs(x - map[size_t(best)]))
                    best = i;
            QCOMPARE(int(p.absmax.data_ptr<uint8_t>()[b]), best);
        }
        // Undoing both levels gives the scales back to within half a map step of the nested scale.
        const torch::Tensor back = q.blockScales();
        const torch::Tensor outer = p.nestedAbsmax.repeat_interleave(256).narrow(0, 0, 600);
        QVERIFY(((back - absmax).abs() <= outer * 0.0071 + 1e-7).all().item<bool>());
        QVERIFY(((back - absmax).abs() > 0).any().item<bool>());
        // Memory: 4 bits + 8/64 for the scales + 32/(64·256) for the second level ≈ 4.127 bits.
        const auto big = QuantizedWeight::quantize(gaussian(256, 4096, 2), {}, "big");
        const double bits = double(big.storageBytes()) * 8 / double(big.numel());
        QVERIFY2(std::fabs(bits - 4.127) < 0.01, qPrintable(QString::number(bits)));
        const auto plain = QuantizedWeight::quantize(gaussian(256, 4096, 2), {QuantType::Nf4, 64, false, 256}, "big");
        QVERIFY(std::fabs(double(plain.storageBytes()) * 8 / double(plain.numel()) - 4.5) < 0.01);
    }

    void badInputsRefused()
    {
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({8}), {}, "layer.w"), "layer.w: expected a 2-D weight [out, in] to quantize, found 1-D [8]");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({2, 2, 2}), {}, "w"), "found 3-D [2, 2, 2]");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({0, 4}), {}, "w"), "cannot quantize an empty weight [0, 4]");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({4, 4}, torch::kInt32), {}, "w"), "expected a floating-point weight");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({4, 64}), {QuantType::Nf4, 48, true, 256}, "w"),
                            "4-bit block size 48 is not allowed (expected 32, 64");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({4, 64}), {QuantType::Nf4, 8192, true, 256}, "w"), "block size 8192");
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(torch::ones({4, 64}), {QuantType::Nf4, 64, true, 100}, "w"),
                            "block size 100 of the double-quantized scales is not allowed");
        torch::Tensor w = torch::ones({4, 16});
        w[2][5] = std::numeric_limits<float>::quiet_NaN();
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(w, {}, "w"), "non-finite value nan at row 2, column 5");
        w[2][5] = std::numeric_limits<float>::infinity();
        QVERIFY_THROWS_WITH(QuantizedWeight::quantize(w, {}, "w"), "at row 2, column 5");

        auto parts = QuantizedWeight::quantize(gaussian(4, 64, 1), {}, "w").parts();
        auto shortCodes = parts;
        shortCodes.codes = parts.codes.narrow(0, 0, 100);
        QVERIFY_THROWS_WITH(QuantizedWeight::fromParts(shortCodes, "q_proj"),
                            "q_proj: expected packed 4-bit codes of Byte with 128 values, found Byte [100]");
        auto noMap = parts;
        noMap.nestedQuantMap = torch::Tensor();
        QVERIFY_THROWS_WITH(QuantizedWeight::fromParts(noMap, "q_proj"), "q_proj: expected nested_quant_map");
        auto badShape = parts;
        badShape.shape = {4, 64, 1};
        QVERIFY_THROWS_WITH(QuantizedWeight::fromParts(badShape, "q_proj"), "expected a 2-D shape [out, in]");
        const auto q = QuantizedWeight::fromParts(parts, "q_proj");
        torch::Tensor wrong = torch::empty({64, 4});
        QVERIFY_THROWS_WITH(q.dequantizeInto(wrong), "expected a contiguous float32/bfloat16/float16 buffer [4, 64]");
    }
};

QTEST_GUILESS_MAIN(TestQuant)
#include "tst_quant.moc"
