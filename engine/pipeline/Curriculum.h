// Curriculum fusion: while a stage trains, the weights of the earlier stages decay from 1 to a floor
// over the stage's steps (linear or cosine), so the new adapter takes over gradually. No LibTorch.
#pragma once

#include <cstdint>
#include <string>

namespace rslora::engine::pipeline {

enum class CurriculumSchedule { None, Linear, Cosine };

struct Curriculum {
    CurriculumSchedule schedule = CurriculumSchedule::None;
    double floor = 0.3; // the factor at the stage's last step

    bool enabled() const { return schedule != CurriculumSchedule::None; }
    // The factor for step `step` (0-based, the step about to be taken) of `totalSteps`: 1 at the first
    // step, `floor` at the last; 1 throughout when disabled.
    double factor(int64_t step, int64_t totalSteps) const;
};

const char* curriculumScheduleName(CurriculumSchedule s);
// "none", "linear", "cosine"; throws rslora::Error naming the value and the choices.
CurriculumSchedule parseCurriculumSchedule(const std::string& name);

} // namespace rslora::engine::pipeline
