// Builds the 8-bit dynamic map with LibTorch's own float32 linspace and arithmetic, so that the
// values are the ones PyTorch computes for bitsandbytes.
#include "models/quant/DynamicMap.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace rslora::models::quant {

const std::array<float, 256>& dynamicMap()
{
    static const std::array<float, 256> map = [] {
        constexpr int kExponentBits = 7;
        std::vector<float> values;
        for (int e = 0; e < kExponentBits; ++e) {
            const int64_t items = (int64_t(1) << e) + 1;
            const auto bounds = torch::linspace(0.1, 1.0, items, torch::kFloat32);
            const auto means = (bounds.narrow(0, 0, items - 1) + bounds.narrow(0, 1, items - 1)) / 2.0;
            const auto scaled = (means * std::pow(10.0, double(e - (kExponentBits - 1)))).contiguous();
            for (int64_t i = 0; i < scaled.numel(); ++i) {
                values.push_back(scaled.data_ptr<float>()[i]);
                values.push_back(-scaled.data_ptr<float>()[i]);
            }
        }
        values.push_back(0.0f);
        values.push_back(1.0f);
        std::sort(values.begin(), values.end());
        std::array<float, 256> out{};
        std::copy(values.begin(), values.end(), out.begin());
        return out;
    }();
    return map;
}

uint8_t encodeDynamic(float x)
{
    const auto& map = dynamicMap();
    const auto hi = std::lower_bound(map.begin(), map.end(), x);
    if (hi == map.begin())
        return 0;
    if (hi == map.end())
        return 255;
    const auto lo = hi - 1;
    return uint8_t((x - *lo <= *hi - x ? lo : hi) - map.begin());
}

} // namespace rslora::models::quant
