// The learnable toy task of the trainer tests: reverse a short random token sequence.
#pragma once

#include "engine/Trainer.h"

#include <random>
#include <vector>

namespace rslora::engine::testing {

// Prompt "1 a b c d 2" then the response "d c b a 3": learnable, with masked prompt labels.
inline std::vector<TrainExample> reverseTask(int count, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<TrainExample> out;
    for (int i = 0; i < count; ++i) {
        TrainExample e;
        std::vector<int64_t> body;
        const int n = 3 + int(rng() % 3);
        for (int k = 0; k < n; ++k)
            body.push_back(4 + int64_t(rng() % 40));
        e.ids.push_back(1);
        for (auto t : body)
            e.ids.push_back(t);
        e.ids.push_back(2);
        e.labels.assign(e.ids.size(), -100);
        for (auto it = body.rbegin(); it != body.rend(); ++it) {
            e.ids.push_back(*it);
            e.labels.push_back(*it);
        }
        e.ids.push_back(3);
        e.labels.push_back(3);
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace rslora::engine::testing
