// `rslora bench`: LoRA training steps on Llama-shaped random models (about 5M, 30M, 135M
// parameters), tokens/s, step time, peak RSS, the machine's sgemm rate and the fraction of it
// achieved, each adapter option's overhead, and Python's numbers side by side when given.
#pragma once

#include "models/ModelConfig.h"

#include <string>
#include <vector>

namespace rslora::engine {

struct BenchOptions {
    std::vector<std::string> shapes; // "5m", "30m", "135m"; empty: all
    int steps = 3;
    int warmup = 1;
    int batch = 8;
    int seq = 256;
    int rank = 16;
    bool options = false;
    bool profile = false; // also print the operators taking the most time (one extra profiled run per shape)
    int threads = 0;
    std::string pythonResults; // JSON from bench/python_lora_step.py
    bool json = false;
    std::string quantization = "none"; // "nf4"/"fp4": the projections' base weights in 4 bits
};

// Runs the benchmarks and returns the report (text or JSON).
std::string runBenchmarks(const BenchOptions& options);

// A Llama-shaped benchmark model's config: "5m", "30m" or "135m" (SmolLM-135M's shape).
models::ModelConfig benchShape(const std::string& name);

} // namespace rslora::engine
