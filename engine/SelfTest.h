// `rslora selftest`: checks that this build computes correctly on a device, in seconds and with
// nothing downloaded. A small random Llama with LoRA adapters on every projection gives the same
// logits and adapter gradients on the device as on the CPU (float32), and short training runs on
// the device (float32, and bf16 weights on CUDA) lower their loss. For GPU hosts, where the build
// links a different LibTorch than the CPU machines the project is tested on.
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
