// Continuous batching over the session's model (see GenerationBatch.h). Each row samples from its
// own generator with models::pickTokens on its own [1, V] logits, so a row's tokens do not depend
// on which other rows share its batch.
#include "engine/generation/GenerationBatch.h"

#include "common/Error.h"
#include "engine/generation/GenerationSession.h"
#include "models/CausalLM.h"
#include "models/TokenPicker.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cctype>
#include <chrono>

namespace rslora::engine {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Whether a token is a byte of a byte-fallback tokenizer ("<0xE2>", as Llama 2 and Mistral have them).
bool isByteToken(const models::Tokenizer& tokenizer, int64_t id)
{
    const auto name = tokenizer.idToToken(id);
    return name && name->size() == 6 && name->compare(0, 3, "<0x") == 0 && (*name)[5] == '>' &&
           std::isxdigit(static_cast<unsigned char>((*name)[3])) && std::isxdigit(static_cast<unsigned char>((*name)[4]));
}

// The end of the text of `tokens` that no later token can change. Not a trailing run of replacement
// characters (the bytes of a character still arriving, or bytes that a next one may make whole); and
// with a byte-fallback tokenizer, not the text of a trailing run of byte tokens: its decoder reads the
// run as a whole (a valid run is its characters, any other a replacement character per byte), so a
// byte arriving later can turn an "é" already read into two replacement characters. Streaming the text
// past this end sent characters that the answer's final text did not have, and a stop string could
// match a replacement character that stood for a character whose bytes had not all arrived.
size_t settledEnd(const std::string& text, const std::vector<int64_t>& tokens, const GenerationSession& session)
{
    size_t end = text.size();
    if (const models::Tokenizer* tok = session.tokenizer()) {
        size_t run = 0;
        while (run < tokens.size() && isByteToken(*tok, tokens[tokens.size() - 1 - run]))
            ++run;
        if (run > 0) {
            const std::string before =
                run == tokens.size() ? std::string() : session.decode({tokens.begin(), tokens.end() - static_cast<std::ptrdiff_t>(run)});
            end = static_cast<size_t>(std::mismatch(before.begin(), before.end(), text.begin(), text.end()).first - before.begin());
        }
    }
    static const std::string kReplacement = "\xEF\xBF\xBD";
    while (end >= kReplacement.size() && text.compare(end - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
        end -= kReplacement.size();
    return end;
}

// The end of `text` that may be sent now: within the settled text, and not its last `holdBack` bytes
// (they might begin a stop string).
size_t safeEnd(const std::string& text, size_t settled, size_t holdBack)
{
    size_t end = settled > holdBack ? settled - holdBack : 0;
    while (end > 0 && end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end;  // never split a UTF-8 sequence
    return end;
}

} // namespace

struct GenerationBatch::Row {
    int64_t id = 0;
    GenerationRequest request;
    models::GenerationOptions pick;  // the sampling fields for pickTokens
    models::TokenRules rules;        // its logit bias; the end tokens banned before min_tokens
    at::Generator generator;
    std::vector<int64_t> seen;       // ids for the repetition penalty
    GenerationOutput out;
    int64_t nextPosition = 0;
    size_t sent = 0;                 // bytes of text already streamed
    size_t stopFrom = 0;             // bytes of text that stop strings no longer end (before min_tokens)
    Clock::time_point start;
    bool done = false;
    std::exception_ptr error;        // what ended the row, when it failed
};

struct GenerationBatch::State {
    std::vector<std::unique_ptr<Row>> running, waiting;
    models::KVCache cache;
    torch::Tensor mask;  // [running rows, cached tokens], 1 = real token
    int64_t nextId = 0;
};

GenerationBatch::GenerationBatch(GenerationSession& session) : m_session(session), m_state(std::make_unique<State>()) {}

GenerationBatch::~GenerationBatch()
{
    std::lock_guard<std::recursive_mutex> lock(m_session.m_mutex);
    for (auto* rows : {&m_state->running, &m_state->waiting})
        for (auto& r : *rows)
            for (const auto& a : r->request.adapters)
                --m_session.m_inUse[a.name];
}

bool GenerationBatch::empty() const { return m_state->running.empty() && m_state->waiting.empty(); }

size_t GenerationBatch::size() const { return m_state->running.size() + m_state->waiting.size(); }

int64_t GenerationBatch::add(GenerationRequest request)
{
    std::lock_guard<std::recursive_mutex> lock(m_session.m_mutex);
    m_session.validate(request);
    auto row = std::make_unique<Row>();
    row->id = m_state->nextId++;
    const SamplingSettings& s = request.sampling;
    row->pick.temperature = s.temperature;
    row->pick.topK = s.topK;
    row->pick.topP = s.topP;
    row->pick.repetitionPenalty = s.repetitionPenalty;
    row->rules.bias = s.logitBias;
    row->generator = at::detail::createCPUGenerator(s.seed);
    if (s.repetitionPenalty != 1.0)
        row->seen = request.promptIds;
    row->out.promptTokens = static_cast<int64_t>(request.promptIds.size());
    row->nextPosition = row->out.promptTokens;
    row->start = Clock::now();
    for (const auto& a : request.adapters)
        ++m_session.m_inUse[a.name];
    row->request = std::move(request);
    m_state->waiting.push_back(std::move(row));
    return m_state->waiting.back()->id;
}

namespace {

// Records `token` for `row`, streams the text that became final, decides whether the row ended.
void takeToken(int64_t token, GenerationSession& session,
               const std::vector<int64_t>& eos, GenerationOutput& out, std::vector<int64_t>& seen,
               const GenerationRequest& request, size_t& sent, size_t& stopFrom, bool& done, double elapsed)
{
    const SamplingSettings& s = request.sampling;
    out.tokens.push_back(token);
    if (s.repetitionPenalty != 1.0)
        seen.push_back(token);
    if (out.tokens.size() == 1)
        out.firstTokenSeconds = elapsed;
    const models::Tokenizer* tok = session.tokenizer();
    std::string text = tok ? session.decode(out.tokens) : std::string();
    size_t cut = text.size();
    // The row's last token (max_tokens): its text is final as it is, replacement characters included.
    const bool last = static_cast<int64_t>(out.tokens.size()) >= s.maxNewTokens;
    const size_t settled = tok && !last ? settledEnd(text, out.tokens, session) : text.size();
    // Before min_tokens nothing ends the row (the picker bans the end tokens meanwhile), and a stop
    // string in that text stays part of it, as in vLLM.
    const bool early = static_cast<int64_t>(out.tokens.size()) < s.minNewTokens;
    if (early)
        stopFrom = text.size();
    else if (!s.ignoreEos && std::find(eos.begin(), eos.end(), token) != eos.end()) {
        out.reason = models::FinishReason::Eos;
        done = true;
    } else if (!s.stopStrings.empty()) {
        for (const auto& stop : s.stopStrings) {
            const size_t from = stopFrom + 1 > stop.size() ? stopFrom + 1 - stop.size() : 0;
            const size_t at = stop.empty() ? std::string::npos : text.find(stop, from);
            // Only in the settled text: a later token may still change what follows it.
            if (at != std::string::npos && at < cut && at + stop.size() <= settled) {
                cut = at;
                out.reason = models::FinishReason::StopString;
                out.stopString = stop;
                done = true;
            }
        }
    }
    if (!done && static_cast<int64_t>(out.tokens.size()) >= s.maxNewTokens) {
        out.reason = models::FinishReason::Length;
        done = true;
    }
    size_t holdBack = 0;
    for (const auto& stop : s.stopStrings)
        holdBack = std::max(holdBack, stop.empty() ? size_t(0) : stop.size() - 1);
    const size_t end = done ? cut : safeEnd(text, settled, holdBack);
    TokenEvent event;
    event.token = token;
    event.index = static_cast<int64_t>(out.tokens.size()) - 1;
    if (end > sent) {
        event.text = text.substr(sent, end - sent);
        sent = end;
    }
    if (done)
        out.text = text.substr(0, cut);
    if (request.onToken && !request.onToken(event) && !done) {
        out.reason = models::FinishReason::Cancelled;
        out.text = text.substr(0, sent);
        done = true;
    }
}

} // namespace

std::vector<GenerationBatch::Ended> GenerationBatch::step()
{
    std::lock_guard<std::recursive_mutex> lock(m_session.m_mutex);
    torch::NoGradGuard noGrad;
    models::CausalLM& model = *m_session.m_model;
    const torch::Device device = model.device();
    State& st = *m_state;
    std::vector<Ended> ended;
    auto cancelled = [](const Row& r) { return r.request.cancel && r.request.cancel->load(); };
    auto pickFor = [&](Row& r, const torch::Tensor& logits) {
        if (cancelled(r)) {
            r.out.reason = models::FinishReason::Cancelled;
            if (m_session.tokenizer())
                r.out.text = m_session.decode(r.out.tokens).substr(0, r.sent);
            r.done = true;
            return;
        }
        // What goes wrong here is this row's own (its logits, its sampling, its callback): it ends
        // the row alone, the others never see it.
        try {
            const SamplingSettings& s = r.request.sampling;
            const bool early = static_cast<int64_t>(r.out.tokens.size()) < s.minNewTokens && !s.ignoreEos;
            r.rules.banned = early ? m_session.m_eosIds : std::vector<int64_t>{};
            int64_t token = 0;
            try {
                token = models::pickTokens(logits, {r.seen}, r.pick, r.generator, r.rules)[0];
            } catch (const Error& e) {
                // Which token failed: its index among the new tokens and its position after the prompt.
                const int64_t index = static_cast<int64_t>(r.out.tokens.size());
                throw Error("new token " + std::to_string(index + 1) + " (token position " +
                                std::to_string(r.out.promptTokens + index) + "): " + e.message(),
                            e.hint());
            }
            takeToken(token, m_session, m_session.m_eosIds, r.out, r.seen, r.request, r.sent, r.stopFrom, r.done,
                      since(r.start));
        } catch (const Error& e) {
            std::string adapters;
            for (const auto& a : r.request.adapters)
                adapters += (adapters.empty() ? "'" : ", '") + a.name + "'";
            r.error = std::make_exception_ptr(
                adapters.empty() ? e : Error(e.message() + " [the request's adapters: " + adapters + "]", e.hint()));
            r.done = true;
        } catch (...) {
            r.error = std::current_exception();
            r.done = true;
        }
    };
    auto mixes = [](const std::vector<std::unique_ptr<Row>>& rows) {
        std::vector<AdapterMix> m;
        for (const auto& r : rows)
            m.push_back(r->request.adapters);
        return m;
    };

    // 1. One token for every running row.
    if (!st.running.empty()) {
        const int64_t B = static_cast<int64_t>(st.running.size());
        std::vector<int64_t> last, pos;
        for (const auto& r : st.running) {
            last.push_back(r->out.tokens.back());
            pos.push_back(r->nextPosition++);
        }
        auto ids = torch::tensor(last, torch::kInt64).view({B, 1}).to(device);
        auto positions = torch::tensor(pos, torch::kInt64).view({B, 1}).to(device);
        st.mask = torch::cat({st.mask, torch::ones({B, 1}, st.mask.options())}, 1);
        m_session.route(mixes(st.running));
        auto logits = model.forward(ids, st.mask, positions, &st.cache).logits.select(1, 0).to(torch::kCPU, torch::kFloat32).contiguous();
        for (int64_t b = 0; b < B; ++b)
            pickFor(*st.running[static_cast<size_t>(b)], logits.narrow(0, b, 1));
    }

    // 2. Prefill the rows that joined (left-padded among themselves) and append them to the batch.
    if (!st.waiting.empty()) {
        const int64_t B = static_cast<int64_t>(st.waiting.size());
        int64_t T = 0;
        for (const auto& r : st.waiting)
            T = std::max<int64_t>(T, static_cast<int64_t>(r->request.promptIds.size()));
        auto ids = torch::full({B, T}, m_session.m_padId, torch::kInt64);
        auto mask = torch::zeros({B, T}, torch::kInt64);
        for (int64_t b = 0; b < B; ++b) {
            const auto& p = st.waiting[static_cast<size_t>(b)]->request.promptIds;
            const int64_t n = static_cast<int64_t>(p.size());
            ids[b].narrow(0, T - n, n).copy_(torch::tensor(p, torch::kInt64));
            mask[b].narrow(0, T - n, n).fill_(1);
        }
        auto positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
        models::KVCache cache = model.makeCache();
        m_session.route(mixes(st.waiting));
        mask = mask.to(device);
        // In chunks, so that a cancel (Stop) during a long prompt's forward takes effect after one chunk.
        const auto allCancelled = [&] {
            return std::all_of(st.waiting.begin(), st.waiting.end(), [&](const auto& r) { return cancelled(*r); });
        };
        const auto logits = models::prefill(model, ids.to(device), mask, positions.to(device), cache,
                                            models::kPrefillChunk, allCancelled);
        if (!logits.defined()) {
            // Every joining row was cancelled before its prompt was read: they end without a token.
            for (auto& r : st.waiting) {
                r->out.reason = models::FinishReason::Cancelled;
                r->out.seconds = since(r->start);
                for (const auto& a : r->request.adapters)
                    --m_session.m_inUse[a.name];
                ended.push_back({r->id, std::move(r->out), nullptr});
            }
            st.waiting.clear();
        } else {
            for (int64_t b = 0; b < B; ++b)
                pickFor(*st.waiting[static_cast<size_t>(b)], logits.narrow(0, b, 1));
            if (st.running.empty()) {
                st.cache = std::move(cache);
                st.mask = mask;
            } else {
                st.cache.appendRows(cache);
                const int64_t S = st.cache.length();
                auto leftPad = [S](const torch::Tensor& m) {
                    return torch::cat({torch::zeros({m.size(0), S - m.size(1)}, m.options()), m}, 1);
                };
                st.mask = torch::cat({leftPad(st.mask), leftPad(mask)}, 0);
            }
            for (auto& r : st.waiting)
                st.running.push_back(std::move(r));
            st.waiting.clear();
        }
    }

    // 3. Rows that ended leave; columns that are padding in every remaining row are dropped.
    std::vector<int64_t> keep;
    std::vector<std::unique_ptr<Row>> still;
    for (size_t b = 0; b < st.running.size(); ++b) {
        Row& r = *st.running[b];
        if (!r.done) {
            keep.push_back(static_cast<int64_t>(b));
            still.push_back(std::move(st.running[b]));
            continue;
        }
        r.out.seconds = since(r.start);
        for (const auto& a : r.request.adapters)
            --m_session.m_inUse[a.name];
        ended.push_back({r.id, std::move(r.out), r.error});
    }
    if (still.empty()) {
        st.cache = model.makeCache();
        st.mask = torch::Tensor();
    } else if (still.size() != st.running.size()) {
        auto idx = torch::tensor(keep, torch::kInt64).to(device);
        st.cache.selectRows(idx);
        st.mask = st.mask.index_select(0, idx);
        const int64_t firstUsed = (st.mask.sum(0) > 0).nonzero().min().item<int64_t>();
        if (firstUsed > 0) {
            st.cache.dropFront(firstUsed);
            st.mask = st.mask.narrow(1, firstUsed, st.mask.size(1) - firstUsed).contiguous();
        }
    }
    st.running = std::move(still);
    return ended;
}

} // namespace rslora::engine
