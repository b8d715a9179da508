// `rslora adapters add DIR`: registers a PEFT LoRA folder trained elsewhere as a new adapter version,
// with files of its own in the store and the base model it belongs to.
#include "app/cli/Commands.h"
#include "app/cli/StorageCli.h"

#include "common/Error.h"
#include "engine/PeftFolderCheck.h"
#include "models/ModelFingerprint.h"
#include "storage/VersionFiles.h"

#include <iostream>

namespace rslora::cli {

namespace fs = std::filesystem;

void registerAdapterAddCommand(CLI::App& app)
{
    CLI::App* adapters = app.get_subcommand("adapters");
    struct Opts {
        storecli::Common c;
        std::string dir, task, name, baseModel, notes;
        bool release = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = adapters->add_subcommand("add", "Register a PEFT LoRA folder trained elsewhere as a new version (files copied into the store)");
    storecli::addCommon(cmd, o->c);
    cmd->add_option("dir", o->dir, "The PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")->required();
    cmd->add_option("--task", o->task, "Task the version belongs to (default: the folder's name)");
    cmd->add_option("--name", o->name, "Version name (default: <task>_<variant>_v<N>_<date>)");
    cmd->add_option("--base-model", o->baseModel,
                    "Local base model folder; its shapes are checked and its identity recorded (default: the folder's "
                    "base_model_name_or_path when that is a local folder)");
    cmd->add_option("--notes", o->notes, "Notes kept with the version");
    cmd->add_flag("--release", o->release, "Release it and make it the task's current version");
    cmd->callback([o] {
        const fs::path dir = fs::absolute(o->dir);
        std::optional<fs::path> model;
        if (!o->baseModel.empty()) {
            if (!fs::is_regular_file(fs::path(o->baseModel) / "config.json"))
                throw Error("--base-model '" + o->baseModel + "' is not a model folder (config.json is missing)");
            model = fs::absolute(o->baseModel);
        }
        engine::PeftFolderFacts facts = engine::checkPeftFolder(dir, std::nullopt);
        if (!model && !facts.baseModelNameOrPath.empty() && fs::is_regular_file(fs::path(facts.baseModelNameOrPath) / "config.json"))
            model = fs::absolute(facts.baseModelNameOrPath);
        if (model)
            facts = engine::checkPeftFolder(dir, model);

        storage::NewAdapter n;
        n.task = o->task.empty() ? dir.filename().string() : o->task;
        n.name = o->name;
        storage::AdapterRepository::checkName("task name", n.task);
        if (!n.name.empty())
            storage::AdapterRepository::checkName("adapter name", n.name);
        n.variant = facts.rsLora ? "rslora" : "lora";
        n.method = std::string(facts.rsLora ? "alpha/sqrt(r)" : "alpha/r") + " scaling, registered from a PEFT folder";
        n.rank = facts.rank;
        n.alpha = facts.alpha;
        n.targets = facts.targets;
        n.trainableParams = facts.parameters;
        n.stage = "imported";
        n.notes = o->notes;
        if (model) {
            n.baseModel.ref = model->string();
            n.baseModel.sha256 = models::modelFingerprint(*model);
        } else {
            n.baseModel.ref = facts.baseModelNameOrPath;
        }
        auto store = storecli::openStore(o->c);
        const storage::RegisteredVersion v = storage::registerAdapterVersion(*store, n, dir);
        storage::AdapterRecord rec = v.record;
        if (o->release) {
            store->adapters().release(rec.id);
            rec = store->adapters().require(rec.id);
        }
        if (o->c.json) {
            storecli::printJson(storage::toJson(rec));
            return;
        }
        std::cout << "added        " << storecli::oneLine(rec.name) << " (" << storecli::oneLine(rec.task) << " v" << rec.version
                  << ", " << storage::toString(rec.status) << (rec.current ? ", current" : "") << ")\n"
                  << "files        " << rec.path << "\n"
                  << "sha256       " << rec.sha256 << "\n"
                  << "adapter      r " << facts.rank << ", alpha " << facts.alpha << ", " << facts.modules << " modules, "
                  << facts.parameters << " parameters\n"
                  << "base model   "
                  << (model ? models::modelLabel(rec.baseModel.ref, rec.baseModel.sha256) + ", shapes checked"
                            : (rec.baseModel.ref.empty() ? std::string("unknown") : rec.baseModel.ref)
                                  + " (not a local folder: shapes not checked; name one with --base-model)")
                  << "\n";
        if (!v.requestedTask.empty())
            std::cout << "note         task \"" << v.requestedTask << "\" holds versions of another base model; this one starts \""
                      << rec.task << "\"\n";
    });
}

} // namespace rslora::cli
