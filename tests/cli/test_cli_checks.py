"""What the client commands refuse or report once a reactor runs (`reactor-es run` and each
command a real process, on the real broker): base actions' input checked before anything is
published, a document parked again by `unpark`, `import --force`, and `make demo` without the
Powerhouse exports."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reactor_es.config import Settings
from reactor_es.document.phd import read_phd
from reactor_es.kafka.clients import make_producer
from reactor_es.kafka.topics import TopicNames, document_key, partition_counts
from tests.cli.test_cli_end_to_end import Session, session  # noqa: F401  (module fixture)
from tests.cli.test_cli_refusals import tampered_copy
from tests.corpus import REPO_ROOT, require_phd_dir
from tests.pipeline.conftest import end_offsets

TODO = "reactor-es/todo-list"


@pytest.fixture(scope="module")
def checked_list(session: Session) -> str:  # noqa: F811
    session.ok("create", "--type", TODO, "--id", "list-checked", "--wait")
    session.ok(
        "publish", "--document", "list-checked", "--type", "ADD_TODO",
        "--input", '{"id": "t1", "text": "milk"}', "--wait",
    )  # fmt: skip
    return "list-checked"


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("UNDO", '{"count": 0}', "invalid input for UNDO: field 'count': "
         "Input should be greater than or equal to 1"),
        ("UNDO", '{"count": -1}', "invalid input for UNDO: field 'count': "
         "Input should be greater than or equal to 1"),
        ("UNDO", "{}", "invalid input for UNDO: field 'count': Field required"),
        ("REDO", '{"count": 2}', "invalid input for REDO: field 'count': "
         "must be 1 (one operation is redone at a time), not 2"),
        ("REDO", "{}", "invalid input for REDO: field 'count': "
         "must be 1 (one operation is redone at a time), not None"),
        ("PRUNE", '{"start": -1}', "invalid input for PRUNE: field 'start': "
         "Input should be greater than or equal to 0"),
        ("PRUNE", "{}", "PRUNE: not supported: it re-indexes a scope, which an append-only "
         "history cannot follow"),
        ("SET_NAME", '{"name": 5}', "invalid input for SET_NAME: field 'name': "
         "Input should be a valid string"),
        ("NOOP", "[]", "invalid input for NOOP: field 'input': must be an object"),
        ("DELETE_DOCUMENT", "{}", "invalid action DELETE_DOCUMENT: field 'scope': "
         "must be 'document', got 'global'"),
        ("ADD_TODO", '{"id": "t\\ud800", "text": "x"}', "invalid input for ADD_TODO: "
         "field 'id': holds a lone surrogate, which is not valid Unicode text"),
    ],
)  # fmt: skip
def test_input_is_refused_before_anything_is_published(
    session: Session,  # noqa: F811
    checked_list: str,
    action: str,
    payload: str,
    message: str,
) -> None:
    before = session.doc(checked_list)
    done = session.run("publish", "--document", checked_list, "--type", action, "--input", payload)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"reactor-es: error: {message}\n"
    assert session.doc(checked_list) == before


def test_an_unknown_document_in_a_file_is_refused_with_its_line(
    session: Session,  # noqa: F811
    checked_list: str,
    tmp_path: Path,
) -> None:
    before = session.doc(checked_list)
    actions = tmp_path / "actions.jsonl"
    line = {"document": checked_list, "type": "ADD_TODO", "input": {"id": "t2", "text": "x"}}
    actions.write_text(
        json.dumps(line) + "\n"
        '{"document": "nope", "type": "ADD_TODO", "input": {"id": "t3", "text": "y"}}\n'
    )
    done = session.run("publish", str(actions))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"reactor-es: error: {actions} line 2: Document with id nope not found "
        "(is `reactor-es run` running and the document created?)\n"
    )
    assert session.doc(checked_list) == before


async def _actions_end(deployment: Session) -> int:
    """How many records (and transaction markers) `actions` holds: what a publish moves."""
    settings = Settings(
        topic_prefix=deployment.env["REACTOR_ES_TOPIC_PREFIX"],
        partitions=int(deployment.env["REACTOR_ES_PARTITIONS"]),
    )
    topic = TopicNames.from_settings(settings).actions
    ends = await end_offsets(settings, deployment.env["KAFKA_BOOTSTRAP_SERVERS"], topic)
    return sum(ends.values())


def test_creating_a_document_that_exists_is_refused_before_publishing(
    session: Session,  # noqa: F811
    checked_list: str,
) -> None:
    before = asyncio.run(_actions_end(session))
    done = session.run("create", "--type", "powerhouse/document-drive", "--id", checked_list)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"reactor-es: error: document {checked_list} already exists (a {TODO})\n",
    )
    assert asyncio.run(_actions_end(session)) == before


@pytest.mark.parametrize("document_id", ["list-checked", "no-such-document"])
def test_unpark_of_a_document_not_parked_publishes_nothing(
    session: Session,  # noqa: F811
    checked_list: str,
    document_id: str,
) -> None:
    before = asyncio.run(_actions_end(session))
    done = session.run("unpark", document_id)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        f"unpark {document_id}: document {document_id} is not parked\n",
        "",
    )
    assert asyncio.run(_actions_end(session)) == before


async def _poison(deployment: Session, document_id: str) -> None:
    """An undecodable record on `actions` for the document: it parks the document."""
    settings = Settings(topic_prefix=deployment.env["REACTOR_ES_TOPIC_PREFIX"])
    producer = make_producer(settings, deployment.env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        await producer.send_and_wait(
            TopicNames.from_settings(settings).actions,
            value=b"\x00garbage",
            key=document_key(document_id),
        )
    finally:
        await producer.stop()


REASON = (
    "unknown schema id 1734439522 (not in the schema catalogue; written by a newer or foreign "
    "producer?)"
)


def test_unpark_reports_a_document_parked_again(session: Session) -> None:  # noqa: F811
    session.ok("create", "--type", TODO, "--id", "list-poisoned", "--wait")
    asyncio.run(_poison(session, "list-poisoned"))

    # A job behind the poison waits: the timeout says why.
    add = ["publish", "--document", "list-poisoned", "--type", "ADD_TODO"]
    done = session.run(*add, "--input", '{"id": "t1", "text": "x"}', "--wait", "--timeout", "3")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("reactor-es: error: job ")
    assert (
        " is still PENDING after 3s (waiting for READ_READY): document list-poisoned is parked "
        f"(since {session.env['REACTOR_ES_TOPIC_PREFIX']}actions[{_partition(session)}]@"
    ) in done.stderr
    assert f"{REASON}); its jobs wait until `reactor-es unpark list-poisoned`\n" in done.stderr

    # Without --skip-first the poison fails again: said, exit 1.
    done = session.run("unpark", "list-poisoned")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("unpark list-poisoned: parked again: record ")
    assert done.stdout.endswith(
        f" failed again: {REASON} (2 records waiting); `reactor-es unpark list-poisoned "
        "--skip-first` drops that record and retries the rest\n"
    )
    assert "parked: 1 document\n" in session.ok("parked")

    done = session.run("unpark", "list-poisoned", "--skip-first")
    assert (done.returncode, done.stdout) == (
        0,
        "unparked list-poisoned: its parked jobs were retried in order\n",
    )
    assert session.ok("parked").endswith("parked: 0 documents\n")
    items = session.doc("list-poisoned")["state"]["global"]["items"]
    assert [item["id"] for item in items] == ["t1"]


def _partition(deployment: Session) -> int:
    from reactor_es.kafka.topics import partition_for

    return partition_for("list-poisoned", int(deployment.env["REACTOR_ES_PARTITIONS"]))


def test_import_force_publishes_an_export_that_does_not_verify(
    session: Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    source = require_phd_dir() / "powerhouse__08159ba4__todo.phdm.zip"
    tampered = tmp_path / "tampered.phd"
    recorded = tampered_copy(source, tampered)
    done = session.run("import", str(tampered))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == (
        "imported: 0 documents, 0 operations, 0 mismatches; 1 file not imported"
    )
    assert f"computed {recorded}; not imported (--force imports it anyway)" in done.stdout

    done = session.run("import", "--force", str(tampered))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    document_id = read_phd(source).document.header.id
    assert lines[0] == f"MISMATCH {document_id} -: 24 operations, 24 hashes compared, 1 mismatch"
    assert lines[-1] == "imported: 1 document, 24 operations, 1 mismatch"


def run_demo(
    kafka_bootstrap: str, tmp_path: Path, *exports: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_ES_")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        REACTOR_ES_PHD_FIXTURES=str(tmp_path / "no-exports"),
        TMPDIR=str(tmp_path),  # where the demo's stores go: removed at the end
    )
    return subprocess.run(
        [sys.executable, "-m", "reactor_es.demo", *exports],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_topics_deleted(kafka_bootstrap: str, output: str) -> None:
    """Each run has topics of its own (a prefix named in its output), deleted at the end."""
    named = re.search(r"; topics (demo-\d+\.)\* \(deleted at the end\); stores in ", output)
    assert named is not None, output
    prefix = named.group(1)
    assert f"deleted the 5 topics this demo created ({prefix}*)" in output.splitlines()
    topics = TopicNames.with_prefix(prefix).all()
    assert asyncio.run(partition_counts(kafka_bootstrap, topics)) == dict.fromkeys(topics)


def test_demo_without_the_exports_says_part_2_was_skipped(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-exports"
    done = run_demo(kafka_bootstrap, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"demo: verified (part 2 skipped: no Powerhouse exports at {missing})"
    assert (
        f"skipped: no Powerhouse exports at {missing} (set REACTOR_ES_PHD_FIXTURES to a folder "
        'of .phd/.zip exports, or `make demo EXPORTS="a.phd b.zip"`)'
    ) in lines
    assert "imported:" not in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no stores left behind
    assert_topics_deleted(kafka_bootstrap, done.stdout)


def test_a_failed_demo_deletes_its_topics_too(kafka_bootstrap: str, tmp_path: Path) -> None:
    absent = tmp_path / "absent.phd"
    done = run_demo(kafka_bootstrap, tmp_path, str(absent))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "demo: FAILED"
    assert_topics_deleted(kafka_bootstrap, done.stdout)
