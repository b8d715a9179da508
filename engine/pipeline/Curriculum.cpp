// Curriculum fusion factors (see Curriculum.h).
#include "engine/pipeline/Curriculum.h"

#include "common/Error.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine::pipeline {

double Curriculum::factor(int64_t step, int64_t totalSteps) const
{
    if (schedule == CurriculumSchedule::None)
        return 1.0;
    // A one-step stage takes its only step at the floor: the stage ends where the schedule ends.
    const double t = totalSteps <= 1 ? 1.0 : std::clamp(double(step) / double(totalSteps - 1), 0.0, 1.0);
    const double shape = schedule == CurriculumSchedule::Linear ? 1.0 - t : 0.5 * (1.0 + std::cos(M_PI * t));
    return floor + (1.0 - floor) * shape;
}

const char* curriculumScheduleName(CurriculumSchedule s)
{
    switch (s) {
    case CurriculumSchedule::None: return "none";
    case CurriculumSchedule::Linear: return "linear";
    case CurriculumSchedule::Cosine: return "cosine";
    }
    return "?";
}

CurriculumSchedule parseCurriculumSchedule(const std::string& name)
{
    for (auto s : {CurriculumSchedule::None, CurriculumSchedule::Linear, CurriculumSchedule::Cosine})
        if (name == curriculumScheduleName(s))
            return s;
    throw Error("unknown curriculum schedule '" + name + "' (expected 'linear', 'cosine' or 'none')");
}

} // namespace rslora::engine::pipeline
