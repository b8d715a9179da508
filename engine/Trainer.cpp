// The training loop (see Trainer.h).
#include "engine/Trainer.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/Log.h"
#include "engine/AllocatorTuning.h"
#include "engine/DeviceMemory.h"
#include "engine/LrSchedule.h"
#include "engine/PeftAdapterIO.h"
#include "engine/SensitivityProbe.h"
#include "engine/distributed/GradientReducer.h"
#include "engine/objectives/SftObjective.h"
#include "models/ModelLoader.h"
#include "models/TensorIO.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

namespace rslora::engine {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

const char* trainStatusName(TrainStatus s)
{
    switch (s) {
    case TrainStatus::Completed: return "completed";
    case TrainStatus::Stopped: return "stopped";
    case TrainStatus::Failed: return "failed";
    }
    return "?";
}

Trainer::Trainer(TrainConfig config, models::CausalLM& model, std::vector<TrainExample> train,
                 std::vector<TrainExample> validation)
    : Trainer(config, model, std::make_unique<objectives::SftObjective>(config, model, std::move(train), std::move(validation)))
{
}

Trainer::Trainer(TrainConfig config, models::CausalLM& model, std::unique_ptr<objectives::Objective> objective,
                 distributed::GradientReducer* reducer)
    : m_config(std::move(config)), m_model(model), m_objective(std::move(objective)), m_balancer(m_config.adapter.balancing),
      m_policy(models::PrecisionPolicy::fromNames(m_config.dtype, m_config.adapterDtype)), m_scaler(m_policy.needsLossScaling()),
      m_reducer(reducer)
{
    if (m_objective->trainCount() == 0)
        throw Error("training data '" + m_config.trainData + "' holds no samples");
    if (m_reducer && m_config.batchSize < m_reducer->worldSize())
        throw Error("training.batch_size " + std::to_string(m_config.batchSize) + " is smaller than the "
                    + std::to_string(m_reducer->worldSize())
                    + " data-parallel processes: the batch size is global, and every process needs at least one row");
    m_device = m_model.device();
    if (m_config.dtype != "float32" && m_model.dtype() != m_policy.baseDtype())
        throw Error("model.dtype is '" + m_config.dtype + "' but the model's weights are " + models::dtypeText(m_model.dtype())
                    + "; load the model in model.dtype");
    m_model.setGradientCheckpointing(m_config.gradientCheckpointing);
    if (m_device.is_cpu())
        keepActivationMemoryResident();
    if (m_model.config().padTokenId)
        m_padId = *m_model.config().padTokenId;
    const int64_t perStep = int64_t(m_config.batchSize) * m_config.gradAccumulation;
    const int64_t stepsPerEpoch = std::max<int64_t>(1, (int64_t(m_objective->trainCount()) + perStep - 1) / perStep);
    m_totalSteps = m_config.maxSteps > 0 ? m_config.maxSteps : stepsPerEpoch * m_config.epochs;
    // Seed before anything random (adapter init derives from the seed too, never from the
    // global generator, so the order of construction does not matter).
    torch::manual_seed(m_config.seed);
    m_objective->beforeAdapters();
    if (m_config.mode == TrainMode::Lora) {
        m_adapters = std::make_unique<AdapterSet>(m_model);
        if (m_config.adapter.allocation == RankAllocation::Sensitivity)
            allocateBySensitivity();
        std::vector<ModulePlan> plans = planModules(m_config.adapter, linearModuleFacts(m_model));
        if (!m_rankTable.empty())
            applyAllocation(plans, m_rankTable, m_config.adapter.scaling);
        // Earlier stages stay frozen and active; the new adapter trains on top of them.
        std::vector<ActiveAdapter> active;
        for (size_t i = 0; i < m_config.adapter.stackOn.size(); ++i) {
            const std::string name = "stage" + std::to_string(i + 1);
            if (name == m_config.adapter.name)
                throw Error("adapter.name '" + name + "' collides with an earlier stage's name; choose another");
            // A stage with trained biases adds its change of them (weighted like its factors), and the
            // base keeps its own: a new stage that trains biases saves base + its own change only.
            loadPeftAdapter(*m_adapters, m_config.adapter.stackOn[i], name);
            active.push_back({name, 1.0});
        }
        m_adapters->setActive(active);
        m_adapters->addAdapter(m_config.adapter, m_config.seed, &plans, m_policy.adapterDtypeFor(m_model.dtype()));
        m_objective->attachAdapters({m_adapters.get(), m_config.adapter.name, active});
    }
    setupParameters();
    m_order = epochOrder(m_objective->trainCount(), m_config.seed, 0, m_config.shuffle);
}

Trainer::~Trainer() = default;

// The stacked stages carry the names the constructor gives them ("stage1", ...).
void Trainer::setStackWeights(StackWeights weights)
{
    if (!weights.carried.empty() && weights.carried.size() != m_config.adapter.stackOn.size())
        throw Error("stack weights: " + std::to_string(weights.carried.size()) + " weights for "
                    + std::to_string(m_config.adapter.stackOn.size()) + " stacked adapters (adapter.stack_on)");
    m_stackWeights = std::move(weights);
    applyStackWeights();
    if (m_adapters && !m_stackWeights.empty()) {
        std::vector<ActiveAdapter> atStart;
        const double f0 = m_stackWeights.factorAt(0, m_totalSteps);
        for (size_t i = 0; i < m_config.adapter.stackOn.size(); ++i)
            atStart.push_back({"stage" + std::to_string(i + 1), m_stackWeights.carriedAt(i) * f0});
        m_objective->setStackedAtStart(atStart);
    }
}

double Trainer::applyStackWeights()
{
    if (!m_adapters || m_stackWeights.empty())
        return 1.0;
    const double f = m_stackWeights.factorAt(m_step, m_totalSteps);
    std::vector<ActiveAdapter> active;
    for (size_t i = 0; i < m_config.adapter.stackOn.size(); ++i)
        active.push_back({"stage" + std::to_string(i + 1), m_stackWeights.carriedAt(i) * f});
    active.push_back({m_config.adapter.name, 1.0});
    m_adapters->setActive(active);
    return f;
}

void Trainer::setupParameters()
{
    m_params.clear();
    if (m_config.mode == TrainMode::Lora) {
        for (auto& t : m_adapters->trainableTensors(m_config.adapter.name)) {
            // Decay the factors (as PEFT's trainer does for lora_A/B), never biases.
            const bool isBias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
            m_params.push_back({t.name, t.tensor, t.isB ? m_config.adapter.loraPlusRatio : 1.0, !isBias});
        }
    } else {
        for (auto& [name, p] : m_model.namedParameters()) {
            p.set_requires_grad(true);
            m_params.push_back({name, p, 1.0, p.dim() >= 2});
        }
    }
    m_optimizer = std::make_unique<AdamW>(m_params, AdamWOptions{m_config.beta1, m_config.beta2, m_config.eps, m_config.weightDecay});
}

std::vector<size_t> Trainer::nextMicroBatch()
{
    std::vector<size_t> idx;
    if (m_cursor >= m_order.size()) {
        ++m_epoch;
        m_cursor = 0;
        m_order = epochOrder(m_objective->trainCount(), m_config.seed, m_epoch, m_config.shuffle);
    }
    while (idx.size() < size_t(m_config.batchSize) && m_cursor < m_order.size())
        idx.push_back(m_order[m_cursor++]);
    return idx;
}

void Trainer::allocateBySensitivity()
{
    if (m_observer)
        m_observer->onStatus("probing module sensitivity");
    const std::vector<ModulePlan> plans = planModules(m_config.adapter, linearModuleFacts(m_model));
    const std::vector<double> scores = probeSensitivity(m_model, *m_objective, m_config, plans, m_reducer);
    m_rankTable = allocateRanks(plans, scores, m_config.adapter.sensitivity.parameterBudget, m_config.adapter.rank,
                                m_config.adapter.sensitivity.candidateRanks);
    std::string table = "sensitivity rank allocation:";
    for (const auto& row : m_rankTable)
        table += "\n  " + row.module + "  score " + std::to_string(row.score) + "  rank " + std::to_string(row.rank);
    logInfo(table);
}

bool Trainer::healthy(TrainResult& result)
{
    const StepHealth::Reading r = m_health.read();
    if (!r.firstBadStep)
        return true;
    failOnNonFinite(r, result);
    return false;
}

void Trainer::failOnNonFinite(const StepHealth::Reading& r, TrainResult& result)
{
    // Every update from the bad step on was masked: the adapters are as that step found them.
    const int64_t step = *r.firstBadStep;
    const std::string bad = r.badParameter >= 0 && size_t(r.badParameter) < m_params.size() ? m_params[size_t(r.badParameter)].name : "";
    std::string badParam;
    {
        torch::NoGradGuard ng;
        for (const auto& p : m_params)
            if (!torch::isfinite(p.param).all().item<bool>()) {
                badParam = p.name;
                break;
            }
    }
    auto shortNumber = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
    };
    result.status = TrainStatus::Failed;
    result.message = std::string(std::isfinite(r.badLoss) ? "non-finite gradient" : "non-finite loss (" + std::to_string(r.badLoss) + ")")
        + " at step " + std::to_string(step)
        + (bad.empty() ? "; every gradient is finite" : "; first module with a non-finite gradient: " + bad)
        + (badParam.empty() ? "" : "; first parameter holding non-finite values: " + badParam)
        + (m_lastCheckpoint.empty() ? "; no checkpoint was written before it, so the run cannot be resumed"
                                    : "; the last good checkpoint is " + m_lastCheckpoint)
        + "\nhint: lower training.learning_rate"
        + (m_config.clipNorm > 0 ? " (gradients are already clipped to norm " + shortNumber(m_config.clipNorm) + ")"
                                 : " or set training.clip_norm (e.g. 1.0)")
        + ", or check the data";
    logError(result.message);
    m_optimizer->zeroGrad();
    m_step = step - 1;
    result.steps = m_step;
    result.lastCheckpoint = m_lastCheckpoint;
}

objectives::EvalOutcome Trainer::evaluate()
{
    objectives::EvalOutcome e = m_objective->evaluate(m_step);
    e.stats.metrics = e.metrics;
    return e;
}

bool Trainer::report(double lr, int64_t stepTokens, std::vector<ModuleStats> modules,
                     std::vector<std::pair<std::string, double>> objectiveMetrics, TrainResult& result)
{
    m_windowTokens += stepTokens;
    if (m_step % m_config.logEvery != 0 && m_step != m_totalSteps)
        return true;
    // The one read from the device of the log interval: this step's loss and gradient norm, and
    // whether any step since the last read was not finite.
    const StepHealth::Reading health = m_health.read();
    if (health.firstBadStep) {
        failOnNonFinite(health, result);
        return false;
    }
    const double loss = health.loss, gradNorm = health.gradNorm;
    const double t = now();
    StepStats s;
    s.step = m_step;
    s.totalSteps = m_totalSteps;
    s.epoch = m_epoch;
    s.tokensSeen = m_tokensSeen;
    s.loss = loss;
    s.learningRate = lr;
    s.gradNorm = gradNorm;
    const ProgressClock::Reading time = m_clock.read(t, m_step, m_totalSteps, m_windowTokens);
    s.tokensPerSecond = time.tokensPerSecond;
    s.elapsedSeconds = time.runSeconds;
    s.etaSeconds = time.etaSeconds;
    s.peakMemoryBytes = peakResidentBytes();
    if (const auto cuda = cudaMemoryPeak(m_device)) {
        s.cudaPeakAllocatedBytes = cuda->allocatedBytes;
        s.cudaPeakReservedBytes = cuda->reservedBytes;
    }
    s.modules = std::move(modules);
    s.objectiveMetrics = std::move(objectiveMetrics);
    m_windowTokens = 0;
    if (m_sink) {
        std::vector<std::pair<std::string, double>> metrics{{"train/loss", s.loss},
                                                            {"train/lr", s.learningRate},
                                                            {"train/grad_norm", s.gradNorm},
                                                            {"train/tokens_per_s", s.tokensPerSecond},
                                                            {"train/tokens_seen", double(s.tokensSeen)},
                                                            {"train/run_seconds", s.elapsedSeconds},
                                                            {"train/epoch", double(s.epoch)},
                                                            {"sys/peak_rss_bytes", double(s.peakMemoryBytes)}};
        if (s.cudaPeakReservedBytes > 0) {
            metrics.emplace_back("sys/cuda_peak_allocated_bytes", double(s.cudaPeakAllocatedBytes));
            metrics.emplace_back("sys/cuda_peak_reserved_bytes", double(s.cudaPeakReservedBytes));
        }
        for (const auto& m : s.modules) {
            metrics.emplace_back("grad_a/" + m.module, m.gradNormA);
            metrics.emplace_back("grad_b/" + m.module, m.gradNormB);
            metrics.emplace_back("grad_ratio/" + m.module, m.ratio);
            if (m_config.adapter.balancing.enabled)
                metrics.emplace_back("grad_ratio_ema/" + m.module, m.ratioEma);
            metrics.emplace_back("norm_a/" + m.module, m.normA);
            metrics.emplace_back("norm_b/" + m.module, m.normB);
        }
        metrics.insert(metrics.end(), s.objectiveMetrics.begin(), s.objectiveMetrics.end());
        m_sink->write(m_step, metrics);
    }
    if (m_observer)
        m_observer->onStep(s);
    return true;
}

TrainResult Trainer::run()
{
    struct ReleaseWhenDone {
        bool cpu;
        ~ReleaseWhenDone()
        {
            if (cpu)
                releaseFreedMemory();
        }
    } release{m_device.is_cpu()};
    TrainResult result;
    if (m_adapters)
        result.parameters = m_adapters->parameterCounts();
    else
        for (const auto& p : m_model.parameters()) {
            result.parameters.total += p.numel();
            result.parameters.trainable += p.numel();
        }
    result.rankTable = m_rankTable;
    if (!m_resumed)
        torch::manual_seed(m_config.seed);
    // A run continued from a checkpoint (or started over) replaces what it logged after that point.
    if (m_sink)
        m_sink->discardAfter(m_step);
    m_objective->prepare(m_observer);
    m_model.train();
    m_clock.start(now(), m_step, m_earlierSeconds);
    m_health.reset(m_device, int64_t(m_params.size()));
    std::optional<EvalStats> lastEval; // the evaluation of the current step, when there was one
    while (m_step < m_totalSteps) {
        if (m_observer && m_observer->pauseRequested() && !m_observer->stopRequested()) {
            // Time spent paused is no training time: not in the throughput, the ETA or the duration.
            m_clock.pause(now());
            while (m_observer->pauseRequested() && !m_observer->stopRequested())
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            m_clock.resume(now());
        }
        bool stop = m_observer && m_observer->stopRequested();
        if (m_reducer)
            stop = m_reducer->anyRank(stop, "stop vote");
        if (stop) {
            result.status = TrainStatus::Stopped;
            result.message = "stopped at step " + std::to_string(m_step);
            break;
        }
        const double stackFactor = applyStackWeights();
        std::vector<std::vector<size_t>> micro;
        for (int a = 0; a < m_config.gradAccumulation; ++a) {
            std::vector<size_t> rows = nextMicroBatch();
            if (m_reducer)
                rows = m_reducer->shard(rows);
            if (!rows.empty())
                micro.push_back(std::move(rows));
        }
        m_objective->setLossScale(m_scaler.scale());
        if (m_reducer) // one backward pass per non-empty micro-batch: buckets start during a lone one
            m_reducer->beginStep(m_params, m_objective->stepNormaliser(micro), micro.size() <= 1);
        objectives::StepOutcome outcome = m_objective->step(micro);
        if (m_reducer)
            m_reducer->reduce(m_params, outcome);
        if (!m_scaler.unscale(m_params)) {
            // float16 gradients overflowed: no update this step, a halved loss scale for the next.
            logWarning("step " + std::to_string(m_step + 1) + ": float16 gradients overflowed; the update is skipped and the loss scale is now "
                       + std::to_string(m_scaler.scale()));
            ++m_step;
            m_tokensSeen += outcome.tokens;
            continue;
        }
        const int64_t stepTokens = outcome.tokens;
        const bool logStep = (m_step + 1) % m_config.logEvery == 0 || m_step + 1 == m_totalSteps;
        std::vector<ModuleStats> modules;
        if (m_adapters && (m_config.adapter.balancing.enabled || logStep))
            modules = m_balancer.apply(*m_adapters, m_config.adapter.name, logStep);
        // Loss, norm, clipping and the finite check stay on the device; a non-finite step masks its
        // update and every later one, and is reported at the next read (log, evaluation, checkpoint).
        std::vector<torch::Tensor> gradients;
        gradients.reserve(m_params.size());
        for (const auto& p : m_params)
            gradients.push_back(p.param.grad());
        const StepHealth::Norms norms = StepHealth::gradientNorms(gradients, m_device);
        m_health.record(m_step + 1, outcome.lossOnDevice.defined() ? outcome.lossOnDevice : torch::tensor(outcome.loss, torch::kDouble),
                        norms);
        if (m_config.clipNorm > 0) {
            torch::NoGradGuard ng;
            const torch::Tensor clip = torch::full({}, m_config.clipNorm, norms.global.options());
            const torch::Tensor f = torch::where(norms.global > clip, clip / (norms.global + 1e-6), torch::ones_like(clip));
            for (auto& g : gradients)
                if (g.defined())
                    g.mul_(f);
        }
        const double lr = scheduledLearningRate(m_config.schedule, m_config.learningRate, int(m_step), int(m_totalSteps),
                                                m_config.warmupSteps, m_config.minLrRatio);
        m_optimizer->step(lr, m_health.updateMask());
        m_optimizer->zeroGrad();
        ++m_step;
        m_tokensSeen += stepTokens;
        if (m_stackWeights.factor && m_sink)
            m_sink->write(m_step, {{"train/stack_factor", stackFactor}});
        if (!report(lr, stepTokens, std::move(modules), std::move(outcome.metrics), result))
            return result;

        if (m_config.evalEvery > 0 && m_step % m_config.evalEvery == 0 && m_objective->hasValidation()) {
            if (!healthy(result))
                return result;
            const EvalStats e = evaluate().stats;
            lastEval = e;
            if (m_sink) {
                m_sink->write(m_step, e.metrics);
                m_sink->flush();
            }
            if (m_observer)
                m_observer->onEval(e);
        }
        if (m_config.saveEvery > 0 && m_step % m_config.saveEvery == 0 && m_step < m_totalSteps) {
            if (!healthy(result)) // a checkpoint holds only what came before a non-finite step
                return result;
            saveCheckpoint();
        }
    }
    const StepHealth::Reading health = m_health.read();
    if (health.firstBadStep) {
        failOnNonFinite(health, result);
        return result;
    }
    result.steps = m_step;
    result.finalLoss = health.loss;
    if (lastEval && lastEval->step == m_step) {
        result.finalEval = lastEval; // eval_every divides the last step: evaluated and stored already
    } else if (m_objective->hasValidation()) {
        result.finalEval = evaluate().stats;
        if (m_sink)
            m_sink->write(m_step, result.finalEval->metrics);
        if (m_observer)
            m_observer->onEval(*result.finalEval);
    }
    bool save = result.status == TrainStatus::Completed || (m_observer && m_observer->saveOnStop());
    if (m_reducer) // the checkpoint gathers every rank's random state: all ranks save or none
        save = m_reducer->anyRank(save, "save vote");
    if (save && !m_config.outputDir.empty()) {
        saveCheckpoint();
        saveFinal(result);
    }
    if (result.status == TrainStatus::Stopped && !save)
        result.message = "stopped at step " + std::to_string(m_step) + " without saving; "
                         + (m_lastCheckpoint.empty() ? std::string("there is no checkpoint, so resuming starts again from step 0")
                                                     : "resuming continues from the last checkpoint, " + m_lastCheckpoint);
    result.lastCheckpoint = m_lastCheckpoint;
    if (m_sink)
        m_sink->flush();
    return result;
}

void Trainer::saveFinal(TrainResult& result)
{
    const fs::path dir = fs::path(m_config.outputDir) / (m_config.mode == TrainMode::Lora ? "adapter" : "model");
    if (m_reducer && !m_reducer->isWriter())
        return;
    if (m_observer)
        m_observer->onStatus("saving " + dir.string());
    if (m_config.mode == TrainMode::Lora) {
        savePeftAdapter(*m_adapters, m_config.adapter.name, m_config.adapter, dir, {m_config.modelPath});
    } else {
        // saveModelFolder writes each file atomically; the folder itself appears complete by rename.
        AtomicDirectory out(dir);
        m_model.saveModelFolder(out.stagingPath());
        out.commit();
    }
    result.adapterDir = dir.string();
}

fs::path Trainer::saveCheckpoint()
{
    if (m_config.outputDir.empty())
        throw Error("output.dir is empty: nowhere to write a checkpoint");
    const fs::path dir = fs::path(m_config.outputDir) / "checkpoints" / ("step-" + std::to_string(m_step));
    torch::Tensor rngState;
    {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        rngState = gen.get_state();
    }
    // The data position is global (every rank walks the same order), so rank 0's checkpoint holds
    // what every rank needs once it also holds their random states.
    std::vector<torch::Tensor> rankStates;
    if (m_reducer) {
        rankStates = m_reducer->gatherRandomStates(rngState);
        if (!m_reducer->isWriter()) {
            m_lastCheckpoint = dir.string();
            return dir;
        }
    }
    if (m_observer)
        m_observer->onStatus("saving checkpoint " + dir.string());
    // Metrics up to this step reach the store before the checkpoint exists: a crash after it loses
    // no step that a resume from it would not log again.
    if (m_sink)
        m_sink->flush();
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& p : m_params)
        tensors.emplace_back("param." + p.name, p.param.detach());
    for (const auto& [k, v] : m_optimizer->state())
        tensors.emplace_back("optim." + k, v);
    m_objective->saveState(tensors);
    if (m_adapters)
        for (const auto& m : m_adapters->modules())
            if (m.module->hasAdapter(m_config.adapter.name)) {
                const auto& ad = m.module->adapter(m_config.adapter.name);
                if (ad.initialA().defined()) {
                    tensors.emplace_back("init." + m.name + ".A0", ad.initialA());
                    tensors.emplace_back("init." + m.name + ".B0", ad.initialB());
                }
            }
    tensors.emplace_back(kCpuRngTensor, rngState);
    for (size_t r = 1; r < rankStates.size(); ++r)
        tensors.emplace_back(std::string(kCpuRngTensor) + ".rank" + std::to_string(r), rankStates[r]);
    // Dropout on a GPU draws from that device's generator: without its state a resumed CUDA run would
    // draw other masks than an uninterrupted one.
    if (m_device.is_cuda() && torch::cuda::is_available()) {
        auto gen = at::globalContext().defaultGenerator(m_device);
        std::lock_guard<std::mutex> lock(gen.mutex());
        tensors.emplace_back(kCudaRngTensor, gen.get_state());
    }
    json info = {{"magic", kCheckpointMagic},
                 {"version", kCheckpointVersion},
                 {"step", m_step},
                 {"epoch", m_epoch},
                 {"cursor", m_cursor},
                 {"tokens_seen", m_tokensSeen},
                 {"run_seconds", m_earlierSeconds + m_clock.sessionSeconds(now())},
                 {"optimizer_step", m_optimizer->stepCount()},
                 {"balancer", m_balancer.state()},
                 {"loss_scale", {{"scale", m_scaler.scale()}, {"good_steps", m_scaler.goodSteps()}}},
                 {"world_size", m_reducer ? m_reducer->worldSize() : 1},
                 {"run", {{"uuid", m_run.uuid}, {"label", m_run.label}}},
                 {"config", m_config.toJson()}};
    AtomicDirectory out(dir);
    models::saveSafeTensors(out.stagingPath() / kCheckpointStateFile, tensors);
    writeFileAtomic(out.stagingPath() / kCheckpointInfoFile, info.dump(2) + "\n");
    if (m_adapters)
        savePeftAdapter(*m_adapters, m_config.adapter.name, m_config.adapter, out.stagingPath() / "adapter", {m_config.modelPath});
    out.commit();
    // Keep the two newest checkpoints; older ones go only after the new one is complete.
    const fs::path previous = m_lastCheckpoint;
    m_lastCheckpoint = dir.string();
    if (!previous.empty()) {
        for (const auto& e : fs::directory_iterator(dir.parent_path())) {
            const std::string name = e.path().filename().string();
            if (name.rfind("step-", 0) != 0 || e.path() == dir || e.path() == previous)
                continue;
            // Out of sight first: a process killed while removing leaves no half-deleted checkpoint.
            std::error_code ec;
            removeDirectoryAtomic(e.path(), ec);
        }
    }
    return dir;
}

void Trainer::resumeFrom(const fs::path& checkpointDir)
{
    const fs::path infoPath = checkpointDir / kCheckpointInfoFile;
    if (!fs::exists(infoPath))
        throw Error("'" + checkpointDir.string() + "' is not a checkpoint: " + kCheckpointInfoFile + " is missing");
    json info;
    try {
        info = json::parse(readFile(infoPath));
    } catch (const json::exception& e) {
        throw Error(infoPath.string() + ": not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (info.value("magic", "") != kCheckpointMagic)
        throw Error(infoPath.string() + ": not an rslora checkpoint (magic '" + info.value("magic", "") + "')");
    if (info.value("version", 0) != kCheckpointVersion)
        throw Error(infoPath.string() + ": checkpoint format version " + std::to_string(info.value("version", 0))
                    + " is not supported (this build reads version " + std::to_string(kCheckpointVersion) + ")");
    const json saved = info["config"];
    const json current = m_config.toJson();
    const bool sameObjective = saved["training"].value("objective", "sft") == current["training"]["objective"]
        && (m_config.objective != TrainObjective::Dpo || saved.value("dpo", json()) == current["dpo"]);
    if (saved["adapter"] != current["adapter"] || saved["training"]["mode"] != current["training"]["mode"] || !sameObjective)
        throw Error(infoPath.string() + ": the checkpoint was written with different adapter or objective options; resume needs the same config");
    const auto state = models::loadSafeTensorsMap(checkpointDir / kCheckpointStateFile);
    torch::NoGradGuard ng;
    for (auto& p : m_params) {
        auto it = state.find("param." + p.name);
        if (it == state.end())
            throw Error((checkpointDir / kCheckpointStateFile).string() + ": lacks tensor 'param." + p.name + "'");
        if (it->second.sizes() != p.param.sizes())
            throw Error((checkpointDir / kCheckpointStateFile).string() + ": tensor 'param." + p.name + "' has shape "
                        + c10::str(it->second.sizes()) + ", expected " + c10::str(p.param.sizes()));
        p.param.copy_(it->second);
    }
    std::map<std::string, torch::Tensor> optim;
    for (const auto& [k, v] : state)
        if (k.rfind("optim.", 0) == 0)
            optim[k.substr(6)] = v.to(m_device);
    m_optimizer->loadState(optim, info.value("optimizer_step", int64_t(0)));
    if (m_adapters)
        for (const auto& m : m_adapters->modules())
            if (m.module->hasAdapter(m_config.adapter.name)) {
                auto a0 = state.find("init." + m.name + ".A0"), b0 = state.find("init." + m.name + ".B0");
                if (a0 != state.end() && b0 != state.end())
                    m.module->adapter(m_config.adapter.name).setInitialFactors(a0->second.to(m_device), b0->second.to(m_device));
            }
    m_objective->loadState(state);
    m_balancer.setState(info.value("balancer", std::map<std::string, double>{}));
    if (info.contains("loss_scale") && info["loss_scale"].is_object())
        m_scaler.setState(info["loss_scale"].value("scale", 1.0), info["loss_scale"].value("good_steps", 0.0));
    m_step = info.value("step", int64_t(0));
    m_epoch = info.value("epoch", 0);
    m_cursor = info.value("cursor", size_t(0));
    m_tokensSeen = info.value("tokens_seen", int64_t(0));
    m_earlierSeconds = info.value("run_seconds", 0.0);
    m_order = epochOrder(m_objective->trainCount(), m_config.seed, m_epoch, m_config.shuffle);
    // Each rank continues its own random state when the world size is the one that wrote the
    // checkpoint; with another world size the data position still carries over (it is global) and
    // every rank continues rank 0's random state.
    const int savedWorld = info.value("world_size", 1), world = m_reducer ? m_reducer->worldSize() : 1;
    const int rank = m_reducer ? m_reducer->rank() : 0;
    if (savedWorld != world && rank == 0) // said once for the job, not by every rank
        logWarning("resuming " + checkpointDir.string() + " (written by " + std::to_string(savedWorld) + " data-parallel process"
                + (savedWorld == 1 ? "" : "es") + ") with " + std::to_string(world)
                + ": the data position carries over; every process continues rank 0's random state");
    auto rng = state.find(rank > 0 && savedWorld == world ? std::string(kCpuRngTensor) + ".rank" + std::to_string(rank) : std::string(kCpuRngTensor));
    if (rng != state.end()) {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(rng->second.clone());
    }
    // A checkpoint of a CUDA run resumed on the CPU has no use for the GPU generator's state.
    auto cudaRng = state.find(kCudaRngTensor);
    if (cudaRng != state.end() && m_device.is_cuda() && torch::cuda::is_available()) {
        auto gen = at::globalContext().defaultGenerator(m_device);
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(cudaRng->second.to(torch::kCPU).clone());
    }
    m_resumed = true;
    m_lastCheckpoint = checkpointDir.string();
}

} // namespace rslora::engine
