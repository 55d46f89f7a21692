"""Offer matching (sandbox layer): which agent can take one more task of an app, and why not.

Mirrors Marathon's resource matcher: cpus, mem, disk, ports from the agent's range, and the
constraint operators on `hostname` (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from reconciler.sandbox.marathon.model import Agent, JsonDict, Task

PortFree = Callable[[str, int], bool]  # whether host:port is free on this machine (nothing outside holds it)
RANDOM_PICKS = 16


class RejectReason(StrEnum):
    """Marathon's NoOfferMatchReason names, in the order the queue lists them."""

    UNFULFILLED_ROLE = "UnfulfilledRole"
    UNFULFILLED_CONSTRAINT = "UnfulfilledConstraint"
    NO_RESERVATION = "NoCorrespondingReservationFound"
    AGENT_MAINTENANCE = "AgentMaintenance"
    INSUFFICIENT_CPUS = "InsufficientCpus"
    INSUFFICIENT_MEMORY = "InsufficientMemory"
    INSUFFICIENT_DISK = "InsufficientDisk"
    INSUFFICIENT_GPUS = "InsufficientGpus"
    INSUFFICIENT_PORTS = "InsufficientPorts"
    DECLINED_SCARCE = "DeclinedScarceResources"


REASON_ORDER = list(RejectReason)


@dataclass(frozen=True)
class Match:
    agent: Agent
    ports: list[int]


def match_offer(
    agent: Agent, defn: JsonDict, placed: list[Task], rng: random.Random, port_free: PortFree
) -> Match | list[RejectReason]:
    """The ports to use on `agent`, or every reason it refuses (placed = the app's active tasks)."""
    reasons = _resource_reasons(agent, defn)
    ports = pick_ports(agent, defn, rng, port_free)
    if ports is None:
        reasons.append(RejectReason.INSUFFICIENT_PORTS)
    if not constraints_hold(agent, defn.get("constraints") or [], placed):
        reasons.insert(0, RejectReason.UNFULFILLED_CONSTRAINT)
    if reasons or ports is None:
        return reasons
    return Match(agent, ports)


def _resource_reasons(agent: Agent, defn: JsonDict) -> list[RejectReason]:
    reasons = []
    if agent.cpus - agent.used_cpus < float(defn["cpus"]) - 1e-9:
        reasons.append(RejectReason.INSUFFICIENT_CPUS)
    if agent.mem - agent.used_mem < float(defn["mem"]) - 1e-9:
        reasons.append(RejectReason.INSUFFICIENT_MEMORY)
    if agent.disk - agent.used_disk < float(defn["disk"]) - 1e-9:
        reasons.append(RejectReason.INSUFFICIENT_DISK)
    if float(defn.get("gpus") or 0) > 0:
        reasons.append(RejectReason.INSUFFICIENT_GPUS)
    return reasons


def pick_ports(agent: Agent, defn: JsonDict, rng: random.Random, port_free: PortFree) -> list[int] | None:
    """The agent ports for one more task: each required one as it is, free ones for the rest; None when
    a required port is outside the agent's range or taken, or too few are free.

    Like a Mesos agent that owns its range, a port held outside the sandbox (`port_free` says no) is
    never offered: a required one keeps the task waiting, as it could not bind on a real agent either.
    """
    from reconciler.sandbox.marathon.appdef import requested_host_ports

    low, high = agent.port_range
    wanted = requested_host_ports(defn)
    required = [port for port in wanted if port]
    if len(set(required)) < len(required) or any(not low <= p <= high or p in agent.used_ports for p in required):
        return None
    taken = agent.used_ports | set(required)
    if wanted.count(0) > (high - low + 1) - len(taken):
        return None
    if not all(port_free(agent.host, port) for port in required):
        return None
    chosen = list(wanted)
    for index in (index for index, port in enumerate(wanted) if not port):
        port = _free_port(agent, taken, rng, port_free)
        if port is None:
            return None
        taken.add(port)
        chosen[index] = port
    return chosen


def _free_port(agent: Agent, taken: set[int], rng: random.Random, port_free: PortFree) -> int | None:
    """A random port of the range that is neither `taken` nor held outside; random picks spread tasks
    over the range, so two sandboxes on one machine rarely reach for the same port."""
    low, high = agent.port_range
    for _ in range(RANDOM_PICKS):
        port = rng.randint(low, high)
        if port not in taken and port_free(agent.host, port):
            return port
    # A crowded range: walk it once from a random place rather than guess on.
    start = rng.randint(low, high)
    for offset in range(high - low + 1):
        port = low + (start - low + offset) % (high - low + 1)
        if port not in taken and port_free(agent.host, port):
            return port
    return None


def constraints_hold(agent: Agent, constraints: list[list[str]], placed: list[Task]) -> bool:
    return all(_constraint_holds(agent, constraint, placed) for constraint in constraints)


def _constraint_holds(agent: Agent, constraint: list[str], placed: list[Task]) -> bool:
    field, operator = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) > 2 else ""
    if field != "hostname":
        # Simulated agents carry no attributes: only operators that accept absence pass.
        return operator in ("UNLIKE", "GROUP_BY")
    same_host = [task for task in placed if task.agent.index == agent.index]
    checks = {
        "UNIQUE": lambda: not same_host,
        # Constraints.checkCluster: without a value, the first placed task's host is the one for all.
        "CLUSTER": lambda: agent.host == value if value else not placed or placed[0].agent.index == agent.index,
        "IS": lambda: agent.host == value,
        "LIKE": lambda: re.fullmatch(value, agent.host) is not None,
        "UNLIKE": lambda: re.fullmatch(value, agent.host) is None,
        "MAX_PER": lambda: len(same_host) < int(value or 1),
        "GROUP_BY": lambda: _group_by_holds(agent, placed),
    }
    check = checks.get(operator)
    return check() if check else False


def _group_by_holds(agent: Agent, placed: list[Task]) -> bool:
    """Accept only agents that hold the fewest tasks of the app, so tasks spread evenly."""
    counts = Counter(task.agent.index for task in placed)
    known = {task.agent.index for task in placed} | {agent.index}
    return counts[agent.index] <= min(counts[index] for index in known)
