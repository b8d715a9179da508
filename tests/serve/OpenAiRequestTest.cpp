// Reading the bodies of /v1/completions and /v1/chat/completions without a model or a socket: every
// bad request is a 400 whose message and `param` name the field; a good one gives the settings asked.
#include "app/serve/ApiError.h"
#include "app/serve/OpenAiRequest.h"
#include "common/Error.h"

#include <QtTest>

#include <limits>
#include <set>

using namespace rslora;
using namespace rslora::serve;

namespace {

// One id per byte; chat joins the contents and refuses roles other than system/user/assistant, as
// model templates do with raise_exception.
class BytePrompts : public PromptEncoder {
public:
    int64_t vocabSize() const override { return 256; }
    std::vector<int64_t> encode(const std::string& text) const override
    {
        return std::vector<int64_t>(text.begin(), text.end());
    }
    std::vector<int64_t> encodeChat(const nlohmann::ordered_json& messages) const override
    {
        std::string text;
        for (const auto& m : messages) {
            const std::string role = m["role"];
            if (role != "system" && role != "user" && role != "assistant")
                throw Error("chat template: Unknown role: " + role);
            text += role + (m.contains("name") ? "(" + m["name"].get<std::string>() + ")" : std::string()) + ":" +
                    m["content"].get<std::string>() + "\n";
        }
        return encode(text);
    }
};

RequestLimits limits()
{
    RequestLimits l;
    l.maxPromptTokens = 32;
    l.maxTokens = 64;
    return l;
}

} // namespace

class OpenAiRequestTest : public QObject {
    Q_OBJECT
private slots:
    void refusals_data()
    {
        QTest::addColumn<bool>("chat");
        QTest::addColumn<QString>("body");
        QTest::addColumn<QString>("param");   // empty: about the body as a whole
        QTest::addColumn<QString>("message"); // the message starts with this
        // The JSON library's id ("[json.exception.parse_error.101]") was part of the message.
        QTest::newRow("not JSON") << false << "{\"model\": " << "" << "the request body is not valid JSON: parse error at line 1, column 11: syntax error";
        // A number beyond double's range escaped as a JSON library error (a 500) before.
        QTest::newRow("number overflow") << false << R"({"model": "m", "prompt": "hi", "temperature": 1e400})" << ""
                                         << "the request body holds a value JSON numbers cannot represent: number overflow parsing '1e400'";
        QTest::newRow("an array") << true << "[1]" << "" << "the request body must be a JSON object, found array";
        // A key given twice was read as its last value, silently (other JSON readers take the first).
        // Not read, but a wrong type was accepted without a word.
        QTest::newRow("user a number") << false << R"({"model": "m", "prompt": "hi", "user": 5})" << "user"
                                       << "'user': expected a string, found number";
        QTest::newRow("model twice") << false << R"({"model": "m", "prompt": "hi", "model": "other"})" << ""
                                     << "the request body gives the key \"model\" twice in one object; give each key once";
        QTest::newRow("role twice in a message") << true
            << R"({"model": "m", "messages": [{"role": "user", "content": "hi", "role": "system"}]})" << ""
            << "the request body gives the key \"role\" twice in one object";
        QTest::newRow("no model") << false << R"({"prompt": "hi"})" << "model" << "'model': required";
        QTest::newRow("model a number") << false << R"({"model": 3, "prompt": "hi"})" << "model" << "'model': expected a string, found number";
        QTest::newRow("temperature over") << false << R"({"model": "m", "prompt": "hi", "temperature": 3})" << "temperature"
                                          << "'temperature': expected a value in [0.0, 2.0], found 3";
        QTest::newRow("max_tokens over") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 65})" << "max_tokens"
                                         << "'max_tokens': expected an integer in [1, 64], found 65";
        QTest::newRow("five stops") << false << R"({"model": "m", "prompt": "hi", "stop": ["a","b","c","d","e"]})" << "stop"
                                    << "'stop': expected a string or an array of up to 4 strings, found 5 items";
        // An empty stop string was accepted and ignored; vLLM refuses it (it would match before any text).
        QTest::newRow("empty stop") << false << R"({"model": "m", "prompt": "hi", "stop": ""})" << "stop"
                                    << "'stop': an empty string would match before any text";
        QTest::newRow("empty stop in the list") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", ""]})"
                                                << "stop" << "'stop': an empty string (item 1) would match before any text";
        // "n": 2 said "expected an integer in [1, 1]"; OpenAI's range is [1, 128].
        QTest::newRow("n two") << false << R"({"model": "m", "prompt": "hi", "n": 2})" << "n" << "'n': only 1 is supported (one choice per prompt";
        QTest::newRow("n over OpenAI's range") << false << R"({"model": "m", "prompt": "hi", "n": 129})" << "n"
                                               << "'n': expected an integer in [1, 128], found 129";
        // A NUL in a value quoted by the message cut the message short at it (what() is a C string).
        QTest::newRow("role with a NUL") << true << R"({"model": "m", "messages": [{"role": "us\u0000er"}]})" << "messages[0].content"
                                         << QString("'messages[0].content': required: the us") + QChar(0) + "er message's text";
        // A NUL in the message of an error from the tokenizer or chat template (an rslora::Error) cut
        // the message short at it too.
        QTest::newRow("template error with a NUL") << true << R"({"model": "m", "messages": [{"role": "nar\u0000rator", "content": "hi"}]})"
                                                   << "messages" << QString("'messages': chat template: Unknown role: nar") + QChar(0) + "rator";
        // Integers beyond 64 bits are read by JSON as doubles: they said "expected an integer, found
        // 1.8446744073709552e+19", naming no range.
        QTest::newRow("max_tokens 2^64") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 18446744073709551616})" << "max_tokens"
                                         << "'max_tokens': expected an integer in [1, 64], found 1.8446744073709552e+19";
        QTest::newRow("max_tokens 2^64 - 1") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 18446744073709551615})" << "max_tokens"
                                             << "'max_tokens': expected an integer in [1, 64], found 18446744073709551615";
        QTest::newRow("seed 1e30") << false << R"({"model": "m", "prompt": "hi", "seed": 1e30})" << "seed"
                                   << "'seed': expected an integer in [-9223372036854775808, 9223372036854775807], found 1e+30";
        QTest::newRow("seed 2^63") << false << R"({"model": "m", "prompt": "hi", "seed": 9223372036854775808})" << "seed"
                                   << "'seed': expected an integer in [-9223372036854775808, 9223372036854775807], found 9223372036854775808";
        QTest::newRow("seed -2^64") << false << R"({"model": "m", "prompt": "hi", "seed": -18446744073709551616})" << "seed"
                                    << "'seed': expected an integer in [-9223372036854775808, 9223372036854775807], found -1.8446744073709552e+19";
        QTest::newRow("top_k -1e30") << false << R"({"model": "m", "prompt": "hi", "top_k": -1e30})" << "top_k"
                                     << "'top_k': expected an integer in [-1, 1073741824], found -1e+30";
        QTest::newRow("n 2^64") << false << R"({"model": "m", "prompt": "hi", "n": 18446744073709551616})" << "n"
                                << "'n': expected an integer in [1, 128], found 1.8446744073709552e+19";
        QTest::newRow("min_tokens 2^70") << false << R"({"model": "m", "prompt": "hi", "min_tokens": 1180591620717411303424})" << "min_tokens"
                                         << "'min_tokens': expected an integer in [0, 64], found 1.1805916207174113e+21";
        QTest::newRow("max_tokens a fraction") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 2.5})" << "max_tokens"
                                               << "'max_tokens': expected an integer, found 2.5";
        QTest::newRow("best_of 2^64 + 1") << false << R"({"model": "m", "prompt": "hi", "best_of": 18446744073709551617})" << "best_of"
                                          << "'best_of': only 1 is supported, found 1.8446744073709552e+19";
        QTest::newRow("logprobs 2^64") << false << R"({"model": "m", "prompt": "hi", "logprobs": 18446744073709551616})" << "logprobs"
                                       << "'logprobs': log probabilities are not supported";
        QTest::newRow("top_logprobs 2^64") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 18446744073709551616})"
                                           << "top_logprobs" << "'top_logprobs': log probabilities are not supported";
        // max_completion_tokens is the one used in a chat; a max_tokens beside it was not read at all.
        QTest::newRow("max_tokens beside max_completion_tokens") << true
            << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 4, "max_tokens": 18446744073709551616})"
            << "max_tokens" << "'max_tokens': expected an integer in [1, 64], found 1.8446744073709552e+19";
        QTest::newRow("max_tokens zero") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 0})" << "max_tokens"
                                         << "'max_tokens': expected an integer in [1, 64], found 0";
        QTest::newRow("prompt token id outside") << false << R"({"model": "m", "prompt": [1, 256]})" << "prompt"
                                                 << "'prompt': expected token ids in [0, 256), found 256";
        // The prompt limit named no field before.
        QTest::newRow("prompt over the limit") << false << R"({"model": "m", "prompt": "a prompt longer than thirty-two bytes"})"
                                               << "prompt" << "'prompt': the prompt has 37 tokens, more than the server's limit of 32";
        QTest::newRow("chat over the limit") << true << R"({"model": "m", "messages": [{"role": "user", "content": "a prompt longer than thirty-two bytes"}]})"
                                             << "messages" << "'messages': the prompt has 43 tokens";
        QTest::newRow("no messages") << true << R"({"model": "m"})" << "messages" << "'messages': required";
        QTest::newRow("message without role") << true << R"({"model": "m", "messages": [{"content": "hi"}]})" << "messages[0].role"
                                              << "'messages[0].role': expected a string";
        QTest::newRow("user message without content") << true << R"({"model": "m", "messages": [{"role": "user"}]})"
                                                     << "messages[0].content" << "'messages[0].content': required: the user message's text";
        QTest::newRow("assistant turn without content is read") << true
            << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}, {"role": "user"}]})"
            << "messages[2].content" << "'messages[2].content': required: the user message's text";
        QTest::newRow("system content null") << true << R"({"model": "m", "messages": [{"role": "system", "content": null}, {"role": "user", "content": "hi"}]})"
                                             << "messages[0].content" << "'messages[0].content': required: the system message's text (a string or an array of text parts)";
        QTest::newRow("unknown role") << true << R"({"model": "m", "messages": [{"role": "narrator", "content": "hi"}]})" << "messages"
                                      << "'messages': chat template: Unknown role: narrator";
        // A content part whose type was not a string escaped as a JSON library error (a 500) before.
        QTest::newRow("part type a number") << true << R"({"model": "m", "messages": [{"role": "user", "content": [{"type": 1, "text": "hi"}]}]})"
                                            << "messages[0].content[0].type" << "'messages[0].content[0].type': only \"text\" parts are supported, found 1";
        QTest::newRow("part not an object") << true << R"({"model": "m", "messages": [{"role": "user", "content": ["hi"]}]})"
                                            << "messages[0].content[0]" << "'messages[0].content[0]': expected a {\"type\": \"text\"";
        QTest::newRow("name a number") << true << R"({"model": "m", "messages": [{"role": "user", "name": 5, "content": "hi"}]})"
                                       << "messages[0].name" << "'messages[0].name': expected a string, found number";
        QTest::newRow("part text missing") << true << R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]})"
                                           << "messages[0].content[0].text" << "'messages[0].content[0].text': expected a string, found none";
        // Quoting a value thousands of levels deep in a message overflowed the stack before.
        QTest::newRow("nested too deep") << false << QString(R"({"model": "m", "prompt": [1, %1]})").arg(QString(100000, '[') + QString(100000, ']'))
                                         << "" << "the request body nests arrays and objects more than 64 levels deep";
        QTest::newRow("token id a fraction") << false << R"({"model": "m", "prompt": [[1, 2.5]]})" << "prompt"
                                             << "'prompt': expected token ids in [0, 256), found 2.5";
        QTest::newRow("token id 2^64") << false << R"({"model": "m", "prompt": [18446744073709551616]})" << "prompt"
                                       << "'prompt': expected token ids in [0, 256), found 1.8446744073709552e+19";
        QTest::newRow("token id 2^64 - 1") << false << R"({"model": "m", "prompt": [18446744073709551615]})" << "prompt"
                                           << "'prompt': expected token ids in [0, 256), found 18446744073709551615";
        QTest::newRow("token id true") << false << R"({"model": "m", "prompt": [1, true]})" << "prompt"
                                       << "'prompt': expected token ids in [0, 256), found true";
        QTest::newRow("token id an array") << false << R"({"model": "m", "prompt": [1, [2, 3]]})" << "prompt"
                                           << "'prompt': expected token ids in [0, 256), found array";
        // top_p said "(0, 1]" for 0 and "[0.0, 1.0]" for 1.5 before: one range, one wording.
        QTest::newRow("top_p zero") << false << R"({"model": "m", "prompt": "hi", "top_p": 0})" << "top_p"
                                    << "'top_p': expected a value in (0, 1], found 0";
        QTest::newRow("top_p over") << false << R"({"model": "m", "prompt": "hi", "top_p": 1.5})" << "top_p"
                                    << "'top_p': expected a value in (0, 1], found 1.5";
        QTest::newRow("top_p negative") << false << R"({"model": "m", "prompt": "hi", "top_p": -0.5})" << "top_p"
                                        << "'top_p': expected a value in (0, 1], found -0.5";
        // logit_bias and min_tokens are honoured, so their values are checked.
        QTest::newRow("logit_bias not an object") << false << R"({"model": "m", "prompt": "hi", "logit_bias": [1]})" << "logit_bias"
                                                  << "'logit_bias': expected an object of token ids to numbers, found array";
        QTest::newRow("logit_bias id outside") << false << R"({"model": "m", "prompt": "hi", "logit_bias": {"256": 1}})" << "logit_bias"
                                               << "'logit_bias': expected token ids in [0, 256) as keys, found \"256\"";
        QTest::newRow("logit_bias id not a number") << false << R"({"model": "m", "prompt": "hi", "logit_bias": {"-3": 1}})" << "logit_bias"
                                                    << "'logit_bias': expected token ids in [0, 256) as keys, found \"-3\"";
        // Both biases of one token written twice were applied.
        QTest::newRow("logit_bias id twice") << false << R"({"model": "m", "prompt": "hi", "logit_bias": {"5": 10, "05": -10}})" << "logit_bias"
                                             << "'logit_bias': token 5 is given twice, as \"05\" and \"5\"";
        QTest::newRow("logit_bias over") << false << R"({"model": "m", "prompt": "hi", "logit_bias": {"7": 101}})" << "logit_bias.7"
                                         << "'logit_bias.7': expected a value in [-100, 100], found 101";
        QTest::newRow("logit_bias a string") << false << R"({"model": "m", "prompt": "hi", "logit_bias": {"7": "up"}})" << "logit_bias.7"
                                             << "'logit_bias.7': expected a number, found string";
        QTest::newRow("min_tokens negative") << false << R"({"model": "m", "prompt": "hi", "min_tokens": -1})" << "min_tokens"
                                             << "'min_tokens': expected an integer in [0, 64], found -1";
        QTest::newRow("min_tokens over max_tokens") << false << R"({"model": "m", "prompt": "hi", "max_tokens": 4, "min_tokens": 5})" << "min_tokens"
                                                    << "'min_tokens': expected at most the 4 new tokens the request may generate (max_tokens), found 5";
        // OpenAI fields that were silently ignored before are refused, naming the field.
        QTest::newRow("best_of") << false << R"({"model": "m", "prompt": "hi", "best_of": 3})" << "best_of" << "'best_of': only 1 is supported, found 3";
        QTest::newRow("suffix") << false << R"({"model": "m", "prompt": "hi", "suffix": "end"})" << "suffix" << "'suffix': completing text before a suffix";
        QTest::newRow("top_logprobs") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})" << "top_logprobs"
                                      << "'top_logprobs': log probabilities are not supported";
        QTest::newRow("tools") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]})" << "tools"
                               << "'tools': tool and function calling are not supported";
        QTest::newRow("functions") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "functions": [{"name": "f"}]})" << "functions"
                                   << "'functions': tool and function calling are not supported";
        QTest::newRow("tool_choice") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"})" << "tool_choice"
                                     << "'tool_choice': tool and function calling are not supported";
        QTest::newRow("function_call") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "function_call": {"name": "f"}})" << "function_call"
                                       << "'function_call': tool and function calling are not supported";
        // Ignored before; OpenAI and vLLM refuse it.
        QTest::newRow("stream_options without stream") << false << R"({"model": "m", "prompt": "hi", "stream_options": {"include_usage": true}})"
                                                       << "stream_options" << "'stream_options': only allowed with \"stream\": true";
        // The option was named as a field of the body ('include_usage').
        QTest::newRow("include_usage a string") << false << R"({"model": "m", "prompt": "hi", "stream": true, "stream_options": {"include_usage": "yes"}})"
                                                << "stream_options.include_usage" << "'stream_options.include_usage': expected true or false, found string";
        QTest::newRow("response_format json") << true << R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}})"
                                              << "response_format" << "'response_format': only {\"type\": \"text\"} is supported";
    }
    void refusals()
    {
        QFETCH(bool, chat);
        QFETCH(QString, body);
        QFETCH(QString, param);
        QFETCH(QString, message);
        try {
            parseGenerationCall(body.toStdString(), chat, BytePrompts(), limits());
            QFAIL("the request was accepted");
        } catch (const ApiError& e) {
            QCOMPARE(e.status(), 400);
            // The message as the client gets it.
            const std::string text = e.body()["error"]["message"].get<std::string>();
            QVERIFY2(text.rfind(message.toStdString(), 0) == 0, e.what());
            const auto p = e.body()["error"]["param"];
            QCOMPARE(p.is_null() ? QString() : QString::fromStdString(p.get<std::string>()), param);
        }
    }

    // Prompt plus max_tokens must fit the model's context; without max_tokens the room left is used.
    void contextLength()
    {
        RequestLimits l = limits();
        l.contextLength = 20;
        auto refusal = [&](const char* body) -> ApiError {
            try {
                parseGenerationCall(body, false, BytePrompts(), l);
            } catch (const ApiError& e) {
                return e;
            }
            return ApiError(0, "accepted");
        };
        // 12 prompt tokens: 8 new ones fit, 9 do not.
        QCOMPARE(parseGenerationCall(R"({"model": "m", "prompt": "twelve bytes", "max_tokens": 8})", false, BytePrompts(), l).sampling.maxNewTokens,
                 int64_t(8));
        const ApiError over = refusal(R"({"model": "m", "prompt": "twelve bytes", "max_tokens": 9})");
        QCOMPARE(over.status(), 400);
        QCOMPARE(QString::fromStdString(over.what()),
                 QString("'max_tokens': 12 prompt tokens plus 9 new tokens exceed the model's context of 20 tokens "
                         "(--max-model-len); at most 8 new tokens fit"));
        QCOMPARE(over.body()["error"]["param"], nlohmann::json("max_tokens"));
        QCOMPARE(over.body()["error"]["code"], nlohmann::json("context_length_exceeded"));
        // The default (16 for completions) is shortened to the room left.
        QCOMPARE(parseGenerationCall(R"({"model": "m", "prompt": "twelve bytes"})", false, BytePrompts(), l).sampling.maxNewTokens,
                 int64_t(8));
        QCOMPARE(parseGenerationCall(R"({"model": "m", "prompt": "hi"})", false, BytePrompts(), l).sampling.maxNewTokens, int64_t(16));
        // Without max_tokens each prompt gets the room it leaves (a short prompt was held to the room of
        // the longest); an explicit max_tokens must fit every prompt.
        const auto two = parseGenerationCall(R"({"model": "m", "prompt": ["fifteen bytes..", "hi", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]})", false,
                                             BytePrompts(), l);
        QCOMPARE(two.maxNewTokens, (std::vector<int64_t>{5, 16, 10}));
        QCOMPARE(two.sampling.maxNewTokens, int64_t(5));
        const auto chatRoom = parseGenerationCall(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})", true, BytePrompts(), l);
        QCOMPARE(chatRoom.maxNewTokens, std::vector<int64_t>{12});  // "user:hi\n" is 8 tokens; chat's default is the limit, 64
        const auto asked = parseGenerationCall(R"({"model": "m", "prompt": ["twelve bytes", "hi"], "max_tokens": 8})", false, BytePrompts(), l);
        QCOMPARE(asked.maxNewTokens, (std::vector<int64_t>{8, 8}));
        const ApiError overOne = refusal(R"({"model": "m", "prompt": ["hi", "twelve bytes"], "max_tokens": 9})");
        QCOMPARE(QString::fromStdString(overOne.message()),
                 QString("'max_tokens': 12 prompt tokens plus 9 new tokens exceed the model's context of 20 tokens "
                         "(--max-model-len); at most 8 new tokens fit"));
        // min_tokens must fit every prompt's room.
        QCOMPARE(parseGenerationCall(R"({"model": "m", "prompt": ["twelve bytes", "hi"], "min_tokens": 8})", false, BytePrompts(), l).maxNewTokens,
                 (std::vector<int64_t>{8, 16}));
        const ApiError minOver = refusal(R"({"model": "m", "prompt": ["hi", "twelve bytes"], "min_tokens": 9})");
        QCOMPARE(QString::fromStdString(minOver.message()),
                 QString("'min_tokens': expected at most the 8 new tokens that fit the model's context of 20 tokens (--max-model-len) "
                         "after the 12 tokens of prompt[1], found 9"));
        QCOMPARE(minOver.body()["error"]["param"], nlohmann::json("min_tokens"));
        // A prompt that fills the context leaves no room at all.
        const ApiError full = refusal(R"({"model": "m", "prompt": "twenty bytes of text"})");
        QCOMPARE(full.status(), 400);
        QVERIFY2(std::string(full.what()).rfind("'prompt': the prompt has 20 tokens, which leaves no room", 0) == 0, full.what());
        QCOMPARE(full.body()["error"]["param"], nlohmann::json("prompt"));
    }

    void accepted()
    {
        const auto call = parseGenerationCall(
            R"({"model": "task@v2", "messages": [{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}],
                "max_completion_tokens": 8, "temperature": 0.5, "top_p": 0.9, "top_k": -1, "seed": 7, "stop": "x",
                "stream": true, "stream_options": {"include_usage": true}})",
            true, BytePrompts(), limits());
        QCOMPARE(call.model, std::string("task@v2"));
        QCOMPARE(call.prompts.size(), size_t(1));
        // Text parts are joined by a line break, as vLLM joins them (they were run together).
        QCOMPARE(call.prompts[0], BytePrompts().encode("user:h\ni\n"));
        QCOMPARE(call.sampling.maxNewTokens, int64_t(8));
        QCOMPARE(call.sampling.temperature, 0.5);
        QCOMPARE(call.sampling.topP, 0.9);
        QCOMPARE(call.sampling.topK, int64_t(0));
        QCOMPARE(call.sampling.seed, uint64_t(7));
        QCOMPARE(call.sampling.stopStrings, std::vector<std::string>{"x"});
        QVERIFY(call.stream && call.includeUsage);
        QCOMPARE(call.sampling.minNewTokens, int64_t(0));
        QVERIFY(call.sampling.logitBias.empty());

        // The neutral values of the fields that are otherwise refused pass, and logit_bias and
        // min_tokens are read.
        const auto neutral = parseGenerationCall(
            R"({"model": "m", "prompt": "hi", "best_of": 1, "suffix": "", "tools": [], "tool_choice": "none", "functions": [],
                "response_format": {"type": "text"}, "top_logprobs": 0, "logit_bias": {"7": -100, "200": 2.5}, "min_tokens": 3})",
            false, BytePrompts(), limits());
        QCOMPARE(neutral.sampling.minNewTokens, int64_t(3));
        const std::vector<std::pair<int64_t, double>> bias = {{200, 2.5}, {7, -100.0}};
        auto got = neutral.sampling.logitBias;
        std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        QCOMPARE(got, bias);

        // A whole number written with a fraction or an exponent is that integer, as JSON Schema and vLLM
        // read it.
        const auto whole = parseGenerationCall(R"({"model": "m", "prompt": "hi", "max_tokens": 8.0, "seed": 1e3, "top_k": -1.0, "n": 1.0,
                                                   "best_of": 1.0, "top_logprobs": 0.0, "min_tokens": 2e0})",
                                               false, BytePrompts(), limits());
        QCOMPARE(whole.sampling.maxNewTokens, int64_t(8));
        QCOMPARE(whole.sampling.seed, uint64_t(1000));
        QCOMPARE(whole.sampling.topK, int64_t(0));
        QCOMPARE(whole.sampling.minNewTokens, int64_t(2));
        // Token ids too; a fraction or an id beyond 64 bits is refused with the vocabulary's range.
        QCOMPARE(parseGenerationCall(R"({"model": "m", "prompt": [1.0, 2e0, 3]})", false, BytePrompts(), limits()).prompts,
                 (std::vector<std::vector<int64_t>>{{1, 2, 3}}));
        const auto lowest = parseGenerationCall(R"({"model": "m", "prompt": "hi", "seed": -9223372036854775808})", false, BytePrompts(), limits());
        QCOMPARE(lowest.sampling.seed, static_cast<uint64_t>(std::numeric_limits<int64_t>::min()));
        // A key may come again in another object, the body's own keys inside a nested one included.
        const auto keys = parseGenerationCall(R"({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                                                  "metadata": {"model": "x", "messages": {"role": "y"}}})",
                                              true, BytePrompts(), limits());
        QCOMPARE(keys.prompts[0], BytePrompts().encode("user:a\nassistant:b\n"));
    }

    // Each prompt of a request has its seed: the request's own for all, else separate draws (they
    // shared one draw before, so the choices of an unseeded request for the same prompt were equal).
    void seedsPerPrompt()
    {
        const auto seeded = parseGenerationCall(R"({"model": "m", "prompt": ["hi", "hi", "hi"], "seed": -2})", false, BytePrompts(), limits());
        QCOMPARE(seeded.seeds, std::vector<uint64_t>(3, static_cast<uint64_t>(-2)));
        const auto unseeded = parseGenerationCall(R"({"model": "m", "prompt": ["hi", "hi", "hi", [1, 2]]})", false, BytePrompts(), limits());
        QCOMPARE(unseeded.seeds.size(), size_t(4));
        QCOMPARE(std::set<uint64_t>(unseeded.seeds.begin(), unseeded.seeds.end()).size(), size_t(4));
        const auto chat = parseGenerationCall(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 9})", true, BytePrompts(), limits());
        QCOMPARE(chat.seeds, std::vector<uint64_t>{9});
    }

    // A message's name reaches the chat template (it was dropped before).
    void messageNames()
    {
        const auto call = parseGenerationCall(
            R"({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "name": "ann", "content": "hi"}]})",
            true, BytePrompts(), limits());
        QCOMPARE(call.prompts[0], BytePrompts().encode("system:be brief\nuser(ann):hi\n"));
    }
};

QTEST_GUILESS_MAIN(OpenAiRequestTest)
#include "OpenAiRequestTest.moc"
