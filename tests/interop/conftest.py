"""Protocol tests: the loopback push service (tests/interop/push_service.py) on its own."""
import pytest

from tests.interop.push_service import running


@pytest.fixture
def push_service(app):
    """The loopback push service, and the app told to accept its http://127.0.0.1 endpoints
    (an explicit test setting: production accepts only https push services, see
    app/notifications/endpoints.py)."""
    app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = True
    try:
        with running() as service:
            yield service
    finally:
        app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = False
