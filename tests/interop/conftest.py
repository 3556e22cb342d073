"""Protocol tests: the loopback push service (tests/interop/push_service.py) on its own."""
import pytest

from tests.interop.push_service import running


@pytest.fixture
def push_service():
    with running() as service:
        yield service
