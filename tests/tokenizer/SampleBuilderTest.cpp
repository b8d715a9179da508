// Chat templates on conversations and the SFT / preference sample builders: rendering as
// transformers does, labels -100 on prompt tokens, history masking, truncation, file errors with line
// numbers, format detection and the preview the GUI shows.
#include "TestTokenizers.h"

#include "common/Error.h"
#include "models/chat/ChatTemplate.h"
#include "models/data/PreferenceRecord.h"
#include "models/data/RecordMessages.h"
#include "models/data/SampleBuilder.h"
#include "models/tokenizer/Utf8.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <sstream>

using namespace rslora::models;
using testtok::json;
using ojson = nlohmann::ordered_json;

namespace {

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string templateFile(const char* name) {
    return readFile(std::string(RSLORA_TEST_SOURCE_DIR) + "/data/templates/" + name);
}

// Byte-level toy tokenizer with ChatML specials and the Qwen2.5 chat template.
Tokenizer chatmlTokenizer(std::optional<std::string> chatTemplate = templateFile("qwen2.5.jinja")) {
    testtok::ByteLevelSpec spec;
    spec.addedTokens = json::array({testtok::addedToken("<|endoftext|>"), testtok::addedToken("<|im_start|>"),
                                    testtok::addedToken("<|im_end|>")});
    TokenizerConfig config;
    config.eosToken = "<|im_end|>";
    config.padToken = "<|endoftext|>";
    if (chatTemplate)
        config.chatTemplates["default"] = *chatTemplate;
    return testtok::make(testtok::byteLevelJson(spec), config);
}

std::string trainedText(const Tokenizer& t, const TokenizedSample& s) {
    std::vector<int64_t> ids;
    for (std::size_t i = 0; i < s.ids.size(); ++i)
        if (s.labels[i] != kIgnoreIndex)
            ids.push_back(s.ids[i]);
    return t.decode(ids);
}

ojson parse(const char* text) { return ojson::parse(text); }

void write(const QString& path, const std::string& text) {
    std::ofstream out(path.toStdString(), std::ios::binary);
    out << text;
}

const char* const kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

} // namespace

class SampleBuilderTest : public QObject {
    Q_OBJECT

private slots:
    // formats.md §4.2: Qwen2.5's template on a four-message conversation.
    void chatmlRendering() {
        const ChatTemplate t(templateFile("qwen2.5.jinja"), std::nullopt, std::string("<|im_end|>"));
        ChatRenderOptions o;
        o.addGenerationPrompt = true;
        const auto messages = parse(R"([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}])");
        QCOMPARE(QString::fromStdString(t.render(messages, o)),
                 QString("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
                         "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(QString::fromStdString(t.kindName()), QString("chatml"));
        // Without a system message the default Qwen system prompt appears.
        QVERIFY(QString::fromStdString(t.render(parse(R"([{"role": "user", "content": "x"}])")))
                    .startsWith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud."));
    }

    // formats.md §4.3: Llama-3's template; content is trimmed and bos_token written by the template.
    void llama3Rendering() {
        const ChatTemplate t(kLlama3Template, std::string("<|begin_of_text|>"), std::string("<|eot_id|>"));
        ChatRenderOptions o;
        o.addGenerationPrompt = true;
        const auto messages = parse(R"([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": " Hi "},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}])");
        QCOMPARE(QString::fromStdString(t.render(messages, o)),
                 QString("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
                         "\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n"));
        QCOMPARE(QString::fromStdString(t.kindName()), QString("llama3"));
    }

    void mistralRaisesOnBadRoles() {
        const ChatTemplate t(templateFile("mistral-v0.1.jinja"), std::string("<s>"), std::string("</s>"));
        QCOMPARE(QString::fromStdString(t.render(parse(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])"))),
                 QString("<s>[INST] Hi [/INST]Yo</s>"));
        QVERIFY_THROWS_EXCEPTION(jinja::TemplateException, t.render(parse(R"([{"role": "assistant", "content": "x"}])")));
    }

    // Rendered chat text is encoded as apply_chat_template(tokenize=True) encodes it: without the
    // post-processor's BOS. A template that writes BOS gets one; one that writes none (Zephyr,
    // ChatML) gets none, in SFT and DPO samples too. Plain text and the plain-instruction format
    // used for models without a template keep the BOS the tokenizer adds to text.
    void renderedChatGetsTheTemplatesBosOnly() {
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({json{{"id", 256}, {"content", "<|begin_of_text|>"}, {"special", true}, {"normalized", false}}});
        spec.postProcessor = {{"type", "TemplateProcessing"},
                              {"single", json::array({{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                              {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", json::array({256})}, {"tokens", json::array({"<|begin_of_text|>"})}}}}}};
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec));
        const auto withBos = encodeRenderedChat(t, "<|begin_of_text|>hi");
        QCOMPARE(std::count(withBos.begin(), withBos.end(), int64_t(256)), 1);
        QCOMPARE(withBos.front(), int64_t(256));
        const auto withoutBos = encodeRenderedChat(t, "hi");
        QCOMPARE(std::count(withoutBos.begin(), withoutBos.end(), int64_t(256)), 0);
        QCOMPARE(t.encode("<|begin_of_text|>hi", true)[1], int64_t(256)); // what plain encode would do: double BOS

        SampleBuilderOptions zephyr;
        zephyr.templateOverride = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}"
                                  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
        const auto chat = SampleBuilder(t, zephyr).buildSft(parse(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"));
        QCOMPARE(QString::fromStdString(t.decode(chat.ids, false)), QString("<|user|>\nhi</s>\n<|assistant|>\nyo</s>\n"));
        const auto pair = SampleBuilder(t, zephyr).buildPreference(parse(R"({"prompt": "hi", "chosen": "a", "rejected": "b"})"));
        QVERIFY(!pair.prompt.empty() && pair.prompt.front() != 256);
        SampleBuilderOptions bosFirst = zephyr;
        bosFirst.templateOverride = "<|begin_of_text|>" + *zephyr.templateOverride;
        const auto once = SampleBuilder(t, bosFirst).buildSft(parse(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"));
        QCOMPARE(std::count(once.ids.begin(), once.ids.end(), int64_t(256)), 1);
        QCOMPARE(once.ids.front(), int64_t(256));

        const SampleBuilder plain(t); // no chat template: the plain-instruction format
        QCOMPARE(plain.buildSft(parse(R"({"instruction": "hi", "output": "yo"})")).ids.front(), int64_t(256));
        QCOMPARE(plain.buildPreference(parse(R"({"prompt": "hi", "chosen": "a", "rejected": "b"})")).prompt.front(), int64_t(256));
        QCOMPARE(plain.buildSft(parse(R"({"text": "hi"})")).ids.front(), int64_t(256));
    }

    void detectFormat_data() {
        QTest::addColumn<QString>("record");
        QTest::addColumn<QString>("format");
        QTest::newRow("alpaca") << R"({"instruction": "a", "input": "", "output": "b"})" << "alpaca";
        QTest::newRow("chat") << R"({"messages": []})" << "chat";
        QTest::newRow("sharegpt") << R"({"conversations": []})" << "chat";
        QTest::newRow("text") << R"({"text": "x"})" << "text";
        QTest::newRow("prompt completion") << R"({"prompt": "x", "completion": "y"})" << "prompt_completion";
        QTest::newRow("preference") << R"({"prompt": "x", "chosen": "y", "rejected": "z"})" << "preference";
        QTest::newRow("unknown") << R"({"question": "x"})" << "auto";
    }
    void detectFormat() {
        QFETCH(QString, record);
        QFETCH(QString, format);
        QCOMPARE(QString(sampleFormatName(SampleBuilder::detectFormat(ojson::parse(record.toStdString())))), format);
    }

    void alpacaLabelsMaskThePrompt() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto s = b.buildSft(parse(R"({"instruction": "Capital of France?", "input": "Answer in one word.", "output": "Paris"})"));
        QCOMPARE(s.ids.size(), s.labels.size());
        QCOMPARE(QString::fromStdString(trainedText(t, s)), QString("Paris<|im_end|>\n"));
        QCOMPARE(QString::fromStdString(t.decode(s.ids)),
                 QString("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                         "<|im_start|>user\nCapital of France?\nAnswer in one word.<|im_end|>\n<|im_start|>assistant\nParis<|im_end|>\n"));
        // Labels are -100 exactly on the prompt: a prefix, then the response ids.
        const auto firstTrained = std::find_if(s.labels.begin(), s.labels.end(), [](int64_t l) { return l != kIgnoreIndex; }) - s.labels.begin();
        for (std::size_t i = static_cast<std::size_t>(firstTrained); i < s.ids.size(); ++i)
            QCOMPARE(s.labels[i], s.ids[i]);
    }

    void chatTurnsAndHistoryMasking() {
        const Tokenizer t = chatmlTokenizer();
        const auto record = parse(R"({"messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "two"}, {"role": "assistant", "content": "A2"}]})");
        QCOMPARE(QString::fromStdString(trainedText(t, SampleBuilder(t).buildSft(record))), QString("A1<|im_end|>\nA2<|im_end|>\n"));
        SampleBuilderOptions last;
        last.maskHistory = true;
        QCOMPARE(QString::fromStdString(trainedText(t, SampleBuilder(t, last).buildSft(record))), QString("A2<|im_end|>\n"));
        SampleBuilderOptions all;
        all.trainOnPrompt = true;
        const auto s = SampleBuilder(t, all).buildSft(record);
        QCOMPARE(s.labels, s.ids);
    }

    // {% generation %} marks in the template decide what is trained, end marker included or not.
    void generationMarksDecideTheTargets() {
        const Tokenizer t = chatmlTokenizer(std::string(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
            "{{ m.content }}<|im_end|>{% endgeneration %}\n{% else %}{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"));
        const auto record = parse(R"({"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]})");
        QCOMPARE(QString::fromStdString(trainedText(t, SampleBuilder(t).buildSft(record))), QString("a1<|im_end|>a2<|im_end|>"));
        SampleBuilderOptions last;
        last.maskHistory = true;
        QCOMPARE(QString::fromStdString(trainedText(t, SampleBuilder(t, last).buildSft(record))), QString("a2<|im_end|>"));
    }

    void shareGptAndPromptCompletion() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto s = b.buildSft(parse(R"({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})"));
        QCOMPARE(QString::fromStdString(trainedText(t, s)), QString("hello<|im_end|>\n"));
        // Plain prompt/completion strings are concatenated without a template, EOS appended.
        const auto pc = b.buildSft(parse(R"({"prompt": "2+2=", "completion": "4"})"));
        QCOMPARE(QString::fromStdString(t.decode(pc.ids)), QString("2+2=4<|im_end|>"));
        QCOMPARE(QString::fromStdString(trainedText(t, pc)), QString("4<|im_end|>"));
    }

    void plainTextAndTruncation() {
        const Tokenizer t = chatmlTokenizer();
        SampleBuilderOptions o;
        o.maxLength = 5;
        const SampleBuilder b(t, o);
        std::size_t cut = 0;
        const auto s = b.buildSft(parse(R"({"text": "abcdefgh"})"), "record", &cut);
        QCOMPARE(s.ids.size(), std::size_t(5));
        QCOMPARE(cut, std::size_t(4)); // 8 bytes + EOS
        QCOMPARE(s.labels, s.ids);
        SampleBuilderOptions noLimit;
        noLimit.maxLength = 0;
        QCOMPARE(QString::fromStdString(t.decode(SampleBuilder(t, noLimit).buildSft(parse(R"({"text": "ab"})")).ids)), QString("ab<|im_end|>"));
    }

    void baseModelsGetThePlainInstructionFormat() {
        const Tokenizer t = chatmlTokenizer(std::nullopt);
        const SampleBuilder b(t);
        QCOMPARE(QString::fromStdString(b.chatTemplate().kindName()), QString("alpaca"));
        const auto s = b.buildSft(parse(R"({"instruction": "Say hi", "output": "hi"})"));
        QCOMPARE(QString::fromStdString(t.decode(s.ids)), QString("### Instruction:\nSay hi\n\n### Response:\nhi<|im_end|>"));
        QCOMPARE(QString::fromStdString(trainedText(t, s)), QString("hi<|im_end|>"));
    }

    // A special token the tokenizer does not have (Qwen's "bos_token": null) is undefined in the
    // template, as transformers leaves it out: it renders "" and fails `is defined` (it was None).
    void missingSpecialTokenIsUndefined() {
        const ChatTemplate direct("[{{ bos_token }}]{{ bos_token is defined }}|{{ eos_token is defined }}", std::nullopt,
                                  std::string("<|im_end|>"));
        QCOMPARE(QString::fromStdString(direct.render(ojson::array())), QString("[]False|True"));
        TokenizerConfig config;
        config.eosToken = "<|im_end|>";
        config.chatTemplates["default"] = "{{ bos_token }}|{{ bos_token is defined }}|{{ pad_token is defined }}|{{ eos_token }}";
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({testtok::addedToken("<|im_end|>")});
        const auto t = ChatTemplate::fromTokenizer(testtok::make(testtok::byteLevelJson(spec), config));
        QVERIFY(t.has_value());
        QCOMPARE(QString::fromStdString(t->render(ojson::array())), QString("|False|False|<|im_end|>"));
    }

    // Named templates without one called "default": transformers refuses to guess, and so does the
    // builder, listing the names (it used to fall back to the plain "### Instruction:" format).
    void namedTemplatesWithoutDefaultAreRefused() {
        testtok::ByteLevelSpec spec;
        spec.addedTokens = json::array({testtok::addedToken("<|im_end|>")});
        TokenizerConfig config;
        config.eosToken = "<|im_end|>";
        config.chatTemplates["tool_use"] = "{% for m in messages %}T:{{ m.content }}{% endfor %}";
        config.chatTemplates["rag"] = "{% for m in messages %}R:{{ m.content }}{% endfor %}";
        const Tokenizer t = testtok::make(testtok::byteLevelJson(spec), config);
        try {
            SampleBuilder b(t);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains("chat templates are named \"rag\", \"tool_use\" and none is \"default\""), e.what());
            QVERIFY2(what.contains("data.chat_template"), e.what());
        }
        SampleBuilderOptions o;
        o.templateName = "tool_use";
        QCOMPARE(QString::fromStdString(SampleBuilder(t, o).chatTemplate().name()), QString("tool_use"));
        o.templateName = "chatml";
        try {
            SampleBuilder b(t, o);
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("no chat template named \"chatml\" (it has \"rag\", \"tool_use\")"), e.what());
        }
    }

    void recordErrorsNameTheProblem_data() {
        QTest::addColumn<QString>("record");
        QTest::addColumn<QString>("message");
        QTest::newRow("alpaca without output") << R"({"instruction": "x", "output": 3})" << "field \"output\" must be a string";
        QTest::newRow("unknown keys") << R"({"question": "x", "answer": "y"})" << "cannot tell the record format from its keys (question, answer)";
        // Pre-tokenized records in a JSON array file reach the record formats: the error says to write JSONL.
        QTest::newRow("token ids outside JSONL") << R"({"input_ids": [1, 2, 3], "labels": [1, 2, 3]})"
                                                 << "; a record with \"input_ids\" is pre-tokenized data, read from a JSONL file: one record per line";
        QTest::newRow("no assistant") << R"({"messages": [{"role": "user", "content": "x"}]})" << "no assistant message";
        // An unknown role was reported as "no assistant message to train on", without naming it.
        QTest::newRow("unknown role") << R"({"messages": [{"role": "user", "content": "x"}, {"role": "assitant", "content": "y"}]})"
                                      << "messages[1]: unknown role 'assitant' (expected one of system, developer, user, assistant, tool, function, ipython)";
        QTest::newRow("unknown ShareGPT from") << R"({"conversations": [{"from": "human", "value": "x"}, {"from": "bot", "value": "y"}]})"
                                               << "conversations[1] (ShareGPT \"from\"): unknown role 'bot' (expected one of human, gpt, "
                                                  "function_call, observation, system, developer, user, assistant, tool, function, ipython)";
        QTest::newRow("ShareGPT from not text") << R"({"conversations": [{"from": 1, "value": "x"}]})"
                                                << "conversations[0]: ShareGPT \"from\" must be a string (human, gpt, system, ...), found number";
        QTest::newRow("message without role") << R"({"messages": [{"content": "x"}]})" << "messages[0]: missing string field \"role\"";
        QTest::newRow("preference for sft") << R"({"prompt": "x", "chosen": "a", "rejected": "b"})" << "use it for DPO";
    }
    void recordErrorsNameTheProblem() {
        QFETCH(QString, record);
        QFETCH(QString, message);
        const SampleBuilder b(chatmlTokenizer());
        try {
            b.buildSft(ojson::parse(record.toStdString()), "data.jsonl line 4");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(message) && what.contains("data.jsonl line 4"), qPrintable(what));
        }
    }

    void filesWithMalformedLines() {
        QTemporaryDir dir;
        const QString path = dir.filePath("data.jsonl");
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\n{not json}\n\n{\"instruction\": \"c\", \"output\": \"d\"}\n");
        const Tokenizer t = chatmlTokenizer();
        try {
            SampleBuilder(t).loadSft(path.toStdString());
            QFAIL("expected an error for line 2");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("data.jsonl line 2: invalid JSON"), e.what());
        }
        SampleBuilderOptions skip;
        skip.malformed = MalformedLinePolicy::Skip;
        const SftDataset d = SampleBuilder(t, skip).loadSft(path.toStdString());
        QCOMPARE(d.samples.size(), std::size_t(2));
        QCOMPARE(d.stats.skipped, std::size_t(1));
        QCOMPARE(d.stats.format, SampleFormat::Alpaca);
        QVERIFY(QString::fromStdString(d.stats.problems.at(0)).contains("line 2"));
        QVERIFY(QString::fromStdString(d.stats.summary()).contains("1 malformed lines skipped"));
        // A number out of range is a malformed line like any other, and a JSON array file with one is
        // refused with the file's name: the reason reads without the JSON library's ids.
        write(path, "{\"instruction\": \"a\", \"output\": \"b\", \"x\": 1e400}\n");
        try {
            SampleBuilder(t).loadSft(path.toStdString());
            QFAIL("expected an error for line 1");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains("data.jsonl line 1: invalid JSON: number overflow") && !what.contains("json.exception"), e.what());
        }
        const QString array = dir.filePath("data.json");
        write(array, "[{\"instruction\": \"a\", \"output\": \"b\", \"x\": -1e999}]");
        try {
            SampleBuilder(t).loadSft(array.toStdString());
            QFAIL("expected an error for the array");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains("data.json: invalid JSON array: number overflow") && !what.contains("json.exception"), e.what());
        }
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\n{not json}\n\n{\"instruction\": \"c\", \"output\": \"d\"}\n");
        // A record of another format in the same file is an error on its line.
        write(path, "{\"text\": \"a\"}\n{\"instruction\": \"c\", \"output\": \"d\"}\n");
        try {
            SampleBuilder(t).loadSft(path.toStdString());
            QFAIL("expected a format error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("line 2: record of format alpaca in a text dataset"), e.what());
        }
        // A JSON array file (alpaca_data.json style) works too.
        const QString arrayPath = dir.filePath("data.json");
        write(arrayPath, "[{\"instruction\": \"a\", \"output\": \"b\"}, {\"instruction\": \"c\", \"output\": \"d\"}]");
        QCOMPARE(SampleBuilder(t).loadSft(arrayPath.toStdString()).samples.size(), std::size_t(2));
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SampleBuilder(t).loadSft(dir.filePath("missing.jsonl").toStdString()));
    }

    // maxRecords reads the file's first records (a malformed line is one, a blank line is not), and
    // says whether more follow; a bad line past them is not read. A JSON array stops alike.
    void firstRecordsOnly() {
        QTemporaryDir dir;
        const QString path = dir.filePath("data.jsonl");
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\n{not json}\n\n{\"instruction\": \"c\", \"output\": \"d\"}\n"
                    "{\"instruction\": \"e\", \"output\": \"f\"}\n{bad}\n");
        const Tokenizer t = chatmlTokenizer();
        SampleBuilderOptions o;
        o.malformed = MalformedLinePolicy::Skip;
        o.maxRecords = 3;
        const SftDataset d = SampleBuilder(t, o).loadSft(path.toStdString());
        QCOMPARE(d.samples.size(), std::size_t(2));
        QCOMPARE(d.lines, (std::vector<std::size_t>{1, 4}));
        QCOMPARE(d.stats.records, std::size_t(3));
        QCOMPARE(d.stats.skipped, std::size_t(1));
        QVERIFY(d.stats.moreRecords);
        // Exactly the file's entries, or a limit beyond them: nothing more.
        o.maxRecords = 4;
        QVERIFY(SampleBuilder(t, o).loadSft(path.toStdString()).stats.moreRecords);
        o.maxRecords = 5;
        const SftDataset all = SampleBuilder(t, o).loadSft(path.toStdString());
        QVERIFY(!all.stats.moreRecords);
        QCOMPARE(all.stats.skipped, std::size_t(2));
        o.maxRecords = 9;
        QVERIFY(!SampleBuilder(t, o).loadSft(path.toStdString()).stats.moreRecords);
        o.maxRecords = 0;
        QVERIFY(!SampleBuilder(t, o).loadSft(path.toStdString()).stats.moreRecords);
        // Failing on malformed lines, the first records pass when the bad line comes after them.
        SampleBuilderOptions strict;
        strict.maxRecords = 1;
        QCOMPARE(SampleBuilder(t, strict).loadSft(path.toStdString()).samples.size(), std::size_t(1));
        const QString array = dir.filePath("pairs.json");
        write(array, "[{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}, {\"prompt\": \"d\", \"chosen\": \"e\", "
                     "\"rejected\": \"f\"}, {\"prompt\": \"g\"}]");
        strict.maxRecords = 2;
        const PreferenceDataset pairs = SampleBuilder(t, strict).loadPreferences(array.toStdString());
        QCOMPARE(pairs.samples.size(), std::size_t(2));
        QVERIFY(pairs.stats.moreRecords);
        strict.maxRecords = 0;
        QVERIFY_THROWS_EXCEPTION(rslora::Error, SampleBuilder(t, strict).loadPreferences(array.toStdString()));
    }

    // Worker threads give the same samples in the same order, and the first bad line is the one reported.
    void parallelBuildIsDeterministic() {
        QTemporaryDir dir;
        const QString path = dir.filePath("many.jsonl");
        std::string text;
        for (int i = 0; i < 300; ++i) {
            ojson r = ojson::object();
            r["instruction"] = "question " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7), '?');
            r["output"] = "answer " + std::to_string(i * 13);
            text += r.dump() + "\n";
        }
        write(path, text);
        const Tokenizer t = chatmlTokenizer();
        SampleBuilderOptions one;
        one.threads = 1;
        SampleBuilderOptions four;
        four.threads = 4;
        const SftDataset a = SampleBuilder(t, one).loadSft(path.toStdString());
        const SftDataset b = SampleBuilder(t, four).loadSft(path.toStdString());
        QCOMPARE(a.samples.size(), std::size_t(300));
        QCOMPARE(b.samples.size(), a.samples.size());
        for (std::size_t i = 0; i < a.samples.size(); ++i) {
            QCOMPARE(b.samples[i].ids, a.samples[i].ids);
            QCOMPARE(b.samples[i].labels, a.samples[i].labels);
        }
        QCOMPARE(b.stats.totalTokens, a.stats.totalTokens);
        // Two bad records: line 120 (wrong type) and line 250 (missing output); the first is reported.
        std::string bad;
        std::istringstream lines(text);
        std::string line;
        for (int n = 1; std::getline(lines, line); ++n)
            bad += (n == 120 ? std::string(R"({"instruction": "x", "output": 5})") : n == 250 ? std::string(R"({"instruction": "x"})") : line) + "\n";
        write(path, bad);
        try {
            SampleBuilder(t, four).loadSft(path.toStdString());
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("many.jsonl line 120"), e.what());
        }
        four.malformed = MalformedLinePolicy::Skip;
        const SftDataset skipped = SampleBuilder(t, four).loadSft(path.toStdString());
        QCOMPARE(skipped.samples.size(), std::size_t(298));
        QCOMPARE(skipped.stats.skipped, std::size_t(2));
    }

    void truncationStatsAndDroppedSamples() {
        QTemporaryDir dir;
        const QString path = dir.filePath("long.jsonl");
        write(path, "{\"instruction\": \"" + std::string(300, 'q') + "\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": \"b\"}\n");
        SampleBuilderOptions o;
        o.maxLength = 100;
        const SftDataset d = SampleBuilder(chatmlTokenizer(), o).loadSft(path.toStdString());
        QCOMPARE(d.stats.records, std::size_t(2));
        QCOMPARE(d.stats.droppedWithoutTargets, std::size_t(1)); // the response was cut away entirely
        QCOMPARE(d.samples.size(), std::size_t(1));
        QVERIFY(d.stats.truncatedTokens > 200);
        // The summary (the warning training prints) names the first record dropped.
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"" + std::string(300, 'q') +
                        "\", \"output\": \"b\"}\n{\"instruction\": \"" + std::string(300, 'r') + "\", \"output\": \"b\"}\n");
        const SftDataset later = SampleBuilder(chatmlTokenizer(), o).loadSft(path.toStdString());
        QCOMPARE(later.stats.droppedWithoutTargets, std::size_t(2));
        QCOMPARE(QString::fromStdString(later.stats.firstDropped), QString("long.jsonl line 3"));
        QVERIFY2(QString::fromStdString(later.stats.summary()).contains("2 without trained tokens dropped (the first: long.jsonl line 3)"),
                 later.stats.summary().c_str());
    }

    void preferencePairs() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto s = b.buildPreference(parse(R"({"prompt": "Best color?", "chosen": "Blue.", "rejected": "None."})"));
        QVERIFY(QString::fromStdString(t.decode(s.prompt)).endsWith("<|im_start|>user\nBest color?<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(QString::fromStdString(t.decode(s.chosen)), QString("Blue.<|im_end|>\n"));
        QCOMPARE(QString::fromStdString(t.decode(s.rejected)), QString("None.<|im_end|>\n"));
        // Conversational form.
        const auto c = b.buildPreference(parse(R"({"prompt": [{"role": "user", "content": "Q"}],
            "chosen": [{"role": "assistant", "content": "good"}], "rejected": [{"role": "assistant", "content": "bad"}]})"));
        QCOMPARE(QString::fromStdString(t.decode(c.chosen)), QString("good<|im_end|>\n"));
        SampleBuilderOptions o;
        o.maxLength = 60;
        std::size_t cut = 0;
        ojson longRecord = ojson::object();
        longRecord["prompt"] = "x";
        longRecord["chosen"] = std::string(200, 'y');
        longRecord["rejected"] = "z";
        const auto tr = SampleBuilder(t, o).buildPreference(longRecord, "record", &cut);
        QVERIFY(tr.prompt.size() + tr.chosen.size() <= 60);
        QVERIFY(tr.prompt.size() + tr.rejected.size() <= 60);
        QVERIFY(cut > 0);
        // A record that is not a pair says which side it lacks.
        QTemporaryDir dir;
        const QString path = dir.filePath("prefs.jsonl");
        const std::pair<std::string, std::string> halves[] = {
            {R"({"prompt": "a", "chosen": "b"})", "prefs.jsonl line 1: expected a preference record with prompt, chosen and rejected; this one has no \"rejected\""},
            {R"({"instruction": "a", "output": "b"})", "this one has no \"chosen\" and \"rejected\""},
        };
        for (const auto& [record, expected] : halves) {
            write(path, record + "\n");
            try {
                b.loadPreferences(path.toStdString());
                QFAIL(expected.c_str());
            } catch (const rslora::Error& e) {
                QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
            }
        }
    }

    // The preview's spans cover the rendered text and its token ranges tile it.
    void previewForTheGui() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto record = parse(R"({"messages": [{"role": "user", "content": "héllo 你好"}, {"role": "assistant", "content": "ok 😀"}]})");
        const SamplePreview p = b.preview(record);
        QCOMPARE(p.format, SampleFormat::Chat);
        QCOMPARE(p.spans.front().begin, std::size_t(0));
        QCOMPARE(p.spans.back().end, p.text.size());
        int trained = 0;
        for (const auto& s : p.spans)
            if (s.trained) {
                ++trained;
                QCOMPARE(QString::fromStdString(p.text.substr(s.begin, s.end - s.begin)), QString("ok 😀<|im_end|>\n"));
            }
        QCOMPARE(trained, 1);
        const TokenizedSample s = b.buildSft(record);
        QCOMPARE(p.tokens.size(), s.ids.size());
        std::string rebuilt;
        std::size_t cursor = 0;
        for (std::size_t i = 0; i < p.tokens.size(); ++i) {
            QCOMPARE(p.tokens[i].id, s.ids[i]);
            QCOMPARE(p.tokens[i].label, s.labels[i]);
            QVERIFY(p.tokens[i].begin == cursor || p.tokens[i].begin == p.tokens[i].end);
            if (p.tokens[i].end > p.tokens[i].begin) {
                rebuilt += p.text.substr(p.tokens[i].begin, p.tokens[i].end - p.tokens[i].begin);
                cursor = p.tokens[i].end;
            }
        }
        QCOMPARE(QString::fromStdString(rebuilt), QString::fromStdString(p.text));
    }

    // UltraFeedback-binarized: an explicit prompt, and chosen/rejected as whole conversations that
    // repeat it. The repeated prompt is dropped; the pair is the same as with assistant-only lists
    // (the response used to read "Best color?Blue.<|im_end|>").
    void preferenceConversationsRepeatingThePrompt() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto plain = b.buildPreference(parse(R"({"prompt": "Best color?",
            "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "None."}]})"));
        const auto ultra = parse(R"({"prompt": "Best color?",
            "chosen": [{"content": "Best color?", "role": "user"}, {"content": "Blue.", "role": "assistant"}],
            "rejected": [{"content": "Best color?", "role": "user"}, {"content": "None.", "role": "assistant"}]})");
        const auto s = b.buildPreference(ultra);
        QCOMPARE(s.prompt, plain.prompt);
        QCOMPARE(s.chosen, plain.chosen);
        QCOMPARE(s.rejected, plain.rejected);
        QCOMPARE(QString::fromStdString(t.decode(s.chosen)), QString("Blue.<|im_end|>\n"));
        QCOMPARE(QString::fromStdString(b.chosenExample(ultra).second), QString("Blue."));
        // A prompt given as messages is dropped as a prefix too, system message included.
        const auto listed = b.buildPreference(parse(R"({"system": "Be brief.", "prompt": [{"role": "user", "content": "Q"}],
            "chosen": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
            "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}]})"));
        QCOMPARE(QString::fromStdString(t.decode(listed.chosen)), QString("good<|im_end|>\n"));
        QCOMPARE(QString::fromStdString(t.decode(listed.rejected)), QString("bad<|im_end|>\n"));
        // A user turn that is not the prompt, before the reply, is refused naming the line and the message.
        try {
            b.buildPreference(parse(R"({"prompt": "P", "chosen": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "A"}],
                "rejected": [{"role": "assistant", "content": "B"}]})"), "prefs.jsonl line 3");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).startsWith("prefs.jsonl line 3: chosen[0] is a \"user\" message before the "
                                                           "response's first assistant message"), e.what());
        }
    }

    // A line with bytes that are not UTF-8 is refused naming it; the message quotes the bytes the
    // parser read as U+FFFD, so that it is valid UTF-8 itself (a run bundle records it as JSON).
    void invalidUtf8LineNamedInValidText() {
        QTemporaryDir dir;
        const QString path = dir.filePath("bad.jsonl");
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"bad \xff\xfe\", \"output\": \"x\"}\n");
        try {
            SampleBuilder(chatmlTokenizer()).loadSft(path.toStdString());
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.rfind("bad.jsonl line 2: invalid JSON: ", 0) == 0, what.c_str());
            QVERIFY2(QString::fromStdString(what).contains("ill-formed UTF-8"), what.c_str());
            QVERIFY2(utf8::isValid(what), what.c_str());
        }
        write(path, "[{\"instruction\": \"bad \xff\", \"output\": \"x\"}]");
        try {
            SampleBuilder(chatmlTokenizer()).loadSft(path.toStdString());
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(utf8::isValid(e.what()), e.what());
            QVERIFY2(QString::fromUtf8(e.what()).startsWith("bad.jsonl: invalid JSON array: "), e.what());
        }
    }

    // Content given as a list of parts: each part an object with a "type", a text part with its
    // "text"; anything else is refused naming the message and the part, not rendered into the text.
    void contentPartsAreChecked() {
        const SampleBuilder b(chatmlTokenizer());
        const std::pair<const char*, const char*> bad[] = {
            {R"({"messages": [{"role": "user", "content": [1, 2]}, {"role": "assistant", "content": "x"}]})",
             "parts.jsonl line 4: messages[0]: content[0]: a content part must be an object with a string \"type\""},
            {R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "text", "text": 5}]}]})",
             "parts.jsonl line 4: messages[1]: content[0]: a \"text\" part needs a string \"text\""},
            {R"({"messages": [{"role": "user", "content": [{"text": "q"}]}, {"role": "assistant", "content": "x"}]})",
             "parts.jsonl line 4: messages[0]: content[0]: a content part must be an object with a string \"type\""},
        };
        for (const auto& [record, expected] : bad) {
            try {
                b.buildSft(parse(record), "parts.jsonl line 4");
                QFAIL(record);
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).startsWith(expected), e.what());
            }
        }
        // Well-formed parts pass to the template (which may or may not render lists: Qwen2.5's does not).
        const ojson parts = parse(R"([{"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {"url": "u"}}]}])");
        QCOMPARE(records::normalizeMessages(parts, "w", "messages"), parts);
        // A template that prints the content as it is writes the list's Python text into the training
        // text: refused naming the message (it trained on "[{'type': 'text', 'text': 'q'}]").
        const ojson record = parse(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}, {"role": "assistant", "content": "x"}]})");
        const Tokenizer printing = chatmlTokenizer(std::string("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"));
        try {
            SampleBuilder(printing).buildSft(record, "parts.jsonl line 4");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.startsWith("parts.jsonl line 4: messages[0]: \"content\" is a list of parts, which the chat template \"")
                         && what.endsWith("writes into the text as it is: [{'type': 'text', 'text': 'q'}]"),
                     e.what());
        }
        // The same for a preference pair's prompt.
        try {
            SampleBuilder(printing).buildPreference(
                parse(R"({"prompt": [{"role": "user", "content": [{"type": "text", "text": "q"}]}], "chosen": "a", "rejected": "b"})"),
                "pairs.jsonl line 2");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).startsWith("pairs.jsonl line 2: prompt[0]: \"content\" is a list of parts"), e.what());
        }
        // A template that reads the parts renders their text.
        const Tokenizer reading = chatmlTokenizer(std::string(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}{% else %}"
            "{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"));
        const TokenizedSample sample = SampleBuilder(reading).buildSft(record, "parts.jsonl line 4");
        QCOMPARE(QString::fromStdString(trainedText(reading, sample)), QString("x<|im_end|>\n"));
    }

    // A preference record's responses are checked where the record is read, without a tokenizer: no
    // text (empty, whitespace, empty text parts) is refused with the side and the record; a reply
    // that is a tool call or an image has no text yet is one. An empty prompt is taken.
    void blankResponsesAreRefusedAsTheRecordIsRead() {
        const std::pair<const char*, const char*> refused[] = {
            {R"({"prompt": "p", "chosen": "", "rejected": "r"})", "w: \"chosen\" is empty: the pair would teach the model to end its turn at once"},
            {R"({"prompt": "p", "chosen": "c", "rejected": "\r\n"})", "w: \"rejected\" holds only whitespace: the pair would teach"},
            {R"({"prompt": "p", "chosen": " ", "rejected": ""})", "w: \"chosen\" holds only whitespace and \"rejected\" is empty"},
            {R"({"prompt": "p", "chosen": [{"role": "assistant", "content": [{"type": "text", "text": " "}]}], "rejected": "r"})",
             "w: \"chosen\" holds only whitespace"},
            {R"({"prompt": "p", "chosen": [{"role": "user", "content": "p"}, {"role": "assistant", "content": ""}], "rejected": "r"})",
             "w: \"chosen\" is empty"},
            {R"({"prompt": "p", "chosen": "c", "rejected": 4})", "w: \"rejected\" must be a string or a list of messages"},
        };
        for (const auto& [record, expected] : refused) {
            try {
                records::readPreferenceRecord(parse(record), "w", "");
                QFAIL(record);
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).startsWith(expected), e.what());
            }
        }
        const auto toolCall = records::readPreferenceRecord(
            parse(R"({"prompt": "p", "chosen": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}], "rejected": "r"})"),
            "w", "");
        QCOMPARE(toolCall.chosen.size(), size_t(1));
        QVERIFY(!records::isBlankResponse(parse(R"([{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}])")));
        QVERIFY(records::isBlankResponse(parse(R"([{"role": "assistant", "content": "\t"}, {"role": "assistant", "content": ""}])")));
        const auto noPrompt = records::readPreferenceRecord(parse(R"({"prompt": "", "chosen": "c", "rejected": "r"})"), "w", "Be brief.");
        QCOMPARE(noPrompt.promptMessages, parse(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""}])"));
        QCOMPARE(noPrompt.chosen, ojson("c"));
    }

    // A compressed or Parquet file is named for what it is, with what to do, not "line 1: invalid JSON".
    void compressedAndParquetFilesAreNamed() {
        QTemporaryDir dir;
        const std::pair<std::string, const char*> files[] = {
            {std::string("\x1F\x8B\x08\x00\x00\x00", 6), "is gzip-compressed: decompress it"},
            {std::string("PAR1\x15\x04\x00", 7), "is a Parquet file: convert it to JSONL"},
            {std::string("PK\x03\x04\x14\x00", 6), "is a zip archive"},
        };
        for (const auto& [bytes, expected] : files) {
            const QString path = dir.filePath("train.data");
            write(path, bytes);
            try {
                SampleBuilder(chatmlTokenizer()).loadSft(path.toStdString());
                QFAIL(expected);
            } catch (const rslora::Error& e) {
                QVERIFY2(QString::fromUtf8(e.what()).startsWith(path + " " + expected), e.what());
            }
        }
        // "PK" or "BZh" as the start of a JSONL file's text is not a signature: a JSON line still starts with '{'.
        const QString path = dir.filePath("ok.jsonl");
        write(path, "{\"text\": \"PAR1\"}\n");
        QCOMPARE(SampleBuilder(chatmlTokenizer()).loadSft(path.toStdString()).samples.size(), std::size_t(1));
    }

    // A JSON array file that starts with a UTF-8 byte order mark (Windows editors) is an array, not
    // a JSONL file whose first line fails; a folder is refused by name.
    void jsonArrayWithByteOrderMark() {
        QTemporaryDir dir;
        const QString path = dir.filePath("alpaca.json");
        write(path, "\xEF\xBB\xBF [{\"instruction\": \"a\", \"output\": \"b\"}, {\"instruction\": \"c\", \"output\": \"d\"},\n"
                    " {\"instruction\": \"e\", \"output\": \"f\"}]\n");
        std::size_t seen = 0;
        const std::size_t read = JsonlReader::read(
            path.toStdString(), MalformedLinePolicy::Fail, [&](const JsonRecord& r) { QCOMPARE(r.line, ++seen); },
            [](std::size_t, const std::string& message) { QFAIL(message.c_str()); });
        QCOMPARE(read, std::size_t(3));
        const SftDataset d = SampleBuilder(chatmlTokenizer()).loadSft(path.toStdString());
        QCOMPARE(d.stats.records, std::size_t(3));
        QCOMPARE(d.samples.size(), std::size_t(3));
        try {
            SampleBuilder(chatmlTokenizer()).loadSft(dir.path().toStdString());
            QFAIL("expected an error for a folder");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("is a folder, expected a data file"), e.what());
        }
    }

    // A JSONL line longer than the reader's limit is malformed and never held whole (a line of
    // gigabytes was read into memory, parsed and copied until memory ran out): refused naming the line,
    // or skipped; the lines around it are read as written, CRLF endings and a final line without a
    // line break included. The default limit is far above any record.
    void overlongLinesAreMalformed() {
        QTemporaryDir dir;
        const QString path = dir.filePath("data.jsonl");
        const std::string longRecord = "{\"instruction\": \"" + std::string(70000, 'x') + "\", \"output\": \"y\"}";
        write(path, "{\"instruction\": \"a\", \"output\": \"b\"}\r\n" + longRecord + "\r\n{\"instruction\": \"c\", \"output\": \"d\"}");
        const std::size_t limit = 65536;
        std::vector<std::string> outputs;
        auto keep = [&](const JsonRecord& r) { outputs.push_back(r.value["output"].get<std::string>() + "@" + std::to_string(r.line)); };
        try {
            JsonlReader::read(path.toStdString(), MalformedLinePolicy::Fail, keep, [](std::size_t, const std::string&) {}, limit);
            QFAIL("accepted a line over the limit");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("data.jsonl line 2 is 68.4 KiB long; a record is a line of at most 64.0 KiB"), e.what());
        }
        outputs.clear();
        std::vector<std::string> problems;
        const std::size_t read = JsonlReader::read(path.toStdString(), MalformedLinePolicy::Skip, keep,
                                                   [&](std::size_t line, const std::string& m) { problems.push_back(std::to_string(line) + ": " + m); },
                                                   limit);
        QCOMPARE(read, std::size_t(2));
        QCOMPARE(outputs, (std::vector<std::string>{"b@1", "d@3"}));
        QCOMPARE(problems.size(), std::size_t(1));
        QVERIFY2(QString::fromStdString(problems[0]).startsWith("2: data.jsonl line 2 is"), problems[0].c_str());
        // Under the default limit the same file is read whole.
        outputs.clear();
        QCOMPARE(JsonlReader::read(path.toStdString(), MalformedLinePolicy::Fail, keep, [](std::size_t, const std::string&) {}),
                 std::size_t(3));
        QCOMPARE(outputs, (std::vector<std::string>{"b@1", "y@2", "d@3"}));
        QVERIFY(JsonlReader::kMaxLineBytes >= (std::size_t(64) << 20));
    }

    // A chat record's "system" field is a string; another type was dropped without a word.
    void chatSystemFieldMustBeText() {
        const SampleBuilder b(chatmlTokenizer());
        try {
            b.buildSft(parse(R"({"system": 5, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})"),
                       "data.jsonl line 9");
            QFAIL("accepted a numeric system field");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("data.jsonl line 9: field \"system\" must be a string, found number"), e.what());
        }
        const TokenizedSample s = b.buildSft(
            parse(R"({"system": "Be brief.", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})"),
            "data.jsonl line 9");
        QVERIFY(chatmlTokenizer().decode(s.ids).find("Be brief.") != std::string::npos);
    }

    // OpenAI's fine-tuning format: "weight": 0 keeps an assistant turn in the conversation but out of
    // the loss; 1 trains it; anything else is refused naming the line.
    void messageWeightsExcludeTurns() {
        const Tokenizer t = chatmlTokenizer();
        const SampleBuilder b(t);
        const auto plain = b.buildSft(parse(R"({"messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "two"}, {"role": "assistant", "content": "A2"}]})"));
        const auto weighted = b.buildSft(parse(R"({"messages": [{"role": "user", "content": "one"},
            {"role": "assistant", "content": "A1", "weight": 0}, {"role": "user", "content": "two"},
            {"role": "assistant", "content": "A2", "weight": 1}]})"));
        QCOMPARE(weighted.ids, plain.ids);
        QCOMPARE(QString::fromStdString(trainedText(t, weighted)), QString("A2<|im_end|>\n"));
        // Exactly the first turn's tokens lost their labels.
        std::size_t masked = 0;
        for (std::size_t i = 0; i < plain.ids.size(); ++i)
            if (weighted.labels[i] != plain.labels[i]) {
                QCOMPARE(weighted.labels[i], kIgnoreIndex);
                ++masked;
            }
        QCOMPARE(masked, t.encode("A1<|im_end|>\n", false).size());
        // Train-on-prompt does not bring a weight-0 turn back.
        SampleBuilderOptions all;
        all.trainOnPrompt = true;
        const auto everything = SampleBuilder(t, all).buildSft(parse(R"({"messages": [{"role": "user", "content": "one"},
            {"role": "assistant", "content": "A1", "weight": 0}, {"role": "user", "content": "two"}, {"role": "assistant", "content": "A2"}]})"));
        QCOMPARE(std::size_t(std::count(everything.labels.begin(), everything.labels.end(), kIgnoreIndex)), masked);
        // Templates with {% generation %} marks: the k-th span is the k-th assistant turn.
        const Tokenizer g = chatmlTokenizer(std::string(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
            "{{ m.content }}<|im_end|>{% endgeneration %}\n{% else %}{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"));
        QCOMPARE(QString::fromStdString(trainedText(g, SampleBuilder(g).buildSft(parse(R"({"messages": [{"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1", "weight": 0}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]})")))),
                 QString("a2<|im_end|>"));
        try {
            b.buildSft(parse(R"({"messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "A1", "weight": 0.5}]})"),
                       "chat.jsonl line 9");
            QFAIL("expected an error");
        } catch (const rslora::Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains("chat.jsonl line 9: messages[1]: \"weight\" must be 0 (turn not trained) or "
                                                          "1 (trained), found 0.5"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(SampleBuilderTest)
#include "SampleBuilderTest.moc"
