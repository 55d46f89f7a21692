"""`PUT /v1/txn`: atomic KV transactions (sandbox layer, Consul emulator).

agent/txn_endpoint.go Txn and agent/consul/state/txn.go txnKVS: at most 64 operations; every KV verb
runs in order and all share one raft index; the first failing operation rolls the whole transaction back
and the answer is 409 with `Errors` (`OpIndex`, `What`). Results carry entries without their values,
except for `get` and `get-tree`. Node, service and check operations are refused: the sandbox emulates
KV transactions only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.api_kv import MAX_VALUE, entry_json
from reconciler.sandbox.consul.http_wire import ConsulHTTPError, json_response, read_json
from reconciler.sandbox.consul.kv import KVEntry, KVStore
from reconciler.sandbox.consul.registration import pick
from reconciler.sandbox.consul.state import state_of

routes = web.RouteTableDef()
MAX_OPS = 64
READS = {"get", "get-tree", "check-index", "check-session", "check-not-exists"}


class TxnFailure(Exception):
    """One operation failed: the transaction is rolled back and answered 409."""

    def __init__(self, index: int, what: str) -> None:
        super().__init__(what)
        self.index, self.what = index, what


class KVOp:
    """One decoded `{"KV": {...}}` operation."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.verb = str(pick(body, "Verb", "") or "")
        self.key = str(pick(body, "Key", "") or "")
        self.flags = int(pick(body, "Flags", 0) or 0)
        self.index = int(pick(body, "Index", 0) or 0)
        self.session = str(pick(body, "Session", "") or "")
        raw = pick(body, "Value")
        try:
            self.value = base64.b64decode(raw, validate=True) if raw else b""
        except (binascii.Error, TypeError) as exc:
            raise ConsulHTTPError(400, f"Failed to parse body: failed to decode value: {exc}") from exc
        if len(self.value) > MAX_VALUE:
            raise ConsulHTTPError(413, f'Value for key "{self.key}" is too large '
                                       f"({len(self.value)} > {MAX_VALUE} bytes)")


def _decode(body: Any) -> list[KVOp]:
    if not isinstance(body, list):
        raise ConsulHTTPError(400, "Failed to parse body: a transaction is a JSON list of operations")
    if len(body) > MAX_OPS:
        raise ConsulHTTPError(413, f"Transaction contains too many operations ({len(body)} > {MAX_OPS})")
    ops = []
    for item in body:
        kv = pick(item, "KV") if isinstance(item, dict) else None
        if not isinstance(kv, dict):
            raise ConsulHTTPError(400, "Failed to parse body: the sandbox emulates KV transaction operations only")
        ops.append(KVOp(kv))
    return ops


def _existing(kv: KVStore, op: KVOp) -> KVEntry:
    entry = kv.entries.get(op.key)
    if entry is None:
        raise ValueError(f'key "{op.key}" doesn\'t exist')
    return entry


def _checked(kv: KVStore, op: KVOp, failed: str, done: bool) -> list[KVEntry]:
    if not done:
        raise ValueError(failed)
    return [kv.entries[op.key]] if op.key in kv.entries else []


def _check_index(kv: KVStore, op: KVOp) -> list[KVEntry]:
    entry = _existing(kv, op)
    if entry.modify_index != op.index:
        raise ValueError(f"current modify index {entry.modify_index} != {op.index}")
    return [entry]


def _check_session(kv: KVStore, op: KVOp) -> list[KVEntry]:
    entry = _existing(kv, op)
    if entry.session != op.session:
        raise ValueError(f'failed session check for key "{op.key}", current session "{entry.session}" != '
                         f'"{op.session}"')
    return [entry]


def _check_not_exists(kv: KVStore, op: KVOp) -> list[KVEntry]:
    if op.key in kv.entries:
        raise ValueError(f'key "{op.key}" exists')
    return []


def _delete(kv: KVStore, op: KVOp) -> list[KVEntry]:
    kv.delete(op.key)
    return []


def _delete_tree(kv: KVStore, op: KVOp) -> list[KVEntry]:
    kv.delete_tree(op.key)
    return []


def _delete_cas(kv: KVStore, op: KVOp) -> list[KVEntry]:
    if not kv.delete_cas(op.key, op.index):
        raise ValueError(f'failed to delete key "{op.key}", index is stale')
    return []


VERBS: dict[str, Callable[[KVStore, KVOp], list[KVEntry]]] = {
    "set": lambda kv, op: _checked(kv, op, "", kv.put(op.key, op.value, op.flags)),
    "cas": lambda kv, op: _checked(kv, op, f'failed to set key "{op.key}", index is stale',
                                   kv.cas(op.key, op.value, op.flags, op.index)),
    "lock": lambda kv, op: _checked(kv, op, f'failed to lock key "{op.key}", lock is already held',
                                    kv.acquire(op.key, op.value, op.flags, op.session)),
    "unlock": lambda kv, op: _checked(kv, op, f'failed to unlock key "{op.key}", lock isn\'t held, or is held by '
                                               "another session", kv.release(op.key, op.value, op.flags, op.session)),
    "get": lambda kv, op: [_existing(kv, op)],
    "get-tree": lambda kv, op: kv.under(op.key),
    "check-index": _check_index,
    "check-session": _check_session,
    "check-not-exists": _check_not_exists,
    "delete": _delete,
    "delete-tree": _delete_tree,
    "delete-cas": _delete_cas,
}


def _result(op: KVOp, entry: KVEntry) -> dict[str, Any]:
    body = entry_json(entry)
    if op.verb not in ("get", "get-tree"):
        body["Value"] = None  # state/txn.go txnKVS drops values from write results
    return {"KV": body}


def _apply(kv: KVStore, ops: list[KVOp], known_session: Callable[[str], bool]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for position, op in enumerate(ops):
        handler = VERBS.get(op.verb)
        try:
            if handler is None:
                raise ValueError(f'unknown KV verb "{op.verb}"')
            if op.verb == "lock" and not known_session(op.session):
                raise ValueError(f'invalid session "{op.session}"')
            results.extend(_result(op, entry) for entry in handler(kv, op))
        except ValueError as exc:
            raise TxnFailure(position, str(exc)) from exc
    return results


@routes.put("/v1/txn")
async def put_txn(request: web.Request) -> web.Response:
    state = state_of(request)
    ops = _decode(await read_json(request))
    try:
        with state.kv.transaction():
            results = _apply(state.kv, ops, lambda session: session in state.sessions.sessions)
    except TxnFailure as failure:
        body = {"Results": None, "Errors": [{"OpIndex": failure.index, "What": failure.what}]}
        return json_response(body, request, status=409)
    response = json_response({"Results": results or None, "Errors": None}, request)
    if all(op.verb in READS for op in ops):
        # txn_endpoint.go: a read-only transaction goes through Txn.Read and carries leader headers.
        response.headers["X-Consul-KnownLeader"] = "true"
        response.headers["X-Consul-LastContact"] = "0"
    return response
