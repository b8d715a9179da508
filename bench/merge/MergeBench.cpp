// Merged-model export benchmark (not run by CI): a model of SmolLM2-135M's shape (hidden 576,
// intermediate 1536, 30 layers, 9 heads, 3 kv heads, vocab 49152, tied embeddings) with random
// bfloat16 weights and an r16 adapter on all seven projections are written to a temporary folder;
// a fresh process (this program re-executed) then merges and exports in bfloat16, so its peak RSS
// is the export's alone. Prints seconds, peak RSS and the base's size on disk.
//   rslora-merge-bench [--threads N] [--keep DIR]
#include "common/ProcessEnvironment.h"
#include "engine/fusion/AdapterFactors.h"
#include "engine/fusion/ModelExport.h"
#include "models/SafeTensorsStreamWriter.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace rslora;
using namespace rslora::engine::fusion;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kHidden = 576, kInter = 1536, kLayers = 30, kHeads = 9, kKvHeads = 3, kVocab = 49152, kRank = 16;
constexpr int64_t kHeadDim = kHidden / kHeads;

struct Shape {
    std::string name;
    std::vector<int64_t> dims;
};

std::vector<Shape> modelTensors() {
    std::vector<Shape> t = {{"model.embed_tokens.weight", {kVocab, kHidden}}, {"model.norm.weight", {kHidden}}};
    for (int64_t l = 0; l < kLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        t.push_back({p + "input_layernorm.weight", {kHidden}});
        t.push_back({p + "post_attention_layernorm.weight", {kHidden}});
        t.push_back({p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}});
        t.push_back({p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden}});
        t.push_back({p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden}});
        t.push_back({p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}});
        t.push_back({p + "mlp.gate_proj.weight", {kInter, kHidden}});
        t.push_back({p + "mlp.up_proj.weight", {kInter, kHidden}});
        t.push_back({p + "mlp.down_proj.weight", {kHidden, kInter}});
    }
    return t;
}

void writeModel(const fs::path& dir) {
    fs::create_directories(dir);
    const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                                   {"hidden_size", kHidden}, {"intermediate_size", kInter},
                                   {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads},
                                   {"num_key_value_heads", kKvHeads}, {"vocab_size", kVocab},
                                   {"max_position_embeddings", 8192}, {"rms_norm_eps", 1e-5},
                                   {"rope_theta", 100000.0}, {"tie_word_embeddings", true},
                                   {"hidden_act", "silu"}, {"torch_dtype", "bfloat16"},
                                   {"bos_token_id", 1}, {"eos_token_id", 2}};
    std::ofstream(dir / "config.json") << config.dump(2);
    std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "{{ messages }}"})";
    std::vector<Shape> shapes = modelTensors();
    std::vector<models::TensorBytes> plan;
    std::map<std::string, std::vector<int64_t>> dims;
    for (const Shape& s : shapes) {
        uint64_t n = 1;
        for (int64_t d : s.dims)
            n *= static_cast<uint64_t>(d);
        plan.push_back({s.name, models::Dtype::BF16, std::vector<uint64_t>(s.dims.begin(), s.dims.end()), nullptr, n * 2});
        dims[s.name] = s.dims;
    }
    torch::manual_seed(1);
    models::SafeTensorsStreamWriter out(dir / "model.safetensors", plan);
    for (const models::TensorBytes& slot : out.order()) {
        const torch::Tensor t = (torch::randn(dims.at(slot.name)) * 0.02).to(torch::kBFloat16).contiguous();
        out.append(t.data_ptr(), slot.size);
    }
    out.finish();
}

void writeAdapter(const fs::path& dir) {
    AdapterFactors a;
    torch::manual_seed(2);
    for (const Shape& s : modelTensors()) {
        if (s.dims.size() != 2 || s.name.find("layers.") == std::string::npos)
            continue;
        ModuleFactors m;
        m.module = s.name.substr(0, s.name.size() - std::strlen(".weight"));
        m.A = torch::randn({kRank, s.dims[1]}) * 0.01;
        m.B = torch::randn({s.dims[0], kRank}) * 0.01;
        m.scale = 2.0;
        a.modules.push_back(m);
    }
    std::sort(a.modules.begin(), a.modules.end(), [](const ModuleFactors& x, const ModuleFactors& y) { return x.module < y.module; });
    writeAdapterFactors(a, dir, "smollm2-135m-shape");
}

long vmHwmKiB() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::atol(line.c_str() + 6);
    return -1;
}

// User + system CPU seconds of this process: on a shared machine wall time includes waiting for a core.
double cpuSeconds() {
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// The measured part, in a fresh process.
int runExport(const fs::path& root, int threads) {
    torch::set_num_threads(threads);
    const long before = vmHwmKiB();
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpuSeconds();
    WeightedAdapter w;
    w.factors = readAdapterFactors(root / "adapter");
    w.factors.label = "r16-all-projections";
    MergeRequest r;
    r.modelDir = root / "base";
    r.adapters.push_back(std::move(w));
    r.dtype = MergeDtype::BFloat16;
    r.outDir = root / "merged";
    const MergeReport report = exportMergedModel(r);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("export      %.2f s wall (%.2f s in exportMergedModel, the rest reading the adapter), %.2f s CPU, %lld tensors, %lld merged\n",
                total, report.seconds, cpuSeconds() - cpu0, static_cast<long long>(report.tensors),
                static_cast<long long>(report.mergedTensors));
    std::printf("VmHWM       %.1f MiB before the export (LibTorch loaded), %.1f MiB after\n", before / 1024.0, vmHwmKiB() / 1024.0);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    rslora::ensureProcessEnvironment(argv); // passive OpenMP waits, as the rslora executables run
    int threads = 2;
    fs::path keep;
    std::string runDir;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--keep") && i + 1 < argc)
            keep = argv[++i];
        else if (!std::strcmp(argv[i], "--run") && i + 1 < argc)
            runDir = argv[++i];
    }
    try {
        if (!runDir.empty())
            return runExport(runDir, threads);
        const fs::path root = keep.empty() ? fs::temp_directory_path() / ("rslora-merge-bench-" + std::to_string(::getpid())) : keep;
        fs::remove_all(root);
        writeModel(root / "base");
        writeAdapter(root / "adapter");
        const uint64_t baseBytes = fs::file_size(root / "base" / "model.safetensors");
        std::printf("base        %.1f MiB on disk (bfloat16, %zu tensors), adapter r%lld on 7 projections x %lld layers\n",
                    baseBytes / 1048576.0, modelTensors().size(), static_cast<long long>(kRank), static_cast<long long>(kLayers));
        std::fflush(stdout);
        // As the rslora programs do: idle OpenMP threads sleep instead of spinning on a shared machine.
        ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        const pid_t pid = ::fork();
        if (pid == 0) {
            const std::string t = std::to_string(threads);
            ::execl("/proc/self/exe", argv[0], "--run", root.c_str(), "--threads", t.c_str(), static_cast<char*>(nullptr));
            std::_Exit(127);
        }
        int status = 0;
        struct rusage usage {};
        ::wait4(pid, &status, 0, &usage);
        const double peak = usage.ru_maxrss / 1024.0;
        std::printf("peak RSS    %.1f MiB for the export process = %.2f x the base's size on disk (target <= 1.5)\n", peak,
                    peak * 1048576.0 / baseBytes);
        if (keep.empty())
            fs::remove_all(root);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
