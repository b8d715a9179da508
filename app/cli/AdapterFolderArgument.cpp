// See AdapterFolderArgument.h.
#include "app/cli/AdapterFolderArgument.h"

#include "app/cli/StorageCli.h"
#include "app/shared/AdapterReference.h"
#include "common/Error.h"

#include <filesystem>
#include <memory>

namespace rslora::cli {

namespace fs = std::filesystem;

std::string adapterFolderArgument(const std::string& argument, const std::string& option, const std::string& db)
{
    std::error_code ec;
    if (argument.empty() || fs::is_directory(argument, ec))
        return argument;
    // Not a folder: a stored version, or else the resolver's message (no such folder and no stored
    // version of that name; a file; a broken link).
    std::unique_ptr<storage::Store> store = storecli::openStore(storecli::Common{db, false});
    const app::ResolvedAdapter resolved = app::resolveAdapterArgument(argument, store.get(), option);
    if (resolved.weight != 1.0)
        throw Error(option + " " + argument + ": a weight is taken where adapters are combined (rslora fuse, merge, "
                    "serve); here the adapter applies as it was trained: leave out the ':" +
                    argument.substr(argument.rfind(':') + 1) + "'");
    return resolved.path.string();
}

std::vector<std::string> adapterFolderArguments(const std::vector<std::string>& arguments, const std::string& option,
                                                const std::string& db)
{
    std::vector<std::string> folders;
    folders.reserve(arguments.size());
    for (const std::string& argument : arguments)
        folders.push_back(adapterFolderArgument(argument, option, db));
    return folders;
}

} // namespace rslora::cli
