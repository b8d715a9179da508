// The run's output folder (see RunFolder.h).
#include "engine/RunFolder.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "engine/Trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace rslora::engine {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string runText(const std::string& label, const std::string& uuid)
{
    if (!label.empty())
        return label;
    return uuid.empty() ? "an earlier run" : "run " + uuid;
}

bool isStaging(const std::string& name) { return !name.empty() && name[0] == '.' && name.find(".tmp-") != std::string::npos; }

uint64_t sizeOf(const fs::path& p)
{
    std::error_code ec;
    if (!fs::is_directory(p, ec))
        return fs::file_size(p, ec);
    uint64_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file(ec))
            total += e.file_size(ec);
    return total;
}

} // namespace

std::string CheckpointInfo::describe() const
{
    return dir.filename().string() + " of " + runText(runLabel, runUuid);
}

void RunFolder::requireFolderPath(const fs::path& dir)
{
    std::error_code ec;
    for (fs::path p = fs::absolute(dir, ec).lexically_normal(); !ec && !p.empty(); p = p.parent_path()) {
        const auto status = fs::status(p, ec);
        if (!ec && fs::exists(status) && !fs::is_directory(status))
            throw Error("output.dir '" + dir.string() + "' cannot be a folder: " + (p == fs::absolute(dir).lexically_normal() ? "it" : "'" + p.string() + "'")
                            + " is a file",
                        "choose an output.dir that is, or can become, a folder");
        if (p == p.parent_path())
            break;
        ec.clear();
    }
}

RunFolder::RunFolder(fs::path dir, RunIdentity run) : m_dir(std::move(dir)), m_run(std::move(run))
{
    requireFolderPath(m_dir);
    std::error_code ec;
    for (fs::path p = fs::absolute(m_dir, ec).lexically_normal(); !ec && !p.empty() && !fs::exists(p, ec) && !ec;
         p = p.parent_path()) {
        m_createdRoot = p;
        if (p == p.parent_path())
            break;
    }
    fs::create_directories(m_dir, ec);
    if (ec)
        throw Error("cannot create output.dir '" + m_dir.string() + "': " + ec.message(),
                    "choose an output.dir in a folder you can write to");
    const fs::path lock = m_dir / kLockFile;
    m_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    m_createdLock = m_fd >= 0;
    if (m_fd < 0 && errno == EEXIST)
        m_fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
    if (m_fd < 0) {
        const std::string why = std::strerror(errno);
        removeCreatedFolders();
        throw Error("cannot open " + lock.string() + " to claim the output folder: " + why);
    }
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        std::string holder;
        char buf[512];
        const ssize_t n = ::pread(m_fd, buf, sizeof buf - 1, 0);
        if (n > 0)
            holder.assign(buf, size_t(n));
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0'))
            holder.pop_back();
        ::close(m_fd);
        m_fd = -1;
        throw Error("output.dir '" + m_dir.string() + "' is in use by another training process"
                        + (holder.empty() ? "" : " (" + holder + ")"),
                    "wait for it to end, or give this run another output.dir (or leave it empty for a folder of its own)");
    }
    const std::string me = "pid " + std::to_string(::getpid()) + (m_run.label.empty() ? "" : ", " + m_run.label) + "\n";
    if (::ftruncate(m_fd, 0) == 0 && ::pwrite(m_fd, me.data(), me.size(), 0) < 0) {
        // The lock holds without the note; the note only improves the other process's message.
    }
}

RunFolder::~RunFolder()
{
    if (m_fd >= 0) {
        // A start that never began: the lock file this process created goes (removed while the lock
        // is held, so no other process holds it), then the folders it created, if empty.
        if (!m_started && m_createdLock)
            ::unlink((m_dir / kLockFile).c_str());
        else if (::ftruncate(m_fd, 0) != 0) {
            // nothing to do: the lock goes with the descriptor
        }
        ::close(m_fd);
    }
    if (!m_started)
        removeCreatedFolders();
}

void RunFolder::removeCreatedFolders() const
{
    if (m_createdRoot.empty())
        return;
    std::error_code ec;
    for (fs::path p = fs::absolute(m_dir, ec).lexically_normal(); !ec && !p.empty(); p = p.parent_path()) {
        if (!fs::is_directory(p, ec) || !fs::is_empty(p, ec) || !fs::remove(p, ec))
            return;
        if (p == m_createdRoot || p == p.parent_path())
            return;
    }
}

uint64_t RunFolder::removeStaleStaging()
{
    uint64_t freed = 0;
    for (const fs::path& d : {m_dir, m_dir / "checkpoints"}) {
        std::error_code ec;
        if (!fs::is_directory(d, ec))
            continue;
        std::vector<fs::path> stale;
        for (const auto& e : fs::directory_iterator(d, ec))
            if (isStaging(e.path().filename().string()))
                stale.push_back(e.path());
        for (const auto& p : stale) {
            freed += sizeOf(p);
            fs::remove_all(p, ec);
        }
    }
    return freed;
}

std::vector<CheckpointInfo> RunFolder::checkpoints() const
{
    return checkpointsIn(m_dir);
}

std::vector<CheckpointInfo> RunFolder::checkpointsIn(const fs::path& dir)
{
    std::vector<CheckpointInfo> out;
    const fs::path root = dir / "checkpoints";
    std::error_code ec;
    if (!fs::is_directory(root, ec))
        return out;
    for (const auto& e : fs::directory_iterator(root, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("step-", 0) != 0 || n.size() <= 5 || n.find_first_not_of("0123456789", 5) != std::string::npos)
            continue;
        const fs::path infoPath = e.path() / kCheckpointInfoFile;
        if (!fs::exists(infoPath))
            continue;
        CheckpointInfo c;
        c.dir = e.path();
        c.step = std::stoll(n.substr(5));
        try {
            const json info = json::parse(readFile(infoPath));
            if (info.contains("run") && info["run"].is_object()) {
                c.runUuid = info["run"].value("uuid", "");
                c.runLabel = info["run"].value("label", "");
            }
            c.configSha256 = info.contains("config") ? trainingConfigSha256(info["config"]) : "";
        } catch (const std::exception&) {
            continue; // unreadable: not a checkpoint anyone can resume from
        }
        out.push_back(std::move(c));
    }
    std::sort(out.begin(), out.end(), [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.step < b.step; });
    return out;
}

fs::path RunFolder::latestCheckpoint(const TrainConfig& config) const
{
    const auto all = checkpoints();
    const std::string sha = trainingConfigSha256(config);
    const CheckpointInfo* best = nullptr;
    for (const auto& c : all) {
        const bool mine = m_run.known() && !c.runUuid.empty() ? c.runUuid == m_run.uuid : c.configSha256 == sha;
        if (mine)
            best = &c;
    }
    if (best) {
        checkResumable(best->dir, config);
        return best->dir;
    }
    const fs::path root = m_dir / "checkpoints";
    if (all.empty())
        throw Error("no checkpoint to resume under '" + root.string() + "'");
    // Matched by config: name the keys that differ from the newest checkpoint's.
    if (!m_run.known() || all.back().runUuid.empty())
        checkResumable(all.back().dir, config);
    throw Error("the checkpoints under '" + root.string() + "' belong to another run: the newest is "
                    + all.back().describe() + ", and " + runText(m_run.label, m_run.uuid) + " has none there",
                "resume that run instead, or start this one without --resume");
}

void RunFolder::checkResumable(const fs::path& checkpoint, const TrainConfig& config) const
{
    const fs::path infoPath = checkpoint / kCheckpointInfoFile;
    std::error_code ec;
    if (!fs::is_directory(checkpoint, ec))
        throw Error("the checkpoint to resume from, '" + checkpoint.string() + "', " + (fs::exists(checkpoint, ec) ? "is not a folder" : "does not exist")
                        + "; a checkpoint is a step-N folder under <output.dir>/checkpoints",
                    "name one of those, or resume 'latest' for the run's newest");
    if (!fs::is_regular_file(infoPath, ec))
        throw Error("the folder to resume from, '" + checkpoint.string() + "', is not a checkpoint: it holds no " + kCheckpointInfoFile,
                    "a checkpoint is a step-N folder under <output.dir>/checkpoints; or resume 'latest'");
    json info;
    try {
        info = json::parse(readFile(infoPath));
    } catch (const json::exception& e) {
        throw Error(infoPath.string() + ": not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (!info.contains("config"))
        throw Error(infoPath.string() + ": holds no config; cannot tell whether it belongs to this run");
    const auto diffs = trainingConfigDifferences(info["config"], config.toJson());
    if (diffs.empty())
        return;
    std::string who;
    if (info.contains("run") && info["run"].is_object())
        who = runText(info["run"].value("label", ""), info["run"].value("uuid", ""));
    std::string list;
    for (size_t i = 0; i < diffs.size() && i < 8; ++i)
        list += (i ? "; " : "") + diffs[i];
    if (diffs.size() > 8)
        list += "; and " + std::to_string(diffs.size() - 8) + " more";
    throw Error("checkpoint " + checkpoint.string() + (who.empty() ? "" : " (" + who + ")")
                    + " was written with another config than " + runText(m_run.label, m_run.uuid) + ": " + list,
                "resume with the config it was written with, or start a new run");
}

void RunFolder::checkFreshStart(TrainMode mode) const
{
    const auto all = checkpoints();
    for (const auto& c : all)
        if (!m_run.known() || c.runUuid != m_run.uuid)
            throw Error("output.dir '" + m_dir.string() + "' already holds checkpoints of another run (" + c.describe()
                            + "); a new run would mix its checkpoints with them",
                        "resume that run (--resume latest), leave output.dir empty for a folder of its own, or "
                        "choose another output.dir");
    // The final save replaces this folder whole: whatever is there now would be lost.
    const fs::path final = m_dir / (mode == TrainMode::Lora ? "adapter" : "model");
    std::error_code ec;
    const auto status = fs::symlink_status(final, ec);
    if (ec || !fs::exists(status))
        return;
    if (fs::is_directory(status) && fs::is_empty(final, ec) && !ec)
        return;
    throw Error("output.dir '" + m_dir.string() + "' already holds " + (fs::is_directory(status) ? "a folder" : "a file") + " '"
                    + final.filename().string() + "' (" + final.string() + "), which this run's final save would replace",
                "move it elsewhere, leave output.dir empty for a folder of its own, or choose another output.dir");
}

void RunFolder::checkConfigFile(const TrainConfig& config) const
{
    const fs::path file = m_dir / "train_config.json";
    std::error_code ec;
    const auto status = fs::symlink_status(file, ec);
    if (ec || !fs::exists(status))
        return;
    const std::string hint = "move or rename it, leave output.dir empty for a folder of its own, or choose another output.dir";
    if (!fs::is_regular_file(fs::status(file, ec)))
        throw Error("output.dir '" + m_dir.string() + "' holds " + (fs::is_directory(status) ? "a folder" : "something other than a file")
                        + " named train_config.json (" + file.string() + "), where the run saves the config it trains",
                    hint);
    std::string text;
    try {
        text = readFile(file);
    } catch (const std::exception& e) {
        throw Error(file.string() + " cannot be read (" + e.what() + "); the run saves the config it trains under that name", hint);
    }
    const std::string mine = config.toJson().dump(2) + "\n";
    if (text == mine)
        return;
    // A config an earlier run saved here: it trains the same (a run started again), or it is in the
    // form a run writes and records this folder as its output.dir (a run that ended before its first
    // checkpoint, started with another config).
    try {
        const json j = json::parse(text);
        if (j.is_object()) {
            const TrainConfig saved = TrainConfig::fromJson(j);
            if (saved.unknownKeys.empty()) {
                if (trainingConfigSha256(saved) == trainingConfigSha256(config))
                    return;
                std::error_code same;
                if (saved.toJson().dump(2) + "\n" == text && !saved.outputDir.empty()
                    && (fs::path(saved.outputDir).lexically_normal() == fs::absolute(m_dir, same).lexically_normal()
                        || fs::equivalent(saved.outputDir, m_dir, same)))
                    return;
            }
        }
    } catch (const std::exception&) {
        // not a saved config: refused below
    }
    throw Error("output.dir '" + m_dir.string() + "' already holds a file train_config.json (" + file.string()
                    + ") that is not a config saved by a run for this folder; the run would overwrite it with the config it trains",
                hint);
}

} // namespace rslora::engine
