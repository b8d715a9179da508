// The names under which preference training logs its numbers, in one place for the engine, the
// store's readers and the GUI's charts: "dpo/<key>" per logged step, "eval/dpo_<key>" at evaluations.
#pragma once

#include <array>
#include <string>

namespace rslora::engine::objectives {

inline constexpr const char* kDpoStepPrefix = "dpo/";
inline constexpr const char* kDpoEvalPrefix = "eval/dpo_";

inline constexpr const char* kDpoRewardsChosen = "rewards_chosen";
inline constexpr const char* kDpoRewardsRejected = "rewards_rejected";
inline constexpr const char* kDpoMargin = "margin";
inline constexpr const char* kDpoAccuracy = "accuracy";
inline constexpr const char* kDpoLogpsChosen = "logps_chosen";
inline constexpr const char* kDpoLogpsRejected = "logps_rejected";

inline constexpr std::array<const char*, 6> kDpoMetricKeys{kDpoRewardsChosen, kDpoRewardsRejected, kDpoMargin,
                                                           kDpoAccuracy,      kDpoLogpsChosen,     kDpoLogpsRejected};

inline std::string dpoStepMetric(const char* key) { return std::string(kDpoStepPrefix) + key; }
inline std::string dpoEvalMetric(const char* key) { return std::string(kDpoEvalPrefix) + key; }

} // namespace rslora::engine::objectives
