// Preference training math: batches lay chosen and rejected out as one batch with the prompt masked;
// per-sequence log-probs equal an explicit loop over full logits in float64; every loss variant equals
// its formula evaluated by hand; the loss is log 2 when policy and reference agree; its gradients
// match a float64 computation over full logits and a finite difference; evaluation of a policy
// against a reference gives the numbers computed by hand.
#include "common/Error.h"
#include "common/AtomicFile.h"
#include "engine/AdapterSet.h"
#include "engine/Evaluator.h"
#include "engine/objectives/DpoLoss.h"
#include "engine/objectives/DpoObjective.h"
#include "engine/objectives/PreferenceBatch.h"
#include "engine/objectives/PreferenceScoring.h"
#include "engine/objectives/SequenceLogProbs.h"
#include "models/ModelLoader.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>

using namespace rslora;
using namespace rslora::engine;
using namespace rslora::engine::objectives;

namespace {

std::unique_ptr<models::CausalLM> tinyModel()
{
    models::ModelConfig c;
    c.vocabSize = 40;
    c.hiddenSize = 16;
    c.intermediateSize = 32;
    c.numLayers = 2;
    c.numHeads = 2;
    c.numKvHeads = 1;
    c.headDim = 8;
    c.initializerRange = 0.3;
    models::LoadOptions lo;
    lo.dtype = torch::kFloat64;
    return models::createCausalLM(c, 17, lo);
}

// Two adapters ("policy", "other") with random non-zero B on q/v, float64.
void addAdapters(AdapterSet& set)
{
    for (const char* name : {"policy", "other"}) {
        AdapterConfig a;
        a.name = name;
        a.targetModules = {"q_proj", "v_proj"};
        a.rank = 4;
        a.alpha = 8;
        set.addAdapter(a, name[0] == 'p' ? 5 : 6);
    }
    torch::NoGradGuard ng;
    int seed = 0;
    for (auto& m : set.modules())
        for (const auto& n : m.module->adapterNames()) {
            auto& ad = m.module->adapter(n);
            torch::manual_seed(100 + seed++);
            ad.setFactors(ad.A().detach().clone(), torch::randn_like(ad.B()) * 0.5);
        }
}

std::vector<models::PreferenceSample> samples()
{
    return {{{1, 5, 7}, {9, 11, 2}, {12, 2}},
            {{1, 20}, {3, 2}, {30, 31, 32, 2}},
            {{1, 4, 4, 8}, {6, 2}, {6, 7, 2}}};
}

// Σ log softmax(logits[r, t−1])[labels[r, t]] over labelled t, with explicit loops over full logits.
std::vector<double> naiveLogProbs(models::CausalLM& model, const PreferenceBatch& b)
{
    torch::NoGradGuard ng;
    const auto logits = model.forward(b.ids, b.mask).logits.to(torch::kFloat64);
    std::vector<double> out(size_t(b.ids.size(0)), 0.0);
    for (int64_t r = 0; r < b.ids.size(0); ++r)
        for (int64_t t = 1; t < b.ids.size(1); ++t) {
            const int64_t y = b.labels[r][t].item<int64_t>();
            if (y == models::kIgnoreIndex)
                continue;
            double mx = -1e300;
            for (int64_t v = 0; v < logits.size(2); ++v)
                mx = std::max(mx, logits[r][t - 1][v].item<double>());
            double z = 0;
            for (int64_t v = 0; v < logits.size(2); ++v)
                z += std::exp(logits[r][t - 1][v].item<double>() - mx);
            out[size_t(r)] += logits[r][t - 1][y].item<double>() - mx - std::log(z);
        }
    return out;
}

double logSigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// The loss of one pair from scalars, as the papers write it.
double pairLoss(const DpoOptions& o, double pw, double pl, double rw, double rl, double nw, double nl)
{
    switch (o.variant) {
    case DpoVariant::Sigmoid: {
        const double h = (pw - rw) - (pl - rl);
        return -(1 - o.labelSmoothing) * logSigmoid(o.beta * h) - o.labelSmoothing * logSigmoid(-o.beta * h);
    }
    case DpoVariant::Ipo: {
        const double h = (pw - rw) / nw - (pl - rl) / nl;
        return std::pow(h - 1 / (2 * o.beta), 2);
    }
    case DpoVariant::Simpo: {
        const double h = pw / nw - pl / nl - o.simpoGamma / o.beta;
        return -(1 - o.labelSmoothing) * logSigmoid(o.beta * h) - o.labelSmoothing * logSigmoid(-o.beta * h);
    }
    }
    return 0;
}

torch::Tensor vec(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }

} // namespace

class DpoTest : public QObject {
    Q_OBJECT
private slots:
    void batchLaysOutChosenThenRejected()
    {
        const auto s = samples();
        const PreferenceBatch b = collatePreferences(s, {0, 1}, 64, 0);
        QCOMPARE(b.pairs, int64_t(2));
        QCOMPARE(b.ids.sizes(), (torch::IntArrayRef{4, 6}));
        // Row 0: prompt 1 5 7 (masked) + chosen 9 11 2; row 3: prompt 1 20 + rejected 30 31 32 2.
        QCOMPARE(b.ids[0].slice(0, 0, 6).sum().item<int64_t>(), int64_t(1 + 5 + 7 + 9 + 11 + 2));
        QCOMPARE(b.labels[0][2].item<int64_t>(), models::kIgnoreIndex);
        QCOMPARE(b.labels[0][3].item<int64_t>(), int64_t(9));
        QCOMPARE(b.labels[2][3].item<int64_t>(), int64_t(12));
        QCOMPARE(b.labels[2][5].item<int64_t>(), models::kIgnoreIndex); // padding
        QCOMPARE(b.mask[2].sum().item<int64_t>(), int64_t(5));
        QCOMPARE(b.labels[3][1].item<int64_t>(), models::kIgnoreIndex);
        QCOMPARE(b.labels[3][2].item<int64_t>(), int64_t(30));
        QCOMPARE(b.tokens, int64_t(6 + 4 + 5 + 6));
        // Sequences longer than maxSeqLen are cut.
        QCOMPARE(collatePreferences(s, {1}, 3, 0).ids.size(1), int64_t(3));
        QVERIFY_THROWS_EXCEPTION(Error, collatePreferences(s, {}, 8, 0));
    }

    void sequenceLogProbsMatchExplicitLoops()
    {
        auto model = tinyModel();
        const auto s = samples();
        const PreferenceBatch b = collatePreferences(s, {0, 1, 2}, 64, 0);
        const auto naive = naiveLogProbs(*model, b);
        for (int64_t chunk : {1, 3, 512}) {
            torch::NoGradGuard ng;
            const auto got = sequenceLogProbs(model->hiddenStates(b.ids, b.mask), *model->lmHead(), b.labels, chunk);
            QCOMPARE(got.sum.scalar_type(), torch::kFloat64);
            for (size_t r = 0; r < naive.size(); ++r)
                QVERIFY2(std::abs(got.sum[int64_t(r)].item<double>() - naive[r]) < 1e-10, std::to_string(r).c_str());
            QCOMPARE(got.tokens[0].item<int64_t>(), int64_t(3));
            QCOMPARE(got.tokens[4].item<int64_t>(), int64_t(4));
        }
    }

    void lossVariantsMatchTheirFormulas()
    {
        const std::vector<double> pw{-3.0, -7.5, -2.0}, pl{-4.0, -6.0, -9.0}, rw{-3.5, -7.0, -2.5}, rl{-3.9, -6.5, -8.0},
            nw{3, 5, 2}, nl{4, 2, 6};
        PreferenceLogProbs in{vec(pw), vec(pl), vec(rw), vec(rl), torch::tensor({3, 5, 2}), torch::tensor({4, 2, 6})};
        for (DpoVariant v : {DpoVariant::Sigmoid, DpoVariant::Ipo, DpoVariant::Simpo})
            for (double smoothing : {0.0, 0.2})
                for (double rpo : {0.0, 0.7}) {
                    if (v == DpoVariant::Ipo && smoothing > 0)
                        continue;
                    DpoOptions o;
                    o.variant = v;
                    o.beta = 0.3;
                    o.labelSmoothing = smoothing;
                    o.simpoGamma = 0.4;
                    o.rpoAlpha = rpo;
                    const DpoTerms t = dpoLoss(o, in);
                    double expected = 0;
                    for (size_t i = 0; i < 3; ++i)
                        expected += (pairLoss(o, pw[i], pl[i], rw[i], rl[i], nw[i], nl[i]) - rpo * pw[i] / nw[i]) / 3;
                    QVERIFY2(std::abs(t.loss.item<double>() - expected) < 1e-12, dpoVariantName(v));
                    const double rewardChosen0 = v == DpoVariant::Simpo ? 0.3 * pw[0] / nw[0]
                        : v == DpoVariant::Ipo                          ? 0.3 * (pw[0] - rw[0]) / nw[0]
                                                                        : 0.3 * (pw[0] - rw[0]);
                    QVERIFY(std::abs(t.rewardsChosen[0].item<double>() - rewardChosen0) < 1e-12);
                    DpoMetrics m;
                    m.add(t, in);
                    QCOMPARE(m.pairs, int64_t(3));
                    QVERIFY(std::abs(m.loss() - expected) < 1e-12);
                    QVERIFY(std::abs(m.logpChosen() - (pw[0] + pw[1] + pw[2]) / 3) < 1e-12);
                }
        QCOMPARE(parseDpoVariant("dpo"), DpoVariant::Sigmoid);
        QVERIFY_THROWS_EXCEPTION(Error, parseDpoVariant("kto"));
        DpoOptions bad;
        bad.beta = 0;
        QVERIFY_THROWS_EXCEPTION(Error, validateDpoOptions(bad));
        bad.beta = 0.1;
        bad.labelSmoothing = 0.5;
        QVERIFY_THROWS_EXCEPTION(Error, validateDpoOptions(bad));
        bad.labelSmoothing = std::nan("");
        QVERIFY_THROWS_EXCEPTION(Error, validateDpoOptions(bad));
        bad.labelSmoothing = 0;
        bad.rpoAlpha = -0.5;
        QVERIFY_THROWS_EXCEPTION(Error, validateDpoOptions(bad));
        bad.rpoAlpha = std::numeric_limits<double>::infinity();
        QVERIFY_THROWS_EXCEPTION(Error, validateDpoOptions(bad));
    }

    void lossIsLog2WhenPolicyEqualsReference()
    {
        auto model = tinyModel();
        AdapterSet set(*model);
        addAdapters(set);
        const auto s = samples();
        PreferenceEvalRequest r;
        r.policy = {{"policy", 1.0}};
        r.reference = {{"policy", 1.0}};
        r.batchSize = 2;
        const DpoMetrics m = evaluatePreferences(*model, set, s, r);
        QCOMPARE(m.pairs, int64_t(3));
        QVERIFY(std::abs(m.loss() - std::log(2.0)) < 1e-12);
        QCOMPARE(m.accuracy(), 0.0);
        QVERIFY(std::abs(m.margin()) < 1e-12);
        r.options.variant = DpoVariant::Ipo;
        QVERIFY(std::abs(evaluatePreferences(*model, set, s, r).loss() - 1.0 / (4 * 0.1 * 0.1)) < 1e-9);
    }

    void evaluationAgainstReferenceMatchesHandComputation()
    {
        auto model = tinyModel();
        AdapterSet set(*model);
        addAdapters(set);
        const auto s = samples();
        const PreferenceBatch b = collatePreferences(s, {0, 1, 2}, 64, 0);
        set.setActive({});
        const auto ref = naiveLogProbs(*model, b);
        set.setActive({{"policy", 1.0}, {"other", -0.5}});
        const auto pol = naiveLogProbs(*model, b);
        PreferenceEvalRequest r;
        r.policy = {{"policy", 1.0}, {"other", -0.5}};
        r.options.beta = 0.5;
        r.batchSize = 2;
        const DpoMetrics m = evaluatePreferences(*model, set, s, r);
        double loss = 0, margin = 0, correct = 0;
        for (size_t i = 0; i < 3; ++i) {
            loss += pairLoss(r.options, pol[i], pol[i + 3], ref[i], ref[i + 3], 1, 1) / 3;
            const double mg = 0.5 * ((pol[i] - ref[i]) - (pol[i + 3] - ref[i + 3]));
            margin += mg / 3;
            correct += mg > 0 ? 1 : 0;
        }
        QVERIFY(std::abs(m.loss() - loss) < 1e-10);
        QVERIFY(std::abs(m.margin() - margin) < 1e-10);
        QCOMPARE(m.accuracy(), correct / 3);
        QVERIFY(std::abs(m.logpRejected() - (pol[3] + pol[4] + pol[5]) / 3) < 1e-10);
    }

    void gradientsMatchFullLogitsAndFiniteDifference()
    {
        auto model = tinyModel();
        AdapterSet set(*model);
        addAdapters(set);
        set.setTrainable("policy");
        const auto s = samples();
        const PreferenceBatch b = collatePreferences(s, {0, 1, 2}, 64, 0);
        set.setActive({});
        const auto ref = naiveLogProbs(*model, b);
        set.setActive({{"policy", 1.0}});
        DpoOptions o;
        o.beta = 0.7;
        o.labelSmoothing = 0.1;
        auto& ad = set.find("model.layers.1.self_attn.v_proj")->module->adapter("policy");
        const PreferenceLogProbs refOnly{{}, {}, vec({ref[0], ref[1], ref[2]}), vec({ref[3], ref[4], ref[5]}), {}, {}};

        auto ourLoss = [&] {
            const PairLogProbs p = scorePairs(*model, b, 2);
            PreferenceLogProbs in = refOnly;
            in.policyChosen = p.chosen;
            in.policyRejected = p.rejected;
            in.chosenTokens = p.chosenTokens;
            in.rejectedTokens = p.rejectedTokens;
            return dpoLoss(o, in).loss;
        };
        ourLoss().backward();
        const auto gradA = ad.factorA().grad().clone(), gradB = ad.factorB().grad().clone();
        ad.factorA().mutable_grad().zero_();
        ad.factorB().mutable_grad().zero_();

        // Full logits, log_softmax, gather, and the loss written out with torch ops.
        const auto logits = model->forward(b.ids, b.mask).logits;
        const auto logp = torch::log_softmax(logits.slice(1, 0, -1), -1);
        const auto target = b.labels.slice(1, 1);
        const auto scored = target != models::kIgnoreIndex;
        const auto picked = logp.gather(2, target.clamp_min(0).unsqueeze(2)).squeeze(2) * scored.to(torch::kFloat64);
        const auto seq = picked.sum(1);
        const auto h = (seq.slice(0, 0, 3) - refOnly.referenceChosen) - (seq.slice(0, 3, 6) - refOnly.referenceRejected);
        const auto loss = (-(1 - 0.1) * torch::log_sigmoid(0.7 * h) - 0.1 * torch::log_sigmoid(-0.7 * h)).mean();
        loss.backward();
        QVERIFY(gradB.abs().max().item<double>() > 1e-6);
        QVERIFY2((gradA - ad.factorA().grad()).abs().max().item<double>() < 1e-10, "grad A");
        QVERIFY2((gradB - ad.factorB().grad()).abs().max().item<double>() < 1e-10, "grad B");

        // A central finite difference on one entry of B.
        torch::NoGradGuard ng;
        const double eps = 1e-6, g = gradB[3][1].item<double>();
        auto Bp = ad.factorB();
        Bp[3][1] += eps;
        const double up = ourLoss().item<double>();
        Bp[3][1] -= 2 * eps;
        const double down = ourLoss().item<double>();
        Bp[3][1] += eps;
        QVERIFY2(std::abs((up - down) / (2 * eps) - g) < 1e-7, (std::to_string((up - down) / (2 * eps)) + " vs " + std::to_string(g)).c_str());
    }

    // What `rslora eval --preference` runs, on the built-in demo model and its held-out pairs.
    void pairsWithoutPreferenceAreRefused()
    {
        auto s = samples();
        QVERIFY(pairsWithoutPreference(s, 64).empty());
        refusePairsWithoutPreference(s, 64, "data.train");
        // Pair 3's responses 6 2 / 6 7 2 share their first token: cut to it, they are the same.
        QCOMPARE(pairsWithoutPreference(s, 5), std::vector<size_t>{2});
        s[0].rejected = s[0].chosen; // identical as written
        QCOMPARE(pairsWithoutPreference(s, 64), std::vector<size_t>{0});
        try {
            refusePairsWithoutPreference(s, 5, "data.validation");
            QFAIL("pairs with the same chosen and rejected response were accepted");
        } catch (const Error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("data.validation: 2 of 3 preference pairs") != std::string::npos, e.what());
            QVERIFY2(m.find("(pair 1, 3,") != std::string::npos, e.what());
            QVERIFY2(m.find("max_seq_len 5") != std::string::npos, e.what());
        }
        // The objective refuses them before anything is trained.
        auto model = tinyModel();
        TrainConfig cfg;
        cfg.objective = TrainObjective::Dpo;
        cfg.maxSeqLen = 64;
        QVERIFY_THROWS_EXCEPTION(Error, DpoObjective(cfg, *model, s));
        DpoObjective fine(cfg, *model, samples());
        QCOMPARE(fine.trainCount(), size_t(3));
        QVERIFY_THROWS_EXCEPTION(Error, DpoObjective(cfg, *model, samples(), s));
    }

    void evaluationOfPreferenceFiles()
    {
        const char* res = std::getenv("RSLORA_RESOURCES");
        QVERIFY2(res, "RSLORA_RESOURCES is not set");
        const std::filesystem::path demo = std::filesystem::path(res) / "demo";
        EvalRequest req;
        req.modelPath = (demo / "model").string();
        req.preferenceData = (demo / "data" / "prefs_val.jsonl").string();
        req.limit = 16;
        EvalReport rep = runEvaluation(req);
        QVERIFY(rep.preference);
        QCOMPARE(rep.preference->pairs, int64_t(16));
        QVERIFY(std::abs(rep.preference->loss() - std::log(2.0)) < 1e-6); // the base against itself
        QVERIFY(rep.preference->logpChosen() < 0);
        const auto j = rep.toJson();
        QCOMPARE(j["preference"]["pairs"].get<int64_t>(), int64_t(16));
        QCOMPARE(j["preference"]["loss_type"].get<std::string>(), std::string("sigmoid"));
        QVERIFY(rep.toText().find("accuracy 0%") != std::string::npos);

        QTemporaryDir tmp;
        const std::string bad = (std::filesystem::path(tmp.path().toStdString()) / "bad.jsonl").string();
        writeFileAtomic(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n");
        req.preferenceData = bad;
        try {
            runEvaluation(req);
            QFAIL("a pair without \"rejected\" was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("line 2") != std::string::npos, e.what());
        }
        // An empty response is refused where the record is read, as training refuses it (it was scored).
        writeFileAtomic(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \" \", \"rejected\": \"c\"}\n");
        try {
            runEvaluation(req);
            QFAIL("a pair with a blank \"chosen\" was scored");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).rfind("bad.jsonl line 2: \"chosen\" holds only whitespace", 0) == 0, e.what());
        }
        req.preferenceData = (demo / "data" / "prefs_val.jsonl").string();
        req.dpo.beta = -1;
        QVERIFY_THROWS_EXCEPTION(Error, runEvaluation(req));
        req.dpo.beta = 0.1;
        req.preferenceData.clear();
        req.referenceAdapterPaths = {"x"};
        QVERIFY_THROWS_EXCEPTION(Error, runEvaluation(req));
    }
};

QTEST_GUILESS_MAIN(DpoTest)
#include "DpoTest.moc"
