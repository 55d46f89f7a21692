"""Approved plans' marks and autoscale samples when the store fails, on PostgreSQL
(tests/unit/engine/store_outage_marks.py): the outage is a server refusing writes as read-only (a standby
for now, as in a failover), which reads still answer."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from reconciler.store import Store
from tests.e2e.test_store_postgres import database, server_url  # noqa: F401 - the fixture
from tests.unit.engine.store_outage_marks import (
    Outage,
    a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends,
    an_approved_plan_applied_during_an_outage_is_marked_applied_once,
    an_outcome_waits_behind_its_cycles_plan,
    samples_taken_during_an_outage_arrive_with_their_own_times,
    the_mark_and_the_samples_waiting_at_stop_are_written,
)

pytestmark = pytest.mark.postgres


def _read_only(url: str) -> Outage:
    name = make_url(url).database
    admin = make_url(server_url()).set(drivername="postgresql").render_as_string(hide_password=False)

    def outage(store: Store, on: bool) -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
        store.close()  # the pool's connections keep the setting they began with: new ones take it

    return outage


def test_an_approved_plan_applied_during_an_outage_is_marked_applied_once_on_postgresql(database: str) -> None:  # noqa: F811
    an_approved_plan_applied_during_an_outage_is_marked_applied_once(database, _read_only(database))


def test_an_outcome_waits_behind_its_cycles_plan_on_postgresql(database: str) -> None:  # noqa: F811
    an_outcome_waits_behind_its_cycles_plan(database)


def test_a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends_on_postgresql(
    database: str, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends(database, caplog)


def test_samples_taken_during_an_outage_arrive_with_their_own_times_on_postgresql(database: str) -> None:  # noqa: F811
    samples_taken_during_an_outage_arrive_with_their_own_times(database, _read_only(database))


def test_the_mark_and_the_samples_waiting_at_stop_are_written_on_postgresql(
    database: str, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    the_mark_and_the_samples_waiting_at_stop_are_written(database, _read_only(database), caplog)
