// The one-line training progress display of the CLI (rewritten in place on a terminal, one line per
// log step otherwise) and Ctrl-C handling: the first Ctrl-C asks the watched run to save and stop.
#pragma once

#include "engine/TrainObserver.h"

#include <string>

namespace rslora::cli {

class ConsoleObserver : public engine::TrainObserver {
public:
    // `reportsRun` false: a data-parallel rank other than 0, which prints nothing about the run
    // (progress, statuses, evaluation results); rank 0 speaks for the job.
    explicit ConsoleObserver(bool quiet, bool reportsRun = true);
    void onStep(const engine::StepStats& s) override;
    void onEval(const engine::EvalStats& e) override;
    void onStatus(const std::string& s) override;
    // Also writes "step N" to `fd` after every step, quiet or not (a launcher's progress channel).
    void reportStepsTo(int fd) { m_stepFd = fd; }
    // Ends a progress line left open on a terminal (nothing otherwise: no empty line).
    void endLine();

private:
    bool m_quiet, m_reportsRun, m_tty;
    bool m_lineOpen = false; // a progress line drawn in place, not yet ended
    int m_stepFd = -1;
};

// While set, Ctrl-C calls observer->requestStop(true) (a second Ctrl-C ends the process). A Ctrl-C
// noted before (holdInterrupt) asks the observer to stop at once.
void watchInterrupt(engine::TrainObserver* observer);
// Between runs: Ctrl-C is only noted (interrupted() turns true), for the caller to stop at its next
// safe point; a second Ctrl-C ends the process.
void holdInterrupt();
// Back to the default Ctrl-C.
void unwatchInterrupt();
// True once Ctrl-C was pressed (the process stops at its next safe point).
bool interrupted();

} // namespace rslora::cli
