#include "models/ReadableDtype.h"

namespace rslora::models {

bool isReadableFloat(Dtype d) { return d == Dtype::F32 || d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F64; }

bool isEightBitFloat(Dtype d) {
    return d == Dtype::F8_E4M3 || d == Dtype::F8_E5M2 || d == Dtype::F8_E8M0 || d == Dtype::F8_E4M3FNUZ ||
           d == Dtype::F8_E5M2FNUZ;
}

} // namespace rslora::models
