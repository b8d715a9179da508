// rslora: entry point of the command-line tool; argument parsing only, the work is in the libraries.
#include "app/cli/Commands.h"
#include "app/cli/UnknownArguments.h"

#include "common/Error.h"
#include "common/ProcessEnvironment.h"
#include "engine/ErrorText.h"
#include "rslora/BuildInfo.h"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    rslora::ensureProcessEnvironment(argv);
    CLI::App app{"rslora — LoRA / RS-LoRA fine-tuning workbench, command line"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("rslora ") + RSLORA_VERSION);
    rslora::cli::registerCoreCommands(app);
    rslora::cli::registerTokenizerCommands(app);
    rslora::cli::registerGateCommands(app);
    rslora::cli::registerStorageCommands(app);
    rslora::cli::registerAdapterAddCommand(app);
    rslora::cli::registerInspectCommand(app);
    rslora::cli::registerModelCommands(app);
    rslora::cli::registerEngineCommands(app);
    rslora::cli::registerDemoCommands(app);
    rslora::cli::registerFuseCommand(app);
    rslora::cli::registerMergeCommand(app);
    rslora::cli::registerServeCommand(app);
    rslora::cli::registerSweepCommands(app);
    rslora::cli::registerLaunchCommand(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // Words CLI11 could not place (a misspelt option, or a misspelt command, which it reports as a
        // missing one): the command they were given to and the closest known name.
        const bool stray = dynamic_cast<const CLI::ExtrasError*>(&e) || dynamic_cast<const CLI::RequiredError*>(&e);
        const std::string message = stray ? rslora::cli::unknownArgumentsMessage(app) : std::string();
        if (message.empty() && e.get_exit_code() == 0)
            return app.exit(e); // --help, --version
        if (message.empty()) {
            // A missing argument or a value out of range: "error: rslora generate: DIR is required".
            std::fprintf(stderr, "error: %s: %s\nRun with --help for more information.\n",
                         rslora::cli::commandPath(app).c_str(), e.what());
            return e.get_exit_code();
        }
        std::fprintf(stderr, "error: %s\nRun with --help for more information.\n", message.c_str());
        return e.get_exit_code();
    } catch (const rslora::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.fullMessage().c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", rslora::engine::errorText(e).c_str());
        return 1;
    }
    return rslora::cli::exitCode();
}
