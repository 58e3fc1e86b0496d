"""A stateful fake EWS server for tests (see `server.py` for what it is and is not)."""

from tests.fake_ews.server import FakeEWS, Fault, StoredItem

SERVICE_USER = "svc-kontaktsync"
SERVICE_PASSWORD = "Fk-7q2-pw"  # a test password of the fake, nothing real

__all__ = ["SERVICE_PASSWORD", "SERVICE_USER", "FakeEWS", "Fault", "StoredItem"]
