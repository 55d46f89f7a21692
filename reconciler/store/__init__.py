"""The store (layer 3 adapter): append-only SQL history of revisions, plans, actions and decisions."""

from reconciler.store.history import HistoryEntry
from reconciler.store.migrations import LATEST, StoreError
from reconciler.store.plans import Held, PlanMove, Since
from reconciler.store.store import DEFAULT_SAMPLES_KEEP, SampleRow, Store, database_url, default_database

__all__ = [
    "DEFAULT_SAMPLES_KEEP", "LATEST", "Held", "HistoryEntry", "PlanMove", "SampleRow", "Since", "Store", "StoreError",
    "database_url", "default_database",
]
