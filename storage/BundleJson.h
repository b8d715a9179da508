// run.json of a run bundle <-> BundleContents (internal to storage/).
#pragma once

#include "storage/RunBundle.h"

#include <filesystem>
#include <string>

namespace rslora::storage {

std::string bundleToJson(const BundleContents& contents);
// `source` names the file in error messages.
BundleContents bundleFromJson(const std::string& text, const std::filesystem::path& source);

} // namespace rslora::storage
