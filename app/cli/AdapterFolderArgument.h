// The --adapter of the commands that apply adapters as they are (generate, logits, eval): a PEFT
// adapter folder, or a stored version (task@vN, task@current, a name or an id), as fuse, merge and
// serve take them.
#pragma once

#include <string>
#include <vector>

namespace rslora::cli {

// The folder `argument` names: itself when it is a folder (the loader then checks what it holds),
// else the folder of the stored version it names in the store (--db, $RSLORA_DB or the data folder's).
// Throws rslora::Error naming `option` when it is neither, or when it carries a weight (":0.5"),
// which only the commands that combine adapters take.
std::string adapterFolderArgument(const std::string& argument, const std::string& option, const std::string& db = {});
// The same for each of several.
std::vector<std::string> adapterFolderArguments(const std::vector<std::string>& arguments, const std::string& option,
                                                const std::string& db = {});

} // namespace rslora::cli
