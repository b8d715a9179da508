// The sweep dialog's check (see SweepChecks.h).
#include "app/gui/SweepChecks.h"

#include "app/shared/SweepGroup.h"

#include "common/Error.h"
#include "engine/TrainConfig.h"
#include "engine/TrainingRun.h"

#include <map>
#include <string>
#include <vector>

namespace rslora::app {

int SweepChecks::validate(const nlohmann::json& base, const engine::SweepSpec& spec) {
    const int runs = SweepGroup::validate(base, spec);
    std::map<std::string, engine::ValidationFacts> models;
    for (const engine::SweepPoint& p : spec.expand(base)) {
        if (p.seedIndex != 0)
            continue; // seeds change no shape
        engine::TrainConfig c = engine::TrainConfig::fromJson(p.config);
        if (c.modelPath.empty())
            continue; // SweepGroup::validate names it
        auto model = models.find(c.modelPath);
        if (model == models.end()) {
            engine::ValidationFacts facts;
            try {
                facts = engine::modelFacts(c.modelPath);
            } catch (const std::exception&) {
                // An unreadable config.json is the form's to report; the run reports it too.
            }
            model = models.emplace(c.modelPath, facts).first;
        }
        if (!model->second.haveModel)
            continue;
        if (c.outputDir.empty())
            c.outputDir = "(the run's own folder)";
        const std::vector<std::string> problems = engine::validate(c, model->second);
        if (!problems.empty())
            throw Error("sweep combination " + p.combinationLabel() + ": " + problems.front());
    }
    return runs;
}

} // namespace rslora::app
