// `rslora selftest`: checks that this build computes correctly on a device, in seconds and with
// nothing downloaded. A small random Llama with LoRA adapters on every projection gives the same
// logits and adapter gradients on the device as on the CPU (float32); short training runs on the
// device lower their loss (float32; bf16 and fp16 weights on CUDA; a 4-bit NF4 base with activation
// checkpointing); checkpointing leaves the gradients unchanged; on CUDA the 4-bit dequantization
// kernel equals the CPU path bit for bit. For GPU hosts, where the build links a different LibTorch
// than the CPU machines the project is tested on.
#pragma once

#include <string>
#include <vector>

namespace rslora::engine {

struct SelfTestCheck {
    std::string name;
    bool ok = false;
    std::string detail; // the measured number against its bound, or the error
};

// `device`: "cpu", "cuda", "cuda:N". Never throws for a failing check; each check reports.
std::vector<SelfTestCheck> runSelfTest(const std::string& device);

} // namespace rslora::engine
