"""The loopback push service refuses what a real one refuses: the round-trip tests in
tests/notifications rely on it, so a broken VAPID signature, a wrong audience, an expired token
or an undecryptable body must fail there, not pass silently."""
from __future__ import annotations

import json
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPusher

from app.notifications.vapid import app_keys
from tests.interop.push_service import public_key_b64, sign_vapid

PAYLOAD = {"title": "Hello", "body": "From the test", "url": "/chat"}


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # never through a proxy from the environment
    yield session
    session.close()


@pytest.fixture
def signer():
    return ec.generate_private_key(ec.SECP256R1())


def claims(service, **changes) -> dict:
    values = {"aud": service.origin, "exp": int(time.time()) + 3600,
              "sub": "mailto:ops@example.com"}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def encrypted(device, payload=PAYLOAD) -> bytes:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebPusher(device.subscription_json()).encode(raw, "aes128gcm")["body"]


def push(http, device, authorization, body=None, **headers):
    sent = {"Authorization": authorization, "TTL": "60", "Urgency": "normal",
            "Content-Encoding": "aes128gcm"}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    sent = {k: v for k, v in sent.items() if v is not None}
    return http.post(device.endpoint, data=encrypted(device) if body is None else body,
                     headers=sent, timeout=5)


# --- what it accepts -------------------------------------------------------------------------------

def test_accepts_a_correctly_signed_and_encrypted_push(push_service, http, signer):
    device = push_service.new_device()
    response = push(http, device, sign_vapid(signer, claims(push_service)), Topic="thread-7")
    assert response.status_code == 201
    assert response.headers["Location"].startswith(push_service.origin)
    [record] = push_service.requests_for(device)
    assert record.ok and record.payload == PAYLOAD
    assert record.vapid["claims"]["aud"] == push_service.origin
    assert record.vapid["key"] == public_key_b64(signer)
    assert push_service.delivered(device) == [PAYLOAD]


def test_accepts_what_the_apps_vapid_keys_sign(app, push_service, http):
    keys = app_keys()
    device = push_service.new_device(application_server_key=keys.public_key_b64)
    response = push(http, device, keys.authorization(device.endpoint))
    assert response.status_code == 201, response.text
    [record] = push_service.requests_for(device)
    assert record.vapid["claims"]["sub"] == app.config["VAPID_SUBJECT"]
    assert record.vapid["claims"]["exp"] <= time.time() + 24 * 3600


# --- what it refuses -------------------------------------------------------------------------------

def _refused(push_service, device, response, status, words):
    assert response.status_code == status, response.text
    [record] = push_service.requests_for(device)
    assert not record.ok
    assert words in " ".join(record.errors), record.errors
    assert push_service.delivered(device) == []


def test_refuses_a_signature_made_with_another_key(push_service, http, signer):
    device = push_service.new_device()
    someone_else = ec.generate_private_key(ec.SECP256R1())
    # Signed by someone else, claiming to be ``signer``.
    authorization = sign_vapid(someone_else, claims(push_service), key_b64=public_key_b64(signer))
    _refused(push_service, device, push(http, device, authorization), 401, "signature")


def test_refuses_claims_changed_after_signing(push_service, http, signer):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service))
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    header, _, signature = token.split(".")
    forged_claims = sign_vapid(signer, claims(push_service, sub="mailto:evil@example.com")) \
        .split("t=", 1)[1].split(".")[1]
    forged = authorization.replace(token, f"{header}.{forged_claims}.{signature}")
    _refused(push_service, device, push(http, device, forged), 401, "signature")


def test_refuses_a_signature_that_is_not_raw_r_and_s(push_service, http, signer):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service))
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    truncated = authorization.replace(token, token[:-4])
    _refused(push_service, device, push(http, device, truncated), 401, "signature")


@pytest.mark.parametrize("aud", ["http://127.0.0.1:1", "https://fcm.googleapis.com", None])
def test_refuses_a_token_for_another_audience(push_service, http, signer, aud):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service, aud=aud))
    _refused(push_service, device, push(http, device, authorization), 401, "aud")


def test_refuses_an_expired_token(push_service, http, signer):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service, exp=int(time.time()) - 60))
    _refused(push_service, device, push(http, device, authorization), 401, "expired")


def test_refuses_a_token_that_lives_longer_than_24_hours(push_service, http, signer):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service, exp=int(time.time()) + 25 * 3600))
    _refused(push_service, device, push(http, device, authorization), 401, "24 hours")


@pytest.mark.parametrize("sub", [None, "admin@example.com", "http://example.com"])
def test_refuses_a_token_without_a_usable_subject(push_service, http, signer, sub):
    device = push_service.new_device()
    values = claims(push_service, sub=sub)
    authorization = sign_vapid(signer, values)
    _refused(push_service, device, push(http, device, authorization), 401, "sub")


def test_refuses_an_algorithm_other_than_es256(push_service, http, signer):
    device = push_service.new_device()
    authorization = sign_vapid(signer, claims(push_service), header={"typ": "JWT", "alg": "HS256"})
    _refused(push_service, device, push(http, device, authorization), 401, "alg")


@pytest.mark.parametrize("authorization", ["", "Bearer abc", "WebPush abc.def.ghi",
                                           "vapid t=abc.def.ghi"])
def test_refuses_other_authorization_schemes(push_service, http, authorization):
    device = push_service.new_device()
    _refused(push_service, device, push(http, device, authorization or None), 401, "")


def test_refuses_a_key_other_than_the_subscriptions_application_server_key(push_service, http,
                                                                         signer):
    device = push_service.new_device(application_server_key=app_keys().public_key_b64)
    authorization = sign_vapid(signer, claims(push_service))
    _refused(push_service, device, push(http, device, authorization), 403, "key")


@pytest.mark.parametrize("headers, words", [
    ({"TTL": None}, "TTL"),
    ({"TTL": "soon"}, "TTL"),
    ({"Urgency": "urgent"}, "Urgency"),
    ({"Topic": "t" * 33}, "Topic"),
    ({"Topic": "thread.7"}, "Topic"),
])
def test_refuses_bad_push_headers(push_service, http, signer, headers, words):
    device = push_service.new_device()
    response = push(http, device, sign_vapid(signer, claims(push_service)), **headers)
    _refused(push_service, device, response, 400, words)


def test_refuses_a_body_encrypted_for_another_device(push_service, http, signer):
    device, other = push_service.new_device(), push_service.new_device()
    response = push(http, device, sign_vapid(signer, claims(push_service)), body=encrypted(other))
    _refused(push_service, device, response, 400, "decryption failed")


def test_refuses_a_plaintext_body(push_service, http, signer):
    device = push_service.new_device()
    response = push(http, device, sign_vapid(signer, claims(push_service)),
                    body=json.dumps(PAYLOAD).encode(), Content_Encoding=None)
    _refused(push_service, device, response, 415, "aes128gcm")


def test_refuses_more_than_4096_bytes(push_service, http, signer):
    device = push_service.new_device()
    body = encrypted(device, {"body": "x" * 5000})
    response = push(http, device, sign_vapid(signer, claims(push_service)), body=body)
    _refused(push_service, device, response, 413, "4096")


def test_an_unknown_subscription_is_404(push_service, http, signer):
    device = push_service.new_device()
    device.endpoint = device.endpoint.rsplit("/", 1)[0] + "/nobody"
    response = push(http, device, sign_vapid(signer, claims(push_service)))
    assert response.status_code == 404


# --- scripted answers ----------------------------------------------------------------------------

def test_answers_by_each_devices_script(push_service, http, signer):
    flaky, busy, gone = (push_service.new_device() for _ in range(3))
    push_service.script(flaky, 500, 201)
    push_service.script(busy, 429, (429, {"Retry-After": "120"}))
    push_service.script(gone, 410)
    authorization = sign_vapid(signer, claims(push_service))
    assert [push(http, flaky, authorization).status_code for _ in range(3)] == [500, 201, 201]
    first, second = push(http, busy, authorization), push(http, busy, authorization)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "30")
    assert (second.status_code, second.headers["Retry-After"]) == (429, "120")
    assert push(http, gone, authorization).status_code == 410
    assert len(push_service.delivered(flaky)) == 2 and push_service.delivered(gone) == []


def test_a_refused_request_does_not_use_up_the_script(push_service, http, signer):
    device = push_service.new_device()
    push_service.script(device, 500)
    expired = sign_vapid(signer, claims(push_service, exp=int(time.time()) - 1))
    assert push(http, device, expired).status_code == 401
    assert push(http, device, sign_vapid(signer, claims(push_service))).status_code == 500
