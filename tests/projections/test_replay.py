"""Replaying a store from offset 0 of its topic: equal to the live one, progress, swap, refusals.

- every store (legacy, operation store, jobs) rebuilt from the topics of a phase-5 system
  that imported all 34 exports is equal to the live one, document by document, at the same
  positions (and the legacy rebuild's rate over the corpus is printed);
- a live row changed by hand is reported with its document and field, exit 1;
- a replay beside a running system follows the live projector and still compares equal;
- `--swap` replaces a stopped store in one rename, the projector resumes from it and READ_READY
  keeps coming; it refuses while the projector runs or anyone has the live file open;
- on a terminal the progress is a bar with rate and time left (a real pseudo-terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.exceptions import ReplayError
from projections.job_status import SqliteJobStatusStore
from projections.replay import ReplayReport, first_difference, replay_store
from projections.runner import ProjectorRunner
from projections.service import build_runners
from projections.stores.legacy_sqlite import SqliteLegacyStorage
from reactor_es.cli.main import main
from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.phd import read_phd
from reactor_es.document.verify import find_exports
from reactor_es.importer import import_exports
from reactor_es.kafka.exceptions import ActiveGroupError
from reactor_es.kafka.records import JobStatus
from reactor_es.kafka.topics import ensure_topics
from reactor_es.progress import Progress, format_duration
from reactor_es.registry import default_registry
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir
from tests.pipeline.conftest import cli_env, running_executor, use_settings
from tests.projections.pipeline import TODO, make_pipeline_settings

STORES = ("legacy", "operations", "jobs")
STORE_FILES = {"legacy": "legacy.db", "operations": "operations.db", "jobs": "jobs.db"}


@contextlib.asynccontextmanager
async def projectors(
    settings: Settings, bootstrap: str, names: Sequence[str]
) -> AsyncIterator[dict[str, Any]]:
    """The named projectors of `settings.phase`, running until the block ends."""
    runners = build_runners(settings, bootstrap, default_registry(), list(names))
    async with contextlib.AsyncExitStack() as stack:
        for runner in runners:
            await stack.enter_async_context(runner)
        yield {runner.name: runner for runner in runners}


async def caught_up(running: dict[str, Any]) -> None:
    for runner in running.values():
        if isinstance(runner, ProjectorRunner):
            await runner.wait_caught_up(timeout=120)


async def store_positions(settings: Settings, store: str) -> dict[int, int]:
    """The live store's positions of its own projector, by partition."""
    from projections.legacy_adapter import OperationStoreFile

    opener: Any = {
        "legacy": SqliteLegacyStorage.open,
        "operations": OperationStoreFile.open,
        "jobs": SqliteJobStatusStore.open,
    }[store]
    async with await opener(settings.home / STORE_FILES[store]) as opened:
        held = await opened.get_positions(settings.projector_group(store))
    return {tp.partition: offset for tp, offset in held.items()}


async def job_count(settings: Settings) -> int:
    async with await SqliteJobStatusStore.open(settings.home / "jobs.db") as jobs:
        return len(await jobs.times())


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def replay(
    settings: Settings, bootstrap: str, store: str, into: Path, **options: Any
) -> tuple[ReplayReport, str]:
    out = io.StringIO()
    report = await replay_store(
        settings, bootstrap, default_registry(), store, into, stream=out, **options
    )
    return report, out.getvalue()


# -- every export through a phase-5 system, every store replayed ---------------------------------


@dataclass
class CorpusSystem:
    settings: Settings
    #: Records on `operations`: CREATE and UPGRADE per document, then the exports' own.
    operation_records: int
    jobs: int


@pytest.fixture(scope="module")
async def corpus(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> CorpusSystem:
    """Every export imported through a phase-5 system, then stopped with its stores caught up."""
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        home=tmp_path_factory.mktemp("replay-corpus") / "home",
        topic_prefix=f"replay-{os.urandom(5).hex()}.",
        partitions=3,
        phase=5,
    )
    await ensure_topics(kafka_bootstrap, settings)
    exports = [read_phd(path) for path in find_exports([require_phd_dir()])]
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, STORES) as running,
    ):
        async with Reactor(settings, kafka_bootstrap) as reactor:
            results = await import_exports(reactor, exports, timeout=120)
        assert [r.line() for r in results if not r.ok] == []
        assert sum(r.operations for r in results) == CORPUS_OPERATIONS
        await caught_up(running)
    records = 2 * len(exports) + sum(
        len(ops)
        for export in exports
        for scope, ops in export.document.operations.items()
        if scope != "document"
    )
    return CorpusSystem(settings, records, await job_count(settings))


@pytest.mark.parametrize("store", STORES)
async def test_each_store_replayed_from_offset_0_equals_the_live_one(
    store: str, corpus: CorpusSystem, kafka_bootstrap: str, tmp_path: Path
) -> None:
    into = tmp_path / f"rebuilt-{store}.db"
    live = corpus.settings.home / STORE_FILES[store]

    report, out = await replay(corpus.settings, kafka_bootstrap, store, into)

    what, records = (
        ("jobs", 3 * corpus.jobs)  # PENDING, WRITE_READY, READ_READY per job
        if store == "jobs"
        else ("documents", corpus.operation_records)
    )
    compared = corpus.jobs if store == "jobs" else CORPUS_DOCUMENTS
    assert report.comparison is not None
    assert report.comparison.differences == []
    assert report.comparison.deferred == {}
    assert report.comparison.compared == compared
    assert report.ok
    assert report.records == records
    assert report.positions == await store_positions(corpus.settings, store)
    assert report.lines()[-1] == (
        f"verified: {compared} {what} compared, 0 differences against the live store {live}"
    )
    # Not a terminal: the first line says what is read, the last plain line reaches 100%.
    lines = out.splitlines()
    assert lines[0].startswith(f"replay {store}: reading '{corpus.settings.topic_prefix}")
    assert re.fullmatch(rf"replay {store}: {records} \S.* 100% \(\d+ of \d+\), .* left", lines[-1])
    assert "\r" not in out
    if store == "legacy":
        print(
            f"\nreplay of the legacy store over the corpus: {report.records} operation records "
            f"({CORPUS_OPERATIONS} exported operations) in {report.seconds:.3f} s = "
            f"{report.rate:,.0f} operations/s"
        )


def copy_stores(settings: Settings, to: Path) -> Settings:
    """The stores of a stopped system, copied (a hand edit must not touch the shared run)."""
    to.mkdir(parents=True)
    for name in STORE_FILES.values():
        with sqlite3.connect(settings.home / name) as src, sqlite3.connect(to / name) as dst:
            src.backup(dst)
    return settings.with_(home=to)


async def test_a_live_document_changed_by_hand_is_reported_and_not_swapped(
    corpus: CorpusSystem,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = copy_stores(corpus.settings, tmp_path / "home")
    with sqlite3.connect(settings.home / "legacy.db") as conn:
        document_id, header = conn.execute(
            "SELECT id, header FROM legacy_documents ORDER BY seq LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE legacy_documents SET header = json_set(header, '$.name', 'renamed by hand')"
            " WHERE id = ?",
            (document_id,),
        )
    name = json.loads(header)["name"]
    live = settings.home / "legacy.db"
    before = live.read_bytes()
    use_settings(monkeypatch, settings, kafka_bootstrap)
    into = tmp_path / "again.db"

    code = await run_cli("replay", "--store", "legacy", "--into", str(into), "--swap")

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-3:] == [
        f"differs: document {document_id}: header.name: live 'renamed by hand', rebuilt {name!r}",
        f"verification failed: {CORPUS_DOCUMENTS} documents compared, 1 difference against "
        f"the live store {live}",
        f"not swapped: the rebuilt store is not equal to the live one; {live} is unchanged",
    ]
    assert live.read_bytes() == before
    assert into.exists()


async def test_refusals_say_why_and_change_nothing(
    corpus: CorpusSystem, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = corpus.settings
    live = settings.home / "legacy.db"
    before = live.read_bytes()
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"")

    with pytest.raises(ReplayError) as exists:
        await replay(settings, kafka_bootstrap, "legacy", taken)
    with pytest.raises(ReplayError) as itself:
        await replay(settings, kafka_bootstrap, "legacy", live)
    with pytest.raises(ReplayError) as unknown:
        await replay(settings, kafka_bootstrap, "drive", tmp_path / "x.db")
    # A live projector in the group: --swap refuses before reading anything.
    into = tmp_path / "swap.db"
    async with projectors(settings, kafka_bootstrap, ["legacy"]) as running:
        await caught_up(running)
        with pytest.raises(ActiveGroupError) as active:
            await replay(settings, kafka_bootstrap, "legacy", into, swap=True)

    assert str(exists.value) == (
        f"replay legacy: {taken} already exists; replay writes a fresh database (remove it, "
        "or pass --resume to go on with a replay written there)"
    )
    assert str(itself.value) == (
        f"replay legacy: --into {live} is the live store itself; rebuild into a new file "
        "(--swap puts it in place)"
    )
    assert str(unknown.value) == "unknown store 'drive' (replayable: legacy, operations, jobs)"
    message = str(active.value)
    assert message.startswith(
        "replay --swap of the legacy store refused: consumer group "
        f"'{settings.topic_prefix}projector-legacy' has 1 active member ("
    )
    assert message.endswith(
        "); stop the legacy projector (`reactor-es run` or `project legacy`) first"
    )
    assert not into.exists()
    assert taken.read_bytes() == b""
    assert live.read_bytes() == before


async def test_swapping_the_operation_store_keeps_how_far_read_ready_went(
    corpus: CorpusSystem, kafka_bootstrap: str, tmp_path: Path
) -> None:
    from projections.legacy_adapter import OperationStoreFile
    from projections.operation_store_projector import READ_READY_SUFFIX

    settings = copy_stores(corpus.settings, tmp_path / "home")
    live = settings.home / "operations.db"
    reported = settings.projector_group("operations") + READ_READY_SUFFIX
    topic = f"{settings.topic_prefix}operations"
    # As phase 6 leaves it: READ_READY reported up to offsets short of the consumed ones.
    store = await OperationStoreFile.open(live)
    async with store, store.batch() as batch:
        for partition in range(settings.partitions):
            batch.record_position(reported, topic, partition, partition + 1)

    report, _ = await replay(
        settings, kafka_bootstrap, "operations", tmp_path / "rebuilt.db", swap=True
    )

    assert report.swapped
    assert report.comparison is not None
    assert report.comparison.compared == CORPUS_DOCUMENTS
    async with await OperationStoreFile.open(live) as swapped:
        carried = await swapped.get_positions(reported)
    assert {tp.partition: offset for tp, offset in carried.items()} == {0: 1, 1: 2, 2: 3}
    assert await store_positions(settings, "operations") == await store_positions(
        corpus.settings, "operations"
    )


# -- a small system of to-do lists ---------------------------------------------------------------


@pytest.fixture
async def settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    return (await make_pipeline_settings(kafka_bootstrap, unique_name, tmp_path)).with_(phase=4)


async def write_lists(
    reactor: Reactor, lists: int, jobs_per_list: int, prefix: str = "list"
) -> list[str]:
    """Create `{prefix}-0`... and add one item per job to each; every job id."""
    names = [f"{prefix}-{d}" for d in range(lists)]
    job_ids = [(await reactor.create_document(TODO, name)).id for name in names]
    for j in range(jobs_per_list):
        for name in names:
            item = {"type": "ADD_TODO", "input": {"id": f"i{j}", "text": f"item {j}"}}
            job_ids.append((await reactor.mutate(name, [item])).id)
    return job_ids


async def test_into_a_missing_folder_is_refused_and_nothing_is_created(
    settings: Settings,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nodir" / "x"
    into = missing / "rebuilt.db"
    use_settings(monkeypatch, settings, kafka_bootstrap)

    code = await run_cli("replay", "--store", "legacy", "--into", str(into))
    resumed = await run_cli("replay", "--store", "jobs", "--into", str(into), "--resume")
    with pytest.raises(ReplayError) as direct:
        await replay(settings, kafka_bootstrap, "operations", into)

    assert (code, resumed) == (2, 2)
    assert capsys.readouterr().err.splitlines() == [
        f"reactor-es: error: replay legacy: cannot write {into}: folder {missing} does not exist",
        f"reactor-es: error: replay jobs: cannot write {into}: folder {missing} does not exist",
    ]
    assert str(direct.value) == (
        f"replay operations: cannot write {into}: folder {missing} does not exist"
    )
    assert not (tmp_path / "nodir").exists()


async def test_replay_beside_a_running_system_follows_the_live_projector(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        first = await write_lists(reactor, 4, 5, "a")
        for job_id in first:
            await reactor.wait_for_job(job_id, 30, until=JobStatus.READ_READY)
        # More jobs while the replay reads: it must end level with the live store anyway.
        more = asyncio.create_task(write_lists(reactor, 6, 10, "b"))
        report, _ = await replay(settings, kafka_bootstrap, "legacy", tmp_path / "copy.db")
        for job_id in await more:
            await reactor.wait_for_job(job_id, 30, until=JobStatus.READ_READY)
        await caught_up(running)
        # Level once more, now that nothing moves: a replay resumed from the same file.
        again, _ = await replay(
            settings, kafka_bootstrap, "legacy", tmp_path / "copy.db", resume=True
        )

    assert report.reach == (
        "up to the topic's end as of the start (then as far as the running live projector has got)"
    )
    assert report.comparison is not None
    assert report.comparison.differences == []
    assert report.ok
    assert again.ok
    assert again.comparison is not None
    assert again.comparison.compared == 10  # a-0 .. a-3, b-0 .. b-5
    # CREATE and UPGRADE of 10 lists, 4 x 5 + 6 x 10 ADD_TODO: each read once over both runs.
    assert report.records + again.records == 20 + 20 + 60
    assert again.positions == await store_positions(settings, "legacy")


async def test_swap_puts_the_rebuilt_store_in_place_and_the_projector_resumes(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    live = settings.home / "legacy.db"
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        for job_id in await write_lists(reactor, 3, 4):
            await reactor.wait_for_job(job_id, 30, until=JobStatus.READ_READY)
        await caught_up(running)
    positions = await store_positions(settings, "legacy")
    old_inode = live.stat().st_ino

    # Anyone holding the live file open (here: a reader) makes the swap refuse.
    into = tmp_path / "rebuilt.db"
    reader = await SqliteLegacyStorage.open(live)
    try:
        await reader.get_positions("anyone")
        with pytest.raises(ReplayError) as held_open:
            await replay(settings, kafka_bootstrap, "legacy", into, swap=True)
    finally:
        await reader.close()
    assert str(held_open.value).startswith(
        f"replay legacy: not swapped: the live store {live} is open in another process ("
    )
    assert live.stat().st_ino == old_inode
    assert into.exists()

    report, _ = await replay(settings, kafka_bootstrap, "legacy", into, swap=True, resume=True)

    assert report.swapped
    assert report.previous is not None
    assert report.previous.name.startswith("legacy.db.replaced-")
    assert report.previous.stat().st_ino == old_inode  # the old file, kept as it was
    assert live.stat().st_ino != old_inode
    assert not into.exists()
    assert report.lines()[-1] == (
        f"swapped: {live} is now the rebuilt store; the previous one is kept at {report.previous}"
    )
    assert await store_positions(settings, "legacy") == positions

    # The projector resumes from the swapped store: new jobs become READ_READY through it.
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        job = await reactor.mutate(
            "list-1", [{"type": "ADD_TODO", "input": {"id": "after", "text": "after the swap"}}]
        )
        done = await reactor.wait_for_job(job.id, 30, until=JobStatus.READ_READY)
        await caught_up(running)
    async with await SqliteLegacyStorage.open(live) as store:
        document = await store.get_document("list-1")
    assert done.status is JobStatus.READ_READY
    assert [item["id"] for item in document.state["global"]["items"]] == [
        "i0",
        "i1",
        "i2",
        "i3",
        "after",
    ]
    assert [op.index for op in document.operations["global"]] == [0, 1, 2, 3, 4]


# -- progress -------------------------------------------------------------------------------------

#: A bar frame: label, bar, percentage, count, rate and time left.
BAR = re.compile(
    r"replay legacy \[[█░#-]{24}\] +\d+%  [\d,]+ operations  [\d,]+ operations/s  \d+:\d\d left"
)


def read_terminal(master: int) -> bytes:
    """Everything written to the pseudo-terminal until the child closes it."""
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


async def test_progress_on_a_terminal_is_a_bar_with_rate_and_time_left(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy", "jobs"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        for job_id in await write_lists(reactor, 2, 3):
            await reactor.wait_for_job(job_id, 30, until=JobStatus.READ_READY)
        await caught_up(running)
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "reactor_es.cli.main", "replay", "--store", "legacy"]
    command += ["--into", str(tmp_path / "tty.db")]
    child = subprocess.Popen(
        command,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, **cli_env(settings, kafka_bootstrap), "PYTHONIOENCODING": "utf-8"},
    )
    os.close(slave)
    try:
        shown = (await asyncio.to_thread(read_terminal, master)).decode("utf-8")
    finally:
        os.close(master)
    _, errors = await asyncio.to_thread(child.communicate)

    assert child.returncode == 0, errors.decode()
    frames = [frame.strip() for frame in re.split(r"[\r\n]+", shown) if frame.strip()]
    assert any(BAR.fullmatch(frame) for frame in frames), frames
    assert "\r" in shown  # redrawn in place, not one line per frame
    assert frames[-1] == (
        f"verified: 2 documents compared, 0 differences against the live store "
        f"{settings.home / 'legacy.db'}"
    )


class Utf8Terminal(io.StringIO):
    """A terminal whose encoding can draw the bar's blocks."""

    encoding = "utf-8"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_draws_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    clock = FakeClock()
    terminal = Utf8Terminal()
    bar = Progress("replay legacy", 1000, unit="operations", stream=terminal, tty=True, clock=clock)
    clock.now += 2.0
    bar.advance(250, 240)  # a quarter in 2 s: 6 s left
    clock.now += 0.05
    bar.advance(10, 10)  # too soon to redraw
    clock.now += 2.0
    bar.advance(240, 230)
    bar.finish()
    frames = terminal.getvalue().split("\r")[1:]
    assert frames == [
        "replay legacy [██████░░░░░░░░░░░░░░░░░░]  25%  240 operations  120 operations/s  "
        "0:06 left",
        "replay legacy [████████████░░░░░░░░░░░░]  50%  480 operations  119 operations/s  "
        "0:04 left",
        "replay legacy [████████████░░░░░░░░░░░░]  50%  480 operations  119 operations/s  "
        "0:04 left\n",
    ]

    ascii_stream = io.StringIO()  # no encoding known: the bar falls back to ASCII
    Progress("r", 4, stream=ascii_stream, tty=True, clock=clock).advance(1, 1)
    assert ascii_stream.getvalue().startswith("\rr [######------------------]  25%")

    clock = FakeClock()
    log = io.StringIO()
    plain = Progress("replay jobs", 400, unit="events", stream=log, tty=False, clock=clock)
    for _ in range(4):
        clock.now += 3.0
        plain.advance(100, 90)
    plain.finish("done")
    assert log.getvalue().splitlines() == [
        "replay jobs: 270 events, 75% (300 of 400), 30 events/s, 0:03 left",
        "replay jobs: 360 events, 100% (400 of 400), 30 events/s, 0:00 left",
        "done",
    ]
    assert [format_duration(s) for s in (0, 59.4, 61, 3725, float("inf"))] == [
        "0:00",
        "0:59",
        "1:01",
        "1:02:05",
        "?",
    ]


def test_first_difference_names_the_field() -> None:
    live = {"header": {"name": "a"}, "operations": {"global": [{"index": 0, "hash": "x"}]}}
    same = json.loads(json.dumps(live))
    other = json.loads(json.dumps(live))
    other["operations"]["global"][0]["hash"] = "y"
    longer = json.loads(json.dumps(live))
    longer["operations"]["global"].append({"index": 1, "hash": "z"})

    assert first_difference(live, same) is None
    assert first_difference(live, other) == "operations.global[0].hash: live 'x', rebuilt 'y'"
    assert first_difference(live, longer) == "operations.global: live 1 items, rebuilt 2"
    assert first_difference({"a": 1}, {"b": 1}) == "a: only in the live store"
    assert first_difference({"n": 1}, {"n": 1.0}) == "n: live 1, rebuilt 1.0"


# -- a larger stream (run with -m slow) ------------------------------------------------------------


@pytest.mark.slow
async def test_replay_rate_over_twenty_thousand_operations(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    lists, jobs_per_list, actions_per_job = 40, 25, 20
    async with (
        running_executor(settings, kafka_bootstrap),
        projectors(settings, kafka_bootstrap, ["legacy"]) as running,
        Reactor(settings, kafka_bootstrap) as reactor,
    ):
        job_ids = [(await reactor.create_document(TODO, f"list-{d}")).id for d in range(lists)]
        for j in range(jobs_per_list):
            for d in range(lists):
                items = [
                    {"type": "ADD_TODO", "input": {"id": f"i{j}-{n}", "text": f"item {j}.{n}"}}
                    for n in range(actions_per_job)
                ]
                job_ids.append((await reactor.mutate(f"list-{d}", items)).id)
        for job_id in job_ids:
            await reactor.wait_for_job(job_id, 120)
        await caught_up(running)

    report, _ = await replay(settings, kafka_bootstrap, "legacy", tmp_path / "big.db")

    expected = 2 * lists + lists * jobs_per_list * actions_per_job
    assert expected >= 20_000
    assert report.records == expected
    assert report.ok
    assert report.comparison is not None
    assert report.comparison.compared == lists
    print(
        f"\nreplay of the legacy store over a synthetic stream: {report.records} operations in "
        f"{report.seconds:.3f} s = {report.rate:,.0f} operations/s"
    )
