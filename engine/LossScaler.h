// Dynamic loss scaling for float16 training: the loss is multiplied by a large factor before
// backward so that small gradients do not flush to zero in float16, the gradients are divided by it
// before the optimizer, and a step whose gradients overflowed is skipped with the factor halved; after
// a run of good steps the factor doubles again. Disabled (factor 1, nothing skipped) for float32 and
// bfloat16, which have float32's range.
#pragma once

#include "engine/AdamW.h"

#include <vector>

namespace rslora::engine {

class LossScaler {
public:
    explicit LossScaler(bool enabled, double initialScale = 65536.0, int growthInterval = 2000);

    bool enabled() const { return m_enabled; }
    // The factor the loss is multiplied by before backward (1 when disabled).
    double scale() const { return m_scale; }
    // Divides every gradient by the scale. Returns false when a gradient is not finite: the step must
    // be skipped (its gradients are zeroed here) and the scale has been halved. Returns true when
    // disabled, without touching anything.
    bool unscale(std::vector<AdamWParam>& params);
    // Steps skipped for overflow so far.
    int64_t skippedSteps() const { return m_skipped; }

    // For checkpoints: the scale and the count of good steps since it last changed.
    double goodSteps() const { return double(m_goodSteps); }
    void setState(double scale, double goodSteps);

private:
    bool m_enabled;
    double m_scale;
    int m_growthInterval;
    int64_t m_goodSteps = 0;
    int64_t m_skipped = 0;
};

} // namespace rslora::engine
