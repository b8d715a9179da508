#!/usr/bin/env python3
# `rslora serve` under bad and unusual HTTP requests, sent as raw bytes: malformed request lines and
# header lines, framing that disagrees with itself, bodies that end early, JSON that is not valid,
# ambiguous or nested without end, numbers JSON or the fields cannot take, and every field of
# /v1/completions and /v1/chat/completions with a wrong type. Each gets its own 4xx with an OpenAI error
# object (never a 500, never a wait for a timeout), and the server keeps serving after each.
# Each request is printed with its answer's status, time and message.
# Usage: serve_bad_requests_test.py RSLORA_CLI MODEL_DIR
import json
import os
import socket
import sys
import time
import unittest

from serve_http_test import KEY, MODEL, Server, read_answers, read_until_close

BASE = os.path.basename(MODEL)
AUTH = b"Authorization: Bearer " + KEY.encode() + b"\r\n"


def exchange(server, data, half_close=False, seconds=15):
    """Sends `data` on a new connection; returns the first answer (status, head, body) and the seconds it took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=seconds) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # refused and closed before all of a large request was sent: the answer is still read
        try:
            answers = read_answers(sock, 1)
        except (socket.timeout, ConnectionResetError):
            answers = []
    if not answers:
        raise AssertionError("no answer within %d s to %r" % (seconds, data[:200]))
    return answers[0] + (time.monotonic() - start,)


def post(path, body, content_type=b"application/json", extra=b""):
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + AUTH + extra
    if content_type:
        head += b"Content-Type: " + content_type + b"\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def completion(**fields):
    return post(b"/v1/completions", json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1, **fields}).encode())


def chat(**fields):
    body = {"model": BASE, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, **fields}
    return post(b"/v1/chat/completions", json.dumps(body).encode())


def get(path, extra=b"Host: x\r\n", version=b"HTTP/1.1", method=b"GET"):
    return method + b" " + path + b" " + version + b"\r\n" + AUTH + extra + b"\r\n"


# A wrong type for every field the two routes read (each is refused naming it).
WRONG_TYPES = {
    "model": 5, "max_tokens": "5", "temperature": "hot", "top_p": [1], "top_k": 1.5, "repetition_penalty": "x",
    "seed": "s", "ignore_eos": "yes", "stop": 5, "n": "2", "min_tokens": "1", "logit_bias": [1], "best_of": "2",
    "top_logprobs": "1", "tools": "x", "functions": 1, "tool_choice": 1, "function_call": {}, "response_format": "json",
    "presence_penalty": "x", "frequency_penalty": [], "echo": "x", "logprobs": "x", "stream": 1, "stream_options": "x",
    "user": 5,
}

# vLLM's and OpenAI's fields that change the answer: (field, a value refused, a value accepted, routes).
EXTENSIONS = [
    ("use_beam_search", True, False, "both"),
    ("min_p", 0.1, 0, "both"),
    ("length_penalty", 0.5, 1, "both"),
    ("stop_token_ids", [5], [], "both"),
    ("include_stop_str_in_output", True, False, "both"),
    ("skip_special_tokens", False, True, "both"),
    ("truncate_prompt_tokens", 5, None, "both"),
    ("prompt_logprobs", 0, None, "both"),
    ("allowed_token_ids", [1, 2], None, "both"),
    ("bad_words", ["x"], [], "both"),
    ("logits_processors", ["my.Processor"], [], "both"),
    ("guided_json", {"type": "object"}, None, "both"),
    ("guided_regex", "a+", None, "both"),
    ("guided_choice", ["a", "b"], None, "both"),
    ("guided_grammar", 'root ::= "a"', None, "both"),
    ("structural_tag", "{}", None, "both"),
    ("structured_outputs", {"choice": ["a"]}, None, "both"),
    ("prompt_embeds", "AAAA", None, "both"),
    ("audio", {"voice": "alloy", "format": "wav"}, None, "both"),
    ("modalities", ["text", "audio"], ["text"], "both"),
    ("web_search_options", {}, None, "both"),
    ("add_generation_prompt", False, True, "chat"),
    ("continue_final_message", True, False, "chat"),
    ("add_special_tokens", True, False, "chat"),
    ("documents", [{"title": "t", "text": "x"}], [], "chat"),
    ("chat_template", "{{ messages }}", None, "chat"),
    ("chat_template_kwargs", {"enable_thinking": False}, {}, "chat"),
    ("add_special_tokens", False, True, "completions"),
]


class BadRequestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-key", KEY)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        if code != 0:
            raise AssertionError("the server exited with %d" % code)

    def expect(self, name, data, status, message=None, param=None, code=None, half_close=False):
        with self.subTest(name):
            got, head, body, seconds = exchange(self.server, data, half_close)
            error = json.loads(body).get("error") if body.startswith("{") else None
            print("  %-48s %d %.2fs %s" % (name, got, seconds, error["message"][:150] if error else body[:80]), file=sys.stderr)
            self.assertEqual(got, status, head + body)
            self.assertLess(seconds, 3, "answered only after a timeout")
            if status >= 400:
                self.assertEqual(set(error), {"message", "type", "param", "code"}, body)
            if message is not None:
                self.assertIn(message, error["message"])
            if param is not None:
                self.assertTrue((error["param"] or "").startswith(param), error)
            if code is not None:
                self.assertEqual(error["code"], code, error)
            return head, error
        return None, None

    def assertServing(self):
        self.assertIsNone(self.server.proc.poll(), "the server has exited")
        got, _, body, _ = exchange(self.server, completion())
        self.assertEqual(got, 200, body)

    def test_request_lines(self):
        self.expect("not HTTP", b"GARBAGE\r\n\r\n", 400, "the request line 'GARBAGE' is not valid HTTP", code="malformed_request")
        self.expect("two spaces", b"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "separated by single spaces")
        self.expect("HTTP/0.9", b"GET /health\r\n\r\n", 400, "is not valid HTTP")
        self.expect("version HTTP/1.x", b"GET /health HTTP/1.x\r\nHost: x\r\n\r\n", 400, "its version 'HTTP/1.x'")
        self.expect("HTTP/2.0", get(b"/health", version=b"HTTP/2.0"), 505, "HTTP/2.0 is not supported", code="unsupported_http_version")
        self.expect("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
        self.expect("method not a token", b"G@T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "its method 'G@T'")
        self.expect("target with a tab", b"GET /he\talth HTTP/1.1\r\nHost: x\r\n\r\n", 400, "control character \\x09")
        self.expect("every line with a bare LF", b"GET /health HTTP/1.1\nHost: x\n\n", 400, "ends with a bare LF")
        self.expect("empty line first", b"\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "begins with an empty line")
        self.expect("target over 8192 bytes", get(b"/" + b"a" * 10000), 414, "longer than the server accepts")
        self.assertServing()

    def test_methods(self):
        # The 501 said the server answered OPTIONS (every route refuses it with 405) and named neither
        # PUT, DELETE nor PATCH, which are 405s on the routes.
        self.expect("unknown method", get(b"/v1/models", method=b"BREW"), 501,
                    "the method BREW is not supported: each route takes GET and HEAD (/v1/models, /health) or POST", code="unsupported_method")
        self.expect("TRACE", get(b"/v1/models", method=b"TRACE"), 501)
        self.expect("lower-case get", get(b"/v1/models", method=b"get"), 501, "the method get is not supported")
        head, _ = self.expect("PUT on a POST route", post(b"/v1/completions", b"{}").replace(b"POST", b"PUT", 1), 405,
                              "method not allowed: PUT /v1/completions (this route takes POST)")
        self.assertIn("Allow: POST\r\n", head)
        # A GET route answers HEAD too (it said "use GET", and Allow named GET alone).
        head, _ = self.expect("DELETE on a GET route", get(b"/v1/models", method=b"DELETE"), 405,
                              "method not allowed: DELETE /v1/models (this route takes GET, HEAD)")
        self.assertIn("Allow: GET, HEAD\r\n", head)
        self.expect("OPTIONS", get(b"/v1/chat/completions", method=b"OPTIONS"), 405)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as sock:
            sock.sendall(get(b"/v1/models", method=b"HEAD", extra=b"Host: x\r\nConnection: close\r\n"))
            data = read_until_close(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertTrue(data.endswith(b"\r\n\r\n"), data)  # no body
        self.assertServing()

    def test_header_lines(self):
        # A line without a colon was skipped: here the key, so the request was a 401 for a key it had.
        self.expect("line without a colon", get(b"/v1/models", extra=b"Host: x\r\nX-Trace abc\r\n"), 400,
                    "the header line 'X-Trace abc' has no colon: expected NAME: VALUE")
        self.expect("obs-fold", get(b"/v1/models", extra=b"Host: x\r\nX-Long: a\r\n b\r\n"), 400,
                    "begins with a space or tab, folding it into the field before it ('X-Long')")
        self.expect("space before the colon", get(b"/v1/models", extra=b"Host : x\r\n"), 400, "no space may come before the colon")
        self.expect("NUL in a value", get(b"/v1/models", extra=b"Host: x\r\nX-A: a\x00b\r\n"), 400, "control character \\x00")
        self.expect("bare CR in a value", get(b"/v1/models", extra=b"Host: x\r\nX-A: a\rb\r\n"), 400, "control character \\x0d")
        self.expect("bare LF in the fields", get(b"/v1/models", extra=b"Host: x\nX-A: b\r\n"), 400, "'Host: x' ends with a bare LF")
        # RFC 9112 §3.2 (and h11): an HTTP/1.1 request names its host once; HTTP/1.0 may leave it out.
        self.expect("HTTP/1.1 without Host", get(b"/v1/models", extra=b""), 400, "HTTP/1.1 requests must carry a Host header")
        self.expect("two Host fields", get(b"/v1/models", extra=b"Host: a\r\nHost: b\r\n"), 400, "the request has 2 Host headers")
        self.expect("HTTP/1.0 without Host", get(b"/health", extra=b"", version=b"HTTP/1.0"), 200)
        # A line over httplib's 8192 bytes was a 400 "not valid HTTP".
        self.expect("one field of 10000 bytes", get(b"/v1/models", extra=b"Host: x\r\nX-Big: " + b"a" * 10000 + b"\r\n"), 431,
                    "the header field 'X-Big' is 10009 bytes long; the server reads header lines of up to 8192 bytes",
                    code="header_fields_too_large")
        self.expect("200 fields", get(b"/v1/models", extra=b"Host: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200))), 431,
                    "more than 100 header fields")
        self.expect("70 KB of fields", get(b"/v1/models", extra=b"Host: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 7000) for i in range(10))),
                    431, "header fields are longer than the server accepts")
        self.assertServing()

    def test_framing(self):
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        self.expect("two Content-Length that disagree", head + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body,
                    400, "several Content-Length headers that disagree", "Content-Length")
        self.expect("two equal Content-Length", head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body, 200)
        self.expect("Content-Length and Transfer-Encoding",
                    head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body) + body, 400,
                    "the request has both Content-Length and Transfer-Encoding (chunked): send the body with Content-Length alone",
                    "Transfer-Encoding")
        self.expect("chunked", head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n", 411,
                    code="length_required")
        self.expect("bad chunk size", head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 411)
        self.expect("negative Content-Length", head + b"Content-Length: -1\r\n\r\n{}", 400, "digits only", "Content-Length")
        self.expect("Content-Length with a sign", head + b"Content-Length: +2\r\n\r\n{}", 400, "digits only", "Content-Length")
        # cpp-httplib decodes field values: this was a body of 52 bytes.
        self.expect("percent-encoded Content-Length", head + b"Content-Length: %35%32\r\n\r\n" + body, 400,
                    "'Content-Length': expected the body's size in bytes (digits only), found '%35%32'")
        self.expect("overflowing Content-Length", head + b"Content-Length: 99999999999999999999999999\r\n\r\n{}", 413,
                    "larger than the server's limit", "Content-Length")
        # A worker waited for the rest, then said the request was not valid HTTP.
        self.expect("body shorter than Content-Length, then a half-close", head + b"Content-Length: 50\r\n\r\n{\"model\"", 400,
                    "the request body ended after 8 of the 50 bytes its Content-Length announced", half_close=True)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as sock:
            sock.sendall(head + b"Content-Length: 50\r\n\r\n{\"model\"")
        self.expect("a GET with a body", get(b"/v1/models", extra=b"Host: x\r\nContent-Length: 2\r\n") + b"{}", 400,
                    code="unexpected_body")
        self.assertServing()

    def test_connection_close_is_announced_once(self):
        # An answer that closes the connection while the request asked for that too (or an HTTP/1.0
        # stream, ended by the close) carried "Connection: close" twice: once from the server, once from
        # cpp-httplib.
        def connection_fields(head):
            return [line for line in head.split("\r\n") if line.lower().startswith("connection:")]
        for asked in (b"", b"Connection: close\r\n"):
            head, _ = self.expect("a GET with a body, %r" % asked, get(b"/v1/models", extra=b"Host: x\r\n" + asked + b"Content-Length: 2\r\n") + b"{}",
                                  400, code="unexpected_body")
            self.assertEqual(connection_fields(head), ["Connection: close"], head)
            body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 2, "stream": True}).encode()
            request = (b"POST /v1/completions HTTP/1.0\r\nHost: x\r\n" + AUTH + asked + b"Content-Type: application/json\r\n"
                       + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=30) as sock:
                sock.sendall(request)
                reply = read_until_close(sock).decode(errors="replace")
            head = reply.partition("\r\n\r\n")[0]
            self.assertIn(" 200 ", head.split("\r\n")[0], reply[:300])
            self.assertEqual(connection_fields(head), ["Connection: close"], head)
            self.assertIn("data: [DONE]", reply)

    def test_header_values_are_read_as_sent(self):
        # cpp-httplib percent-decoded header values: "sk%2Dtest%2D123" was taken for the key sk-test-123.
        encoded = KEY.replace("-", "%2D").encode()
        self.expect("a percent-encoded key", get(b"/v1/models").replace(AUTH, b"Authorization: Bearer " + encoded + b"\r\n"), 401,
                    "incorrect API key", code="invalid_api_key")
        self.expect("the key as sent", get(b"/v1/models"), 200)
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        # It was read as application/json.
        self.expect("a percent-encoded Content-Type", post(b"/v1/completions", body, b"application%2Fjson"), 415,
                    "(Content-Type: application%2Fjson) is not JSON", "Content-Type", "unsupported_media_type")
        self.assertServing()

    def test_absolute_form_and_asterisk_targets(self):
        # RFC 9112 §3.2.2: a server accepts an absolute URL as the target (both were 404 "no such route").
        self.expect("absolute-form GET", get(b"http://127.0.0.1/v1/models"), 200)
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        self.expect("absolute-form POST", post(b"HTTP://localhost:8000/v1/completions?x=1", body), 200)
        self.expect("absolute-form to no route", get(b"http://h/v1/nothing"), 404, "no such route: GET /v1/nothing", code="not_found")
        # OPTIONS * asks what the server supports: 200 with Allow, no key needed (it was a 401, then a 404).
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as sock:
            sock.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_until_close(sock)
        head = data.decode()
        print("  %-48s %s" % ("OPTIONS *", head.split("\r\n")[0]), file=sys.stderr)
        self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
        self.assertIn("\r\nAllow: GET, HEAD, POST\r\n", head)
        self.assertIn("\r\nContent-Length: 0\r\n", head)
        self.expect("GET *", get(b"*"), 400, "the request target '*' asks about the server itself and is sent only with OPTIONS",
                    code="malformed_request")
        self.expect("a target without a '/'", get(b"v1/models"), 400, "is not a path", code="malformed_request")
        self.assertServing()

    def test_error_objects_agree_across_levels(self):
        # One rule for every refusal of the HTTP layer, whether the request's head was refused before
        # cpp-httplib read it or its fields after: the header field at fault in param, and a code. A
        # percent-encoded Content-Length (refused from the head) had "param": null while a signed one
        # (refused after) named the field; a 414 had no code.
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
        cases = [
            ("Content-Length %35%32 (head)", head + b"Content-Length: %35%32\r\n\r\n" + body, 400, "Content-Length", "malformed_request"),
            ("Content-Length +2 (fields)", head + b"Content-Length: +2\r\n\r\n{}", 400, "Content-Length", "malformed_request"),
            ("Content-Length twice (fields)", head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "Content-Length",
             "malformed_request"),
            ("no Host (head)", get(b"/v1/models", extra=b""), 400, "Host", "malformed_request"),
            ("two Hosts (head)", get(b"/v1/models", extra=b"Host: a\r\nHost: b\r\n"), 400, "Host", "malformed_request"),
            ("control character (head)", get(b"/v1/models", extra=b"Host: x\r\nX-A: a\x01\r\n"), 400, "X-A", "malformed_request"),
            ("long field (head)", get(b"/v1/models", extra=b"Host: x\r\nX-Big: " + b"a" * 10000 + b"\r\n"), 431, "X-Big",
             "header_fields_too_large"),
            ("request line (head)", b"GET  /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 400, None, "malformed_request"),
            ("long target (head)", get(b"/" + b"a" * 10000), 414, None, "uri_too_long"),
            ("CL and TE (fields)", head + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", 400, "Transfer-Encoding",
             "malformed_request"),
            ("chunked (fields)", head + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411, "Transfer-Encoding",
             "length_required"),
            ("no Content-Length (fields)", head + b"\r\n", 411, "Content-Length", "length_required"),
            ("gzip (fields)", head + b"Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 415, "Content-Encoding",
             "unsupported_encoding"),
            ("too large (fields)", head + b"Content-Length: 99999999\r\n\r\n", 413, "Content-Length", "payload_too_large"),
            ("wrong method (route)", get(b"/v1/completions"), 405, None, "method_not_allowed"),
            ("no route", get(b"/v1/nothing"), 404, None, "not_found"),
        ]
        for name, data, status, param, code in cases:
            _, error = self.expect(name, data, status)
            if error:
                with self.subTest(name):
                    self.assertEqual((error["param"], error["code"]), (param, code), error)
        self.assertServing()

    def test_content_types(self):
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        # A JSON body sent as text/plain was read as JSON.
        self.expect("text/plain", post(b"/v1/completions", body, b"text/plain"), 415,
                    "the request body's type (Content-Type: text/plain) is not JSON: send the request as a JSON object "
                    "(Content-Type: application/json)", "Content-Type", "unsupported_media_type")
        self.expect("text/plain on the adapter routes", post(b"/v1/unload_lora_adapter", b'{"lora_name": "x"}', b"text/plain; charset=utf-8"),
                    415, "(Content-Type: text/plain; charset=utf-8) is not JSON")
        self.expect("URL-encoded form (curl -d)", post(b"/v1/completions", body, b"application/x-www-form-urlencoded"), 415,
                    "curl -d sends this type unless given -H 'Content-Type: application/json'")
        self.expect("application/json with a charset", post(b"/v1/completions", body, b"Application/JSON; charset=utf-8"), 200)
        self.expect("a +json type", post(b"/v1/completions", body, b"application/vnd.api+json"), 200)
        self.expect("no Content-Type", post(b"/v1/completions", body, None), 200)
        # The route and the method are judged first, as FastAPI judges them.
        self.expect("text/plain to no route", post(b"/v1/nothing", body, b"text/plain"), 404)
        self.assertServing()

    def test_json_bodies(self):
        def raw(text):
            return post(b"/v1/completions", text)
        self.expect("invalid UTF-8 in a string", raw(b'{"model": "' + BASE.encode() + b'", "prompt": "\xff\xfe"}'), 400,
                    "the request body is not valid JSON")
        self.expect("a lone surrogate", raw(b'{"model": "' + BASE.encode() + b'", "prompt": "\\ud800"}'), 400, "not valid JSON")
        # The last of two values was used, silently (other JSON readers use the first).
        self.expect("a key twice", raw(b'{"model": "' + BASE.encode() + b'", "prompt": "Hi", "max_tokens": 1, "max_tokens": 500}'), 400,
                    'the request body gives the key "max_tokens" twice in one object')
        self.expect("100000 levels of [", raw(b'{"model": "m", "prompt": ' + b"[" * 100000 + b"]" * 100000 + b"}"), 400,
                    "more than 64 levels deep")
        self.expect("100000 unclosed [", raw(b"[" * 100000), 400, "more than 64 levels deep")
        self.expect("not an object", raw(b"[1, 2]"), 400, "must be a JSON object")
        self.expect("empty body", raw(b""), 400, "not valid JSON")
        prefix = b'{"model": "' + BASE.encode() + b'", "prompt": "Hi", "max_tokens": 1, '
        self.expect("temperature 1e400", raw(prefix + b'"temperature": 1e400}'), 400, "cannot represent")
        self.expect("temperature NaN", raw(prefix + b'"temperature": NaN}'), 400, "not valid JSON")
        self.expect("top_p Infinity", raw(prefix + b'"top_p": Infinity}'), 400, "not valid JSON")
        self.expect("top_p -0", raw(prefix + b'"top_p": -0}'), 400, "expected a value in (0, 1]", "top_p")
        self.expect("max_tokens 1e400", raw(prefix.replace(b'"max_tokens": 1, ', b"") + b'"max_tokens": 1e400}'), 400, "cannot represent")
        self.expect("max_tokens -0", raw(prefix.replace(b'"max_tokens": 1, ', b"") + b'"max_tokens": -0}'), 400,
                    "expected an integer in [1, ", "max_tokens")
        self.expect("temperature -0 (greedy)", raw(prefix + b'"temperature": -0}'), 200)
        self.assertServing()

    def test_fields(self):
        for field, value in WRONG_TYPES.items():
            self.expect("completions: %s %s" % (field, json.dumps(value)), completion(**{field: value}), 400, param=field)
        for field, value in list(WRONG_TYPES.items()) + [("max_completion_tokens", "x")]:
            self.expect("chat: %s %s" % (field, json.dumps(value)), chat(**{field: value}), 400, param=field)
        cases = [
            ("prompt an object", completion(prompt={"a": 1}), "prompt"),
            ("prompt empty list", completion(prompt=[]), "prompt"),
            # Text that the tokenizer turns into no tokens (vLLM: "the decoder prompt cannot be empty").
            ("prompt empty", completion(prompt=""), "prompt"),
            ("prompt list with an empty text", completion(prompt=["Hi", ""]), "prompt"),
            ("prompt ids out of the vocabulary", completion(prompt=[1, 10 ** 9]), "prompt"),
            ("prompt id negative", completion(prompt=[-1]), "prompt"),
            ("prompt list of a number and a string", completion(prompt=[[1], 5]), "prompt"),
            ("n 2", completion(n=2), "n"),
            ("logprobs 1", completion(logprobs=1), "logprobs"),
            ("logprobs true", chat(logprobs=True), "logprobs"),
            ("10 stop strings", completion(stop=["s%d" % i for i in range(10)]), "stop"),
            ("tools", chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]), "tools"),
            ("response_format json_schema", chat(response_format={"type": "json_schema", "json_schema": {"name": "x"}}), "response_format"),
            ("messages not a list", chat(messages={"role": "user", "content": "Hi"}), "messages"),
            ("messages empty", chat(messages=[]), "messages"),
            ("message not an object", chat(messages=["Hi"]), "messages[0]"),
            ("role not a string", chat(messages=[{"role": 1, "content": "Hi"}]), "messages[0].role"),
            ("content a number", chat(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
            ("image part", chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
             "messages[0].content[0].type"),
            ("part without text", chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages[0].content[0].text"),
            ("name a number", chat(messages=[{"role": "user", "content": "Hi", "name": 3}]), "messages[0].name"),
            ("stream_options without stream", completion(stream_options={"include_usage": True}), "stream_options"),
            ("load: lora_name a number", post(b"/v1/load_lora_adapter", b'{"lora_name": 5, "lora_path": "/x"}'), "lora_name"),
            ("load: lora_path a list", post(b"/v1/load_lora_adapter", b'{"lora_name": "x", "lora_path": ["/x"]}'), "lora_path"),
            ("unload: lora_name null", post(b"/v1/unload_lora_adapter", b'{"lora_name": null}'), "lora_name"),
            ("unload: the base model", post(b"/v1/unload_lora_adapter", json.dumps({"lora_name": BASE}).encode()), "lora_name"),
            ("unknown model", completion(model="nope"), "model"),
        ]
        for name, data, param in cases:
            self.expect(name, data, 404 if name == "unknown model" else 400, param=param)
        # Accepted, as vLLM accepts them: a role the chat template renders (a template that refuses it
        # gives a 400 naming messages), a query string and a percent-encoded path.
        self.expect("a role of the client's own", chat(messages=[{"role": "narrator", "content": "Hi"}]), 200)
        self.expect("a query string", get(b"/v1/models?limit=1&order=asc"), 200)
        self.expect("a percent-encoded path", get(b"/v1/%6Dodels"), 200)
        self.expect("a path that decodes to NUL", get(b"/v1/models/%00"), 404, param="model")
        self.expect("two '?'", get(b"/v1/models?a=1?b=2"), 400, "write a '?' inside the query as %3F")
        self.assertServing()

    def test_extension_fields(self):
        # vLLM's and OpenAI's fields that would change the answer were ignored like unknown fields, so a
        # client asking for beam search, min_p or a JSON schema got an ordinary answer as if applied.
        # Each is refused naming it, unless it asks for what the server does anyway.
        for field, refused, accepted, routes in EXTENSIONS:
            for route, build in (("chat", chat), ("completions", completion)):
                if routes not in ("both", route):
                    continue
                self.expect("%s: %s %s" % (route, field, json.dumps(refused)), build(**{field: refused}), 400, param=field)
                self.expect("%s: %s %s" % (route, field, json.dumps(accepted)), build(**{field: accepted}), 200)
                self.expect("%s: %s null" % (route, field), build(**{field: None}), 200)
        self.expect("min_p a string", chat(min_p="x"), 400, "'min_p': expected a number, found string", "min_p")
        self.expect("use_beam_search 1", completion(use_beam_search=1), 400, "expected true or false", "use_beam_search")
        self.expect("continue_final_message", chat(continue_final_message=True), 400,
                    "'continue_final_message': continuing the final message is not supported", "continue_final_message")
        # A completions request does not read the chat fields (vLLM's CompletionRequest has none of them).
        self.expect("completions: chat_template", completion(chat_template="x"), 200)
        self.assertServing()

    def test_openai_edges(self):
        # Values and shapes a client can send: a 400 naming the field where OpenAI or vLLM refuse
        # them, the answer where they take them.
        user = {"role": "user", "content": "Hi"}
        assistant = {"role": "assistant", "content": "Hello"}
        refused = [
            ("max_tokens -1", completion(max_tokens=-1), "max_tokens"),
            ("max_completion_tokens 0", chat(max_completion_tokens=0), "max_completion_tokens"),
            ("temperature 2.5", chat(temperature=2.5), "temperature"),
            ("temperature -0.1", completion(temperature=-0.1), "temperature"),
            ("top_p 0", chat(top_p=0), "top_p"),
            ("top_p 1.5", completion(top_p=1.5), "top_p"),
            ("top_k -2", chat(top_k=-2), "top_k"),
            ("n 0", chat(n=0), "n"),
            ("n 129", completion(n=129), "n"),
            ("seed 2**63", chat(seed=2 ** 63), "seed"),
            ("stop 5 strings", chat(stop=["a", "b", "c", "d", "e"]), "stop"),
            ("stop [null]", completion(stop=[None]), "stop"),
            ("logit_bias 101", chat(logit_bias={"5": 101}), "logit_bias.5"),
            ("min_tokens over max_tokens", completion(min_tokens=5, max_tokens=2), "min_tokens"),
            ("top_logprobs 2", chat(top_logprobs=2), "top_logprobs"),
            ("max_tokens 1e30", completion(max_tokens=1e30), "max_tokens"),
            ("presence_penalty 3", chat(presence_penalty=3), "presence_penalty"),
        ]
        for name, data, param in refused:
            self.expect(name, data, 400, param=param)
        accepted = [
            ("roles out of order", chat(messages=[assistant, user, user])),
            ("a system message last", chat(messages=[user, {"role": "system", "content": "Be brief"}])),
            ("text parts", chat(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "you"}]}])),
            ("an assistant message without content", chat(messages=[user, {"role": "assistant", "content": None}, user])),
            ("n 1, best_of 1", completion(n=1, best_of=1)),
            ("stop 4 strings", chat(stop=["a", "b", "c", "d"])),
            ("stop []", completion(stop=[])),
            ("logprobs false", chat(logprobs=False)),
            ("top_k -1 (off)", completion(top_k=-1)),
            ("max_tokens 2.0", chat(max_tokens=2.0)),
            ("temperature 0", completion(temperature=0)),
            ("fields that change nothing", chat(store=True, metadata={"a": "b"}, parallel_tool_calls=True, user="u",
                                                service_tier="auto", prediction={"type": "content", "content": "x"},
                                                priority=0, request_id="r1", no_such_field={"a": [1]})),
        ]
        for name, data in accepted:
            self.expect(name, data, 200)
        self.expect("POST /v1/embeddings", post(b"/v1/embeddings", b'{"model": "m", "input": "Hi"}'), 404)
        self.assertServing()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
