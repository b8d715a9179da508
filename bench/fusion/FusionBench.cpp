// Fusion benchmark (not run by CI): two random r16 adapters on all seven projections of the
// SmolLM2-135M shape (hidden 576, intermediate 1536, 30 layers, k/v out 192), fused by svd to r16 and
// by ties (density 0.2, re-compressed to r16). Prints one line per method: wall and CPU seconds.
//   rslora_bench_fusion [--threads N] [--layers L] [--methods svd,ties,...]
#include "common/ProcessEnvironment.h"
#include "engine/fusion/Fusion.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <algorithm>
#include <cmath>

using namespace rslora::engine::fusion;

namespace {

double processCpu()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

AdapterFactors randomAdapter(int layers, int64_t rank, double scale, uint64_t seed)
{
    torch::manual_seed(seed);
    const int64_t hidden = 576, inter = 1536, kv = 192;
    struct Proj {
        const char* name;
        int64_t out, in;
    };
    const Proj projs[] = {{"self_attn.q_proj", hidden, hidden}, {"self_attn.k_proj", kv, hidden},
                          {"self_attn.v_proj", kv, hidden},     {"self_attn.o_proj", hidden, hidden},
                          {"mlp.gate_proj", inter, hidden},     {"mlp.up_proj", inter, hidden},
                          {"mlp.down_proj", hidden, inter}};
    AdapterFactors a;
    a.label = "random-" + std::to_string(seed);
    a.baseModelNameOrPath = "SmolLM2-135M";
    for (int l = 0; l < layers; ++l)
        for (const auto& p : projs) {
            ModuleFactors m;
            m.module = "model.layers." + std::to_string(l) + "." + p.name;
            m.A = torch::randn({rank, p.in}) / std::sqrt(double(p.in));
            m.B = torch::randn({p.out, rank}) * 0.01;
            m.scale = scale;
            a.modules.push_back(std::move(m));
        }
    std::sort(a.modules.begin(), a.modules.end(), [](const auto& x, const auto& y) { return x.module < y.module; });
    return a;
}

} // namespace

int main(int argc, char** argv)
{
    rslora::ensureProcessEnvironment(argv); // passive OpenMP waits, as the rslora executables run
    int threads = 2, layers = 30;
    std::string methods = "exact,svd,ties,dare_linear,magnitude_prune";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads"))
            threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--layers"))
            layers = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--methods"))
            methods = argv[i + 1];
    }
    torch::set_num_threads(threads);
    const std::vector<AdapterFactors> adapters = {randomAdapter(layers, 16, 2.0, 1), randomAdapter(layers, 16, 4.0, 2)};
    std::printf("two r16 adapters, %d layers x 7 projections of the 135M shape, %d threads\n", layers, threads);
    size_t start = 0;
    while (start <= methods.size()) {
        size_t comma = methods.find(',', start);
        if (comma == std::string::npos)
            comma = methods.size();
        const std::string name = methods.substr(start, comma - start);
        start = comma + 1;
        if (name.empty())
            continue;
        FusionPlan plan;
        plan.method = parseFusionMethod(name);
        plan.weights = {0.6, 0.4};
        if (plan.method != FusionMethod::Exact)
            plan.rank = 16;
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = processCpu();
        const FusionResult r = fuse(plan, adapters);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%-16s wall %7.3f s  cpu %7.3f s  modules %zu  rank %lld  relative error %.4f\n", name.c_str(), wall,
                    processCpu() - c0, r.adapter.modules.size(), (long long)r.report.rank, r.report.relativeError);
    }
    return 0;
}
