// Fuzz target for sweep configs: a training config with a `sweep:` block, JSON or YAML (the first
// byte chooses), split as `rslora sweep FILE` splits it, the block read into a SweepSpec, written in
// its stored form and read back to the same spec, and expanded over the rest of the config. Every
// text expands or is refused with rslora::Error, and no sweep expands to more than kMaxRuns runs.
#include "FuzzConfigInput.h"
#include "engine/sweep/SweepSpec.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace {

// Expanding builds one config per run; beyond this many the target only checks the refusal.
constexpr int64_t kExpandAtMost = 256;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto input = fuzz::configInput(data, size, "sweep.yaml");
    if (!input)
        return 0;
    nlohmann::json j = *input;
    if (!j.is_object())
        return 0;
    nlohmann::json block;
    if (auto it = j.find("sweep"); it != j.end()) {
        block = *it;
        j.erase(it);
    }
    return fuzz::guarded("the sweep reader", [&] {
        using rslora::engine::SweepSpec;
        const SweepSpec spec = SweepSpec::fromJson(block);
        const SweepSpec again = SweepSpec::fromJson(spec.toJson());
        fuzz::require(again.toJson() == spec.toJson(), "a sweep's stored form reads back to the same sweep");
        fuzz::require(again.runCount() == spec.runCount(), "a sweep read back has as many runs");
        const int64_t runs = spec.runCount();
        if (runs > SweepSpec::kMaxRuns) {
            bool refused = false;
            try {
                (void)spec.expand(j);
            } catch (const rslora::Error&) {
                refused = true;
            }
            fuzz::require(refused, "a sweep of more than kMaxRuns runs is refused");
        } else if (runs <= kExpandAtMost) {
            const auto points = spec.expand(j);
            fuzz::require(int64_t(points.size()) == runs, "a sweep expands to combinations × seeds runs");
            for (size_t i = 0; i < points.size(); ++i)
                fuzz::require(points[i].position == int(i) && points[i].config.is_object(), "runs are numbered in order");
        }
    });
}
