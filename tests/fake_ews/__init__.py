"""A stateful fake EWS server for tests (see `server.py` for what it is and is not)."""

from tests.fake_ews.server import FakeEWS, Fault, StoredItem

__all__ = ["FakeEWS", "Fault", "StoredItem"]
