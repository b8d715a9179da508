// The element types the loader reads weights from, and the 8-bit float types it names when it refuses
// them: one list, shared by loading, merged export and anything else that reads base weights.
#pragma once

#include "models/Dtype.h"

namespace rslora::models {

// F32, F16, BF16 and F64: the floating types a dense weight is read from.
bool isReadableFloat(Dtype dtype);
// The FP8 variants of quantized checkpoints (refused by name).
bool isEightBitFloat(Dtype dtype);

} // namespace rslora::models
