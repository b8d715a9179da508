// Staged adapter folders (see StagedFolders.h).
#include "storage/StagedFolders.h"

#include "common/AtomicFile.h"
#include "common/FolderCopy.h"
#include "storage/Database.h"
#include "storage/Naming.h"

#include <algorithm>

namespace fs = std::filesystem;

namespace rslora::storage {

StagedFolders::~StagedFolders() {
    std::error_code ec;
    for (const auto& p : m_staged)
        fs::remove_all(p, ec);
    if (!m_committed)
        for (const auto& p : m_placed)
            fs::remove_all(p, ec);
}

void StagedFolders::commit(Database& db) {
    m_committed = true;
    if (m_placed.empty())
        return;
    db.whenTransactionEnds([placed = m_placed](bool committed) {
        if (committed)
            return;
        std::error_code ec;
        for (const auto& p : placed)
            fs::remove_all(p, ec);
    });
}

fs::path StagedFolders::stage(const fs::path& source) {
    fs::create_directories(m_root);
    fs::path staging = m_root / (".import-" + newUuid());
    m_staged.push_back(staging);
    copyFolder(source, staging);
    for (const auto& e : fs::recursive_directory_iterator(staging))
        if (e.is_regular_file())
            fsyncPath(e.path(), false);
    return staging;
}

fs::path StagedFolders::place(const fs::path& staging, const fs::path& target) {
    fs::path dest = target;
    for (int i = 2; fs::exists(dest); ++i)
        dest = target.string() + "-" + std::to_string(i);
    fs::create_directories(dest.parent_path());
    fs::rename(staging, dest);
    m_staged.erase(std::find(m_staged.begin(), m_staged.end(), staging));
    m_placed.push_back(dest);
    fsyncPath(dest.parent_path(), true);
    return dest;
}

} // namespace rslora::storage
