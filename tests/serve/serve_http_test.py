#!/usr/bin/env python3
# `rslora serve` as a client sees it: the server is started on a free localhost port and driven with
# http.client. Completions and chat completions equal `rslora generate` for the same adapter and
# seed; streaming gives the same text; concurrent requests on different adapters; adapters loaded and
# unloaded at runtime; every bad request gets a 4xx with an OpenAI-style error and the server keeps
# answering; SIGTERM ends a running stream and the process exits 0.
# Usage: serve_http_test.py RSLORA_CLI MODEL_DIR
import fcntl
import http.client
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

CLI, MODEL = sys.argv[1], sys.argv[2]
KEY = "sk-test-123"
MAX_TOKENS = 5000


def write_adapter(folder, seed, rank, targets, sigma=0.05):
    """A PEFT LoRA folder for the demo model with random A and B (B non-zero, so it changes the output)."""
    with open(os.path.join(MODEL, "config.json")) as f:
        config = json.load(f)
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    head_dim = config["head_dim"]
    shapes = {"q_proj": (hidden, config["num_attention_heads"] * head_dim),
              "k_proj": (hidden, config["num_key_value_heads"] * head_dim),
              "v_proj": (hidden, config["num_key_value_heads"] * head_dim),
              "o_proj": (config["num_attention_heads"] * head_dim, hidden),
              "gate_proj": (hidden, inter), "up_proj": (hidden, inter), "down_proj": (inter, hidden)}
    rng = random.Random(seed)
    tensors = {}
    for layer in range(config["num_hidden_layers"]):
        for t in targets:
            d_in, d_out = shapes[t]
            group = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            prefix = f"base_model.model.model.layers.{layer}.{group}.{t}"
            tensors[prefix + ".lora_A.weight"] = ([rank, d_in], [rng.gauss(0, 0.1) for _ in range(rank * d_in)])
            tensors[prefix + ".lora_B.weight"] = ([d_out, rank], [rng.gauss(0, sigma) for _ in range(d_out * rank)])
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (shape, values) in tensors.items():
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(folder)
    with open(os.path.join(folder, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": targets, "use_rslora": False,
                   "bias": "none", "lora_dropout": 0.0, "task_type": "CAUSAL_LM", "base_model_name_or_path": MODEL}, f)


class Server:
    def __init__(self, *args, model=MODEL, preexec_fn=None):
        self.proc = subprocess.Popen([CLI, "serve", model, "--port", "0", "--quiet", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        line = self.proc.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            raise RuntimeError("the server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])

    def request(self, method, path, body=None, key=KEY, raw=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        return resp.status, text

    def raw(self, data):
        """Sends `data` as it is on a new connection; returns the status and the body of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(data)
            reply = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                reply += piece
                head, sep, rest = reply.partition(b"\r\n\r\n")
                length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
                if sep and length and len(rest) >= length[0]:
                    break
        head, _, rest = reply.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(rest.decode())

    def post(self, path, body, **kw):
        status, text = self.request("POST", path, body, **kw)
        return status, (json.loads(text) if text and not text.startswith("data:") else text)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


def cli_generate(prompt, adapter=None, chat=False, **options):
    cmd = [CLI, "generate", MODEL, "--prompt", prompt, "--json"]
    if adapter:
        cmd += ["--adapter", adapter]
    if chat:
        cmd.append("--chat")
    for k, v in options.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["rows"][0]


def sse_events(text):
    events = [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]", "the stream does not end with data: [DONE]: " + text[-200:]
    return [json.loads(e) for e in events[:-1]]


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.a = os.path.join(cls.tmp.name, "a")
        cls.b = os.path.join(cls.tmp.name, "b")
        write_adapter(cls.a, 1, 4, ["q_proj", "v_proj", "up_proj"])
        write_adapter(cls.b, 2, 8, ["q_proj", "k_proj", "o_proj", "down_proj"])
        cls.server = Server("--adapter", "a=" + cls.a, "--adapter", "b=" + cls.b, "--api-key", KEY,
                            "--served-model-name", "demo", "--max-tokens", str(MAX_TOKENS), "--max-prompt-tokens", "60",
                            "--max-body-bytes", "4000", "--max-concurrent", "3", "--max-model-len", "100000")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def complete(self, model, prompt, **fields):
        status, body = self.server.post("/v1/completions", {"model": model, "prompt": prompt, **fields})
        self.assertEqual(status, 200, body)
        return body

    def assertApiError(self, status, body, expected_status, param=None, code=None):
        self.assertEqual(status, expected_status, body)
        if isinstance(body, str):
            body = json.loads(body)
        err = body["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        self.assertTrue(err["message"])
        if param is not None:
            self.assertEqual(err["param"], param, err)
        if code is not None:
            self.assertEqual(err["code"], code, err)

    def test_models_lists_base_and_adapters(self):
        status, text = self.server.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        listed = json.loads(text)["data"]
        self.assertEqual([m["id"] for m in listed], ["demo", "a", "b"])
        # OpenAI's "retrieve model" (GET /v1/models/{model}) answers each entry of the list; it was a 404
        # "no such route" before.
        for entry in listed:
            status, text = self.server.request("GET", "/v1/models/" + entry["id"])
            self.assertEqual((status, json.loads(text)), (200, entry))
        self.assertApiError(*self.server.request("GET", "/v1/models/nope"), 404, "model", "model_not_found")
        self.assertApiError(*self.server.request("POST", "/v1/models/a", {}), 405)

    def test_completions_equal_rslora_generate(self):
        prompt = "The river"
        for adapter, folder in (("a", self.a), ("b", self.b), ("demo", None)):
            ref = cli_generate(prompt, folder, max_new_tokens=12)
            body = self.complete(adapter, prompt, max_tokens=12, temperature=0)
            self.assertEqual(body["choices"][0]["text"], ref["text"], adapter)
            self.assertEqual(body["object"], "text_completion")
            self.assertEqual(body["model"], adapter)
            usage = body["usage"]
            self.assertEqual(usage["prompt_tokens"], len(ref["prompt_ids"]))
            self.assertEqual(usage["completion_tokens"], len(ref["new_ids"]))
            self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
            self.assertEqual(body["choices"][0]["finish_reason"], "length" if ref["finish_reason"] == "length" else "stop")
        # Sampled with a seed.
        ref = cli_generate(prompt, self.a, max_new_tokens=12, temperature=0.9, top_k=40, top_p=0.95, seed=5)
        body = self.complete("a", prompt, max_tokens=12, temperature=0.9, top_k=40, top_p=0.95, seed=5)
        self.assertEqual(body["choices"][0]["text"], ref["text"])
        # The adapters change the text, so the equalities above are not vacuous.
        texts = {m: self.complete(m, prompt, max_tokens=12, temperature=0)["choices"][0]["text"] for m in ("a", "b", "demo")}
        self.assertEqual(len(set(texts.values())), 3, texts)

    def test_chat_completions_equal_rslora_generate_chat(self):
        ref = cli_generate("Tell me about cats", self.b, chat=True, max_new_tokens=16)
        status, body = self.server.post("/v1/chat/completions", {
            "model": "b", "messages": [{"role": "user", "content": "Tell me about cats"}], "max_tokens": 16, "temperature": 0})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["choices"][0]["message"], {"role": "assistant", "content": ref["text"]})
        self.assertEqual(body["usage"]["prompt_tokens"], len(ref["prompt_ids"]))

    def test_streaming_gives_the_same_text(self):
        body = self.complete("a", "Once upon", max_tokens=20, temperature=0)
        status, text = self.server.request("POST", "/v1/completions", {
            "model": "a", "prompt": "Once upon", "max_tokens": 20, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}})
        self.assertEqual(status, 200)
        events = sse_events(text)
        streamed = "".join(c["text"] for e in events for c in e["choices"])
        self.assertEqual(streamed, body["choices"][0]["text"])
        self.assertEqual([c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]],
                         [body["choices"][0]["finish_reason"]])
        self.assertEqual(events[-1]["usage"], body["usage"])
        self.assertEqual(events[-1]["choices"], [])
        # With include_usage every other chunk has "usage": null, as OpenAI's reference has it.
        self.assertEqual([e.get("usage", "absent") for e in events[:-1]], [None] * (len(events) - 1))
        # Chat: a role delta first, then content deltas.
        req = {"model": "b", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16, "temperature": 0}
        status, chat = self.server.post("/v1/chat/completions", req)
        status, text = self.server.request("POST", "/v1/chat/completions", {**req, "stream": True})
        events = sse_events(text)
        self.assertEqual(events[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertFalse(any("usage" in e for e in events), "no include_usage, no usage field")
        self.assertTrue(all(e["object"] == "chat.completion.chunk" for e in events))
        streamed = "".join(c["delta"].get("content", "") for e in events for c in e["choices"])
        self.assertEqual(streamed, chat["choices"][0]["message"]["content"])

    def test_a_stream_to_an_http_1_0_client_is_not_chunked(self):
        # HTTP/1.0 has no chunked transfer coding (RFC 9112 §6.1): the stream was sent chunked, and such a
        # client read the chunk sizes as part of the events. The stream now ends with the connection.
        req = {"model": "a", "prompt": "Once upon", "max_tokens": 12, "temperature": 0}
        whole = self.complete("a", "Once upon", max_tokens=12, temperature=0)["choices"][0]["text"]
        body = json.dumps({**req, "stream": True}).encode()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=60) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.0\r\nAuthorization: Bearer " + KEY.encode() +
                         b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            reply = read_until_close(sock)
        head, _, rest = reply.decode().partition("\r\n\r\n")
        self.assertIn(" 200 ", head.split("\r\n")[0])
        fields = {line.split(":")[0].lower(): line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]}
        self.assertNotIn("transfer-encoding", fields, head)
        self.assertEqual(fields.get("connection"), "close", head)
        self.assertTrue(rest.startswith("data: {"), rest[:80])
        self.assertEqual("".join(c["text"] for e in sse_events(rest) for c in e["choices"]), whole)

    def test_a_half_closed_client_gets_the_end_of_its_stream(self):
        # A client that shuts down only its sending side still reads. Its generation is cancelled, as
        # for a client that hung up, but the stream ends properly (finish_reason "abort", [DONE]); it
        # was cut off without its end, while a non-streamed answer was written whole.
        body = json.dumps({"model": "a", "prompt": "Hi", "max_tokens": 4000, "ignore_eos": True, "stream": True,
                           "stop": "z" * 3000}).encode()  # the text is held back: nothing is written until the end
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=60) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                         b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            sock.shutdown(socket.SHUT_WR)
            reply = read_until_close(sock)
        head, _, rest = reply.decode().partition("\r\n\r\n")
        self.assertIn(" 200 ", head.split("\r\n")[0])
        # Each event is one chunk, so the chunk sizes are lines of their own.
        events = sse_events(rest)
        self.assertEqual([c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]], ["abort"])
        self.assertTrue(rest.endswith("0\r\n\r\n"), rest[-40:])

    def test_the_prompts_of_an_unseeded_request_are_sampled_independently(self):
        # One seed was drawn per request before, so every choice for the same prompt was the same text.
        fields = {"max_tokens": 24, "temperature": 1.0, "ignore_eos": True}
        texts = [c["text"] for c in self.complete("a", ["Once upon"] * 3, **fields)["choices"]]
        self.assertGreater(len(set(texts)), 1, texts)
        # With a seed, each prompt is drawn as alone with that seed.
        alone = self.complete("a", "Once upon", seed=11, **fields)["choices"][0]["text"]
        texts = [c["text"] for c in self.complete("a", ["Once upon"] * 3, seed=11, **fields)["choices"]]
        self.assertEqual(texts, [alone] * 3)

    def test_a_finished_stream_has_given_back_its_place_and_adapter(self):
        # A client that has read a stream's [DONE] may use all three places (--max-concurrent) at once,
        # or unload the stream's adapter, at once: a 429 or a 409 came back now and then before.
        for i in range(40):
            status, text = self.server.request("POST", "/v1/completions", {"model": "a", "prompt": "Hi", "max_tokens": 3, "stream": True})
            self.assertEqual(status, 200, text)
            sse_events(text)
            self.assertEqual(len(self.complete("a", ["Hi"] * 3, max_tokens=1)["choices"]), 3, i)
        for i in range(40):
            status, body = self.server.post("/v1/load_lora_adapter", {"lora_name": "brief", "lora_path": self.a})
            self.assertEqual(status, 200, body)
            status, text = self.server.request("POST", "/v1/completions", {"model": "brief", "prompt": "Hi", "max_tokens": 3, "stream": True})
            sse_events(text)
            status, body = self.server.post("/v1/unload_lora_adapter", {"lora_name": "brief"})
            self.assertEqual(status, 200, (i, body))

    def test_stop_strings(self):
        full = self.complete("a", "The river", max_tokens=20, temperature=0)["choices"][0]["text"]
        stop = full[len(full) // 2:len(full) // 2 + 2]
        body = self.complete("a", "The river", max_tokens=20, temperature=0, stop=[stop])
        self.assertEqual(body["choices"][0]["text"], full[:full.find(stop)])
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        self.assertEqual(body["choices"][0]["stop_reason"], stop)
        # Streamed, the last chunk names the stop string too (vLLM's stop_reason); it did not before.
        status, text = self.server.request("POST", "/v1/completions", {
            "model": "a", "prompt": "The river", "max_tokens": 20, "temperature": 0, "stop": ["zzzz", stop], "stream": True})
        self.assertEqual(status, 200, text)
        last = [c for e in sse_events(text) for c in e["choices"] if c["finish_reason"]]
        self.assertEqual([(c["finish_reason"], c.get("stop_reason")) for c in last], [("stop", stop)])
        # An empty stop string matches before any text: refused as vLLM does (it was accepted and ignored).
        for empty in ("", ["zzzz", ""]):
            status, body = self.server.post("/v1/completions", {"model": "a", "prompt": "The river", "max_tokens": 4, "stop": empty})
            self.assertApiError(status, body, 400, "stop")
            self.assertIn("empty string", body["error"]["message"])

    def test_concurrent_requests_on_different_adapters(self):
        prompts = ["The river", "Once upon", "Hello there", "A cat"]
        models = ["a", "b", "demo", "a", "b", "demo"]
        expected = {(m, p): self.complete(m, p, max_tokens=10, temperature=0)["choices"][0]["text"]
                    for m in set(models) for p in prompts}
        results, errors = {}, []

        def worker(i):
            try:
                m, p = models[i], prompts[i % len(prompts)]
                results[i] = (m, p, self.complete(m, p, max_tokens=10, temperature=0)["choices"][0]["text"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        for start in range(0, len(models), 3):  # three at a time: the server's --max-concurrent
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(start, min(start + 3, len(models)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        for m, p, text in results.values():
            self.assertEqual(text, expected[(m, p)], (m, p))

    def test_load_and_unload_at_runtime(self):
        status, body = self.server.post("/v1/load_lora_adapter", {"lora_name": "again", "lora_path": self.a})
        self.assertEqual(status, 200, body)
        _, models = self.server.request("GET", "/v1/models")
        self.assertIn("again", [m["id"] for m in json.loads(models)["data"]])
        self.assertEqual(self.complete("again", "Hello", max_tokens=8, temperature=0)["choices"],
                         self.complete("a", "Hello", max_tokens=8, temperature=0)["choices"])
        self.assertApiError(*self.server.post("/v1/load_lora_adapter", {"lora_name": "again", "lora_path": self.a}), 400, "lora_name")
        status, body = self.server.post("/v1/unload_lora_adapter", {"lora_name": "again"})
        self.assertEqual(status, 200, body)
        self.assertApiError(*self.server.post("/v1/completions", {"model": "again", "prompt": "x"}), 404, "model", "model_not_found")
        self.assertApiError(*self.server.post("/v1/unload_lora_adapter", {"lora_name": "again"}), 404, "lora_name")

    def test_bad_requests_get_openai_errors(self):
        s = self.server
        ok = {"model": "a", "prompt": "Hi", "max_tokens": 2}
        cases = [
            ("malformed JSON", s.request("POST", "/v1/completions", raw='{"model": "a", "prompt": '), 400, None),
            ("not an object", s.request("POST", "/v1/completions", raw='[1, 2]'), 400, None),
            ("unknown model", s.post("/v1/completions", {**ok, "model": "nope"}), 404, "model"),
            ("missing model", s.post("/v1/completions", {"prompt": "Hi"}), 400, "model"),
            ("model not a string", s.post("/v1/completions", {**ok, "model": 3}), 400, "model"),
            ("missing prompt", s.post("/v1/completions", {"model": "a"}), 400, "prompt"),
            ("prompt wrong type", s.post("/v1/completions", {**ok, "prompt": {"x": 1}}), 400, "prompt"),
            ("token id out of range", s.post("/v1/completions", {**ok, "prompt": [1, 99999]}), 400, "prompt"),
            ("missing messages", s.post("/v1/chat/completions", {"model": "a"}), 400, "messages"),
            ("messages wrong type", s.post("/v1/chat/completions", {"model": "a", "messages": "hi"}), 400, "messages"),
            ("message without role", s.post("/v1/chat/completions", {"model": "a", "messages": [{"content": "hi"}]}), 400, "messages[0].role"),
            ("max_tokens wrong type", s.post("/v1/completions", {**ok, "max_tokens": "many"}), 400, "max_tokens"),
            ("max_tokens over the limit", s.post("/v1/completions", {**ok, "max_tokens": MAX_TOKENS + 1}), 400, "max_tokens"),
            ("max_tokens zero", s.post("/v1/completions", {**ok, "max_tokens": 0}), 400, "max_tokens"),
            ("temperature wrong type", s.post("/v1/completions", {**ok, "temperature": "hot"}), 400, "temperature"),
            ("temperature out of range", s.post("/v1/completions", {**ok, "temperature": -1}), 400, "temperature"),
            ("top_p zero", s.post("/v1/completions", {**ok, "top_p": 0}), 400, "top_p"),
            ("stop wrong type", s.post("/v1/completions", {**ok, "stop": 5}), 400, "stop"),
            ("stream wrong type", s.post("/v1/completions", {**ok, "stream": "yes"}), 400, "stream"),
            ("n = 2", s.post("/v1/completions", {**ok, "n": 2}), 400, "n"),
            ("prompt over the limit", s.post("/v1/completions", {**ok, "prompt": list(range(1, 80))}), 400, "prompt"),
            ("body over the limit", s.request("POST", "/v1/completions", {**ok, "prompt": "x" * 5000}), 413, None),
            ("missing key", s.request("GET", "/v1/models", key=None), 401, None),
            ("wrong key", s.request("GET", "/v1/models", key="sk-wrong"), 401, None),
            ("unknown route", s.request("GET", "/v1/nothing"), 404, None),
            ("wrong method", s.request("GET", "/v1/completions"), 405, None),
            ("wrong method on models", s.request("POST", "/v1/models", {}), 405, None),
            # OPTIONS on a route was a 404 "no such route" before.
            ("OPTIONS", s.request("OPTIONS", "/v1/chat/completions"), 405, None),
            ("load without path", s.post("/v1/load_lora_adapter", {"lora_name": "x"}), 400, "lora_path"),
            ("load a missing folder", s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/nonexistent/adapter"}), 400, "lora_path"),
            # A path the file system refuses (too long) was a 500 "internal error" before.
            ("load a path too long", s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/" + "x" * 3000}), 400, "lora_path"),
            ("unload without name", s.post("/v1/unload_lora_adapter", {}), 400, "lora_name"),
        ]
        for name, (status, body), expected, param in cases:
            with self.subTest(name):
                self.assertApiError(status, body, expected, param)
        # Bodies whose size --max-body-bytes cannot bound are refused before they are read; an early
        # answer closes the connection, so the unread body is never read as the next request.
        auth = ("Authorization: Bearer " + KEY + "\r\n").encode()
        chunked = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n"
        self.assertApiError(*s.raw(chunked), 411, code="length_required")
        self.assertApiError(*s.raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n{}"), 411, code="length_required")
        gzipped = json.dumps(ok).encode()
        self.assertApiError(*s.request("POST", "/v1/completions", raw=gzipped, headers={"Content-Encoding": "gzip"}), 415,
                            code="unsupported_encoding")
        # A form body was read as an empty JSON body before ("unexpected end of input" at column 1).
        form = b"--xx\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\na\r\n--xx--\r\n"
        self.assertApiError(*s.request("POST", "/v1/completions", raw=form, headers={"Content-Type": "multipart/form-data; boundary=xx"}),
                            415, code="unsupported_media_type")
        # A folder that is not there is named as the request gave it, not as a command-line option.
        status, body = s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/nonexistent/adapter"})
        self.assertIn("'lora_path': '/nonexistent/adapter': no such folder", body["error"]["message"])
        self.assertNotIn("--adapter", body["error"]["message"])
        # A file, or a link to nothing, was "no such folder and no stored version of that name".
        config = os.path.join(self.a, "adapter_config.json")
        status, body = s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": config})
        self.assertApiError(status, body, 400, "lora_path")
        self.assertIn("'" + config + "' is a file, not an adapter folder; give the folder that holds it, " + self.a,
                      body["error"]["message"])
        dangling = os.path.join(self.tmp.name, "gone")
        if not os.path.islink(dangling):
            os.symlink(os.path.join(self.tmp.name, "nothing-here"), dangling)
        status, body = s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": dangling + ":0.5"})
        self.assertApiError(status, body, 400, "lora_path")
        self.assertIn("is a symbolic link to " + os.path.join(self.tmp.name, "nothing-here") + ", which does not exist",
                      body["error"]["message"])
        # A NUL in lora_path (JSON's \u0000) would have the system read the path only up to it: refused,
        # and the message quotes the path whole (an error message ended at a client's NUL before).
        status, body = s.post("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": self.a + "\u0000/elsewhere"})
        self.assertApiError(status, body, 400, "lora_path")
        self.assertIn("/elsewhere", body["error"]["message"])
        self.assertIn("NUL", body["error"]["message"])
        status, body = s.post("/v1/completions", {**ok, "model": "a\u0000b"})
        self.assertApiError(status, body, 404, "model")
        self.assertIn("'a\u0000b' does not exist", body["error"]["message"])
        # A path that is not UTF-8 ended the server before (the error message could not be written).
        self.assertApiError(*s.request("GET", "/%FF%FE"), 404)
        # Nesting is bounded (a value thousands of levels deep overflowed the stack when quoted).
        deep = '{"model": "a", "prompt": [1, ' + "[" * 1000 + "]" * 1000 + "]}"
        status, body = s.request("POST", "/v1/completions", raw=deep)
        self.assertApiError(status, body, 400)
        self.assertIn("more than 64 levels deep", body)
        # Each prompt of a request is a generation counted against --max-concurrent (3).
        self.assertApiError(*s.post("/v1/completions", {**ok, "prompt": [[1], [2], [3], [4]]}), 400, "prompt")
        self.assertEqual(len(self.complete("a", [[1], [2], [3]], max_tokens=2)["choices"]), 3)
        # Prompt length over the limit is reported as OpenAI does.
        self.assertApiError(*s.post("/v1/completions", {**ok, "prompt": list(range(1, 80))}), 400, "prompt", "context_length_exceeded")
        # Still serving.
        self.assertEqual(self.complete("a", "Hi", max_tokens=2)["object"], "text_completion")
        self.assertEqual(s.request("GET", "/v1/models")[0], 200)

    def test_http_details(self):
        s = self.server
        # The bearer scheme is case-insensitive and may be followed by several spaces (RFC 7235).
        for auth in ("bearer " + KEY, "BEARER " + KEY, "Bearer   " + KEY):
            with self.subTest(auth):
                self.assertEqual(s.request("GET", "/v1/models", key=None, headers={"Authorization": auth})[0], 200)
        self.assertApiError(*s.request("GET", "/v1/models", key=None, headers={"Authorization": "Basic " + KEY}), 401)
        # /health answers without the key (a load balancer's probe has none); nothing else does.
        self.assertEqual(s.request("GET", "/health", key=None), (200, "{}"))
        self.assertApiError(*s.request("GET", "/v1/models", key=None), 401)
        # A malformed Content-Length is a 400 naming the header, an oversize one a 413, both at once
        # (before: a 413 "larger than the limit" even for -5, after the read timed out, ~7 s).
        auth = ("Authorization: Bearer " + KEY + "\r\n").encode()
        for length, status in ((b"-5", 400), (b"12abc", 400), (b"99999999999", 413), (b"123456789012345678901234567890", 413)):
            with self.subTest(length):
                start = time.monotonic()
                answer = s.raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: " + length + b"\r\n\r\n{}")
                self.assertLess(time.monotonic() - start, 4)  # not after the read's timeout (5 s)
                self.assertApiError(*answer, status, "Content-Length")
        # A request target over httplib's limit said only "HTTP error 414" before.
        status, body = s.raw(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
        self.assertApiError(status, body, 414)
        self.assertIn("request target (path and query) is longer than the server accepts", body["error"]["message"])
        # A header line over httplib's 8192 bytes was a 400 "not valid HTTP".
        status, body = s.raw(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + auth + b"X-Big: " + b"a" * 10000 + b"\r\n\r\n")
        self.assertApiError(status, body, 431, code="header_fields_too_large")
        self.assertIn("the header field 'X-Big' is 10009 bytes long", body["error"]["message"])
        # Syntactically invalid HTTP gets the same JSON error shape, with a message that says so.
        status, body = s.raw(b"GARBAGE\r\n\r\n")
        self.assertApiError(status, body, 400)
        self.assertIn("not valid HTTP", body["error"]["message"])
        # logit_bias and min_tokens are honoured; fields that cannot be are refused, naming them.
        plain = self.complete("a", "Hi", max_tokens=4, temperature=0)["choices"][0]["text"]
        biased = self.complete("a", "Hi", max_tokens=4, temperature=0, logit_bias={"42": 100})["choices"][0]["text"]
        self.assertNotEqual(biased, plain)
        self.assertEqual(self.complete("a", "Hi", max_tokens=4, temperature=0, min_tokens=4)["usage"]["completion_tokens"], 4)
        ok = {"model": "a", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
        for field, value in (("tools", [{"type": "function", "function": {"name": "f"}}]), ("tool_choice", "auto"),
                             ("response_format", {"type": "json_object"}), ("logit_bias", {"42": 101})):
            with self.subTest(field):
                status, body = s.post("/v1/chat/completions", {**ok, field: value})
                self.assertApiError(status, body, 400)
                self.assertTrue(body["error"]["param"].startswith(field), body)
        for field, value in (("best_of", 2), ("suffix", "end")):
            with self.subTest(field):
                self.assertApiError(*s.post("/v1/completions", {"model": "a", "prompt": "Hi", field: value}), 400, field)

    def test_too_many_concurrent_requests(self):
        # Three long streams hold the three places; a fourth request is refused with 429; closing the
        # streams cancels them and the server answers again.
        conns = []
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
            c.request("POST", "/v1/completions", body=json.dumps({
                "model": "a", "prompt": "Hi", "max_tokens": MAX_TOKENS, "ignore_eos": True, "stream": True}),
                headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.readline()  # the first event: the stream is running
            conns.append((c, r))
        self.assertApiError(*self.server.post("/v1/completions", {"model": "a", "prompt": "Hi", "max_tokens": 2}), 429)
        for c, r in conns:
            c.close()
        for _ in range(200):
            status, body = self.server.post("/v1/completions", {"model": "a", "prompt": "Hi", "max_tokens": 2})
            if status == 200:
                break
            time.sleep(0.05)  # the closed streams are being cancelled
        self.assertEqual(status, 200, body)


def open_stream(server, model):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    c.request("POST", "/v1/completions", body=json.dumps({
        "model": model, "prompt": "Hi", "max_tokens": 100000, "ignore_eos": True, "stream": True}),
        headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return c, r


class LimitsTest(unittest.TestCase):
    def test_an_adapter_a_waiting_request_uses_is_not_unloaded(self):
        # One row: the base model's stream holds it, the adapter's request waits for it. Unloading
        # the adapter then succeeded before, and the waiting request failed when it got its row.
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "x")
            write_adapter(folder, 3, 4, ["q_proj", "v_proj"])
            server = Server("--adapter", "x=" + folder, "--max-batch", "1", "--max-tokens", "100000", "--max-model-len", "200000")
            try:
                c1, r1 = open_stream(server, os.path.basename(MODEL))
                self.assertEqual(r1.status, 200)
                r1.readline()  # running: the only row is taken
                c2, r2 = open_stream(server, "x")
                self.assertEqual(r2.status, 200)
                status, body = server.post("/v1/unload_lora_adapter", {"lora_name": "x"})
                self.assertEqual(status, 409, body)
                self.assertEqual(body["error"]["code"], "adapter_in_use")
                c1.close()
                c2.close()
                for _ in range(400):  # the closed streams are being cancelled
                    status, body = server.post("/v1/unload_lora_adapter", {"lora_name": "x"})
                    if status == 200:
                        break
                    time.sleep(0.05)
                self.assertEqual(status, 200, body)
            finally:
                self.assertEqual(server.stop(), 0)

    def test_prompt_and_new_tokens_fit_the_models_context(self):
        # The demo model's max_position_embeddings is 256.
        server = Server("--max-tokens", "1000")
        try:
            base = os.path.basename(MODEL)
            status, body = server.post("/v1/completions", {"model": base, "prompt": "Hi", "max_tokens": 300})
            self.assertEqual(status, 400, body)
            self.assertEqual((body["error"]["param"], body["error"]["code"]), ("max_tokens", "context_length_exceeded"))
            self.assertIn("context of 256 tokens", body["error"]["message"])
            # Without max_tokens a chat gets the room left, and stops there.
            status, body = server.post("/v1/chat/completions", {"model": base, "messages": [{"role": "user", "content": "Hi"}],
                                                                "ignore_eos": True, "temperature": 0})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["usage"]["total_tokens"], 256)
            self.assertEqual(body["choices"][0]["finish_reason"], "length")
            # Each prompt of a request gets the room it leaves (245 tokens leave 11, 100 leave more than
            # the default 16): the short prompt was held to the long one's 11 before.
            status, body = server.post("/v1/completions", {"model": base, "prompt": [[5] * 245, [5] * 100], "ignore_eos": True,
                                                           "temperature": 0})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["usage"]["prompt_tokens"], 345)
            self.assertEqual(body["usage"]["completion_tokens"], 11 + 16)
            self.assertEqual([c["finish_reason"] for c in body["choices"]], ["length", "length"])
        finally:
            self.assertEqual(server.stop(), 0)


class FormBodyTest(unittest.TestCase):
    def test_a_url_encoded_form_is_refused_whatever_its_size(self):
        # The type curl -d sends without -H: a JSON body under it was read as JSON up to 8 KiB and refused
        # above that as a 413 "larger than the server's limit (--max-body-bytes)" of 1 MiB.
        server = Server()
        try:
            for size in (100, 9000):
                body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 1, "user": "x" * size})
                status, text = server.request("POST", "/v1/completions", raw=body,
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
                self.assertEqual(status, 415, text)
                error = json.loads(text)["error"]
                self.assertEqual(error["code"], "unsupported_media_type")
                self.assertIn("send the request as a JSON object (Content-Type: application/json)", error["message"])
            status, text = server.request("POST", "/v1/completions", raw=body)
            self.assertEqual(status, 200, text)
        finally:
            self.assertEqual(server.stop(), 0)


class EngineErrorTest(unittest.TestCase):
    def test_an_engine_error_quoting_a_nul_reaches_the_client_whole(self):
        # Errors of the chat template and of a generation are the engine's (rslora::Error), read through
        # what(), a C string: a client's NUL (\u0000) quoted in one cut the message short at it.
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "strict-roles")
            os.makedirs(folder)
            for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
                os.symlink(os.path.join(os.path.abspath(MODEL), name), os.path.join(folder, name))
            with open(os.path.join(MODEL, "tokenizer_config.json")) as f:
                config = json.load(f)
            config["chat_template"] = ("{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}"
                                       "{{ raise_exception('Unknown role: ' + message['role'] + '. Use user or assistant.') }}"
                                       "{% endif %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|eos|>\n{% endfor %}"
                                       "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
            with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
                json.dump(config, f)
            write_adapter(os.path.join(tmp, "poison"), 4, 4,
                          ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], sigma=1e30)
            server = Server("--served-model-name", "strict", model=folder)
            try:
                status, body = server.post("/v1/chat/completions", {"model": "strict", "messages": [{"role": "nar\u0000rator", "content": "Hi"}]})
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["param"], "messages")
                self.assertTrue(body["error"]["message"].endswith("Unknown role: nar\u0000rator. Use user or assistant."), body)
                # A generation's error names the request's adapters, whose name may hold a NUL.
                status, body = server.post("/v1/load_lora_adapter", {"lora_name": "poi\u0000son", "lora_path": os.path.join(tmp, "poison")})
                self.assertEqual(status, 200, body)
                status, body = server.post("/v1/completions", {"model": "poi\u0000son", "prompt": "Hi", "max_tokens": 4})
                self.assertEqual(status, 500, body)
                self.assertIn("hold NaN", body["error"]["message"])
                self.assertTrue(body["error"]["message"].endswith("[the request's adapters: 'poi\u0000son']"), body)
            finally:
                self.assertEqual(server.stop(), 0)


def server_send_queue(server_port, client_port):
    """Bytes the server's socket of a loopback connection has queued and not had acknowledged (/proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":"), fields[2].split(":")
            if int(local[1], 16) == server_port and int(remote[1], 16) == client_port:
                return int(fields[4].split(":")[0], 16)
    return 0


def read_stream_after_a_pause(server, pause):
    """Starts a long stream from a client whose socket buffers are small, waits until the server's
    writes stall (the client's receive buffer stops filling), reads nothing for `pause` seconds more,
    then reads the rest; returns the answer as received (chunk sizes included)."""
    body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 1000, "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer and segment size keep the server's send buffer small too.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(120)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        # The server's writes wait once its send queue holds a good amount that no longer moves (the client's
        # window is closed) and the client's receive buffer no longer fills, for two seconds.
        client_port = sock.getsockname()[1]
        state, since = None, time.monotonic()
        while state is None or state[0] < 8192 or time.monotonic() - since < 2.0:
            now = (server_send_queue(server.port, client_port),
                   struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])
            if now != state:
                state, since = now, time.monotonic()
            time.sleep(0.05)
        time.sleep(pause)
        reply = b""
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            reply += piece
            if reply.endswith(b"\r\n0\r\n\r\n"):
                break
    return reply.decode(errors="replace")


class SlowReaderTest(unittest.TestCase):
    def test_a_stream_waits_for_a_client_that_pauses_reading(self):
        # A client that stopped reading for more than 5 s (cpp-httplib's write timeout) had its stream
        # cut off once the socket buffers were full, as if it had gone; it is alive, and vLLM (uvicorn)
        # keeps writing to it. The stream now waits for it (--stream-write-timeout, 60 s by default).
        server = Server("--max-tokens", "100000", "--max-model-len", "200000")
        try:
            reply = read_stream_after_a_pause(server, 6.5)
            self.assertIn(" 200 ", reply.split("\r\n")[0])
            events = sse_events(reply.partition("\r\n\r\n")[2])
            self.assertEqual([c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]], ["length"])
            self.assertEqual(events[-1]["usage"]["completion_tokens"], 1000)
        finally:
            self.assertEqual(server.stop(), 0)
        # The buffers do fill within the pause: with a one-second --stream-write-timeout the stream is cut.
        server = Server("--max-tokens", "100000", "--max-model-len", "200000", "--stream-write-timeout", "1")
        try:
            reply = read_stream_after_a_pause(server, 3)
            self.assertIn(" 200 ", reply.split("\r\n")[0])
            self.assertNotIn("[DONE]", reply)
            status, body = server.post("/v1/completions", {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 2})
            self.assertEqual(status, 200, body)
        finally:
            self.assertEqual(server.stop(), 0)


class TricklingReaderTest(unittest.TestCase):
    def test_a_client_that_reads_slowly_keeps_its_stream(self):
        # The stream's timeout counts from the client's last byte taken: a client that takes a few bytes
        # every 0.4 s, for far longer than the timeout, is served to the end.
        server = Server("--stream-write-timeout", "2", "--max-tokens", "100000", "--max-model-len", "200000")
        try:
            body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 120, "ignore_eos": True,
                               "stream": True, "stream_options": {"include_usage": True}}).encode()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            sock.settimeout(60)
            sock.connect(("127.0.0.1", server.port))
            start, reply = time.monotonic(), b""
            with sock:
                sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                while not reply.endswith(b"\r\n0\r\n\r\n"):
                    piece = sock.recv(2048)
                    if not piece:
                        break
                    reply += piece
                    time.sleep(0.4)
            self.assertGreater(time.monotonic() - start, 4)  # twice the timeout, at least
            self.assertIn(b"[DONE]", reply)
            events = sse_events(reply.decode(errors="replace").partition("\r\n\r\n")[2])
            self.assertEqual(events[-1]["usage"]["completion_tokens"], 120)
        finally:
            self.assertEqual(server.stop(), 0)


class NeverReadingClientTest(unittest.TestCase):
    def test_a_client_that_never_reads_gives_back_its_place(self):
        # A client that sent a streaming request and never read held its --max-concurrent place for as long
        # as it kept the connection open (--stream-write-timeout was 0 by default). It is bounded now, by
        # default as nginx's send_timeout (60 s); here by 5 s, so that the place comes back within seconds
        # of the client's receive buffer filling.
        help_text = subprocess.run([CLI, "serve", "--help"], check=True, capture_output=True, text=True).stdout
        option = help_text[help_text.index("--stream-write-timeout"):]
        self.assertTrue(option[:option.index("\n")].endswith("=60"), option[:option.index("\n")])  # the default is 60 s
        server = Server("--max-concurrent", "1", "--stream-write-timeout", "5", "--max-tokens", "100000", "--max-model-len", "200000")
        try:
            body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 100000, "ignore_eos": True,
                               "stream": True}).encode()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # A small receive buffer and segment size: the client's side takes little before it is full.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            sock.settimeout(60)
            sock.connect(("127.0.0.1", server.port))
            with sock:
                sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                # The stream's head has come: it holds the only place (requests sent before could have
                # held it first, and the stream been refused). Nothing more is read.
                reply = b""
                while b"\r\n\r\n" not in reply:
                    piece = sock.recv(4096)
                    self.assertTrue(piece, reply)
                    reply += piece
                start = time.monotonic()
                self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:100])
                small = {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 1}
                status, answer = server.post("/v1/completions", small)
                self.assertEqual(status, 429, answer)
                deadline = time.monotonic() + 60
                while status == 429 and time.monotonic() < deadline:
                    time.sleep(0.25)
                    status, answer = server.post("/v1/completions", small)
                self.assertEqual(status, 200, answer)
                waited = time.monotonic() - start
                print("  the place came back after %.1f s" % waited, file=sys.stderr)
                # Counted from the client's last byte taken, not from when the server's socket buffers
                # are full: that took about 50 s more on localhost (and over a minute under load).
                self.assertLess(waited, 25)
                # The connection was closed: what the client reads ends without the stream's end.
                while True:
                    try:
                        piece = sock.recv(65536)
                    except (ConnectionResetError, socket.timeout):
                        break
                    if not piece:
                        break
                    reply += piece
                self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:100])
                self.assertNotIn(b"[DONE]", reply)
        finally:
            self.assertEqual(server.stop(), 0)


class FailureIsolationTest(unittest.TestCase):
    def test_one_requests_failure_leaves_its_batch_alone(self):
        # Nine requests at once on one batch. Before, a temperature of 1e-40 overflowed its logits and
        # the failed draw failed all nine (a stream got an error event mid-stream); a tiny temperature
        # is greedy now. An adapter whose output is NaN fails its own requests and no other.
        with tempfile.TemporaryDirectory() as tmp:
            write_adapter(os.path.join(tmp, "a"), 1, 4, ["q_proj", "v_proj", "up_proj"])
            write_adapter(os.path.join(tmp, "poison"), 4, 4,
                          ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], sigma=1e30)
            server = Server("--adapter", "a=" + os.path.join(tmp, "a"), "--adapter", "poison=" + os.path.join(tmp, "poison"),
                            "--max-concurrent", "16")
            try:
                base = os.path.basename(MODEL)
                prompts = ["The river", "Once upon", "Hello there", "A cat", "Why", "The sea", "In the morning", "She said"]
                jobs = [{"model": ("a", base)[i % 2], "prompt": p, "max_tokens": 24, "ignore_eos": True,
                         "temperature": (0.8, 0, 1e-40)[i % 3], "seed": i} for i, p in enumerate(prompts)]
                jobs.append({**jobs[2], "prompt": "Tiny", "stream": True})
                poison = [{"model": "poison", "prompt": "Hi", "max_tokens": 24, "temperature": 0.8, "seed": 1},
                          {"model": "poison", "prompt": "Hi", "max_tokens": 24, "stream": True}]

                def send(job):
                    status, text = server.request("POST", "/v1/completions", job)
                    if job.get("stream"):
                        events = sse_events(text)
                        errors = [e["error"]["message"] for e in events if "error" in e]
                        return status, "".join(c["text"] for e in events for c in e.get("choices", [])), errors
                    body = json.loads(text)
                    return status, body["choices"][0]["text"] if status == 200 else None, [body["error"]["message"]] if status != 200 else []
                alone = [send(job) for job in jobs]
                for job, (status, text, errors) in zip(jobs, alone):
                    self.assertEqual((status, errors), (200, []), job)
                # The tiny temperature is greedy.
                self.assertEqual(alone[2][1], send({**jobs[2], "temperature": 0})[1])
                results = [None] * (len(jobs) + len(poison))

                def worker(i, job):
                    results[i] = send(job)
                threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs + poison)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                for i, job in enumerate(jobs):
                    self.assertEqual(results[i], alone[i], job)
                sampled, streamed = results[len(jobs):]
                self.assertEqual(sampled[0], 500, sampled)
                self.assertIn("hold NaN", sampled[2][0])
                self.assertIn("'poison'", sampled[2][0])
                self.assertEqual(streamed[0], 200)
                self.assertEqual(len(streamed[2]), 1, streamed)
                self.assertIn("hold NaN", streamed[2][0])
                # Still serving, with the same answers.
                self.assertEqual(send(jobs[0]), alone[0])
            finally:
                self.assertEqual(server.stop(), 0)


class HangUpTest(unittest.TestCase):
    # One generation at a time: a request whose client has hung up must give its place back at once.
    # Before, a request that was not streamed ran to max_tokens (minutes here) after its client left,
    # and so did a stream while it had nothing to write (its text held back for a long stop string):
    # every other request got 429 meanwhile.
    def send_and_hang_up(self, server, fields, read_head):
        body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 100000, "ignore_eos": True, **fields})
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n" % len(body)).encode() + body.encode())
        if read_head:
            self.assertIn(b"200 OK", sock.recv(4096))
        else:
            time.sleep(0.5)  # generating
        sock.close()

    def assertServesAgainWithin(self, server, seconds):
        until = time.monotonic() + seconds
        while True:
            status, body = server.post("/v1/completions", {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 2})
            if status == 200 or time.monotonic() > until:
                break
            time.sleep(0.05)
        self.assertEqual(status, 200, body)

    def test_a_client_that_hangs_up_cancels_its_generation(self):
        server = Server("--max-concurrent", "1", "--max-tokens", "100000", "--max-model-len", "200000")
        try:
            status, body = server.post("/v1/completions", {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 2})
            self.assertEqual(status, 200, body)
            self.send_and_hang_up(server, {}, read_head=False)
            self.assertServesAgainWithin(server, 10)
            self.send_and_hang_up(server, {"stream": True, "stop": "z" * 3000}, read_head=True)
            self.assertServesAgainWithin(server, 10)
        finally:
            self.assertEqual(server.stop(), 0)


class PortTest(unittest.TestCase):
    def test_a_port_in_use_is_refused(self):
        # A second server on the port of a running one bound it too before (SO_REUSEPORT), and the
        # kernel sent it some of the first one's connections.
        first = Server("--served-model-name", "first")
        try:
            second = subprocess.run([CLI, "serve", MODEL, "--port", str(first.port), "--quiet"], capture_output=True, text=True, timeout=20)
            self.assertNotEqual(second.returncode, 0, second.stdout)
            self.assertIn("cannot listen on 127.0.0.1:%d (in use" % first.port, second.stderr)
            for _ in range(10):
                status, body = first.post("/v1/completions", {"model": "first", "prompt": "Hi", "max_tokens": 1})
                self.assertEqual(status, 200, body)
        finally:
            self.assertEqual(first.stop(), 0)


    def test_an_ipv6_address_is_bracketed_in_the_url(self):
        # "listening on http://::1:PORT/v1" was printed before: not a URL a client can use.
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
            has_ipv6 = True
        except OSError:
            has_ipv6 = False
        proc = subprocess.Popen([CLI, "serve", MODEL, "--host", "::1", "--port", "0", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if has_ipv6:
                self.assertRegex(line, r"^listening on http://\[::1\]:[0-9]+/v1 ")
                port = int(line.split("]:")[1].split("/")[0])
                conn = http.client.HTTPConnection("::1", port, timeout=30)
                conn.request("GET", "/health")
                self.assertEqual(conn.getresponse().status, 200)
                conn.close()
            else:
                self.assertEqual(line, "")
                self.assertIn("cannot listen on ::1", proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=60), 0 if has_ipv6 else 1)
            proc.stdout.close()
            proc.stderr.close()


class RequestLogTest(unittest.TestCase):
    def test_a_path_cannot_forge_log_lines(self):
        # The request log wrote a decoded path as it was: %0A began a line of the client's choosing.
        proc = subprocess.Popen([CLI, "serve", MODEL, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        port = int(proc.stdout.readline().split("127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/x%0AGET%20/v1/models%20200%1B")
        self.assertEqual(conn.getresponse().status, 404)
        conn.close()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)
        log = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self.assertIn("GET /x\\x0aGET /v1/models 200\\x1b 404\n", log)
        self.assertNotIn("\nGET /v1/models 200", log)


class TokenIdModelTest(unittest.TestCase):
    def test_stop_strings_without_a_tokenizer_name_the_field(self):
        # The demo model's weights and config without its tokenizer: prompts are token ids. A stop
        # string was refused with "param": null and a message naming no field before.
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "ids-only")
            os.makedirs(folder)
            for name in ("config.json", "generation_config.json", "model.safetensors"):
                os.symlink(os.path.join(os.path.abspath(MODEL), name), os.path.join(folder, name))
            server = Server("--served-model-name", "ids", model=folder)
            try:
                status, body = server.post("/v1/completions", {"model": "ids", "prompt": [1, 2, 3], "max_tokens": 2, "stop": ["x"]})
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["param"], "stop")
                self.assertTrue(body["error"]["message"].startswith("'stop': "), body)
                self.assertIn("no tokenizer.json", body["error"]["message"])
                status, body = server.post("/v1/completions", {"model": "ids", "prompt": [1, 2, 3], "max_tokens": 2})
                self.assertEqual((status, body["usage"]["completion_tokens"]), (200, 2), body)
            finally:
                self.assertEqual(server.stop(), 0)

    def test_sigterm_ends_a_running_stream_and_exits_0(self):
        server = Server("--max-tokens", "100000", "--max-model-len", "200000", "--shutdown-grace", "0")
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        c.request("POST", "/v1/completions", body=json.dumps({
            "model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 100000, "ignore_eos": True, "stream": True}),
            headers={"Content-Type": "application/json"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        r.readline()
        server.proc.send_signal(signal.SIGTERM)
        rest = r.read().decode()
        c.close()
        events = sse_events("data: {}\n\n" + rest)
        self.assertEqual([ch["finish_reason"] for e in events for ch in e.get("choices", []) if ch["finish_reason"]], ["abort"])
        self.assertEqual(server.stop(), 0)


def read_until_close(sock):
    """Every byte the server sends on `sock` until it closes the connection."""
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def read_answers(sock, count):
    """Reads `count` HTTP answers with a Content-Length from `sock`; returns [(status, head, body)]."""
    data, answers = b"", []
    while len(answers) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                answers.append((int(head.split(b" ")[1]), head.decode(), rest[:length[0]].decode()))
                data = rest[length[0]:]
                continue
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return answers


def trickle(socks, byte, stop):
    """Sends `byte` on every socket each half second until `stop` is set; returns the started thread."""
    def feed():
        while not stop.is_set():
            for sock in socks:
                try:
                    sock.sendall(byte)
                except OSError:
                    pass
            stop.wait(0.5)
    thread = threading.Thread(target=feed)
    thread.start()
    return thread


class SlowClientTest(unittest.TestCase):
    # cpp-httplib read a request's head on a worker thread with a timeout per read only: clients sending
    # a byte every half second held every worker (--max-concurrent + 4) for as long as they liked, and
    # nothing else was answered. Heads are now waited for on one thread, whole within --header-timeout.
    def test_slow_clients_hold_no_worker_and_time_out(self):
        server = Server("--max-concurrent", "1", "--header-timeout", "5")
        slow, stop = [], threading.Event()
        try:
            for _ in range(12):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                slow.append(sock)

            feeder = trickle(slow, b"X", stop)
            time.sleep(1)
            status, body = server.post("/v1/completions", {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 2})
            self.assertEqual(status, 200, body)
            # Answered while every slow client still waits (none has had its 408 yet).
            self.assertEqual(select.select(slow, [], [], 0)[0], [])
            stop.set()
            feeder.join()
            for sock in slow:
                (status, head, body), = read_answers(sock, 1)
                self.assertEqual(status, 408, head)
                self.assertIn("Connection: close", head)
                error = json.loads(body)["error"]
                self.assertEqual(error["code"], "request_timeout")
                self.assertIn("within 5 seconds (--header-timeout)", error["message"])
        finally:
            stop.set()
            for sock in slow:
                sock.close()
            self.assertEqual(server.stop(), 0)

    def test_slow_bodies_hold_no_worker_and_time_out(self):
        # The same with a body sent a byte at a time: the worker that read it waited for each byte.
        server = Server("--max-concurrent", "1", "--header-timeout", "4", "--api-key", KEY)
        slow, stop = [], threading.Event()
        try:
            head = ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY +
                    "\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{").encode()
            for _ in range(12):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                sock.sendall(head)
                slow.append(sock)

            feeder = trickle(slow, b" ", stop)
            time.sleep(1)
            status, body = server.post("/v1/completions", {"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 2})
            self.assertEqual(status, 200, body)
            self.assertEqual(select.select(slow, [], [], 0)[0], [])
            time.sleep(2)
            stop.set()
            feeder.join()
            for sock in slow:
                (status, head, body), = read_answers(sock, 1)
                self.assertEqual(status, 408, head)
                self.assertIn("the request's body (200 bytes) did not arrive within 4.01 seconds of its header fields", json.loads(body)["error"]["message"])
            # A body that arrives in time is answered as before, sent in pieces.
            body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 1}).encode()
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY +
                              "\r\nContent-Length: %d\r\n\r\n" % len(body)).encode())
                for k in range(0, len(body), 10):
                    time.sleep(0.05)
                    sock.sendall(body[k:k + 10])
                (status, head, text), = read_answers(sock, 1)
                self.assertEqual(status, 200, text)
        finally:
            stop.set()
            for sock in slow:
                sock.close()
            self.assertEqual(server.stop(), 0)

    def test_header_fields_are_bounded(self):
        server = Server("--max-header-fields", "20")
        try:
            def fields(count, size=1):
                return b"".join(b"X-F%d: %s\r\n" % (i, b"a" * size) for i in range(count))
            for extra, expected in ((fields(19), 200), (fields(21), 431), (fields(10, 8000), 431)):
                with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
                    (status, head, body), = read_answers(sock, 1)
                    self.assertEqual(status, expected, head + body)
                    if expected == 431:
                        self.assertEqual(json.loads(body)["error"]["code"], "header_fields_too_large")
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + fields(21) + b"\r\n")
                (status, head, body), = read_answers(sock, 1)
                self.assertIn("more than 20 header fields (--max-header-fields)", json.loads(body)["error"]["message"])
        finally:
            self.assertEqual(server.stop(), 0)

    def test_pipelined_requests_are_all_answered_in_order(self):
        # cpp-httplib dropped the bytes it had read ahead: only the first of two requests sent together
        # was answered.
        server = Server("--api-key", KEY)
        try:
            auth = ("Authorization: Bearer " + KEY + "\r\n").encode()
            body = json.dumps({"model": os.path.basename(MODEL), "prompt": "Hi", "max_tokens": 1}).encode()
            post = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n" + post +
                             b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                answers = read_answers(sock, 3)
            self.assertEqual([a[0] for a in answers], [200, 200, 200], answers)
            self.assertEqual(json.loads(answers[0][2])["object"], "list")
            self.assertEqual(json.loads(answers[1][2])["usage"]["completion_tokens"], 1)
            self.assertEqual(answers[2][2], "{}")
            # After a request that is not HTTP the framing is unknown: one 400, and nothing after it is
            # read as a request.
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"GARBAGE\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                answers = read_answers(sock, 2)
            self.assertEqual([a[0] for a in answers], [400], answers)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])  # further arguments pick tests
