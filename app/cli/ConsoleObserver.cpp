// Console progress and the Ctrl-C handler.
#include "app/cli/ConsoleObserver.h"

#include "common/ByteSize.h"

#include "engine/objectives/DpoMetricNames.h"

#include <atomic>
#include <map>
#include <optional>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace rslora::cli {

namespace {

std::atomic<engine::TrainObserver*> g_observer{nullptr};
std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int)
{
    // Only atomic stores: safe in a signal handler. A second Ctrl-C ends the process.
    g_interrupted.store(true);
    if (engine::TrainObserver* o = g_observer.load())
        o->requestStop(true);
    std::signal(SIGINT, SIG_DFL);
}

std::string formatDuration(double s)
{
    if (!(s >= 0) || s > 1e7)
        return "?";
    char buf[32];
    const int t = int(s);
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
    return buf;
}

// Preference training's numbers for the progress line ("  margin 0.412  acc 75%  rewards -0.10/-0.52");
// empty for other objectives.
std::string preferenceText(const std::vector<std::pair<std::string, double>>& metrics, bool eval)
{
    std::map<std::string, double> m(metrics.begin(), metrics.end());
    using namespace engine::objectives;
    auto get = [&](const char* key) {
        auto it = m.find(eval ? dpoEvalMetric(key) : dpoStepMetric(key));
        return it == m.end() ? std::optional<double>() : std::optional<double>(it->second);
    };
    const auto margin = get(kDpoMargin), acc = get(kDpoAccuracy), chosen = get(kDpoRewardsChosen), rejected = get(kDpoRewardsRejected);
    if (!margin || !acc || !chosen || !rejected)
        return {};
    char buf[160];
    std::snprintf(buf, sizeof buf, "  margin %.3f  acc %.0f%%  rewards %.3f/%.3f", *margin, 100.0 * *acc, *chosen, *rejected);
    return buf;
}

} // namespace

ConsoleObserver::ConsoleObserver(bool quiet, bool reportsRun)
    : m_quiet(quiet || !reportsRun), m_reportsRun(reportsRun), m_tty(isatty(fileno(stderr)))
{
}

void ConsoleObserver::endLine()
{
    if (m_lineOpen)
        std::fprintf(stderr, "\n");
    m_lineOpen = false;
    std::fflush(stderr);
}

void ConsoleObserver::onStep(const engine::StepStats& s)
{
    if (m_stepFd >= 0)
        ::dprintf(m_stepFd, "step %lld\n", (long long)s.step);
    if (m_quiet)
        return;
    // On a GPU the CUDA allocator's peaks matter; on the CPU the process's peak resident set.
    const std::string memory = s.cudaPeakReservedBytes > 0
        ? "  vram " + formatBytes(s.cudaPeakAllocatedBytes) + " (reserved " + formatBytes(s.cudaPeakReservedBytes) + ")"
        : s.peakMemoryBytes > 0 ? "  rss " + formatBytes(s.peakMemoryBytes) : std::string();
    std::fprintf(stderr, "%sstep %lld/%lld  epoch %d  loss %.4f%s  lr %.2e  |g| %.3f  %.0f tok/s%s  ETA %s%s",
                 m_tty ? "\r\033[K" : "", (long long)s.step, (long long)s.totalSteps, s.epoch, s.loss,
                 preferenceText(s.objectiveMetrics, false).c_str(), s.learningRate, s.gradNorm, s.tokensPerSecond,
                 memory.c_str(), formatDuration(s.etaSeconds).c_str(), m_tty ? "" : "\n");
    m_lineOpen = m_tty;
    std::fflush(stderr);
}

void ConsoleObserver::onEval(const engine::EvalStats& e)
{
    // Shown even with --quiet, but by one rank of a data-parallel job: every rank gets the same result.
    if (!m_reportsRun)
        return;
    m_lineOpen = false; // the line below replaces the progress line
    const std::string preference = preferenceText(e.metrics, true);
    if (!preference.empty()) {
        std::fprintf(stderr, "%seval at step %lld: loss %.4f%s\n", m_tty ? "\r\033[K" : "", (long long)e.step, e.loss,
                     preference.c_str());
        return;
    }
    std::fprintf(stderr, "%seval at step %lld: loss %.4f  perplexity %.3f  (%lld tokens)\n", m_tty ? "\r\033[K" : "",
                 (long long)e.step, e.loss, e.perplexity, (long long)e.tokens);
}

void ConsoleObserver::onStatus(const std::string& s)
{
    if (m_quiet)
        return;
    std::fprintf(stderr, "%s%s\n", m_tty ? "\r\033[K" : "", s.c_str());
    m_lineOpen = false;
}

void watchInterrupt(engine::TrainObserver* observer)
{
    g_observer.store(observer);
    // After a Ctrl-C noted while held, the run stops at once and a second Ctrl-C ends the process.
    if (g_interrupted.load())
        observer->requestStop(true);
    else
        std::signal(SIGINT, onInterrupt);
}

void holdInterrupt()
{
    g_observer.store(nullptr);
    if (!g_interrupted.load())
        std::signal(SIGINT, onInterrupt);
}

void unwatchInterrupt()
{
    g_observer.store(nullptr);
    std::signal(SIGINT, SIG_DFL);
}

bool interrupted() { return g_interrupted.load(); }

} // namespace rslora::cli
