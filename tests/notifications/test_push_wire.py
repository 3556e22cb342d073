"""The push job's wire: RFC 8291 encryption done here (checked by http_ece, the reference the
loopback push service decrypts with), keep-alive connections shared by the sending threads, and
what a connection does when the push service closes it or answers oddly (a raw HTTP server on a
real socket, answering as scripted)."""
from __future__ import annotations

import os
import socket
import threading

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.notifications import push, push_wire, services, tasks
from app.notifications.models import NotificationType
from app.extensions import db
from tests.interop.push_service import b64url, public_key_b64


def device_keys():
    private_key = ec.generate_private_key(ec.SECP256R1())
    secret = os.urandom(16)
    return private_key, secret, push_wire.device_keys(public_key_b64(private_key), b64url(secret))


def test_a_payload_decrypts_with_the_device_keys_and_only_with_them():
    private_key, secret, keys = device_keys()
    payload = '{"title": "Algebra", "body": "Quiz on Friday 🧮"}'.encode()
    body = push_wire.encrypt(payload, keys)
    assert http_ece.decrypt(body, private_key=private_key, auth_secret=secret,
                            version="aes128gcm") == payload
    with pytest.raises(Exception):
        http_ece.decrypt(body, private_key=private_key, auth_secret=os.urandom(16),
                         version="aes128gcm")


def test_every_message_gets_its_own_salt_and_ephemeral_key():
    _, _, keys = device_keys()
    first, second = (push_wire.encrypt(b"same text", keys) for _ in range(2))
    header = 16 + 4 + 1 + 65  # salt, record size, key id length, the ephemeral public key
    assert first[:16] != second[:16]
    assert first[21:header] != second[21:header]
    assert int.from_bytes(first[16:20], "big") == push_wire.RECORD_SIZE


def test_malformed_subscription_keys_are_refused_before_anything_is_sent():
    _, _, keys = device_keys()
    with pytest.raises(ValueError):
        push_wire.device_keys("not-a-point", b64url(os.urandom(16)))
    with pytest.raises(ValueError):
        push_wire.device_keys(b64url(keys.public_bytes), b64url(os.urandom(8)))


def test_one_job_to_many_devices_reuses_its_connections(school, add_device, push_service):
    user = school.students[0]
    devices = [add_device(user) for _ in range(3 * push.SEND_CONCURRENCY)]
    [notification] = services.notify([user], NotificationType.SESSION_SCHEDULED, "New session",
                                     "Algebra, Monday 16:00", "/sessions/1", tag="session-1")
    db.session.commit()
    assert tasks.send_push(notification.id)["sent"] == len(devices)
    requests = [r for d in devices for r in push_service.requests_for(d)]
    assert len(requests) == len(devices) and all(r.ok and r.status == 201 for r in requests)
    # Keep-alive: connections (one client port each) number at most the sending threads.
    assert len({r.client for r in requests}) <= push.SEND_CONCURRENCY


class ScriptedServer:
    """A raw HTTP/1.1 server on 127.0.0.1: reads each request and sends the next scripted
    answer (bytes, written as given), then closes the connection when the script says so."""

    def __init__(self, *answers: tuple[bytes, bool]):
        self.answers = list(answers)
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request line)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _serve(self, conn, number):
        buffered = b""
        with conn:
            while self.answers:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                buffered = buffered[length:]
                self.requests.append((number, head.split(b"\r\n", 1)[0]))
                answer, close = self.answers.pop(0)
                conn.sendall(answer)
                if close:
                    return

    def url(self, path="/push/d1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.listener.close()


CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def post(pool, server, path="/push/d1"):
    return pool.post(server.url(path), b"encrypted", {"TTL": "60"}, timeout=5)


def test_a_connection_is_kept_alive_and_reused():
    server = ScriptedServer((CREATED, False), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server).status == 201
    assert post(pool, server).status == 201
    assert [number for number, _ in server.requests] == [1, 1]
    server.stop()


def test_connection_close_is_honoured_and_the_next_push_opens_another():
    closing = b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer((closing, True), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server).status == 201
    assert post(pool, server).status == 201
    assert [number for number, _ in server.requests] == [1, 2]
    server.stop()


def test_an_idle_connection_the_service_closed_is_not_used_again():
    # The service answers keep-alive, then drops the idle connection (its idle timeout).
    server = ScriptedServer((CREATED, True), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server).status == 201
    for _ in range(500):  # until the client side sees the close (no timing asserted)
        idle = pool._idle[("http", "127.0.0.1", server.port)]
        if idle and idle[0].dropped():
            break
        threading.Event().wait(0.01)
    assert post(pool, server).status == 201
    assert [number for number, _ in server.requests] == [1, 2]
    server.stop()


def test_a_chunked_answer_with_retry_after_is_read_whole():
    answer = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n5\r\nslow \r\n5\r\ndown!\r\n0\r\n\r\n")
    server = ScriptedServer((answer, False), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server) == push_wire.Answer(429, "slow down!", "120")
    assert post(pool, server).status == 201  # the same connection, read to its end
    assert [number for number, _ in server.requests] == [1, 1]
    server.stop()


def test_a_redirect_is_answered_not_followed():
    moved = (b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://169.254.169.254/latest\r\n"
             b"Content-Length: 0\r\n\r\n")
    server = ScriptedServer((moved, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server).status == 301
    assert server.requests == [(1, b"POST /push/d1 HTTP/1.1")]
    server.stop()


def test_garbage_instead_of_http_is_no_answer():
    server = ScriptedServer((b"SSH-2.0-OpenSSH_9.6\r\n\r\n", True))
    pool = push_wire.ConnectionPool(4)
    with pytest.raises(push_wire.PushConnectionError):
        post(pool, server)
    server.stop()


def test_an_interim_answer_is_skipped_and_a_long_body_read_whole_but_kept_short():
    body = b"x" * 5000
    answer = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\n"
              b"Content-Length: 5000\r\n\r\n" + body)
    server = ScriptedServer((answer, False), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    first = post(pool, server)
    assert first.status == 400 and first.text == "x" * 2000
    assert post(pool, server).status == 201  # the same connection: the body was read to its end
    assert [number for number, _ in server.requests] == [1, 1]
    server.stop()


def test_an_answer_framed_by_its_close_or_from_http_1_0_is_not_reused():
    unframed = b"HTTP/1.1 201 Created\r\n\r\nsent"
    old = b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n"
    server = ScriptedServer((unframed, True), (old, False), (CREATED, False))
    pool = push_wire.ConnectionPool(4)
    assert post(pool, server) == push_wire.Answer(201, "sent", None)
    assert post(pool, server).status == 201
    assert post(pool, server).status == 201
    assert [number for number, _ in server.requests] == [1, 2, 3]
    server.stop()


@pytest.mark.parametrize("endpoint, headers", [
    ("http://127.0.0.1:9/push/d1\r\nX-Injected: 1", {"TTL": "60"}),
    ("http://127.0.0.1:9/push/d1", {"TTL": "60\r\nX-Injected: 1"}),
    ("http://127.0.0.1:9/push/d\u00e9", {"TTL": "60"}),
])
def test_nothing_that_could_end_a_line_or_is_not_ascii_reaches_the_wire(endpoint, headers):
    with pytest.raises(ValueError):
        push_wire.ConnectionPool(4).post(endpoint, b"encrypted", headers, timeout=5)
