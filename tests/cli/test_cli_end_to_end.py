"""The `reactor-es` command as a user runs it: a `reactor-es run` process and the client
commands, each a real process, against the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reactor_es.document.actions import create_document_actions, new_action
from reactor_es.document.reducer import ReducerOptions, apply_action
from reactor_es.document.types import Document
from reactor_es.models.document_drive import DocumentDriveModel
from tests.corpus import CORPUS_DOCUMENTS, CORPUS_OPERATIONS, require_phd_dir

CLI = str(Path(sys.executable).with_name("reactor-es"))


class Session:
    """The environment of one deployment: its topics, its home, its broker."""

    def __init__(self, bootstrap: str, prefix: str, home: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            REACTOR_ES_TOPIC_PREFIX=prefix,
            REACTOR_ES_HOME=str(home),
            REACTOR_ES_PARTITIONS="3",
        )
        self.env.pop("REACTOR_ES_LOG_LEVEL", None)
        self.home = home

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> Any:
        return subprocess.run(
            [CLI, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return str(result.stdout)

    def doc(self, document_id: str) -> dict[str, Any]:
        return dict(json.loads(self.ok("doc", document_id)))


@pytest.fixture(scope="module")
def session(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("cli-home")
    prefix = f"cli-{os.getpid()}-{int(time.time() * 1000)}."
    deployment = Session(kafka_bootstrap, prefix, home)
    log_path = home / "run.log"
    with log_path.open("w") as log:
        service = subprocess.Popen(
            [CLI, "run"], env=deployment.env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while "reactor-es running on" not in log_path.read_text():
            assert service.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield deployment
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    assert service.returncode == 0, log_path.read_text()[-3000:]
    assert "reactor-es stopped" in log_path.read_text()


def test_create_publish_read_and_undo(session: Session) -> None:
    out = session.ok("create", "--type", "reactor-es/todo-list", "--id", "list-1", "--wait")
    assert out.endswith(": READ_READY (document[0], document[1])\n")
    session.ok(
        "publish", "--document", "list-1", "--type", "ADD_TODO",
        "--input", '{"id": "t1", "text": "milk"}', "--wait",
    )  # fmt: skip
    lines = (
        '{"document": "list-1", "type": "ADD_TODO", "input": {"id": "t2", "text": "bread"}}\n'
        '{"document": "list-1", "type": "TOGGLE_TODO", "input": {"id": "t1"}}\n'
    )
    out = session.ok("publish", "-", "--wait", stdin=lines)
    assert [line.split(": ", 1)[1] for line in out.splitlines()] == [
        "READ_READY (global[1])",
        "READ_READY (global[2])",
    ]
    before_undo = session.doc("list-1")
    assert before_undo["state"]["global"] == {
        "items": [
            {"id": "t1", "text": "milk", "done": True},
            {"id": "t2", "text": "bread", "done": False},
        ]
    }
    out = session.ok(
        "publish", "--document", "list-1", "--type", "UNDO", "--input", '{"count":1}', "--wait"
    )
    assert out.endswith(": READ_READY (global[3])\n")
    undone = session.doc("list-1")
    assert undone["state"]["global"] == {
        "items": [
            {"id": "t1", "text": "milk", "done": False},
            {"id": "t2", "text": "bread", "done": False},
        ]
    }
    noop = undone["operations"]["global"][-1]
    assert (noop["index"], noop["skip"], noop["type"], noop["hash"]) == (3, 1, "NOOP", "")
    assert undone["header"]["revision"]["global"] == 4
    job_id = out.split()[1]
    job = json.loads(session.ok("job", job_id))
    assert job["status"] == "READ_READY"
    assert job["operations"] == [
        {"scope": "global", "index": 3, "skip": 1, "id": noop["id"], "hash": "", "error": None}
    ]


@pytest.fixture(scope="module")
def bad_input_list(session: Session) -> str:
    session.ok("create", "--type", "reactor-es/todo-list", "--id", "list-bad", "--wait")
    return "list-bad"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["create", "--type", "acme/unknown"], None, "unknown document type 'acme/unknown'"),
        (
            ["publish", "--document", "nope", "--type", "ADD_TODO", "--input", "{}"],
            None,
            "Document with id nope not found "
            "(is `reactor-es run` running and the document created?)",
        ),
        (
            ["publish", "--document", "list-bad", "--type", "ADD_TODO", "--input", '{"id": 5}'],
            None,
            "invalid input for ADD_TODO: field 'id': Input should be a valid string",
        ),
        (
            ["publish", "-"],
            '{"document": "list-bad", "type": "ADD_TODO", "input": {"id": "t9", "text": "ok"}}\n'
            '{"document": "list-bad", "type": ADD_TODO}\n',
            "stdin line 2: malformed JSON: Expecting value (column 34)",
        ),
        (
            ["publish", "--document", "list-bad", "--type", "ADD_TODO",
             "--input", '{"id": "q4", "text": "a", "id": "dupkey"}'],
            None,
            "--input: duplicate key 'id' in a JSON object",
        ),
        (
            ["publish", "-"],
            '{"document": "list-bad", "type": "ADD_TODO", "input": {"id": "t9", "text": "ok"}}\n'
            '{"document": "list-bad", "document": "other", "type": "NOOP"}\n',
            "stdin line 2: duplicate key 'document' in a JSON object",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_changes_nothing(
    session: Session, bad_input_list: str, args: list[str], stdin: str | None, message: str
) -> None:
    before = session.doc(bad_input_list)
    result = session.run(*args, stdin=stdin)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"reactor-es: error: {message}\n"
    assert session.doc(bad_input_list) == before


def drive_reference(steps: list[tuple[str, dict[str, Any]]]) -> Document:
    model = DocumentDriveModel()
    document: Document | None = None
    for action in create_document_actions(model, "drive-1"):
        document = apply_action(document, action, model).document
    assert document is not None
    for kind, payload in steps:
        apply_action(document, new_action(kind, payload), model, options=ReducerOptions())
    return document


def test_a_drive_filled_reorganised_and_undone_through_the_cli(session: Session) -> None:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("ADD_FOLDER", {"id": "f-a", "name": "Projects"}),
        ("ADD_FOLDER", {"id": "f-b", "name": "Archive"}),
        ("ADD_FILE", {"id": "doc-x", "name": "Plan", "documentType": "reactor-es/todo-list",
                      "parentFolder": "f-a"}),
        ("ADD_FILE", {"id": "doc-y", "name": "Notes", "documentType": "reactor-es/todo-list",
                      "parentFolder": "f-a"}),
        ("MOVE_NODE", {"srcFolder": "doc-y", "targetParentFolder": "f-b"}),
        ("UPDATE_NODE", {"id": "f-b", "name": "Old stuff"}),
        ("UNDO", {"count": 1}),
    ]  # fmt: skip
    session.ok("create", "--type", "powerhouse/document-drive", "--id", "drive-1", "--wait")
    for kind, payload in steps:
        out = session.ok(
            "publish", "--document", "drive-1", "--type", kind,
            "--input", json.dumps(payload), "--wait",
        )  # fmt: skip
        if kind == "ADD_FILE":
            # The file's document is created by the drive's operation, and waited for.
            child = out.splitlines()[1]
            assert child.startswith("  caused job ")
            assert f"document {payload['id']}: READ_READY (document[0], document[1])" in child
    reference = drive_reference(steps)
    drive = session.doc("drive-1")
    assert drive["state"]["global"] == reference.state["global"]
    assert [(o["index"], o["skip"], o["hash"]) for o in drive["operations"]["global"]] == [
        (o.index, o.skip, o.hash) for o in reference.operations["global"]
    ]
    assert [n["name"] for n in drive["state"]["global"]["nodes"]] == [
        "Plan", "Notes", "Projects", "Archive",
    ]  # fmt: skip
    for file_id, name in (("doc-x", "Plan"), ("doc-y", "Notes")):
        child = session.doc(file_id)
        assert child["header"]["documentType"] == "reactor-es/todo-list"
        assert child["header"]["name"] == name

    # Deleting the file's node deletes its document, as the legacy server's deleteDocument
    # did: legacy storage no longer holds it, and `doc` says when it went (exit 2).
    out = session.ok(
        "publish", "--document", "drive-1", "--type", "DELETE_NODE",
        "--input", json.dumps({"id": "doc-x"}), "--wait",
    )  # fmt: skip
    assert "document doc-x: READ_READY (document[2])" in out.splitlines()[1]
    stream = [json.loads(line) for line in session.ok(
        "subscribe", "--document", "doc-x", "--from", "beginning", "--until-end"
    ).splitlines()]  # fmt: skip
    deletion = stream[-1]["operation"]
    assert (stream[-1]["scope"], deletion["index"], deletion["action"]["type"]) == (
        "document", 2, "DELETE_DOCUMENT"
    )  # fmt: skip
    gone = (
        f"reactor-es: error: document doc-x was deleted at {deletion['timestampUtcMs']} "
        "(Document with id doc-x not found)\n"
    )
    for command in (["doc", "doc-x"], ["export", "doc-x", str(session.home / "x.phd")]):
        shown = session.run(*command)
        assert (shown.returncode, shown.stdout, shown.stderr) == (2, "", gone)
    assert not (session.home / "x.phd").exists()
    # Its id is not used again, nor does it take actions: refused before publishing.
    again = session.run("create", "--type", "reactor-es/todo-list", "--id", "doc-x")
    assert (again.returncode, again.stderr) == (
        1,
        f"reactor-es: error: document doc-x was deleted at {deletion['timestampUtcMs']}: "
        "its id is not used again\n",
    )
    more = session.run(
        "publish", "--document", "doc-x", "--type", "ADD_TODO",
        "--input", json.dumps({"id": "t1", "text": "milk"}),
    )  # fmt: skip
    assert (more.returncode, more.stderr) == (
        2,
        f"reactor-es: error: document doc-x was deleted at {deletion['timestampUtcMs']}: "
        "it takes no more actions\n",
    )
    assert session.run("doc", "doc-y").stderr == ""


@pytest.fixture(scope="module")
def corpus_import(session: Session) -> subprocess.CompletedProcess[str]:
    """`reactor-es import <the fixtures folder>`, once for the module: every export."""
    done: subprocess.CompletedProcess[str] = session.run(
        "import", str(require_phd_dir()), timeout=600
    )
    return done


def test_import_the_whole_corpus_folder(
    session: Session, corpus_import: subprocess.CompletedProcess[str]
) -> None:
    done = corpus_import
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[-1] == "imported: 34 documents, 3180 operations, 0 mismatches"
    # One "ok" line per export, each with every hash compared; they add up to the total.
    assert len(lines) == CORPUS_DOCUMENTS + 1
    counts = []
    for line in lines[:-1]:
        assert line.startswith("ok "), line
        operations, compared, mismatches = line.rsplit(": ", 1)[1].split(", ")
        assert (compared.split()[0], mismatches) == (operations.split()[0], "0 mismatches")
        counts.append(int(operations.split()[0]))
    assert sum(counts) == CORPUS_OPERATIONS


def test_import_export_verify_subscribe_and_status(
    session: Session, corpus_import: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    assert corpus_import.returncode == 0, corpus_import.stdout + corpus_import.stderr
    fixtures = require_phd_dir()
    picked = sorted(fixtures.glob("powerhouse__*todo*"))
    assert [p.name for p in picked] == [
        "powerhouse__08159ba4__todo.phdm.zip",
        "powerhouse__185e158f__versioned-todo.zip",
    ]
    # Imported with the folder: recognised from the log (whatever the idempotency window
    # remembers), not sent again.
    again = session.ok("import", *map(str, picked)).splitlines()
    assert [line.split(":")[1].split(",")[0] for line in again[:2]] == [
        " already imported",
        " already imported",
    ]
    assert again[-1] == (
        "imported: 0 documents, 0 operations, 0 mismatches; 2 documents already imported, unchanged"
    )
    exported = tmp_path / "list-exp.phd"
    session.ok("create", "--type", "reactor-es/todo-list", "--id", "list-exp", "--wait")
    out = session.ok("export", "list-exp", str(exported))
    assert out == f"exported list-exp (2 operations) to {exported}\n"
    out = session.ok("verify", str(exported))
    assert out.splitlines()[-1] == "verified: 1 document, 2 operations, 0 mismatches"
    stream = [json.loads(line) for line in session.ok(
        "subscribe", "--document", "list-exp", "--from", "beginning", "--until-end"
    ).splitlines()]  # fmt: skip
    assert [(s["scope"], s["operation"]["index"]) for s in stream] == [
        ("document", 0),
        ("document", 1),
    ]
    status = json.loads(session.ok("status", "--json"))
    assert status["phase"] == 4
    assert status["executor"]["lag"] == 0
    assert status["parked"]["documents"] == 0
    assert status["jobs"]["FAILED"] == 0


def test_a_raising_action_is_readable_with_its_error_and_a_typo_is_refused(
    session: Session,
) -> None:
    session.ok("create", "--type", "reactor-es/todo-list", "--id", "list-err", "--wait")
    add = ["publish", "--document", "list-err", "--type", "ADD_TODO", "--wait", "--input"]
    session.ok(*add, '{"id": "t1", "text": "milk"}')
    out = session.ok(*add, '{"id": "t1", "text": "again"}')
    # Powerhouse keeps the operation (the job succeeds); the line says why nothing changed.
    assert out.endswith(": READ_READY (global[1] error: to-do 't1' already exists)\n")
    job = json.loads(session.ok("job", out.split()[1]))
    assert [(r["index"], r["error"]) for r in job["operations"]] == [
        (1, "to-do 't1' already exists")
    ]
    before = session.doc("list-err")
    assert before["header"]["revision"]["global"] == 2
    for args, message in [
        (
            ["--type", "ADD_TDOO", "--input", '{"id": "t2"}'],
            "unknown action type 'ADD_TDOO' for reactor-es/todo-list (its actions: ADD_TODO, "
            "TOGGLE_TODO, REMOVE_TODO; or a base action such as NOOP, UNDO, SET_NAME)",
        ),
        (
            ["--type", "TOGGLE_TODO", "--scope", "local", "--input", '{"id": "t1"}'],
            "TOGGLE_TODO of reactor-es/todo-list acts on the 'global' scope, not 'local'",
        ),
        (
            ["--type", "NOOP", "--scope", "bogus"],
            "NOOP: scope 'bogus' is not a scope of reactor-es/todo-list "
            "(its scopes: auth, document, global, header, local)",
        ),
    ]:
        result = session.run("publish", "--document", "list-err", *args)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == f"reactor-es: error: {message}\n"
    assert session.doc("list-err") == before


def run_with_closed_output(session: Session, *args: str) -> tuple[int, str]:
    """Run the command with stdout a pipe nobody reads any more (`| head` after it left)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [CLI, *args],
            env=session.env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return result.returncode, result.stderr


def test_a_reader_that_went_away_stops_the_command_without_a_traceback(
    session: Session,
) -> None:
    session.ok("create", "--type", "reactor-es/todo-list", "--id", "piped", "--wait")
    # A read-only command: exit 141 (as `yes | head` shows), nothing on stderr.
    assert run_with_closed_output(session, "doc", "piped") == (141, "")
    # A publishing command: what it published stays, and it says so in one line.
    code, stderr = run_with_closed_output(
        session,
        "publish", "--document", "piped", "--type", "ADD_TODO",
        "--input", '{"id": "t1", "text": "milk"}', "--wait",
    )  # fmt: skip
    assert (code, stderr) == (
        141,
        "reactor-es: output closed: publish stopped; what it had already published stays "
        "published (see `reactor-es status`)\n",
    )
    assert [todo["id"] for todo in session.doc("piped")["state"]["global"]["items"]] == ["t1"]
