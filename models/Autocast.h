// Whether autocast is on for this thread (CUDA or CPU); the API moved between LibTorch versions.
// Hand-written autograd nodes step aside under autocast: their in-place products are outside its
// dtype rules.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace rslora::models {

inline bool autocastEnabled()
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return at::autocast::is_autocast_enabled(at::kCUDA) || at::autocast::is_autocast_enabled(at::kCPU);
#else
    return at::autocast::is_enabled() || at::autocast::is_cpu_enabled();
#endif
}

} // namespace rslora::models
