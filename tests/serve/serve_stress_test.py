#!/usr/bin/env python3
# `rslora serve` under streaming load and at the edges of generation: many streams at once, clients that
# hang up mid-stream, stop strings that span token boundaries, max_tokens 1 and as large as the context
# allows, text whose characters are split across byte tokens (every event of a stream is valid UTF-8 and
# the streamed text equals the answer's), stream_options.include_usage, n, and prompts at and over the
# context length. Never a 500, a hang, a crash, or a stream that is not well-formed SSE.
# Usage: serve_stress_test.py RSLORA_CLI MODEL_DIR
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

from serve_http_test import KEY, MODEL, Server

BASE = os.path.basename(MODEL)
with open(os.path.join(MODEL, "config.json")) as config, open(os.path.join(MODEL, "tokenizer.json")) as tokenizer:
    CONTEXT = json.load(config)["max_position_embeddings"]
    VOCAB = json.load(tokenizer)["model"]["vocab"]


def byte_token(byte):
    """The id of the byte-level token of one byte (GPT-2's byte-to-character table)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return VOCAB[table[byte]]


def open_stream(server, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", path, body=json.dumps(body),
                 headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
    return conn, conn.getresponse()


def read_events(resp):
    """The events of a streamed answer, each checked to be strict UTF-8 and JSON; ends at [DONE]."""
    data = resp.read()
    events = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        if not block.startswith(b"data: "):
            raise AssertionError("not an SSE data event: %r" % block[:200])
        payload = block[len(b"data: "):]
        text = payload.decode("utf-8")  # strict: raises on invalid UTF-8
        events.append(text)
    if not events or events[-1] != "[DONE]":
        raise AssertionError("the stream does not end with data: [DONE]: %r" % data[-200:])
    return [json.loads(e) for e in events[:-1]]


def stream(server, body, chat=False):
    conn, resp = open_stream(server, "/v1/chat/completions" if chat else "/v1/completions", {**body, "stream": True})
    try:
        if resp.status != 200:
            raise AssertionError("status %d: %s" % (resp.status, resp.read()[:300]))
        return read_events(resp)
    finally:
        conn.close()


def streamed_text(events, index=0):
    out = ""
    for e in events:
        for c in e["choices"]:
            if c["index"] == index:
                out += c.get("text", c.get("delta", {}).get("content", "")) or ""
    return out


def finishes(events):
    return [(c["index"], c["finish_reason"], c.get("stop_reason")) for e in events for c in e["choices"] if c["finish_reason"]]


class StressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-key", KEY, "--max-concurrent", "48", "--max-batch", "16")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        if code != 0:
            raise AssertionError("the server exited with %d" % code)

    def complete(self, **fields):
        status, body = self.server.post("/v1/completions", {"model": BASE, **fields})
        self.assertEqual(status, 200, body)
        return body

    def assertServing(self):
        self.assertIsNone(self.server.proc.poll(), "the server has exited")
        self.complete(prompt="Hi", max_tokens=2)

    def test_many_streams_at_once(self):
        results, errors = {}, []

        def worker(i):
            try:
                chat = i % 3 == 0
                body = {"model": BASE, "max_tokens": 24, "seed": i, "stream_options": {"include_usage": True}}
                if chat:
                    body["messages"] = [{"role": "user", "content": "Story %d" % i}]
                else:
                    body["prompt"] = "Once upon a time %d" % i
                results[i] = (chat, body, stream(self.server, body, chat))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((i, repr(e)))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 40)
        for i, (chat, body, events) in results.items():
            usage = events[-1]["usage"]
            self.assertEqual(events[-1]["choices"], [])
            self.assertEqual(len(finishes(events)), 1, i)
            # The same request unstreamed gives the same text (each is seeded).
            status, whole = self.server.post("/v1/chat/completions" if chat else "/v1/completions",
                                             {k: v for k, v in body.items() if k != "stream_options"})
            self.assertEqual(status, 200, whole)
            text = whole["choices"][0]["message"]["content"] if chat else whole["choices"][0]["text"]
            self.assertEqual(streamed_text(events), text, i)
            self.assertEqual(usage, whole["usage"], i)
        self.assertServing()

    def test_clients_that_close_mid_stream(self):
        conns = []
        for i in range(30):
            conn, resp = open_stream(self.server, "/v1/completions",
                                     {"model": BASE, "prompt": "Hi %d" % i, "max_tokens": 200, "ignore_eos": True, "stream": True})
            self.assertEqual(resp.status, 200)
            resp.readline()  # the first event has begun to arrive
            conns.append(conn)
        for i, conn in enumerate(conns):
            if i % 2:
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
        # Every place comes back: 48 prompts at once (the whole of --max-concurrent) are served. The
        # places come back as the server notices the closed connections, later on a loaded machine:
        # the bound is for a place never given back.
        deadline = time.monotonic() + 300
        while True:
            status, body = self.server.post("/v1/completions", {"model": BASE, "prompt": ["Hi"] * 48, "max_tokens": 1})
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200, body)
        self.assertServing()

    def test_stop_strings_across_token_boundaries(self):
        full = self.complete(prompt="The river", max_tokens=40, temperature=0, ignore_eos=True)
        text = full["choices"][0]["text"]
        self.assertGreater(len(text), 12, text)
        for start, length in ((3, 5), (len(text) // 2, 7), (1, 1), (len(text) - 4, 4)):
            stop = text[start:start + length]
            expected = text[:text.find(stop)]
            for streamed in (False, True):
                fields = {"model": BASE, "prompt": "The river", "max_tokens": 40, "temperature": 0, "ignore_eos": True,
                          "stop": ["\x00never", stop]}
                with self.subTest(stop=stop, streamed=streamed):
                    if streamed:
                        events = stream(self.server, fields)
                        self.assertEqual(streamed_text(events), expected)
                        self.assertEqual(finishes(events), [(0, "stop", stop)])
                    else:
                        body = self.complete(**fields)
                        self.assertEqual(body["choices"][0]["text"], expected)
                        self.assertEqual((body["choices"][0]["finish_reason"], body["choices"][0]["stop_reason"]), ("stop", stop))

    def test_stop_strings_inside_split_characters_and_held_back_text(self):
        emoji = "\U0001F600".encode()
        bias = {str(byte_token(b)): 100 for b in emoji}
        base = {"model": BASE, "prompt": "Smile", "max_tokens": 60, "ignore_eos": True, "logit_bias": bias, "seed": 11, "temperature": 1.5}
        text = self.complete(**{k: v for k, v in base.items() if k != "model"})["choices"][0]["text"]
        # A whole emoji (its four bytes spread over four tokens), the replacement character a broken one
        # is written as, and a stop string longer than anything generated (the text is held back to the end).
        for stop in ("\U0001F600", "\ufffd", "\U0001F600" * 40, "x" * 300):
            for streamed in (False, True):
                with self.subTest(stop=stop[:4], streamed=streamed):
                    fields = {**base, "stop": [stop]}
                    if streamed:
                        events = stream(self.server, fields)
                        got, reason = streamed_text(events), finishes(events)[0][1]
                    else:
                        body = self.complete(**{k: v for k, v in fields.items() if k != "model"})
                        got, reason = body["choices"][0]["text"], body["choices"][0]["finish_reason"]
                    if stop in text:
                        self.assertEqual((got, reason), (text[:text.find(stop)], "stop"))
                    else:
                        self.assertEqual((got, reason), (text, "length"))

    def test_more_streams_than_places(self):
        # 80 streams against 48 places: each is either served whole or refused with a 429 at once.
        statuses, errors = [], []

        def worker(i):
            try:
                conn, resp = open_stream(self.server, "/v1/completions", {"model": BASE, "prompt": "Hi %d" % i, "max_tokens": 30,
                                                                           "ignore_eos": True, "stream": True})
                try:
                    if resp.status == 200:
                        read_events(resp)
                    else:
                        body = json.loads(resp.read())
                        if resp.status != 429 or body["error"]["type"] != "rate_limit_error":
                            raise AssertionError((resp.status, body))
                    statuses.append(resp.status)
                finally:
                    conn.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((i, repr(e)))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(80)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [])
        self.assertEqual(len(statuses), 80)
        self.assertGreater(statuses.count(200), 0)
        self.assertServing()

    def test_max_tokens_at_the_edges(self):
        prompt = "The river"
        n_prompt = self.complete(prompt=prompt, max_tokens=1)["usage"]["prompt_tokens"]
        for streamed in (False, True):
            fields = {"prompt": prompt, "max_tokens": 1, "ignore_eos": True}
            if streamed:
                events = stream(self.server, {"model": BASE, **fields, "stream_options": {"include_usage": True}})
                self.assertEqual(events[-1]["usage"]["completion_tokens"], 1)
                self.assertEqual(finishes(events), [(0, "length", None)])
            else:
                self.assertEqual(self.complete(**fields)["usage"]["completion_tokens"], 1)
        # As many as the context leaves, and one more.
        most = CONTEXT - n_prompt
        events = stream(self.server, {"model": BASE, "prompt": prompt, "max_tokens": most, "ignore_eos": True,
                                      "stream_options": {"include_usage": True}})
        self.assertEqual(events[-1]["usage"]["completion_tokens"], most)
        for streamed in (False, True):
            status, body = self.server.post("/v1/completions", {"model": BASE, "prompt": prompt, "max_tokens": most + 1, "stream": streamed})
            self.assertEqual(status, 400, body)
            self.assertEqual((body["error"]["param"], body["error"]["code"]), ("max_tokens", "context_length_exceeded"), body)
        status, body = self.server.post("/v1/completions", {"model": BASE, "prompt": prompt, "max_tokens": 10 ** 12, "stream": True})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "max_tokens", body)
        # Without max_tokens a completion gets 16 new tokens (OpenAI's default) and a chat the room its prompt leaves.
        self.assertEqual(self.complete(prompt=prompt, ignore_eos=True)["usage"]["completion_tokens"], 16)
        messages = [{"role": "user", "content": prompt}]
        status, body = self.server.post("/v1/chat/completions", {"model": BASE, "messages": messages, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["usage"]["total_tokens"], CONTEXT)
        events = stream(self.server, {"model": BASE, "messages": messages, "ignore_eos": True,
                                      "stream_options": {"include_usage": True}}, chat=True)
        self.assertEqual(events[-1]["usage"], body["usage"])

    def test_prompts_at_and_over_the_context_length(self):
        ids = [byte_token(ord("a"))] * (CONTEXT - 1)
        body = self.complete(prompt=ids, ignore_eos=True)
        self.assertEqual(body["usage"]["completion_tokens"], 1)
        events = stream(self.server, {"model": BASE, "prompt": ids, "ignore_eos": True, "stream_options": {"include_usage": True}})
        self.assertEqual(events[-1]["usage"], {"prompt_tokens": CONTEXT - 1, "completion_tokens": 1, "total_tokens": CONTEXT})
        for streamed in (False, True):
            for prompt in ([byte_token(ord("a"))] * CONTEXT, [byte_token(ord("a"))] * (CONTEXT * 4), "a " * (CONTEXT * 2)):
                status, body = self.server.post("/v1/completions", {"model": BASE, "prompt": prompt, "stream": streamed})
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["param"], "prompt", body)
            status, body = self.server.post("/v1/chat/completions", {
                "model": BASE, "messages": [{"role": "user", "content": "a " * CONTEXT}], "stream": streamed})
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"]["param"], "messages", body)
        self.assertServing()

    def test_characters_split_across_byte_tokens(self):
        # Only the four bytes of U+1F600 may be picked: the text is made of emoji and broken pieces of one.
        emoji = "\U0001F600".encode()
        bias = {str(byte_token(b)): 100 for b in emoji}
        for seed in range(6):
            fields = {"model": BASE, "prompt": "Smile \U0001F600", "max_tokens": 48, "ignore_eos": True, "logit_bias": bias,
                      "seed": seed, "temperature": 1.5}
            body = self.complete(**{k: v for k, v in fields.items() if k != "model"})
            events = stream(self.server, fields)
            self.assertEqual(streamed_text(events), body["choices"][0]["text"], seed)
            # Chat too: the role delta, then content deltas.
            chat = {k: v for k, v in fields.items() if k != "prompt"}
            chat["messages"] = [{"role": "user", "content": "\U0001F600\u00e9\u4e2d"}]
            status, whole = self.server.post("/v1/chat/completions", chat)
            self.assertEqual(status, 200, whole)
            events = stream(self.server, chat, chat=True)
            self.assertEqual(streamed_text(events), whole["choices"][0]["message"]["content"], seed)
        # Greedy with the same bias repeats the most likely of the four: whole emoji come out whole.
        self.assertServing()

    def test_n_and_several_prompts(self):
        status, body = self.server.post("/v1/completions", {"model": BASE, "prompt": "Hi", "n": 2, "stream": True})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["param"], "n", body)
        # Several prompts stream as choices of one answer, each ended once.
        events = stream(self.server, {"model": BASE, "prompt": ["Hi", "The river", "Once"], "max_tokens": 8, "seed": 3,
                                      "stream_options": {"include_usage": True}})
        self.assertEqual(sorted(i for i, _, _ in finishes(events)), [0, 1, 2])
        whole = self.complete(prompt=["Hi", "The river", "Once"], max_tokens=8, seed=3)
        for i in range(3):
            self.assertEqual(streamed_text(events, i), whole["choices"][i]["text"], i)
        self.assertEqual(events[-1]["usage"], whole["usage"])



def byte_fallback_model(folder):
    """The demo model's weights under a tokenizer with byte fallback (as Llama 2's and Mistral's): ids 3..258
    are the bytes <0x00>..<0xFF>, which its decoder reads run by run (a valid run is its characters,
    any other one replacement character per byte)."""
    os.makedirs(folder)
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        os.symlink(os.path.join(MODEL, name), os.path.join(folder, name))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    while len(vocab) < 508:
        vocab["\u2581w%d" % len(vocab)] = len(vocab)
    vocab.update({"<pad>": 508, "<bos>": 509, "<eos>": 510})
    special = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
               for t in ("<unk>", "<s>", "</s>", "<pad>", "<bos>", "<eos>")]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "vocab": vocab, "merges": []}}
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<bos>", "eos_token": "<eos>"}, f)
    return vocab


class ByteFallbackTest(unittest.TestCase):
    def test_streamed_text_equals_the_answer(self):
        # The stream sent "é" once its two byte tokens had come, but a third byte token made the run
        # invalid, and the answer's text (the whole run decoded) had three replacement characters there:
        # the streamed text was not the answer's. A byte run's text is held back until it is settled.
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "bf")
            vocab = byte_fallback_model(folder)
            server = Server(model=folder)
            try:
                # Only the two bytes of "é" (runs of them, mostly invalid), and those with a word between runs.
                bytes_only = {str(vocab["<0xC3>"]): 100, str(vocab["<0xA9>"]): 100}
                mismatches = []
                for seed, bias in [(seed, bytes_only) for seed in range(6)] + [(seed, {**bytes_only, str(vocab["\u2581w300"]): 98})
                                                                               for seed in range(6)]:
                    fields = {"model": "bf", "prompt": [5, 6, 7], "max_tokens": 16, "ignore_eos": True, "logit_bias": bias,
                              "seed": seed, "temperature": 1.5}
                    status, whole = server.post("/v1/completions", fields)
                    self.assertEqual(status, 200, whole)
                    events = stream(server, fields)
                    if streamed_text(events) != whole["choices"][0]["text"]:
                        mismatches.append((seed, streamed_text(events), whole["choices"][0]["text"]))
                    # A stop string of a replacement character matches only one that stays in the text.
                    for streamed in (False, True):
                        stopped = {**fields, "stop": ["\ufffd"]}
                        text = whole["choices"][0]["text"]
                        got = streamed_text(stream(server, stopped)) if streamed else server.post("/v1/completions", stopped)[1]["choices"][0]["text"]
                        self.assertEqual(got, text[:text.find("\ufffd")] if "\ufffd" in text else text, (seed, streamed))
                self.assertEqual(mismatches, [])
            finally:
                self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
