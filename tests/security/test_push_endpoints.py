"""Push subscription endpoints (issue 9, item 9): the server POSTs to them from inside its
network, so only https endpoints on the push services it knows are accepted; internal
addresses, Redis's port, metadata services, credentials in the URL are refused. An endpoint
already registered to someone is not moved to another account, in this center or another.
The loopback push service of the tests is reachable only through an explicit test setting."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.accounts.models import Role
from app.extensions import db
from app.notifications.endpoints import endpoint_problem, parse_host_patterns
from app.notifications.models import PushSubscription
from tests.interop.push_service import running

KEYS = {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTY"}

REFUSED = [
    "http://fcm.googleapis.com/fcm/send/abc",  # not https
    "https://127.0.0.1/push/1",
    "https://127.0.0.1:6379/",  # Redis
    "http://127.0.0.1:6379/",
    "https://localhost/push",
    "https://[::1]/push",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.5/push",
    "https://192.168.1.1/push",
    "https://[fe80::1]/push",
    "https://[::ffff:127.0.0.1]/push",
    "https://2130706433/push",  # 127.0.0.1 as a number
    "https://fcm.googleapis.com:6379/fcm/send/abc",  # an odd port on a good host
    "https://fcm.googleapis.com:8443/fcm/send/abc",
    "https://user:pass@fcm.googleapis.com/fcm/send/abc",  # credentials
    "https://fcm.googleapis.com@127.0.0.1/fcm/send/abc",
    "https://evil.example/fcm/send/abc",  # not a push service
    "https://fcm.googleapis.com.evil.example/fcm/send/abc",
    "https://notify.windows.com.evil.example/w/?token=x",
    "https://push.apple.com/abc",  # the bare domain is not one of Apple's push hosts
    "https://fcm.googleapis.com/fcm/send/a b",
    "https://fcm.googleapis.com/fcm/send/a\r\nX: y",
    "https://fcm.googleapis.com/fcm/send/abc#frag",
    "gopher://fcm.googleapis.com/x",
    "file:///etc/passwd",
    "https://fcm.googleapis.com:notaport/x",
    "https://" + "a" * 1000 + ".fcm.googleapis.com/x",
]
ACCEPTED = [
    "https://fcm.googleapis.com/fcm/send/dGhpcyBpcyBh:APA91bH",
    "https://fcm.googleapis.com:443/fcm/send/abc",
    "https://FCM.googleapis.com./fcm/send/abc",
    "https://android.googleapis.com/gcm/send/abc",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
    "https://web.push.apple.com/QGuQyavXutnMH3ZZvC",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
]


def subscribe(browser, endpoint, keys=KEYS):
    return browser.post("/notifications/subscriptions",
                        data=json.dumps({"endpoint": endpoint, "keys": keys}),
                        headers={"X-CSRFToken": browser.csrf,
                                 "Content-Type": "application/json"})


@pytest.mark.parametrize("endpoint", REFUSED)
def test_an_endpoint_off_the_push_services_is_refused(school, as_user, endpoint):
    response = subscribe(as_user(school.students[0]), endpoint)
    assert response.status_code in (400, 422), endpoint
    assert db.session.scalar(select(PushSubscription)) is None


@pytest.mark.parametrize("endpoint", ACCEPTED)
def test_the_browsers_push_services_are_accepted(school, as_user, endpoint):
    response = subscribe(as_user(school.students[0]), endpoint)
    assert response.status_code == 201, response.get_json()
    assert db.session.scalar(select(PushSubscription.endpoint)) == endpoint


def test_the_allow_list_is_configurable(app, school, as_user):
    browser = as_user(school.students[0])
    app.config["PUSH_ENDPOINT_HOSTS"] = "push.example.org, *.push.example.net"
    try:
        assert subscribe(browser, "https://push.example.org/p/1").status_code == 201
        assert subscribe(browser, "https://eu.push.example.net/p/2").status_code == 201
        assert subscribe(browser, "https://fcm.googleapis.com/fcm/send/3").status_code == 422
    finally:
        app.config["PUSH_ENDPOINT_HOSTS"] = ""


def test_any_host_still_means_public_addresses_only():
    anywhere = parse_host_patterns("*")
    # (No network here: names that resolve locally, and one that does not resolve at all.)
    assert endpoint_problem("https://localhost/push", allowed_hosts=anywhere)
    assert endpoint_problem("https://localhost.localdomain/push", allowed_hosts=anywhere)
    assert endpoint_problem("https://no-such-host.invalid/push", allowed_hosts=anywhere)
    assert endpoint_problem("https://10.1.2.3/push", allowed_hosts=anywhere)


def test_the_loopback_push_service_needs_the_explicit_test_setting(app, school, as_user):
    browser = as_user(school.students[0])
    with running() as service:
        device = service.new_device()
        endpoint = device.subscription_json()["endpoint"]
        assert endpoint.startswith("http://127.0.0.1:")
        assert not app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"]
        assert subscribe(browser, endpoint, device.subscription_json()["keys"]).status_code \
            == 422
        app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = True
        try:
            assert subscribe(browser, endpoint,
                             device.subscription_json()["keys"]).status_code == 201
            # Even then, only loopback: not other private addresses, not credentials.
            assert subscribe(browser, "http://10.0.0.5:6379/").status_code == 422
            assert subscribe(browser, "http://u:p@127.0.0.1:6379/").status_code == 422
        finally:
            app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = False


def test_an_endpoint_is_not_moved_across_accounts_or_centers(school, make, as_user):
    s1, s2 = school.students
    elsewhere = make.user(make.center("Elsewhere"), Role.STUDENT)
    endpoint = ACCEPTED[0]
    assert subscribe(as_user(s1), endpoint).status_code == 201
    for intruder in (s2, elsewhere):
        response = subscribe(as_user(intruder), endpoint, {"p256dh": "B" + "C" * 86,
                                                           "auth": "YW5vdGhlci1hdXRoLXg"})
        assert response.status_code == 409
        assert "another account" in response.get_json()["error"]
    db.session.expire_all()
    [row] = db.session.scalars(select(PushSubscription)).all()
    assert (row.user_id, row.center_id, row.p256dh) == (s1.id, s1.center_id, KEYS["p256dh"])
    # The owner re-sending it (every page load does) still updates it.
    assert subscribe(as_user(s1), endpoint).status_code == 201
    # Once the owner logs out on that browser (which forgets it), the next person may take it.
    owner = as_user(s1)
    owner.post("/logout", data={"csrf_token": owner.csrf, "push_endpoint": endpoint})
    assert subscribe(as_user(s2), endpoint).status_code == 201
    db.session.expire_all()
    assert db.session.scalar(select(PushSubscription.user_id)) == s2.id
