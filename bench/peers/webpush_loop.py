"""The web push peer: the loop pywebpush's README suggests, one ``webpush()`` call per device,
one after the other (each call signs a VAPID JWT, encrypts, and POSTs on a new connection), with
no database: only the sending is measured."""
from __future__ import annotations

import json
import time

SUBJECT = "mailto:bench@example.com"


def new_keys():
    """A fresh VAPID key pair: (the py_vapid object webpush() takes, the public key as the
    applicationServerKey a browser subscribes with)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid02

    vapid = Vapid02()
    vapid.generate_keys()
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    return vapid, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def send_all(subscriptions: list[dict], vapid, payload: dict) -> tuple[int, float]:
    """Send ``payload`` to every subscription; (pushes accepted, seconds)."""
    from pywebpush import WebPushException, webpush

    data = json.dumps(payload)
    sent = 0
    started = time.perf_counter()
    for subscription in subscriptions:
        try:
            webpush(subscription_info=subscription, data=data, vapid_private_key=vapid,
                    vapid_claims={"sub": SUBJECT},  # webpush() writes aud/exp into it
                    ttl=3600, timeout=10)
            sent += 1
        except WebPushException:
            pass
    return sent, time.perf_counter() - started
