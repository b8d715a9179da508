// Mixed-precision decisions (see PrecisionPolicy.h).
#include "models/PrecisionPolicy.h"

#include "common/Error.h"
#include "models/Autocast.h"
#include "models/ModelLoader.h"

namespace rslora::models {

namespace {

bool sixteenBit(c10::ScalarType t) { return t == c10::kBFloat16 || t == c10::kHalf; }

} // namespace

PrecisionPolicy::PrecisionPolicy(c10::ScalarType base, c10::ScalarType adapter) : m_base(base), m_adapter(adapter)
{
    if (adapter != c10::kFloat && adapter != base)
        throw Error("adapter dtype " + dtypeText(adapter) + " must be float32 or the model's dtype (" + dtypeText(base) + ")");
}

c10::ScalarType PrecisionPolicy::adapterDtypeFor(c10::ScalarType weight) const
{
    if (m_adapter != c10::kFloat)
        return m_adapter;
    return sixteenBit(weight) ? c10::kFloat : weight;
}

PrecisionPolicy PrecisionPolicy::fromNames(const std::string& baseDtype, const std::string& adapterDtype)
{
    return PrecisionPolicy(parseDtype(baseDtype), parseDtype(adapterDtype));
}

c10::ScalarType PrecisionPolicy::optimizerStateDtype(c10::ScalarType param)
{
    return param == c10::kDouble ? c10::kDouble : c10::kFloat;
}

c10::ScalarType PrecisionPolicy::accumulateDtype(c10::ScalarType compute)
{
    return sixteenBit(compute) ? c10::kFloat : compute;
}

bool PrecisionPolicy::handWrittenTakes(c10::ScalarType compute)
{
    return (compute == c10::kFloat || compute == c10::kDouble || sixteenBit(compute)) && !autocastEnabled();
}

bool PrecisionPolicy::seededDropoutTakes(c10::ScalarType compute)
{
    return compute == c10::kFloat || compute == c10::kDouble || sixteenBit(compute);
}

at::Tensor PrecisionPolicy::asCompute(const at::Tensor& master, c10::ScalarType compute)
{
    return master.scalar_type() == compute ? master : master.to(compute);
}

} // namespace rslora::models
