"""The emulated KV store with advisory locks (sandbox layer, Consul emulator).

Entries carry Consul's CreateIndex/ModifyIndex/LockIndex/Session. `cas`, `acquire` and `release`
answer False (HTTP 200) on failure; a released key cannot be re-acquired during its lock-delay.
Deleted keys leave tombstone indexes so prefix reads never see their index go backwards.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from reconciler.sandbox.consul.raft import RaftIndex


class Behavior(StrEnum):
    RELEASE = "release"
    DELETE = "delete"


@dataclass
class KVEntry:
    key: str
    value: bytes
    flags: int = 0
    create_index: int = 0
    modify_index: int = 0
    lock_index: int = 0
    session: str = ""


class KVStore:
    """Keys of one datacenter; `session_valid` tells whether a session id may lock."""

    def __init__(self, raft: RaftIndex, clock: Callable[[], float] = time.monotonic) -> None:
        self.raft = raft
        self.clock = clock
        self.entries: dict[str, KVEntry] = {}
        self.table_index = 1
        self._tombstones: dict[str, int] = {}
        self._lock_delay_until: dict[str, float] = {}
        self._batch_index: int | None = None

    def _write(self) -> int:
        if self._batch_index is not None:
            return self._batch_index  # every write of one transaction shares its raft index
        self.table_index = self.raft.advance()
        return self.table_index

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside share one index; an exception undoes them all (the state store's txn abort)."""
        saved = (copy.deepcopy(self.entries), dict(self._tombstones), self.table_index)
        self._batch_index = self.raft.current + 1
        try:
            yield
        except BaseException:
            self.entries, self._tombstones, self.table_index = saved
            raise
        finally:
            wrote, self._batch_index = self._batch_index, None
        if any(e.modify_index == wrote for e in self.entries.values()) or wrote in self._tombstones.values():
            self.table_index = self.raft.advance()

    def key_index(self, key: str) -> int:
        entry = self.entries.get(key)
        return entry.modify_index if entry else self.table_index

    def prefix_index(self, prefix: str) -> int:
        indexes = [e.modify_index for k, e in self.entries.items() if k.startswith(prefix)]
        indexes += [i for k, i in self._tombstones.items() if k.startswith(prefix)]
        return max(indexes, default=self.table_index)

    def under(self, prefix: str) -> list[KVEntry]:
        return [self.entries[k] for k in sorted(self.entries) if k.startswith(prefix)]

    def put(self, key: str, value: bytes, flags: int | None) -> bool:
        """A plain write: overwrites even a locked key (locks are advisory).

        agent/kvs_endpoint.go KVSPut builds a fresh DirEntry with Flags 0: no `?flags` resets them.
        """
        idx = self._write()
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = KVEntry(key, value, flags or 0, idx, idx)
            return True
        entry.value, entry.modify_index, entry.flags = value, idx, flags or 0
        return True

    def cas(self, key: str, value: bytes, flags: int | None, index: int) -> bool:
        entry = self.entries.get(key)
        if (index == 0 and entry is not None) or (index > 0 and (entry is None or entry.modify_index != index)):
            return False
        return self.put(key, value, flags)

    def acquire(self, key: str, value: bytes, flags: int | None, session: str) -> bool:
        # agent/consul/kvs_endpoint.go kvsPreApply: lock-delay refuses every lock of the key, checked
        # before the state store looks at who holds it.
        if self._lock_delay_until.get(key, 0.0) > self.clock():
            return False
        entry = self.entries.get(key)
        if entry is not None and entry.session and entry.session != session:
            return False
        self.put(key, value, flags)
        entry = self.entries[key]
        if entry.session != session:
            entry.session = session
            entry.lock_index += 1
        return True

    def release(self, key: str, value: bytes, flags: int | None, session: str) -> bool:
        entry = self.entries.get(key)
        if entry is None or entry.session != session:
            return False
        self.put(key, value, flags)
        entry.session = ""
        return True

    def delete(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self._tombstones[key] = self._write()

    def delete_cas(self, key: str, index: int) -> bool:
        entry = self.entries.get(key)
        if entry is None or entry.modify_index != index:
            return False
        self.delete(key)
        return True

    def delete_tree(self, prefix: str) -> None:
        doomed = [k for k in self.entries if k.startswith(prefix)]
        if not doomed:
            return
        idx = self._write()
        for key in doomed:
            del self.entries[key]
            self._tombstones[key] = idx

    def drop_session(self, session: str, behavior: Behavior, lock_delay: float) -> None:
        """A session was invalidated: release (or delete) what it held and start each key's lock-delay."""
        held = [e for e in self.entries.values() if e.session == session]
        if not held:
            return
        idx = self._write()
        for entry in held:
            self._lock_delay_until[entry.key] = self.clock() + lock_delay
            if behavior == Behavior.DELETE:
                del self.entries[entry.key]
                self._tombstones[entry.key] = idx
            else:
                entry.session, entry.modify_index = "", idx
