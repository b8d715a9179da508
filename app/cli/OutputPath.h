// Where a command writes a file or folder the user named (logits --out, runs export DIR, sweeps show
// --csv, fuse/merge/gate train/make-demo --out): the folder that is to hold it must exist, as cp,
// mkdir and torch.save require. A mistyped parent ("/data/exprts/x.csv") was created silently, and
// the output landed where nobody looks for it. A training run's output.dir is not one of these: it
// names the folder under which a run folder is made.
#pragma once

#include <filesystem>
#include <string>

namespace rslora::cli {

// The absolute path of `path`, after checking that its parent folder exists and is a folder. Throws
// rslora::Error naming `label` (the option, "--out", or the argument, "runs export DIR"), the path
// and the missing folder, with `mkdir -p` as the hint.
std::filesystem::path outputPath(const std::string& path, const std::string& label);

} // namespace rslora::cli
