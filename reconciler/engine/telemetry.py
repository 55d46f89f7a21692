"""The controller's Prometheus metric families (engine layer); the HTTP server exposes them.

Each ControllerMetrics owns its registry, so two controllers in one process (tests) never share
counters. Methods take plain values, so any part of the engine can report without knowing the
exposition format.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Cycles last from milliseconds (nothing to do) to minutes (waiting for deployments).
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ControllerMetrics:
    """cycles, cycle duration, actions by kind and outcome, drifted apps, heals, errors, leader (and whether
    it may write), revision, autoscaling decisions, notifications."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter("reconciler_cycles", "Reconcile cycles run, by result.", ["result"], registry=r)
        self.cycle_seconds = Histogram("reconciler_cycle_duration_seconds", "Duration of one reconcile cycle.",
                                       buckets=_DURATION_BUCKETS, registry=r)
        self.actions = Counter("reconciler_actions", "Actions executed, by kind and outcome.",
                               ["kind", "outcome"], registry=r)
        self.drifted = Gauge("reconciler_drifted_apps", "Managed apps whose actual state differs from the"
                             " desired one at the last cycle, per environment.", ["env"], registry=r)
        self.heals = Counter("reconciler_heals", "Heal actions (tasks killed to be replaced), by outcome.",
                             ["env", "outcome"], registry=r)
        self.errors = Counter("reconciler_errors", "Errors, by kind (invalid-spec, remote-unavailable, ...).",
                              ["kind"], registry=r)
        self.leader = Gauge("reconciler_leader", "1 while this replica leads: it holds the leader lock, or runs"
                            " without election (the only writer), else 0.", registry=r)
        self.leader_may_write = Gauge("reconciler_leader_may_write", "1 while this replica may write: it holds the"
                                      " leader lock and its last beat is fresh (or there is no election), else 0.",
                                      registry=r)
        self.synced = Gauge("reconciler_synced_revision_info", "The revision each environment is synced to"
                            " (value 1; the revision is a label).", ["env", "revision"], registry=r)
        self.autoscale_desired = Gauge("reconciler_autoscale_desired_instances", "The instance count the"
                                       " autoscaler last decided for each app.", ["app"], registry=r)
        self.autoscale_decisions = Counter("reconciler_autoscale_decisions", "Autoscaling decisions, by the rule"
                                           " that limited them (none, tolerance, stabilization, min, max,"
                                           " policy:<n>, legacy-scale-up-limit; held: the app was left alone).",
                                           ["limited_by"], registry=r)
        self.notifications = Counter("reconciler_notifications", "Alert notifications to the webhook, by alert kind"
                                     " and outcome (sent, failed, dropped).", ["kind", "outcome"], registry=r)
        self.source_fetched = Gauge("reconciler_source_last_fetch_timestamp_seconds", "When the spec source was"
                                    " last fetched successfully, seconds since the epoch (0: not yet).", registry=r)
        self._synced_revision: dict[str, str] = {}

    def cycle_done(self, seconds: float, *, ok: bool) -> None:
        self.cycles.labels(result="ok" if ok else "failed").inc()
        self.cycle_seconds.observe(seconds)

    def action_done(self, kind: str, outcome: str) -> None:
        self.actions.labels(kind=kind, outcome=outcome).inc()

    def heal_done(self, env: str, outcome: str) -> None:
        self.heals.labels(env=env, outcome=outcome).inc()

    def set_drifted(self, env: str, count: int) -> None:
        self.drifted.labels(env=env).set(count)

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def notification(self, kind: str, outcome: str) -> None:
        self.notifications.labels(kind=kind, outcome=outcome).inc()

    def set_leader(self, leader: bool) -> None:
        self.leader.set(1 if leader else 0)

    def follow_may_write(self, may_write: Callable[[], bool]) -> None:
        """The gauge reads `may_write` at each scrape: a leader cut off from Consul keeps the lock
        (reconciler_leader 1) while its write window lapses, and only this tells it."""
        self.leader_may_write.set_function(lambda: 1.0 if may_write() else 0.0)

    def follow_source(self, fetched_at: Callable[[], float]) -> None:
        """The gauge reads when the spec source was last fetched at each scrape (0 before the first fetch):
        `time() - reconciler_source_last_fetch_timestamp_seconds` is how stale the specs may be."""
        self.source_fetched.set_function(fetched_at)

    def set_synced(self, env: str, revision: str) -> None:
        """One series per environment: the previous revision's series goes when the revision changes."""
        previous = self._synced_revision.get(env)
        if previous is not None and previous != revision:
            self.synced.remove(env, previous)
        self._synced_revision[env] = revision
        self.synced.labels(env=env, revision=revision).set(1)

    def autoscaled(self, app: str, desired: int, limited_by: str) -> None:
        self.autoscale_desired.labels(app=app).set(desired)
        self.autoscale_decisions.labels(limited_by=limited_by).inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return bytes(generate_latest(self.registry))
