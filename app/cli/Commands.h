// Registration of the `rslora` subcommands: one function per area, each in its own file.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace rslora::engine::pipeline {
struct PipelineResult;
}

namespace rslora::cli {

// version, doctor
void registerCoreCommands(CLI::App& app);
// inspect
void registerInspectCommand(CLI::App& app);
// generate, logits, gen-bench
void registerModelCommands(CLI::App& app);
// tokenize
void registerTokenizerCommands(CLI::App& app);
// train, eval, bench
void registerEngineCommands(CLI::App& app);
// demo, make-demo
void registerDemoCommands(CLI::App& app);
// fuse --grid: adds the weight-grid options to the `fuse` command; the returned check runs first in
// that command's callback and returns true when it ran the grid
std::function<bool()> addFuseGridOptions(CLI::App* fuse);
// gate train, gate eval (a learned fusion gate)
void registerGateCommands(CLI::App& app);
// runs ..., adapters ...
void registerStorageCommands(CLI::App& app);
// adapters add (after registerStorageCommands, which creates `adapters`)
void registerAdapterAddCommand(CLI::App& app);
// merge (adapters into the base, exported as a model folder)
void registerMergeCommand(CLI::App& app);

// fuse (adapters into one PEFT adapter; stored as a version with merged-from lineage)
void registerFuseCommand(CLI::App& app);
// sweep, sweeps list|show|delete
void registerSweepCommands(CLI::App& app);

// launch (data-parallel training: worker processes with torchrun's environment)
void registerLaunchCommand(CLI::App& app);

// serve (an OpenAI-compatible HTTP server; adapters per request)
void registerServeCommand(CLI::App& app);
// `rslora train PIPELINE`: a pipeline (PipelineConfig::isPipelineFile) run stage after stage with a
// progress line per stage (app/cli/PipelineCommands.cpp).
// Sets exitCode() from the outcome and returns it (each stage's adapter folder and version).
engine::pipeline::PipelineResult runPipelineTrain(const std::string& configPath, const std::string& resume, bool noStore,
                                                  bool quiet, const std::vector<std::string>& overrides,
                                                  const std::string& dbOption);

// Exit code a command sets for the process (CLI11 callbacks return void).
int& exitCode();

} // namespace rslora::cli
