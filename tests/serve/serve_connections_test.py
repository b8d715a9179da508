#!/usr/bin/env python3
# `rslora serve` under many connections: open connections are capped (--max-connections, by default
# what the open-file limit leaves room for) and so are those of one client address
# (--max-connections-per-client); a connection over a cap is answered 503 or 429 with Retry-After and
# closed, and the server keeps answering, its own files included. Adapters loaded under one name by
# several requests at once: one loads it, the others get the 400 adapter_exists a later load gets.
# Framing: a body on a GET is refused rather than read as the next request, and "Expect: 100-continue"
# is answered with the refusal itself where the request is refused from its head; a method the server
# does not implement is a 501. A burst of connections the server has not accepted yet is queued.
# Usage: serve_connections_test.py RSLORA_CLI MODEL_DIR
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from serve_http_test import CLI, KEY, MODEL, Server, read_answers, read_until_close, write_adapter

BASE = os.path.basename(MODEL)
PARTIAL_HEAD = b"GET /health HTTP/1.1\r\n"  # a request still arriving: the connection stays open


def connect(server, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", server.port), timeout=30, source_address=(source, 0))


def answer_of(sock):
    """The one answer a refused connection gets, read until the server closes it: (status, head, body)."""
    head, _, body = read_until_close(sock).partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode(), body.decode()


OPEN_STATES = (1, 8)  # ESTABLISHED and CLOSE_WAIT in /proc/net/tcp: that end has not been closed


def tcp_table():
    """The machine's TCP sockets (/proc/net/tcp): {(local end, remote end): (state, bytes not acknowledged,
    bytes not read)}, an end as (address in hex, port)."""
    table = {}
    with open("/proc/net/tcp") as lines:
        for line in lines.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":"), fields[2].split(":")
            unacknowledged, unread = fields[4].split(":")
            table[((local[0], int(local[1], 16)), (remote[0], int(remote[1], 16)))] = (
                int(fields[3], 16), int(unacknowledged, 16), int(unread, 16))
    return table


def tcp_end(address, port):
    return socket.inet_aton(address)[::-1].hex().upper(), port


def ends(server, socks):
    """(client end, server end) of each client socket."""
    return [(tcp_end(*sock.getsockname()), tcp_end("127.0.0.1", server.port)) for sock in socks]


def wait_until(condition, what, seconds=120):
    """Waits for `condition` (an event of the server's, however loaded the machine); the bound is for a hang."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within %d s: %s" % (seconds, what))
        time.sleep(0.02)


def hold(server, count, source="127.0.0.1"):
    """Opens `count` connections from `source` that stay open (their request head is still arriving)."""
    socks = []
    for _ in range(count):
        sock = connect(server, source)
        sock.sendall(PARTIAL_HEAD)
        socks.append(sock)
    # Accepted and counted: each connection is admitted by a server worker thread, so on a loaded
    # machine one opened later (the next test step's) could be admitted before a held one otherwise.
    # A connection's head is read only once it was admitted: wait until the server has taken every
    # byte sent (acknowledged at the client's end) and read it (nothing unread at its own end).
    pairs = ends(server, socks)

    def all_read():
        table = tcp_table()
        return all((client, own) in table and table[(client, own)][1] == 0 and table.get((own, client), (0, 0, 0))[2] == 0
                   for client, own in pairs)
    wait_until(all_read, "the server reads the heads of %d held connections" % count)
    return socks


def close(server, socks):
    """Closes client connections and waits until the server has closed its ends (and so counts them no more)."""
    pairs = ends(server, socks)
    for sock in socks:
        sock.close()
    wait_until(lambda: all(tcp_table().get((own, client), (0,))[0] not in OPEN_STATES for client, own in pairs),
               "the server closes %d connections its client closed" % len(pairs))


def health(server, source="127.0.0.1"):
    with connect(server, source) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = read_answers(sock, 1)
        read_until_close(sock)  # the server has closed it: the connection counts no more
    return answers[0][0] if answers else None


def limit_files(n):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


class ConnectionCapTest(unittest.TestCase):
    def assertRefused(self, sock, status, text):
        got, head, body = answer_of(sock)
        self.assertEqual(got, status, head + body)
        self.assertIn("Retry-After: 1", head)
        self.assertIn("Connection: close", head)
        error = json.loads(body)["error"]
        self.assertEqual(error["code"], "too_many_connections")
        self.assertIn(text, error["message"])

    def test_connections_over_the_caps_are_refused_and_the_server_keeps_answering(self):
        server = Server("--max-connections", "12", "--max-connections-per-client", "5", "--header-timeout", "60")
        held = []
        try:
            held += hold(server, 5)
            # A sixth connection from the same address: 429, while another address is still served.
            extra = connect(server)
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertRefused(extra, 429, "this client (127.0.0.1) has 5 connections open, the most one client may have "
                                           "(--max-connections-per-client)")
            extra.close()
            self.assertEqual(health(server, "127.0.0.2"), 200)
            # Twelve in all: a thirteenth from a new address gets 503.
            held += hold(server, 5, "127.0.0.2") + hold(server, 2, "127.0.0.3")
            extra = connect(server, "127.0.0.4")
            self.assertRefused(extra, 503, "the server has 12 connections open, the most it takes (--max-connections)")
            extra.close()
            # Closing connections makes room again at once.
            close(server, held[:3])
            held = held[3:]
            self.assertEqual(health(server), 200)
        finally:
            for sock in held:
                sock.close()
            self.assertEqual(server.stop(), 0)

    def test_the_default_cap_leaves_files_for_the_server(self):
        # Open files limited to 300: the default cap is 172 connections. Before, connections were taken
        # until accept() failed (EMFILE): later clients waited unanswered, and loading an adapter could
        # not open its files.
        tmp = tempfile.TemporaryDirectory()
        adapter = os.path.join(tmp.name, "a")
        write_adapter(adapter, 1, 4, ["q_proj", "v_proj"])
        server = Server("--header-timeout", "60", "--max-connections-per-client", "172", preexec_fn=limit_files(300))
        held = []
        try:
            held += hold(server, 172)
            extra = connect(server)
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertRefused(extra, 503, "the server has 172 connections open")
            extra.close()
            close(server, [held.pop()])
            body = json.dumps({"lora_name": "a", "lora_path": adapter}).encode()
            with connect(server) as sock:
                sock.sendall(b"POST /v1/load_lora_adapter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                (status, head, text), = read_answers(sock, 1)
            self.assertEqual(status, 200, text)
        finally:
            for sock in held:
                sock.close()
            self.assertEqual(server.stop(), 0)
            tmp.cleanup()

    def test_caps_that_cannot_be_kept_are_refused_at_start(self):
        for args, message in ((["--max-connections", "10", "--max-connections-per-client", "11"],
                               "--max-connections-per-client 11: more than the 10 connections the server takes in all"),
                              (["--max-connections", "1000"],
                               "--max-connections 1000: the process may open only 300 files (ulimit -n)")):
            with self.subTest(args):
                proc = subprocess.run([CLI, "serve", MODEL, "--port", "0", "--quiet", *args], capture_output=True, text=True,
                                      timeout=120, preexec_fn=limit_files(300))
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn(message, proc.stderr)


class BacklogTest(unittest.TestCase):
    def test_a_burst_of_connections_is_queued_while_the_server_is_busy(self):
        # cpp-httplib listened with a backlog of 5: while the server did not get to accept (here: it is
        # stopped), a sixth client's handshake was dropped, and under load some were reset.
        server = Server()
        socks = []
        try:
            server.proc.send_signal(signal.SIGSTOP)
            for _ in range(40):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", server.port))
                socks.append(sock)
            _, connected, _ = select.select([], socks, [], 2)
            self.assertEqual(len(connected), len(socks))
            server.proc.send_signal(signal.SIGCONT)
            for sock in socks:
                sock.setblocking(True)
                sock.settimeout(30)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertEqual([read_answers(sock, 1)[0][0] for sock in socks], [200] * len(socks))
        finally:
            server.proc.send_signal(signal.SIGCONT)
            for sock in socks:
                sock.close()
            self.assertEqual(server.stop(), 0)


class ConcurrentLoadTest(unittest.TestCase):
    def test_loads_of_one_name_at_once_load_it_once(self):
        # Before, a load that had passed the name check while another load of the name ran got a 400
        # about 'lora_path' without a code, where a later load got 'lora_name' with adapter_exists.
        tmp = tempfile.TemporaryDirectory()
        adapter = os.path.join(tmp.name, "a")
        write_adapter(adapter, 1, 16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        server = Server()
        try:
            for round in range(30):
                results, start = [], threading.Barrier(16)

                def load():
                    start.wait()
                    results.append(server.post("/v1/load_lora_adapter", {"lora_name": "same", "lora_path": adapter}))
                threads = [threading.Thread(target=load) for _ in range(16)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(sorted(status for status, _ in results), [200] + [400] * 15, results)
                for status, body in results:
                    if status == 400:
                        self.assertEqual((body["error"]["param"], body["error"]["code"]), ("lora_name", "adapter_exists"), body)
                status, body = server.post("/v1/completions", {"model": "same", "prompt": "Hi", "max_tokens": 2})
                self.assertEqual(status, 200, body)
                status, body = server.post("/v1/unload_lora_adapter", {"lora_name": "same"})
                self.assertEqual(status, 200, body)
        finally:
            self.assertEqual(server.stop(), 0)
            tmp.cleanup()


def read_all(sock, seconds=3):
    """Everything the server sends until it closes the connection (or `seconds` pass quietly)."""
    data = b""
    sock.settimeout(seconds)
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    except socket.timeout:
        pass
    return data


class FramingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-key", KEY, "--max-body-bytes", "1000")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        if code != 0:
            raise AssertionError("the server exited with %d" % code)

    def test_a_body_on_a_method_without_one_is_refused(self):
        # Before, httplib left the body of a GET unread and it was served as the connection's next
        # request: a request hidden in another's body, whose answer a proxy would give its next client.
        auth = b"Authorization: Bearer " + KEY.encode() + b"\r\n"
        hidden = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
        for method, framing, body in ((b"GET", b"Content-Length: %d\r\n" % len(hidden), hidden),
                                      (b"HEAD", b"Content-Length: %d\r\n" % len(hidden), hidden),
                                      (b"OPTIONS", b"Content-Length: %d\r\n" % len(hidden), hidden),
                                      (b"GET", b"Transfer-Encoding: chunked\r\n", b"%x\r\n" % len(hidden) + hidden + b"\r\n0\r\n\r\n")):
            with self.subTest(method=method, framing=framing):
                with connect(self.server) as sock:
                    sock.sendall(method + b" /v1/models HTTP/1.1\r\nHost: x\r\n" + auth + framing + b"\r\n" + body)
                    data = read_all(sock)
                self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
                self.assertIn(b"Connection: close", data)
                if method != b"HEAD":
                    error = json.loads(data.partition(b"\r\n\r\n")[2])["error"]
                    self.assertEqual(error["code"], "unexpected_body")
                    self.assertIn("request takes no body here, found " + framing.decode().strip(), error["message"])
        # An empty body is no body.
        with connect(self.server) as sock:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 0\r\n\r\n" + hidden)
            answers = read_answers(sock, 2)
        self.assertEqual([a[0] for a in answers], [200, 200])

    def test_a_method_the_server_does_not_implement_is_a_501(self):
        # Before, TRACE or an unknown method was a 400 saying the request was not valid HTTP.
        for method in (b"TRACE", b"CONNECT", b"BREW"):
            with self.subTest(method=method):
                with connect(self.server) as sock:
                    sock.sendall(method + b" /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
                    (status, head, body), = read_answers(sock, 1)
                self.assertEqual(status, 501, head + body)
                error = json.loads(body)["error"]
                self.assertEqual(error["code"], "unsupported_method")
                self.assertIn("the method " + method.decode() + " is not supported", error["message"])
        with connect(self.server) as sock:
            sock.sendall(b"GARBAGE\r\n\r\n")
            (status, head, body), = read_answers(sock, 1)
        self.assertEqual(status, 400, head + body)

    def test_expect_100_continue_is_answered_with_the_refusal(self):
        # Before, the client was invited to send its body ("100 Continue") and then refused anyway.
        auth = b"Authorization: Bearer " + KEY.encode() + b"\r\n"
        for headers, status in ((auth + b"Content-Length: 5000\r\n", 413), (b"Content-Length: 10\r\n", 401),
                                (auth + b"Content-Length: 10\r\nContent-Encoding: gzip\r\n", 415)):
            with self.subTest(status=status):
                with connect(self.server) as sock:
                    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + headers + b"\r\n")
                    data = read_all(sock)
                self.assertTrue(data.startswith(b"HTTP/1.1 %d " % status), data)
                self.assertNotIn(b"100 Continue", data)
                self.assertIn(b"Connection: close", data)
                self.assertIn(b'"error":', data)
        # A request that is not refused is invited, and answered once its body arrives.
        body = json.dumps({"model": BASE, "prompt": "Hi", "max_tokens": 1}).encode()
        with connect(self.server) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + auth +
                         b"Content-Length: %d\r\n\r\n" % len(body))
            self.assertEqual(sock.recv(4096), b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(body)
            (status, head, text), = read_answers(sock, 1)
        self.assertEqual(status, 200, text)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
