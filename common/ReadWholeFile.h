// Reading a whole file at once, and noticing when it changes underneath: a file that another program
// is still writing, or truncates, while it is read gives an error naming it, never a silently shorter
// or mixed text (configs, datasets, tokenizer files, templates).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace rslora {

// The bytes of `path`. Throws rslora::Error naming the file when it cannot be opened or read, or when
// it changed while it was read (FileChangeCheck). `afterRead` (for tests) runs between the read and
// that check.
std::string readWholeFile(const std::filesystem::path& path, const std::function<void()>& afterRead = {});

} // namespace rslora
