// Adapter folders copied next to their final place before a transaction (the slow part runs without
// the write lock), moved into place inside it, and removed again unless the transaction committed
// (the outermost one, when it was a savepoint inside another).
#pragma once

#include <filesystem>
#include <vector>

namespace rslora::storage {

class Database;

class StagedFolders {
public:
    explicit StagedFolders(std::filesystem::path root) : m_root(std::move(root)) {}
    ~StagedFolders();
    StagedFolders(const StagedFolders&) = delete;
    StagedFolders& operator=(const StagedFolders&) = delete;

    // Copies `source` (recursively) into a hidden folder under the root; returns it.
    std::filesystem::path stage(const std::filesystem::path& source);
    // Moves a staged copy to `target`, or beside it (target-2, -3, ...) when that name is taken, as
    // when two stores share a folder. Returns where it went.
    std::filesystem::path place(const std::filesystem::path& staging, const std::filesystem::path& target);
    // The transaction that placed the folders committed on `db`: they stay, unless that was a
    // savepoint and a transaction around it rolls back, which removes them.
    void commit(Database& db);

private:
    std::filesystem::path m_root;
    std::vector<std::filesystem::path> m_staged;
    std::vector<std::filesystem::path> m_placed;
    bool m_committed = false;
};

} // namespace rslora::storage
