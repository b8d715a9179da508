// A cheap identity for a base model folder, so adapter versions trained on different bases are told
// apart without hashing gigabytes of weights.
#pragma once

#include <filesystem>
#include <string>

namespace rslora::models {

// SHA-256 over config.json and, for every weight file (*.safetensors, *.bin, sorted by name), its name,
// size and first and last MiB: different checkpoints of one architecture differ there (the headers
// hold shapes, the first and last tensor bytes hold trained values). Throws rslora::Error when the
// folder has no config.json.
std::string modelFingerprint(const std::filesystem::path& modelDir);

// "demo (3f2a9c1b)": the folder name and the fingerprint's first 8 hex digits.
std::string modelLabel(const std::string& modelPath, const std::string& fingerprint);

} // namespace rslora::models
