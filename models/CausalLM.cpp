// Shared parts of every causal LM: HF-named parameters, saving a model folder.
#include "models/CausalLM.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "models/TensorIO.h"

#include <set>

namespace rslora::models {

std::vector<std::pair<std::string, torch::Tensor>> CausalLM::namedParameters() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    std::set<const void*> seen;
    for (const auto& item : named_parameters(/*recurse=*/true)) {
        const void* impl = item.value().unsafeGetTensorImpl();
        if (seen.insert(impl).second)
            out.emplace_back(item.key(), item.value());
    }
    return out;
}

void CausalLM::saveModelFolder(const std::filesystem::path& dir) const {
    auto tensors = checkpointTensors();
    ModelConfig c = m_config;
    switch (dtype()) {
    case torch::kBFloat16: c.torchDtype = "bfloat16"; break;
    case torch::kFloat16: c.torchDtype = "float16"; break;
    default: c.torchDtype = "float32"; break;
    }
    std::filesystem::create_directories(dir);
    // Weights first: a folder whose config.json is new always has the matching weights.
    saveSafeTensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
    std::error_code ec;
    std::filesystem::remove(dir / "model.safetensors.index.json", ec);
    writeFileAtomic(dir / "config.json", c.toJson().dump(2) + "\n");
}

torch::Device CausalLM::device() const {
    for (const auto& p : parameters())
        return p.device();
    return torch::kCPU;
}

torch::Dtype CausalLM::dtype() const {
    for (const auto& p : parameters())
        if (p.is_floating_point())
            return p.scalar_type();
    return torch::kFloat32;
}

} // namespace rslora::models
