// See PlaygroundController.h.
#include "app/gui/PlaygroundController.h"

#include "app/gui/BackgroundJob.h"
#include "app/shared/GateRecorder.h"
#include "app/shared/RunExamples.h"
#include "common/Error.h"
#include "engine/ErrorText.h"
#include "engine/fusion/FusionGate.h"
#include "engine/generation/GateMix.h"
#include "engine/generation/GenerationBatch.h"
#include "engine/generation/GenerationSession.h"
#include "storage/AdapterRepository.h"
#include "storage/RunRepository.h"
#include "storage/Store.h"
#include "ui/PlaygroundView.h"

#include <nlohmann/json.hpp>

#include <QPointer>

#include <map>
#include <set>

namespace rslora::app {

namespace {

std::string adapterName(qint64 versionId)
{
    return "version-" + std::to_string(versionId);
}

QString finishReasonText(models::FinishReason reason)
{
    switch (reason) {
    case models::FinishReason::Eos:
    case models::FinishReason::StopString:
        return "stop";
    case models::FinishReason::Length:
        return "length";
    case models::FinishReason::Cancelled:
        break;
    }
    return "cancelled";
}

// What one column's request gave: its output, or the error that ended it.
struct GenerationOutcome {
    engine::GenerationOutput output;
    QString error;
};

} // namespace

PlaygroundController::PlaygroundController(storage::Store* store, ui::PlaygroundView* view, QObject* parent)
    : QObject(parent), m_store(store), m_view(view), m_job(new BackgroundJob(this))
{
    connect(view, &ui::PlaygroundView::generateRequested, this, [this](const ui::PlaygroundRequest& r) { start(r); });
    connect(view, &ui::PlaygroundView::stopRequested, this, &PlaygroundController::stop);
    connect(view, &ui::PlaygroundView::exampleRequested, this, &PlaygroundController::pullExample);
    connect(m_job, &BackgroundJob::failed, view, &ui::PlaygroundView::onFailed);
    connect(m_job, &BackgroundJob::cancelled, view, [view] { view->onFailed(tr("Cancelled.")); });
}

PlaygroundController::~PlaygroundController()
{
    stop();
    m_job->waitForFinished();
}

void PlaygroundController::refresh()
{
    QList<ui::PlaygroundVersion> versions;
    for (const auto& a : m_store->adapters().list()) {
        ui::PlaygroundVersion v;
        v.id = a.id;
        v.reference = QString::fromStdString(a.task + "@v" + std::to_string(a.version));
        v.label = v.reference + (a.stage.empty() ? QString() : QString(" · %1").arg(QString::fromStdString(a.stage))) +
                  (a.rank ? QString(" · r%1").arg(*a.rank) : QString());
        v.baseModel = QString::fromStdString(a.baseModel.ref);
        v.gate = app::isGateVersion(a);
        v.path = QString::fromStdString(a.path);
        versions.append(v);
    }
    m_view->setVersions(versions);
    QList<QPair<qint64, QString>> runs;
    for (const auto& r : m_store->runs().list()) {
        bool validation = false;
        try {
            (void)RunExamples::sourceOf(r.configJson, &validation);
        } catch (const Error&) {
            continue;
        }
        runs.append({r.id, QString("#%1 %2%3").arg(r.id).arg(QString::fromStdString(r.name),
                                                             validation ? QString() : tr(" (training data)"))});
    }
    m_view->setRuns(runs);
    // A first-time user gets the model their newest version was trained on.
    for (auto it = versions.crbegin(); it != versions.crend() && m_view->modelPath().isEmpty(); ++it)
        if (!it->gate)
            m_view->setModelPath(it->baseModel);
}

bool PlaygroundController::running() const
{
    return m_job->running();
}

void PlaygroundController::waitForFinished()
{
    m_job->waitForFinished();
}

QString PlaygroundController::loadedModel() const
{
    return QString::fromStdString(m_sessionModel);
}

void PlaygroundController::stop()
{
    if (m_cancel)
        m_cancel->store(true);
}

bool PlaygroundController::start(const ui::PlaygroundRequest& asked)
{
    ui::PlaygroundRequest request = asked;
    if (m_job->running()) {
        m_view->onFailed(tr("A generation is running; stop it first."));
        return false;
    }
    // The versions' folders, read (and checked against their recorded hashes) on the GUI thread's store.
    std::map<qint64, std::string> folders;
    try {
        for (const auto& column : request.columns)
            for (const auto& a : column.adapters)
                if (!folders.count(a.versionId)) {
                    const auto record = m_store->adapters().require(a.versionId);
                    app::refuseGateAsAdapter(record, a.reference.toStdString());
                    storage::AdapterRepository::verifyFiles(record);
                    folders[a.versionId] = record.path;
                }
        // A stored gate is read from its folder in the store, after the same hash check.
        for (auto& column : request.columns)
            if (column.gateVersionId != 0) {
                const auto record = m_store->adapters().require(column.gateVersionId);
                if (!app::isGateVersion(record))
                    throw Error(record.task + "@v" + std::to_string(record.version) + " is not a learned gate");
                storage::AdapterRepository::verifyFiles(record);
                column.gatePath = QString::fromStdString(record.path);
            }
    } catch (const Error& e) {
        m_view->onFailed(QString::fromStdString(engine::errorText(e)));
        return false;
    }
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    const std::string model = request.modelPath.toStdString();
    // A new model folder replaces the session once it has loaded and run (a mistyped folder keeps the
    // loaded model); the same folder keeps it and its attached adapters.
    auto session = std::make_shared<std::shared_ptr<engine::GenerationSession>>(
        model == m_sessionModel ? m_session : nullptr);
    QPointer<ui::PlaygroundView> view(m_view);
    auto cancel = m_cancel;
    const bool started = m_job->start([=](const BackgroundJob::Progress&) -> std::function<void()> {
        bool fresh = false;
        if (!*session) {
            *session = std::make_shared<engine::GenerationSession>(model);
            fresh = true;
        }
        engine::GenerationSession& s = **session;
        for (const auto& [id, folder] : folders)
            if (!s.hasAdapter(adapterName(id)))
                s.loadAdapter(adapterName(id), folder);
        // Gate columns: each gate read once, its adapters attached once.
        std::map<QString, engine::fusion::FusionGate> gates;
        for (const auto& column : request.columns)
            if (!column.gatePath.isEmpty() && !gates.count(column.gatePath)) {
                auto gate = engine::fusion::FusionGate::load(column.gatePath.toStdString());
                engine::attachGateAdapters(s, gate);
                gates.emplace(column.gatePath, std::move(gate));
            }
        std::vector<QList<QPair<QString, double>>> gateWeights(request.columns.size());
        std::vector<engine::GenerationRequest> requests;
        for (int c = 0; c < request.columns.size(); ++c) {
            const auto& column = request.columns[c];
            engine::GenerationRequest r;
            if (request.chat) {
                nlohmann::ordered_json messages = nlohmann::ordered_json::array();
                for (const auto& t : column.conversation)
                    messages.push_back({{"role", t.role.toStdString()}, {"content", t.content.toStdString()}});
                r.promptIds = s.encodeChat(messages);
            } else {
                r.promptIds = s.encode(request.prompt.toStdString());
            }
            // The prompt and every new token must fit the model's context (as the server checks): a
            // model reads positions past it as it never learnt to, so that answer would be noise.
            const int64_t context = s.contextLength();
            const int64_t promptTokens = static_cast<int64_t>(r.promptIds.size());
            const std::string what = request.chat ? "the conversation is " : "the prompt is ";
            const std::string limit = "the model's context of " + std::to_string(context) +
                                      " tokens (max_position_embeddings in " + model + "/config.json)";
            if (context > 0 && promptTokens >= context)
                throw Error("column " + std::to_string(c + 1) + ": " + what + std::to_string(promptTokens) +
                                " tokens, which leaves no room for an answer in " + limit,
                            request.chat ? "start a new chat or shorten the message" : "shorten the prompt");
            if (context > 0 && promptTokens + request.settings.maxNewTokens > context)
                throw Error("column " + std::to_string(c + 1) + ": " + what + std::to_string(promptTokens) +
                                " tokens and max new tokens is " + std::to_string(request.settings.maxNewTokens) + ": " +
                                std::to_string(promptTokens + request.settings.maxNewTokens) + " in all, more than " + limit,
                            "lower max new tokens to " + std::to_string(context - promptTokens) + " or less, or " +
                                (request.chat ? "start a new chat or shorten the message" : "shorten the prompt"));
            if (!column.gatePath.isEmpty()) {
                const engine::GateMix gated = engine::gateMixForPrompt(s, gates.at(column.gatePath), r.promptIds);
                r.adapters = gated.mix;
                for (size_t i = 0; i < gated.mix.size(); ++i)
                    gateWeights[size_t(c)].append({QString::fromStdString(gated.labels[i]), gated.mix[i].weight});
            } else {
                for (const auto& a : column.adapters)
                    r.adapters.push_back({adapterName(a.versionId), a.weight});
            }
            const auto& st = request.settings;
            r.sampling.maxNewTokens = st.maxNewTokens;
            r.sampling.temperature = st.temperature;
            r.sampling.topK = st.topK;
            r.sampling.topP = st.topP;
            r.sampling.repetitionPenalty = st.repetitionPenalty;
            r.sampling.seed = static_cast<uint64_t>(st.seed);
            for (const auto& stop : st.stopStrings)
                r.sampling.stopStrings.push_back(stop.toStdString());
            r.cancel = cancel;
            r.onToken = [view, c, cancel](const engine::TokenEvent& event) {
                const QString text = QString::fromStdString(event.text);
                QMetaObject::invokeMethod(
                    view.data(), [view, c, text] { if (view) view->onToken(c, text); }, Qt::QueuedConnection);
                return !cancel->load();
            };
            s.validate(r);
            requests.push_back(std::move(r));
        }
        // One batch for every column; a failure of one column's own (its logits overflow with its
        // adapters) ends that column with its error, and the others finish.
        std::vector<GenerationOutcome> outputs(requests.size());
        {
            engine::GenerationBatch batch(s);
            for (auto& r : requests)
                (void)batch.add(std::move(r));
            while (!batch.empty())
                for (auto& ended : batch.step()) {
                    auto& o = outputs[static_cast<size_t>(ended.id)];
                    o.output = std::move(ended.output);
                    if (ended.error) {
                        try {
                            std::rethrow_exception(ended.error);
                        } catch (const std::exception& e) {
                            o.error = QString::fromStdString(engine::errorText(e));
                        }
                    }
                }
        }
        return [this, view, outputs, session, model, fresh, cancel, gateWeights] {
            m_session = *session;
            m_sessionModel = model;
            if (fresh)
                ++m_modelLoads;
            if (!view)
                return;
            for (std::size_t c = 0; c < outputs.size(); ++c) {
                const auto& o = outputs[c].output;
                ui::PlaygroundColumnResult result;
                if (!outputs[c].error.isEmpty()) {
                    result.error = outputs[c].error;
                    result.finishReason = QStringLiteral("error");
                }
                result.text = QString::fromStdString(o.text);
                result.tokens = static_cast<int>(o.tokens.size());
                result.promptTokens = static_cast<int>(o.promptTokens);
                result.seconds = o.seconds;
                result.firstTokenSeconds = o.firstTokenSeconds;
                if (result.error.isEmpty())
                    result.finishReason = cancel->load() && o.reason == models::FinishReason::Length
                                              ? QStringLiteral("cancelled")
                                              : finishReasonText(o.reason);
                result.gateWeights = gateWeights[c];
                view->onColumnFinished(static_cast<int>(c), result);
            }
            view->onFinished();
        };
    });
    if (!started) {
        m_view->onFailed(tr("A generation is running; stop it first."));
    }
    return started;
}

void PlaygroundController::pullExample(qint64 runId)
{
    try {
        const auto run = m_store->runs().require(runId);
        const auto file = RunExamples::sourceOf(run.configJson);
        std::size_t& next = m_exampleIndex[runId];
        const RunExample e = RunExamples::at(file, next);
        next = e.index + 1;
        QList<ui::PlaygroundTurn> turns;
        for (const auto& [role, content] : e.turns)
            turns.append({QString::fromStdString(role), QString::fromStdString(content)});
        m_view->showExample(QString::fromStdString(e.promptText), turns, QString::fromStdString(e.reference));
    } catch (const Error& e) {
        m_view->showProblem(QString::fromStdString(engine::errorText(e)));
    }
}

} // namespace rslora::app
