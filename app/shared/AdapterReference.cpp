// `--adapter` arguments (see AdapterReference.h).
#include "app/shared/AdapterReference.h"

#include "app/shared/GateRecorder.h"
#include "common/Error.h"
#include "engine/ModuleSelection.h"
#include "engine/PeftConfigFile.h"
#include "engine/PeftFolderCheck.h"
#include "storage/Store.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace rslora::app {

namespace fs = std::filesystem;

namespace {

std::optional<double> parseWeight(const std::string& text)
{
    if (text.empty())
        return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size())
        return std::nullopt;
    return v;
}

// A folder or a stored version named exactly by `label`; empty when neither.
std::optional<ResolvedAdapter> lookUp(const std::string& label, storage::Store* store, std::string& storeError)
{
    std::error_code ec; // a symlink loop is described by describeNonFolder, not thrown here
    if (!label.empty() && fs::is_directory(label, ec))
        return ResolvedAdapter{fs::absolute(label), 1.0, label, std::nullopt};
    if (!store || label.empty())
        return std::nullopt;
    try {
        storage::AdapterRecord record = store->adapters().resolve(label);
        refuseGateAsAdapter(record, label);
        storage::AdapterRepository::verifyFiles(record);
        return ResolvedAdapter{fs::path(record.path), 1.0, label, record};
    } catch (const Error& e) {
        if (storeError.empty() || std::string(e.what()).rfind("no adapter matches", 0) != 0)
            storeError = e.what();
        return std::nullopt;
    }
}

// A weight and a scale that each fit float32 can still overflow it together, and then every use of the
// adapter failed. A weight of at most 1 cannot: the scales were checked when the folder was read.
void checkWeightedScale(const std::string& named, const ResolvedAdapter& adapter)
{
    if (std::abs(adapter.weight) <= 1.0 || !fs::is_regular_file(adapter.path / engine::kPeftConfigFile))
        return;
    const double scale = engine::largestPeftScale(adapter.path);
    if (!engine::fitsFloat32(adapter.weight * scale)) {
        std::ostringstream s;
        s << named << ": the weight " << adapter.weight << " times the adapter's largest scale " << scale
          << " (lora_alpha / r in " << (adapter.path / engine::kPeftConfigFile).string() << ") is " << adapter.weight * scale
          << ", which does not fit float32 (at most " << engine::float32MaxText() << "); give a smaller weight";
        throw Error(s.str());
    }
}

// A path that is there but is no folder (a file, a FIFO, a symlink loop) was reported as "no such
// folder": named for what it is. "" when `path` names nothing.
std::string describeNonFolder(const std::string& path)
{
    if (path.empty())
        return {};
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found)
        return {};
    if (ec)
        return path + " cannot be read (" + ec.message() + "), expected an adapter folder";
    if (fs::is_directory(st))
        return {};
    return path + " is " + (fs::is_regular_file(st) ? "a file" : "a FIFO, socket or device") +
           ", not an adapter folder (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)";
}

} // namespace

ResolvedAdapter resolveAdapterArgument(const std::string& argument, storage::Store* store, const std::string& option)
{
    // How messages name the argument: "--adapter medical@v3:0.5", or quoted where no option was used.
    const std::string named = option.empty() ? "'" + argument + "'" : option + " " + argument;
    std::string storeError;
    const auto colon = argument.rfind(':');
    if (colon != std::string::npos) {
        if (const auto weight = parseWeight(argument.substr(colon + 1))) {
            if (!std::isfinite(*weight))
                throw Error(named + ": the weight must be a finite number");
            if (!engine::fitsFloat32(*weight))
                throw Error(named + ": the weight does not fit float32 (at most " + engine::float32MaxText()
                            + "), in which adapters are applied; give a smaller weight");
            if (auto found = lookUp(argument.substr(0, colon), store, storeError)) {
                found->weight = *weight;
                checkWeightedScale(named, *found);
                return *found;
            }
        }
    }
    if (auto found = lookUp(argument, store, storeError))
        return *found;
    // A path names a folder: that no stored version has such a name is beside the point.
    const bool path = argument.find('/') != std::string::npos || argument.rfind('.', 0) == 0 || argument.rfind('~', 0) == 0;
    if (!storeError.empty() && !(path && storeError.rfind("no adapter matches", 0) == 0))
        throw Error(named + ": " + storeError);
    for (const std::string& candidate : {argument, colon == std::string::npos ? std::string() : argument.substr(0, colon)})
        if (const std::string what = describeNonFolder(candidate); !what.empty())
            throw Error(named + ": " + what);
    throw Error(named + ": no such folder" + std::string(store ? " and no stored version of that name" : "")
                    + " (expected DIR[:WEIGHT] or a stored version such as task@v3[:WEIGHT])");
}

} // namespace rslora::app
