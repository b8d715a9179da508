// Per-row low-rank products read in place (see RowLowRank.h). Both products are dot products along
// contiguous memory: A's rows against x, then B's rows against the rank-sized h. Eight independent
// partial sums let the compiler use vector registers without reordering a single sum.
#include "engine/RowLowRank.h"

#include "common/Error.h"
#include "models/AtenParallel.h"

#include <algorithm>

namespace rslora::engine {
namespace {

// GCC on x86-64 builds the row product twice, for Haswell's AVX2 and FMA and portably, and picks one
// when the library loads (function multi-versioning); elsewhere it is built once.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RSLORA_ROW_PRODUCT_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define RSLORA_ROW_PRODUCT_CLONES
#endif

// Inlined into each build of rowProduct, so that it takes that build's instructions.
__attribute__((always_inline)) inline float dot(const float* a, const float* x, int64_t n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j)
            acc[j] += a[i + j] * x[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i)
        s += a[i] * x[i];
    return s;
}

// One row-token: h = c · A x, then y += B h.
RSLORA_ROW_PRODUCT_CLONES
void rowProduct(const float* a, const float* b, float coef, int64_t r, int64_t in, int64_t out, const float* x, float* y, float* h)
{
    for (int64_t k = 0; k < r; ++k)
        h[k] = coef * dot(a + k * in, x, in);
    for (int64_t o = 0; o < out; ++o)
        y[o] += dot(b + o * r, h, r);
}

// From this many tokens per row (a prompt being prefilled) the rows go through BLAS one by one;
// below it (decoding: one token per row) through rowProduct, all rows in parallel.
constexpr int64_t kTokensForBlas = 4;

} // namespace

bool rowLowRankReads(const torch::Tensor& factor)
{
    return factor.defined() && factor.device().is_cpu() && factor.scalar_type() == torch::kFloat32 && factor.is_contiguous();
}

void addRowLowRank(const torch::Tensor& x, torch::Tensor& y, const std::vector<RowFactors>& rows)
{
    if (x.dim() != 3 || y.dim() != 3 || x.size(0) != y.size(0) || x.size(1) != y.size(1) || !rowLowRankReads(x) || !rowLowRankReads(y)
        || static_cast<int64_t>(rows.size()) != x.size(0))
        throw Error("per-row low-rank product: x " + c10::str(x.sizes()) + " and y " + c10::str(y.sizes())
                    + " must be contiguous float32 [rows, tokens, features] on the CPU, with one factor pair per row ("
                    + std::to_string(rows.size()) + " given)");
    const int64_t B = x.size(0), T = x.size(1), in = x.size(2), out = y.size(2);
    int64_t maxRank = 0;
    for (const auto& r : rows) {
        if (!r.a.defined())
            continue;
        if (!rowLowRankReads(r.a) || !rowLowRankReads(r.b) || r.a.dim() != 2 || r.b.dim() != 2 || r.a.size(1) != in
            || r.b.size(0) != out || r.b.size(1) != r.a.size(0))
            throw Error("per-row low-rank product: factors A " + c10::str(r.a.sizes()) + " and B " + c10::str(r.b.sizes())
                        + " do not fit x " + c10::str(x.sizes()) + " and y " + c10::str(y.sizes()));
        maxRank = std::max(maxRank, r.a.size(0));
    }
    if (maxRank == 0)
        return;
    if (T >= kTokensForBlas) {
        // A prompt's tokens share their row's factors: one BLAS product pair per row.
        for (int64_t b = 0; b < B; ++b) {
            const RowFactors& f = rows[static_cast<size_t>(b)];
            if (!f.a.defined() || f.coef == 0.0f)
                continue;
            torch::Tensor yb = y[b];
            yb.addmm_(torch::mm(x[b], f.a.t()).mul_(f.coef), f.b.t());
        }
        return;
    }
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, B * T, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> h(static_cast<size_t>(maxRank));
        for (int64_t u = begin; u < end; ++u) {
            const RowFactors& f = rows[static_cast<size_t>(u / T)];
            if (!f.a.defined() || f.coef == 0.0f)
                continue;
            rowProduct(f.a.data_ptr<float>(), f.b.data_ptr<float>(), f.coef, f.a.size(0), in, out, xp + u * in, yp + u * out, h.data());
        }
    });
}

} // namespace rslora::engine
