// `rslora bench`: LoRA training steps on Llama-shaped random models (about 5M, 30M, 135M
// parameters on the CPU; the shapes of Qwen2.5-0.5B, Qwen2.5-1.5B and Llama-3.1-8B on a GPU),
// tokens/s, step time, peak memory (RSS, tensors, CUDA), the device's measured matmul rate and the fraction of it
// achieved (MFU), each adapter option's overhead, and Python's numbers side by side when given.
#pragma once

#include "models/ModelConfig.h"

#include <string>
#include <vector>

namespace rslora::engine {

struct BenchOptions {
    std::vector<std::string> shapes; // "5m", "30m", "135m", "qwen2.5-0.5b", ...; empty: the device's defaults
    std::string device = "cpu";      // "cpu", "cuda", "cuda:1"
    std::string dtype = "float32";   // the model's dtype: float32, bfloat16, float16
    int steps = 3;
    int warmup = 1;
    int batch = 8;
    int seq = 256;
    int rank = 16;
    bool options = false;
    // Also run each shape's LoRA case with activation checkpointing, and report the memory it saves.
    bool gradientCheckpointing = false;
    // Only these cases, by their labels ("lora", "lora + ckpt", "balancing", ...), in this order;
    // empty: "lora", plus the flags' cases. A case that runs out of memory is reported as such.
    std::vector<std::string> cases;
    bool profile = false; // also print the operators taking the most time (one extra profiled run per shape)
    int threads = 0;
    std::string pythonResults; // JSON from bench/python_lora_step.py
    bool json = false;
    std::string quantization = "none"; // "nf4"/"fp4": the projections' base weights in 4 bits
};

// Runs the benchmarks and returns the report (text or JSON).
std::string runBenchmarks(const BenchOptions& options);

// A benchmark model's config: "5m", "30m", "135m" (SmolLM-135M's shape), or the config values of
// "qwen2.5-0.5b", "qwen2.5-1.5b", "llama-3.1-8b" (no weights: random, as every bench model).
models::ModelConfig benchShape(const std::string& name);

} // namespace rslora::engine
