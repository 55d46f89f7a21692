"""The store (layer 3 adapter): append-only SQL history of revisions, plans, actions and decisions."""

from reconciler.store.history import HistoryEntry
from reconciler.store.migrations import LATEST, StoreError
from reconciler.store.store import Store, database_url, default_database

__all__ = ["LATEST", "HistoryEntry", "Store", "StoreError", "database_url", "default_database"]
