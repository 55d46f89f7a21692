"""gc_paused: no cyclic collection inside the block, the previous setting restored after it; the JSON parse
that tells orjson's reading from the lenient one; work off the event loop with the collector paused."""

from __future__ import annotations

import gc
import json
import threading

import pytest

from reconciler.gc_pause import gc_paused, off_loop, parsed_json, parsed_json_strictly


def test_the_collector_is_off_inside_and_back_on_after_even_when_the_block_raises() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("a body that is not JSON")
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_blocks_in_two_threads_keep_the_collector_off_until_the_last_one_ends() -> None:
    inside, leave = threading.Event(), threading.Event()
    seen: list[bool] = []

    def worker() -> None:
        with gc_paused():
            inside.set()
            leave.wait(30)
        seen.append(gc.isenabled())  # the block on the main thread is still open

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(30)
    with gc_paused():
        leave.set()
        thread.join(30)
        assert seen == [False] and not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("content", "strict"),
    [(b'{"a": null, "n": 1.5}', True), (b'{"a": NaN}', False), (b'{"a": -Infinity}', False), (b'{"a": 1e400}', False)],
)
def test_the_parse_says_whether_orjson_read_the_answer(content: bytes, strict: bool) -> None:
    parsed, by_orjson = parsed_json_strictly(content)
    assert by_orjson is strict
    assert repr(parsed) == repr(json.loads(content)) == repr(parsed_json(content))


@pytest.mark.parametrize("large", [True, False])
async def test_work_on_or_off_the_loop_runs_with_the_collector_paused(large: bool) -> None:
    loop_thread = threading.get_ident()
    paused, thread = await off_loop(large, lambda: (not gc.isenabled(), threading.get_ident()))
    assert paused and (thread != loop_thread) is large
    assert gc.isenabled()
