#include "storage/RunBundle.h"

#include "common/AtomicFile.h"
#include "common/FolderCopy.h"
#include "common/Error.h"
#include "common/Sha256.h"
#include "storage/BundleJson.h"
#include "storage/Csv.h"
#include "storage/Naming.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace rslora::storage {
namespace {

constexpr const char* kMetricsHeader = "key,step,wall_time,value\n";

void writeAll(int fd, const std::string& data, const fs::path& file) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw rslora::Error("cannot write " + file.string() + ": " + std::strerror(errno));
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}

// Truncates the file after its last '\n' (to nothing when it has none); returns the size kept.
off_t dropPartialLastLine(int fd, const fs::path& file) {
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size < 0)
        throw rslora::Error("cannot read " + file.string() + ": " + std::strerror(errno));
    off_t kept = 0;
    char buf[4096];
    for (off_t end = size; end > 0 && kept == 0;) {
        const off_t from = end > off_t(sizeof buf) ? end - off_t(sizeof buf) : 0;
        const ssize_t n = ::pread(fd, buf, size_t(end - from), from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != end - from)
            throw rslora::Error("cannot read " + file.string() + ": " + (n < 0 ? std::strerror(errno) : "it shrank while being read"));
        for (ssize_t i = n; i > 0 && kept == 0; --i)
            if (buf[i - 1] == '\n')
                kept = from + i;
        end = from;
    }
    if (kept != size && ::ftruncate(fd, kept) != 0)
        throw rslora::Error("cannot cut the incomplete last line of " + file.string() + ": " + std::strerror(errno));
    return kept;
}

// A bundle that recorded only a refused start: a failed run with no step, no metrics, no adapters
// and no other files. It holds nothing to lose, and keeping it would block the folder for every
// later run (the common case: a run refused for its output folder, then started again).
bool onlyARefusedStart(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name == "adapters" ? !(e.is_directory(ec) && fs::is_empty(e.path(), ec))
                               : name != "run.json" && name != "metrics.csv")
            return false;
    }
    if (ec || fs::file_size(dir / "metrics.csv", ec) > std::string(kMetricsHeader).size() || ec)
        return false;
    try {
        const BundleContents old = readBundle(dir);
        return old.run.status == RunStatus::Failed && old.run.lastStep.value_or(0) == 0 && old.adapters.empty()
            && old.artifacts.empty();
    } catch (const rslora::Error&) {
        return false;
    }
}

} // namespace

RunBundleWriter::RunBundleWriter(const fs::path& dir, Existing existing) : m_dir(dir) {
    std::error_code ec;
    if (existing == Existing::Refuse && fs::exists(dir / "run.json", ec) && onlyARefusedStart(dir)) {
        for (const char* name : {"metrics.csv", "adapters", "run.json"})
            fs::remove(dir / name, ec);
    }
    if (existing == Existing::Refuse && fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
        // Appending would mix two runs' metrics under one uuid and replace the first one's config.
        std::string holds = "files";
        if (fs::exists(dir / "run.json", ec)) {
            try {
                BundleContents old = readBundle(dir);
                holds = "run " + old.run.uuid + " (\"" + old.run.name + "\", " + toString(old.run.status) + ")";
            } catch (const rslora::Error&) {
                holds = "a damaged run bundle";
            }
        }
        throw rslora::Error("run bundle folder " + dir.string() + " already holds " + holds +
                                "; a new run never writes into another run's bundle",
                            "set output.dir to a new folder, or move the old bundle away (import it first with "
                            "rslora runs import " + dir.string() + "); to continue that run, use --resume");
    }
    fs::create_directories(dir / "adapters", ec);
    if (ec)
        throw rslora::Error("cannot create bundle folder " + dir.string() + ": " + ec.message());
    if (fs::exists(dir / "run.json"))
        m_contents = readBundle(dir);
    fs::path metrics = dir / "metrics.csv";
    m_metricsFd = ::open(metrics.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (m_metricsFd < 0)
        throw rslora::Error("cannot open " + metrics.string() + ": " + std::strerror(errno));
    // A writer killed mid-append left a partial last line: rows appended now would extend it into one
    // malformed row, so the file is cut back to its last complete line first.
    if (dropPartialLastLine(m_metricsFd, metrics) == 0)
        writeAll(m_metricsFd, kMetricsHeader, metrics);
}

RunBundleWriter::~RunBundleWriter() {
    if (m_metricsFd >= 0)
        ::close(m_metricsFd);
}

void RunBundleWriter::writeRun(const RunRecord& run, const Tags& tags, const Params& params,
                               const std::string& project) {
    std::string uuid = run.uuid.empty() ? m_contents.run.uuid : run.uuid;
    std::optional<int64_t> trackedStep = m_contents.run.lastStep;
    m_contents.run = run;
    if (!m_contents.run.lastStep)
        m_contents.run.lastStep = trackedStep;
    m_contents.run.uuid = uuid.empty() ? newUuid() : uuid;
    if (m_contents.run.createdAt == 0)
        m_contents.run.createdAt = nowSeconds();
    if (m_contents.run.host.empty())
        m_contents.run.host = hostName();
    m_contents.run.pid.reset();
    m_contents.run.heartbeat.reset();
    m_contents.tags = tags;
    m_contents.params = params;
    m_contents.project = project;
    writeJson();
}

void RunBundleWriter::setStatus(RunStatus status, const std::string& errorMessage) {
    m_contents.run.status = status;
    if (isTerminal(status) && !m_contents.run.endTime)
        m_contents.run.endTime = nowSeconds();
    if (!errorMessage.empty())
        m_contents.run.errorMessage = errorMessage;
    writeJson();
}

void RunBundleWriter::appendMetrics(const std::vector<MetricPoint>& points) {
    std::string out;
    out.reserve(points.size() * 48);
    for (const MetricPoint& p : points) {
        out += csvField(p.key);
        out += ',';
        out += std::to_string(p.step);
        out += ',';
        out += formatDouble(p.wallTime);
        out += ',';
        out += formatDouble(p.value);
        out += '\n';
        if (!m_contents.run.lastStep || p.step > *m_contents.run.lastStep)
            m_contents.run.lastStep = p.step;
    }
    writeAll(m_metricsFd, out, m_dir / "metrics.csv");
}

void RunBundleWriter::appendMetric(const std::string& key, int64_t step, double wallTime, double value) {
    appendMetrics({MetricPoint{0, key, step, wallTime, value}});
}

void RunBundleWriter::sync() {
    if (m_metricsFd >= 0)
        ::fdatasync(m_metricsFd);
}

size_t RunBundleWriter::discardMetricsAfter(int64_t step) {
    const fs::path metrics = m_dir / "metrics.csv";
    std::string kept = kMetricsHeader;
    size_t removed = 0;
    {
        CsvReader csv(metrics);
        std::vector<std::string> f;
        bool header = true;
        while (csv.next(f)) {
            if (header) {
                header = false;
                continue;
            }
            if (f.size() == 4) {
                char* end = nullptr;
                const long long s = std::strtoll(f[1].c_str(), &end, 10);
                if (end != f[1].c_str() && s > step) {
                    ++removed;
                    continue;
                }
            }
            for (size_t i = 0; i < f.size(); ++i)
                kept += (i ? "," : "") + (i == 0 ? csvField(f[i]) : f[i]);
            kept += '\n';
        }
    }
    if (removed == 0)
        return 0;
    if (m_metricsFd >= 0)
        ::close(m_metricsFd);
    m_metricsFd = -1;
    writeFileAtomic(metrics, kept);
    m_metricsFd = ::open(metrics.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (m_metricsFd < 0)
        throw rslora::Error("cannot open " + metrics.string() + ": " + std::strerror(errno));
    if (m_contents.run.lastStep && *m_contents.run.lastStep > step)
        m_contents.run.lastStep = step;
    return removed;
}

fs::path RunBundleWriter::adapterDirectory(const std::string& name) const {
    return m_dir / "adapters" / sanitizeId(name);
}

void RunBundleWriter::addAdapter(BundleAdapter adapter, const fs::path& source) {
    AdapterRecord& r = adapter.record;
    if (r.task.empty())
        throw rslora::Error("a bundle adapter needs a task");
    if (r.uuid.empty())
        r.uuid = newUuid();
    if (r.createdAt == 0)
        r.createdAt = nowSeconds();
    if (r.name.empty())
        r.name = defaultAdapterName(r.task, r.variant, r.version > 0 ? r.version : 1, r.createdAt);
    for (const BundleAdapter& other : m_contents.adapters)
        if (other.record.name == r.name)
            throw rslora::Error("bundle " + m_dir.string() + " already has an adapter named \"" + r.name + "\"");
    fs::path target = adapterDirectory(r.name);
    std::error_code ec;
    if (!source.empty() && !fs::equivalent(source, target, ec)) {
        if (!fs::is_directory(source))
            throw rslora::Error("adapter folder " + source.string() + " does not exist");
        AtomicDirectory staged(target);
        copyFolder(source, staged.stagingPath());
        staged.commit();
    }
    if (!fs::is_directory(target))
        throw rslora::Error("adapter \"" + r.name + "\" has no files: expected the folder " + target.string());
    if (r.sha256.empty())
        r.sha256 = Sha256::directoryHex(target);
    adapter.dir = (fs::path("adapters") / sanitizeId(r.name)).string();
    r.path.clear();
    m_contents.adapters.push_back(std::move(adapter));
    writeJson();
}

void RunBundleWriter::addArtifact(BundleArtifact artifact) {
    m_contents.artifacts.push_back(std::move(artifact));
    writeJson();
}

void RunBundleWriter::writeJson() { writeFileAtomic(m_dir / "run.json", bundleToJson(m_contents)); }

BundleContents readBundle(const fs::path& dir) {
    fs::path file = dir / "run.json";
    std::error_code ec;
    const fs::file_type kind = fs::status(dir, ec).type();
    if (kind == fs::file_type::not_found)
        throw rslora::Error("the run bundle folder " + dir.string() + " does not exist");
    if (kind != fs::file_type::directory && kind != fs::file_type::none)
        throw rslora::Error(dir.string() + " is a file, not a run bundle folder (the folder that holds run.json)");
    if (!fs::exists(file))
        throw rslora::Error(dir.string() + " is not a run bundle: it has no run.json");
    return bundleFromJson(readFile(file), file);
}

} // namespace rslora::storage
