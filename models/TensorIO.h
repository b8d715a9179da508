// The thin LibTorch bridge over the safetensors core: tensors viewing a mapped file, tensors to a file.
#pragma once

#include "models/Dtype.h"
#include "models/SafeTensorsFile.h"

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rslora::models {

// Throws naming `where` when LibTorch has no such element type (e.g. U16 before torch 2.3, F8).
torch::ScalarType torchScalarType(Dtype dtype, const std::string& where);
std::optional<Dtype> dtypeFromTorch(torch::ScalarType type);

// A CPU tensor over the file's bytes without a copy when the data is aligned for its element type;
// otherwise (files from writers that do not align) a copy into fresh memory. The mapping stays
// alive as long as the tensor does.
torch::Tensor tensorFromFile(const SafeTensorsFile& file, const TensorInfo& info);

// Throws rslora::Error "<file>: tensor '<name>' holds NaN or infinite values" when a floating-point
// tensor of the file does, and "... holds F64 values beyond float32's range ..." for an F64 value that
// would compute as infinity (FiniteValues.h; other element types pass). Reads the mapped bytes once,
// in parallel blocks, allocating nothing: the check every reader of model weights makes as it loads.
void checkFiniteValues(const SafeTensorsFile& file, const TensorInfo& info);

// All tensors of a file in data order.
std::vector<std::pair<std::string, torch::Tensor>> loadSafeTensors(const std::filesystem::path& path);
std::map<std::string, torch::Tensor> loadSafeTensorsMap(const std::filesystem::path& path);

// Writes tensors (any device, any layout: made CPU-contiguous first) atomically in the reference layout.
void saveSafeTensors(const std::filesystem::path& path,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

} // namespace rslora::models
