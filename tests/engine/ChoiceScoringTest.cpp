// Multiple choice checked by hand: MMLU's k-shot prompt text, per-choice log-likelihoods against a
// plain log-softmax of each sequence alone, the chosen answers and the accuracy, batched scoring equal
// to one sequence at a time, CMMLU's CSV layout; and exact match's normalisation options.
#include "../tokenizer/TestTokenizers.h"

#include "common/Error.h"
#include "engine/AnswerMatch.h"
#include "engine/Evaluator.h"
#include "models/ModelLoader.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>

using namespace rslora;
using namespace rslora::engine;

namespace {

std::unique_ptr<models::CausalLM> byteModel()
{
    models::ModelConfig c;
    c.vocabSize = 256;
    c.hiddenSize = 32;
    c.intermediateSize = 64;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 8;
    c.maxPositionEmbeddings = 1024;
    c.rmsNormEps = 1e-5;
    c.initializerRange = 0.5; // sharp enough that choices differ clearly
    return models::createCausalLM(c, 99);
}

// Σ log p(cont | prompt) of one sequence, from the logits of that sequence alone.
double byHand(models::CausalLM& model, const std::vector<int64_t>& prompt, const std::vector<int64_t>& cont)
{
    torch::NoGradGuard ng;
    std::vector<int64_t> ids = prompt;
    ids.insert(ids.end(), cont.begin(), cont.end());
    const auto logits = model.forward(torch::tensor(ids, torch::kLong).unsqueeze(0)).logits[0].to(torch::kDouble);
    double s = 0.0;
    for (size_t k = 0; k < cont.size(); ++k) {
        const auto row = logits[int64_t(prompt.size() + k - 1)];
        // log p = logit − log Σ exp(logits), written out.
        s += row[cont[k]].item<double>() - std::log(row.exp().sum().item<double>());
    }
    return s;
}

} // namespace

class ChoiceScoringTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void mmluPromptFormat()
    {
        ChoiceItem shot{"1+1=?", {"1", "2"}, 1};
        ChoiceItem q{"Sky?", {"blue", "green", "red"}, 0};
        QCOMPARE(multipleChoicePrompt(q, {shot}, "arithmetic"),
                 std::string("The following are multiple choice questions (with answers) about arithmetic.\n\n"
                             "1+1=?\nA. 1\nB. 2\nAnswer: B\n\n"
                             "Sky?\nA. blue\nB. green\nC. red\nAnswer:"));
        QCOMPARE(multipleChoicePrompt(q, {}),
                 std::string("The following are multiple choice questions (with answers).\n\nSky?\nA. blue\nB. green\nC. red\nAnswer:"));
    }

    void scoresChosenAnswerAndAccuracyByHand()
    {
        auto model = byteModel();
        model->eval();
        const auto tok = testtok::make(testtok::byteLevelJson({}));
        std::vector<ChoiceItem> items{{"2+2?", {"3", "4", "5", "22"}, 0},
                                      {"Red?", {"apple", "sky", "grass"}, 0},
                                      {"Cat says", {"meow", "woof"}, 0}};
        const ChoiceItem shot{"1+1=?", {"1", "2"}, 1};
        // The hand computation: every (question, letter) sequence scored alone.
        std::vector<int> bestByHand;
        std::vector<std::vector<double>> scoresByHand;
        for (const auto& it : items) {
            const auto prompt = tok.encode(multipleChoicePrompt(it, {shot}), true);
            std::vector<double> s;
            for (size_t c = 0; c < it.choices.size(); ++c)
                s.push_back(byHand(*model, prompt, tok.encode(std::string(" ") + char('A' + c), false)));
            scoresByHand.push_back(s);
            bestByHand.push_back(int(std::max_element(s.begin(), s.end()) - s.begin()));
            // The letters must be told apart for the test to mean anything.
            std::vector<double> sorted = s;
            std::sort(sorted.begin(), sorted.end());
            QVERIFY2(sorted[sorted.size() - 1] - sorted[sorted.size() - 2] > 1e-3, "two choices score the same");
        }
        // Answers: right for items 0 and 2, wrong for item 1 → accuracy 2/3.
        items[0].answer = bestByHand[0];
        items[1].answer = (bestByHand[1] + 1) % 3;
        items[2].answer = bestByHand[2];

        // The log-likelihoods, batched across items and choices (rows of different lengths).
        std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> pairs;
        for (const auto& it : items)
            for (size_t c = 0; c < it.choices.size(); ++c)
                pairs.emplace_back(tok.encode(multipleChoicePrompt(it, {shot}), true),
                                   tok.encode(std::string(" ") + char('A' + c), false));
        const auto batched = continuationLogLikelihoods(*model, pairs, 5);
        size_t p = 0;
        for (size_t i = 0; i < items.size(); ++i)
            for (size_t c = 0; c < items[i].choices.size(); ++c, ++p)
                QVERIFY2(std::fabs(batched[p] - scoresByHand[i][c]) < 1e-4,
                         qPrintable(QString("item %1 choice %2: %3 vs %4").arg(i).arg(c).arg(batched[p]).arg(scoresByHand[i][c])));

        for (int batch : {1, 4, 16}) {
            ChoiceOptions o;
            o.kShot = 1;
            o.shots = {shot};
            o.batchSize = batch;
            const AccuracyResult r = multipleChoice(*model, tok, items, o);
            QCOMPARE(r.total, int64_t(3));
            QCOMPARE(r.correct, int64_t(2));
            QVERIFY(std::fabs(r.accuracy() - 2.0 / 3.0) < 1e-12);
            QCOMPARE(int(r.items.size()), 3);
            for (int i = 0; i < 3; ++i) {
                QCOMPARE(r.items[size_t(i)].got, std::string(1, char('A' + bestByHand[size_t(i)])));
                QCOMPARE(r.items[size_t(i)].expected, std::string(1, char('A' + items[size_t(i)].answer)));
            }
            QVERIFY(!r.items[1].correct && r.items[2].correct);
        }
        // k-shot from the set itself: its first item is the example and is not scored.
        ChoiceOptions own;
        own.kShot = 1;
        const AccuracyResult r = multipleChoice(*model, tok, items, own);
        QCOMPARE(r.total, int64_t(2));
        QCOMPARE(r.items[0].index, int64_t(1));
    }

    void cmmluCsvLayout()
    {
        QTemporaryDir tmp;
        const std::string csv = tmp.filePath("cmmlu.csv").toStdString();
        std::ofstream(csv) << ",Question,A,B,C,D,Answer\n0,\"1+1, in base 10?\",1,2,3,4,B\n1,Capital?,Rome,Paris,Oslo,Bern,D\n";
        const auto items = loadChoiceItems(csv);
        QCOMPARE(items.size(), size_t(2));
        QCOMPARE(items[0].question, std::string("1+1, in base 10?"));
        QCOMPARE(items[0].choices, (std::vector<std::string>{"1", "2", "3", "4"}));
        QCOMPARE(items[1].answer, 3);
        const std::string bad = tmp.filePath("bad.csv").toStdString();
        std::ofstream(bad) << "Question,A,B,Answer\nq,x,y,E\n";
        bool named = false;
        try {
            loadChoiceItems(bad);
        } catch (const Error& e) {
            named = std::string(e.what()).find("bad.csv row 2") != std::string::npos;
        }
        QVERIFY(named);
    }

    void exactMatchNormalisation_data()
    {
        QTest::addColumn<QString>("generated");
        QTest::addColumn<QString>("reference");
        QTest::addColumn<QString>("mode");
        QTest::addColumn<bool>("loose");
        QTest::addColumn<bool>("match");
        QTest::newRow("first line") << "  Paris\nand more" << "Paris" << "first-line" << false << true;
        QTest::newRow("first non-empty line") << "\n\n Paris \nx" << "Paris" << "first-line" << false << true;
        QTest::newRow("whole sees the rest") << "Paris\nand more" << "Paris" << "whole" << false << false;
        QTest::newRow("whole, same text") << " Paris\nFrance " << "Paris\nFrance" << "whole" << false << true;
        QTest::newRow("case differs") << "paris." << "Paris" << "first-line" << false << false;
        QTest::newRow("loose: case, punctuation") << "paris." << "Paris" << "first-line" << true << true;
        QTest::newRow("loose: spaces") << "New   York!" << "new york" << "first-line" << true << true;
        QTest::newRow("loose whole: line breaks are spaces") << "New\nYork" << "new york" << "whole" << true << true;
        QTest::newRow("loose keeps words") << "Parisian" << "Paris" << "first-line" << true << false;
    }
    void exactMatchNormalisation()
    {
        QFETCH(QString, generated);
        QFETCH(QString, reference);
        QFETCH(QString, mode);
        QFETCH(bool, loose);
        QFETCH(bool, match);
        const MatchOptions o = MatchOptions::parse(mode.toStdString(), loose);
        QCOMPARE(answersMatch(generated.toStdString(), reference.toStdString(), o), match);
    }

    void badMatchModeIsNamed()
    {
        bool named = false;
        try {
            MatchOptions::parse("fuzzy", false);
        } catch (const Error& e) {
            named = std::string(e.what()).find("'fuzzy'") != std::string::npos;
        }
        QVERIFY(named);
    }
};

QTEST_GUILESS_MAIN(ChoiceScoringTest)
#include "ChoiceScoringTest.moc"
