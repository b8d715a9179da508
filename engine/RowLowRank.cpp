// Per-row low-rank products read in place (see RowLowRank.h). Both products are dot products along
// contiguous memory: A's rows against x, then B's rows against the rank-sized h. Eight independent
// partial sums let the compiler use vector registers without reordering a single sum.
#include "engine/RowLowRank.h"

#include "common/Error.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace rslora::engine {
namespace {

float dot(const float* a, const float* x, int64_t n)
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
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, B * T, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> h(static_cast<size_t>(maxRank));
        for (int64_t u = begin; u < end; ++u) {
            const RowFactors& f = rows[static_cast<size_t>(u / T)];
            if (!f.a.defined() || f.coef == 0.0f)
                continue;
            const int64_t r = f.a.size(0);
            const float* a = f.a.data_ptr<float>();
            const float* b = f.b.data_ptr<float>();
            const float* xu = xp + u * in;
            float* yu = yp + u * out;
            for (int64_t k = 0; k < r; ++k)
                h[static_cast<size_t>(k)] = f.coef * dot(a + k * in, xu, in);
            for (int64_t o = 0; o < out; ++o)
                yu[o] += dot(b + o * r, h.data(), r);
        }
    });
}

} // namespace rslora::engine
