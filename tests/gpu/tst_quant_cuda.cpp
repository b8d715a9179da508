// The CUDA dequantization kernel against the CPU path, bit for bit (NF4/FP4, with and without
// double quantization, float32/bfloat16/float16 outputs, a partial last block, a weight larger
// than one grid), and the 4-bit layer's forward/backward on the GPU against the CPU. Built and
// registered only where the kernel is linked (LibTorch with CUDA); a plain executable, because the
// builds that have CUDA are headless (no Qt Test). Exits non-zero if any check fails.
#include "GpuCheck.h"
#include "models/quant/QuantizedLinear.h"
#include "models/quant/QuantizedWeight.h"

#include <string>

using namespace rslora::models::quant;

using rslora::gputest::check;

int main()
{
    if (!torch::cuda::is_available()) {
        std::printf("FAIL  this build links the CUDA kernel, but no CUDA device is usable\n");
        return 1;
    }
    const torch::Device gpu(torch::kCUDA, 0);
    torch::manual_seed(3);
    struct Case {
        int64_t rows, cols;
        QuantOptions options;
    };
    const Case cases[] = {{96, 64, {QuantType::Nf4, 64, true, 256}},   {96, 64, {QuantType::Nf4, 64, false, 256}},
                          {3, 37, {QuantType::Fp4, 32, true, 256}},    {300, 200, {QuantType::Fp4, 128, false, 256}},
                          {8192, 8192, {QuantType::Nf4, 64, true, 256}}};
    for (const Case& c : cases) {
        const auto q = QuantizedWeight::quantize(torch::randn({c.rows, c.cols}) * 0.02, c.options, "w");
        const auto qg = q.to(gpu);
        for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
            const bool same = torch::equal(qg.dequantize(dtype).cpu(), q.dequantize(dtype));
            check(same, quantTypeName(c.options.type) + (c.options.doubleQuant ? " dq " : " ") + std::to_string(c.rows) + "x" +
                            std::to_string(c.cols) + " block " + std::to_string(c.options.blockSize) + " " +
                            c10::toString(dtype) + ": GPU kernel == CPU path");
        }
    }

    const torch::Tensor w = torch::randn({256, 512}) * 0.02, b = torch::randn({256});
    const auto q = QuantizedWeight::quantize(w, {}, "w");
    QuantizedLinear cpu(q, b, torch::kFloat32), cuda(q.to(gpu), b.to(gpu), torch::kFloat32);
    const torch::Tensor x = torch::randn({4, 16, 512});
    const torch::Tensor xc = x.clone().requires_grad_(true), xg = x.to(gpu).requires_grad_(true);
    const torch::Tensor g = torch::randn({4, 16, 256});
    const torch::Tensor yc = cpu.forward(xc), yg = cuda.forward(xg);
    yc.backward(g);
    yg.backward(g.to(gpu));
    const double dy = (yg.cpu() - yc).abs().max().item<double>();
    const double dx = (xg.grad().cpu() - xc.grad()).abs().max().item<double>();
    check(dy < 1e-4, "4-bit layer forward on the GPU == CPU (max diff " + std::to_string(dy) + ")");
    check(dx < 1e-4, "4-bit layer input gradient on the GPU == CPU (max diff " + std::to_string(dx) + ")");
    const torch::Tensor yb = cuda.forward(xg.detach().to(torch::kBFloat16));
    check(yb.scalar_type() == torch::kBFloat16 && (yb.cpu().to(torch::kFloat32) - yc.detach()).abs().max().item<double>() < 0.05,
          "bfloat16 input computes in bfloat16");
    return rslora::gputest::finish();
}
