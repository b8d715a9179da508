// Pipeline configs read from values of the wrong type: every one is listed as a problem naming its
// key, never a JSON-library exception (the cases the pipeline_config fuzz target found); a pipeline
// whose `stages` key is misspelt is still read as a pipeline, and the misspelling named.
#include "common/Error.h"
#include "engine/pipeline/PipelineConfig.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace rslora::engine::pipeline;
using nlohmann::json;

namespace {

json pipeline()
{
    return json{{"base", {{"model", {{"path", "m"}}}, {"output", {{"dir", "out"}}}}},
                {"stages", json::array({json{{"name", "a"}, {"data", "a.jsonl"}}})}};
}

QString problemsOf(const PipelineConfig& c)
{
    QStringList all;
    for (const auto& p : c.problems())
        all << QString::fromStdString(p);
    return all.join("\n");
}

} // namespace

class PipelineConfigTest : public QObject {
    Q_OBJECT
private slots:
    // task@vN, split at the last "@v" (scanned by hand: std::regex recursed once per character).
    void versionReferences()
    {
        const auto a = parseVersionReference("facts@v3");
        QVERIFY(a && a->task == "facts" && a->version == 3);
        const auto b = parseVersionReference("x@v1@v12");
        QVERIFY(b && b->task == "x@v1" && b->version == 12);
        for (const char* bad : {"facts", "@v3", "facts@v", "facts@v3x", "facts@v1234567890123456", "fa\ncts@v3", "facts@3"})
            QVERIFY2(!parseVersionReference(bad), bad);
        const auto longName = parseVersionReference(std::string(300000, 'a') + "@v7");
        QVERIFY(longName && longName->task.size() == 300000 && longName->version == 7);
    }

    // The message of a reference that resolves to nothing names it once ("from 'x@v1': from: x@v1:"
    // before, as the store's resolver names it too).
    void unresolvedFromIsNamedOnce()
    {
        json j = pipeline();
        j["stages"].push_back(json{{"name", "b"}, {"from", "gone@v1"}});
        j["stages"].push_back(json{{"name", "c"}, {"from", "other@v2"}});
        const PipelineConfig c = PipelineConfig::fromJson(j);
        QStringList all;
        for (const auto& p : c.problems([](const std::string& ref) {
                 return ref == "gone@v1" ? "from: gone@v1: no adapter matches \"gone@v1\"" : "'" + ref + "' is not a version in db";
             }))
            all << QString::fromStdString(p);
        const QString p = all.join("\n");
        QVERIFY2(p.contains("from: gone@v1: no adapter matches \"gone@v1\"") && !p.contains("from 'gone@v1'"), qPrintable(p));
        QVERIFY2(p.contains("from 'other@v2': 'other@v2' is not a version in db"), qPrintable(p));
    }

    // A from: naming the task of another stage of the same pipeline (not stored yet) says so: a later
    // stage trains after it, an earlier one is below it already.
    void fromAStageOfTheSamePipeline()
    {
        json j = pipeline();
        j["pipeline"] = {{"name", "p"}};
        j["stages"].push_back(json{{"name", "b"}, {"from", "p_c@v1"}});
        j["stages"].push_back(json{{"name", "c"}, {"data", "c.jsonl"}});
        j["stages"].push_back(json{{"name", "d"}, {"from", "p_a@v1"}});
        const PipelineConfig c = PipelineConfig::fromJson(j);
        QStringList all;
        for (const auto& p : c.problems([](const std::string& ref) { return "from: " + ref + ": no adapter matches \"" + ref + "\""; }))
            all << QString::fromStdString(p);
        const QString p = all.join("\n");
        QVERIFY2(p.contains("no adapter matches \"p_c@v1\"; 'p_c' is the task this pipeline's stage 'c' stores its versions in, "
                            "and that stage trains after this one"),
                 qPrintable(p));
        QVERIFY2(p.contains("'p_a' is the task this pipeline's stage 'a' stores its versions in; that stage trains before "
                            "this one and is below it already"),
                 qPrintable(p));
    }

    // `--set section.key=value` values are named as the command line's, not by a line of the file.
    void commandLineValuesAreNamedAsSuch()
    {
        PipelineConfig c = PipelineConfig::fromJson(pipeline());
        c.setBaseValue("training", "max_steps", "many");
        const QString p = problemsOf(c);
        QVERIFY2(p.contains("config key 'training.max_steps' (--set training.max_steps): expected an integer"), qPrintable(p));
        try {
            c.setBaseValue("", "x", 1);
            QFAIL("an empty section was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("--set expects section.key=value, found '.x=1'"), e.what());
        }
        json j = pipeline();
        j["base"]["training"] = 3;
        PipelineConfig d = PipelineConfig::fromJson(j);
        try {
            d.setBaseValue("training", "max_steps", 1);
            QFAIL("a key set into a section given as a value");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("'training' in the base config is not a mapping of keys, found 3"), e.what());
        }
    }

    void nonStringNameAndFolder()
    {
        json j = pipeline();
        j["pipeline"] = {{"name", 7}, {"output_dir", json::array({1})}};
        const PipelineConfig c = PipelineConfig::fromJson(j, "fallback");
        QCOMPARE(c.name, std::string("fallback"));
        QCOMPARE(c.outputDir, std::string("out")); // the base's output.dir stands in
        const QString p = problemsOf(c);
        QVERIFY2(p.contains("pipeline.name must be a string, found 7"), qPrintable(p));
        QVERIFY2(p.contains("pipeline.output_dir must be a string, found [1]"), qPrintable(p));

        j = pipeline();
        j["base"]["output"]["dir"] = 5;
        QVERIFY(PipelineConfig::fromJson(j).outputDir.empty());
    }

    void sectionGivenAsAValue()
    {
        json j = pipeline();
        j["stages"][0]["overrides"] = {{"adapter", 8}};
        const PipelineConfig c = PipelineConfig::fromJson(j);
        try {
            (void)c.stageConfig(0);
            QFAIL("no error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("'adapter' must be a mapping of keys, found 8"), e.what());
        }
        QVERIFY2(problemsOf(c).contains("stage 'a'"), qPrintable(problemsOf(c)));
    }

    // A stage that is not a mapping (`- 3`, `- text`) has one problem, said once: nothing else of it
    // is checked as if it were an empty stage (it was also "data.train is empty").
    void nonMappingStageHasOneProblem()
    {
        json j = pipeline();
        j["stages"] = json::array({3, "just text", json{{"name", "a"}, {"data", "a.jsonl"}}});
        const PipelineConfig c = PipelineConfig::fromJson(j);
        const QString p = problemsOf(c);
        QVERIFY2(p.contains("stage 1: must be a mapping (name, objective, data, ...), found 3"), qPrintable(p));
        QVERIFY2(p.contains("stage 2: must be a mapping (name, objective, data, ...), found \"just text\""), qPrintable(p));
        QVERIFY2(!p.contains("data.train is empty") && !p.contains("stage 'stage1'") && !p.contains("stage 'stage2'"), qPrintable(p));
        QCOMPARE(p.count("stage 1:"), 1);
        QCOMPARE(p.count("stage 2:"), 1);
    }

    // A stage whose name is empty (cleared in the workbench's table) is named by its number, its
    // empty name is said once (the stage's adapter, named after it, was refused as well), and two
    // such stages are not "used by an earlier stage".
    void emptyStageNameIsSaidOnceByNumber()
    {
        QTemporaryDir dir;
        const QString data = dir.filePath("a.jsonl");
        {
            std::ofstream f(data.toStdString());
            f << "{\"instruction\": \"q\", \"output\": \"a\"}\n";
        }
        json j = pipeline();
        j["stages"] = json::array({json{{"name", ""}, {"data", data.toStdString()}}, json{{"name", ""}, {"data", data.toStdString()}}});
        const QString p = problemsOf(PipelineConfig::fromJson(j));
        QVERIFY2(p.contains("stage 1: the name is empty: give it 1 to 40 letters, digits, '-' or '_'"), qPrintable(p));
        QVERIFY2(p.contains("stage 2: the name is empty"), qPrintable(p));
        QVERIFY2(!p.contains("stage ''") && !p.contains("adapter.name") && !p.contains("used by an earlier stage"), qPrintable(p));
        // A name that is wrong but not empty is still quoted, and said once.
        j["stages"][0]["name"] = "has space";
        const QString q = problemsOf(PipelineConfig::fromJson(j));
        QVERIFY2(q.contains("stage 'has space': name 'has space' must be 1 to 40 letters"), qPrintable(q));
        QVERIFY2(!q.contains("adapter.name"), qPrintable(q));
    }

    void misspeltStagesIsStillAPipeline()
    {
        json j = pipeline();
        j["stgaes"] = j["stages"];
        j.erase("stages");
        QVERIFY(PipelineConfig::isPipeline(j));
        const QString p = problemsOf(PipelineConfig::fromJson(j));
        QVERIFY2(p.contains("unknown key 'stgaes' (did you mean 'stages'?)"), qPrintable(p));
        QVERIFY2(p.contains("'stages' must be a non-empty list"), qPrintable(p));
        QVERIFY(PipelineConfig::isPipeline(json{{"pipeline", {{"name", "p"}}}}));
        // A training config is none.
        QVERIFY(!PipelineConfig::isPipeline(json{{"model", {{"path", "m"}}}, {"data", {{"train", "t.jsonl"}}}}));
        QVERIFY(!PipelineConfig::isPipeline(json::array({"stages"})));
    }

    // A key written twice in a JSON pipeline file, or in the JSON training config its base names, is
    // refused naming the key (nlohmann kept one of them silently).
    void duplicateJsonKeysAreRefused()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("p.json").toStdString();
        std::ofstream(path) << R"({"base": {"model": {"path": "m"}}, "pipeline": {"name": "a", "name": "b"}, "stages": []})";
        try {
            PipelineConfig::load(path);
            QFAIL("the duplicate key was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(path + ": duplicate key 'name'") != std::string::npos, e.what());
        }
        const std::string base = dir.filePath("base.json").toStdString();
        std::ofstream(base) << R"({"model": {"path": "m", "path": "n"}})";
        std::ofstream(path) << R"({"base": "base.json", "stages": [{"name": "a", "data": "a.jsonl"}]})";
        try {
            PipelineConfig::load(path);
            QFAIL("the duplicate key in the base was accepted");
        } catch (const rslora::Error& e) {
            QVERIFY2(std::string(e.what()).find(base + ": duplicate key 'path'") != std::string::npos, e.what());
        }
    }

    // Every record of every stage's data is checked before the first stage trains: a preference pair
    // in an sft stage's file (found only when that stage started, after the stages before it had
    // trained), a later record of the wrong kind or type, a truncated last line, a pair training refuses
    // (a blank response). Files that train as they are pass.
    void everyStagesRecordsAreCheckedBeforeTraining()
    {
        QTemporaryDir dir;
        auto file = [&](const char* name, const std::string& text) {
            const std::string path = dir.filePath(name).toStdString();
            std::ofstream(path, std::ios::binary) << text;
            return path;
        };
        const std::string alpaca = R"({"instruction": "a", "output": "b"})";
        const std::string pair = R"({"prompt": "a", "chosen": "b", "rejected": "c"})";
        const std::string chat = R"({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})";
        json j = pipeline();
        j["stages"] = json::array({
            json{{"name", "good"}, {"data", file("good.jsonl", alpaca + "\r\n\n" + alpaca)}},
            json{{"name", "prefs_in_sft"}, {"data", file("prefs.jsonl", alpaca + "\n" + alpaca + "\n" + pair + "\n")}},
            json{{"name", "sft_in_dpo"}, {"objective", "dpo"}, {"data", file("mixed.jsonl", pair + "\n" + alpaca + "\n")}},
            json{{"name", "truncated"}, {"data", file("cut.jsonl", alpaca + "\n{\"instruction\": \"a\", \"out")}},
            json{{"name", "wrong_type"}, {"data", file("type.jsonl", chat + "\n" + R"({"conversations": [{"from": "human", "value": 3}]})")}},
            json{{"name", "dpo_type"}, {"objective", "dpo"}, {"data", file("dpotype.jsonl", pair + "\n" + R"({"prompt": "a", "chosen": 1, "rejected": "c"})")}},
            json{{"name", "mixed_sft"}, {"data", file("mixsft.jsonl", chat + "\n" + alpaca)}},
            json{{"name", "unknown"}, {"data", file("unknown.jsonl", R"({"question": "a", "answer": "b"})")}},
            json{{"name", "no_prompt"}, {"objective", "dpo"}, {"data", file("noprompt.jsonl", pair + "\n" + R"({"chosen": "b", "rejected": "c"})")}},
            json{{"name", "good_dpo"}, {"objective", "dpo"}, {"data", file("pairs.jsonl", pair + "\n" + pair)}},
            json{{"name", "same_pair"}, {"objective", "dpo"}, {"data", file("same.jsonl", pair + "\n" + R"({"prompt": "a", "chosen": "b", "rejected": "b"})")}},
            json{{"name", "blank_dpo"}, {"objective", "dpo"}, {"data", file("blank.jsonl", pair + "\n" + R"({"prompt": "a", "chosen": "b", "rejected": " "})")}},
            json{{"name", "user_reply"}, {"objective", "dpo"}, {"data", file("user.jsonl",
                R"({"prompt": "a", "chosen": [{"role": "user", "content": "b"}], "rejected": "c"})")}},
            json{{"name", "implicit_dpo"}, {"objective", "dpo"}, {"data", file("implicit.jsonl",
                R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], )"
                R"("rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]})")}},
            json{{"name", "good_chat"}, {"data", file("chat.jsonl", chat)}},
            json{{"name", "tokens"}, {"data", file("tokens.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3]}\n")}},
        });
        const QString p = problemsOf(PipelineConfig::fromJson(j, "p"));
        const QStringList expected{
            "stage 'prefs_in_sft'", "prefs.jsonl line 3 is a preference record (prompt, chosen, rejected), which an sft stage does not train on",
            "stage 'sft_in_dpo'", "mixed.jsonl line 2 is not a preference record",
            "stage 'truncated'", "cut.jsonl line 2: invalid JSON",
            "stage 'wrong_type'", "type.jsonl line 2: conversations[0]: ShareGPT message needs a string \"value\"",
            "stage 'dpo_type'", "dpotype.jsonl line 2: \"chosen\" must be a string or a list of messages",
            "stage 'mixed_sft'", "mixsft.jsonl line 2: record of format alpaca in a chat dataset",
            "stage 'unknown'", "unknown.jsonl line 1: cannot tell the record format from its keys",
            "stage 'no_prompt'", "noprompt.jsonl line 2: preference records need \"prompt\", \"chosen\" and \"rejected\"",
            "stage 'same_pair'", "same.jsonl line 2: \"chosen\" and \"rejected\" are the same, so the pair teaches no preference",
            // Read as training reads it: a blank response, a reply that is not the assistant's.
            "stage 'blank_dpo'", "blank.jsonl line 2: \"rejected\" holds only whitespace",
            "stage 'user_reply'", "user.jsonl line 1: chosen[0] is a \"user\" message before the response's first assistant message"};
        for (const auto& x : expected)
            QVERIFY2(p.contains(x), qPrintable(x + " not in:\n" + p));
        for (const char* fine : {"good.jsonl", "pairs.jsonl", "implicit.jsonl", "chat.jsonl", "tokens.jsonl"})
            QVERIFY2(!p.contains(fine), qPrintable(QString(fine) + " refused:\n" + p));
    }

    // A data.chat_template the model's tokenizer lacks is a problem of its stage, found before the
    // first stage trains (the stage failed only when it started, after the stages before it trained).
    void unknownChatTemplateIsAProblemOfItsStage()
    {
        const QByteArray resources = qgetenv("RSLORA_RESOURCES");
        QVERIFY2(!resources.isEmpty(), "RSLORA_RESOURCES is not set");
        const std::string demo = resources.toStdString() + "/demo";
        json j = pipeline();
        j["base"]["model"]["path"] = demo + "/model";
        j["stages"] = json::array({json{{"name", "facts"}, {"data", demo + "/data/facts_train.jsonl"}},
                                   json{{"name", "chat"}, {"data", demo + "/data/chat_train.jsonl"},
                                        {"overrides", {{"data.chat_template", "chatml"}}}}});
        const QString p = problemsOf(PipelineConfig::fromJson(j, "p"));
        QVERIFY2(p.contains("stage 'chat'") && p.contains(QString::fromStdString("data.chat_template: the tokenizer of model.path '" + demo +
                                                                                 "/model' has no chat template named \"chatml\"; its "
                                                                                 "chat templates are \"default\"")),
                 qPrintable(p));
        QVERIFY2(!p.contains("stage 'facts'"), qPrintable(p));
    }
};

QTEST_GUILESS_MAIN(PipelineConfigTest)
#include "PipelineConfigTest.moc"
