"""Bad input and an absent or unreachable Kafka, as a user meets them: one line on stderr
(`reactor-es: error: ...`), exit status 2, no traceback, nothing written. None of these
needs a broker: each is refused before one is used, or is about not reaching one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reactor_es.kafka.broker import free_port

CLI = str(Path(sys.executable).with_name("reactor-es"))
TODO = "reactor-es/todo-list"

#: One command of each kind that talks to Kafka (all read KAFKA_BOOTSTRAP_SERVERS).
KAFKA_COMMANDS = [
    ["create", "--type", TODO],
    ["publish", "--document", "d", "--type", "ADD_TODO", "--input", "{}"],
    ["unpark", "d"],
    ["parked"],
    ["subscribe", "--until-end"],
    ["run"],
    ["replay", "--store", "jobs", "--into", "replayed.db"],
    ["rebuild-snapshots"],
]


def run(
    *args: str, home: Path, cwd: Path | None = None, stdin: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KAFKA_", "REACTOR_ES_")) or k == "REACTOR_ES_PHD_FIXTURES"
    }
    clean.update(REACTOR_ES_HOME=str(home), **env)
    return subprocess.run(
        [CLI, *args],
        env=clean,
        cwd=cwd or home.parent,
        stdin=stdin.open("rb") if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"reactor-es: error: {message}\n")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"  # not created: commands that only read must not create it


def test_version(home: Path) -> None:
    from importlib.metadata import version

    done = run("--version", home=home)
    assert (done.returncode, done.stdout) == (0, f"reactor-es {version('reactor-es')}\n")


@pytest.mark.parametrize(
    ("bootstrap", "problem"),
    [
        ("garbage", "'garbage' has no port"),
        ("host:notaport", "'notaport' is not a port number (1-65535)"),
        (",", "an entry is empty"),
        ("a:9092,", "an entry is empty"),
        ("host:0", "'0' is not a port number (1-65535)"),
        ("bad host:9092", "'bad host' is not a host name or address"),
    ],
)
@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=lambda c: c[0])
def test_a_malformed_bootstrap_list_is_refused_naming_the_variable(
    home: Path, command: list[str], bootstrap: str, problem: str
) -> None:
    done = run(*command, home=home, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    assert_refused(
        done,
        f"KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port, "
        f"not {bootstrap!r}: {problem}",
    )
    assert not home.exists()


@pytest.mark.parametrize("command", [*KAFKA_COMMANDS, ["import", "FIXTURE"]], ids=lambda c: c[0])
def test_an_unreachable_broker_is_one_line_and_clients_are_closed(
    home: Path, command: list[str], phd_file: Path
) -> None:
    port = free_port()  # nothing listens there: connection refused
    args = [str(phd_file) if arg == "FIXTURE" else arg for arg in command]
    done = run(*args, home=home, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith(f"reactor-es: error: cannot reach Kafka at 127.0.0.1:{port}: ")
    assert done.stderr.count("\n") == 1, done.stderr  # no traceback, no "Unclosed AIOKafka..."
    assert "Connect call failed" in done.stderr


def test_an_unknown_host_is_named(home: Path) -> None:
    done = run("parked", home=home, KAFKA_BOOTSTRAP_SERVERS="nonexistent.invalid:9092")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "reactor-es: error: cannot reach Kafka at nonexistent.invalid:9092: "
    )
    assert done.stderr.count("\n") == 1, done.stderr


def test_status_exits_2_on_a_configuration_error(home: Path) -> None:
    assert_refused(
        run("status", home=home, REACTOR_ES_BROKER="bogus"),
        "REACTOR_ES_BROKER must be auto, local or docker, not 'bogus'",
    )
    # A SASL setting under the default PLAINTEXT is refused, the mechanism as the user name.
    assert_refused(
        run("status", home=home, KAFKA_SASL_MECHANISM="SCRAM-SHA-256"),
        "KAFKA_SASL_MECHANISM set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT, which does not use "
        "it (set it to SASL_PLAINTEXT or SASL_SSL)",
    )
    assert_refused(
        run("status", home=home, KAFKA_SASL_MECHANISM="GSSAPI"),
        "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, not 'GSSAPI'",
    )
    assert_refused(
        run(
            "status",
            home=home,
            KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        ),
        "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT with KAFKA_SASL_MECHANISM=PLAIN needs "
        "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
    )


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "soon"])
@pytest.mark.parametrize(
    "command",
    [
        ["publish", "--document", "d", "--type", "ADD_TODO", "--input", "{}", "--wait"],
        ["create", "--type", TODO, "--wait"],
        ["unpark", "d"],
        ["import", "x.phd"],
    ],
    ids=lambda c: c[0],
)
def test_timeouts_are_refused_when_the_arguments_are_parsed(
    home: Path, command: list[str], value: str
) -> None:
    # The broker address would be refused too: parsing comes first, nothing is published.
    done = run(*command, f"--timeout={value}", home=home, KAFKA_BOOTSTRAP_SERVERS="garbage")
    assert_refused(
        done,
        f"argument --timeout: must be a positive number of seconds, not {value!r} "
        f"(see `reactor-es {command[0]} --help`)",
    )


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_replay_wait_is_refused_as_timeouts_are(home: Path, value: str) -> None:
    done = run(
        "replay", "--store", "jobs", "--into", "r.db", f"--wait={value}",
        home=home, KAFKA_BOOTSTRAP_SERVERS="garbage",
    )  # fmt: skip
    assert_refused(
        done,
        f"argument --wait: must be a positive number of seconds, not {value!r} "
        "(see `reactor-es replay --help`)",
    )


def test_a_negative_expected_revision_is_refused_when_parsed(home: Path) -> None:
    done = run(
        "publish", "--document", "d", "--type", "ADD_TODO", "--input", "{}",
        "--expected-revision", "-3", home=home, KAFKA_BOOTSTRAP_SERVERS="garbage",
    )  # fmt: skip
    assert_refused(
        done,
        "argument --expected-revision: must be a whole number of at least 0, not '-3' "
        "(see `reactor-es publish --help`)",
    )


#: Each id argument (`ID` stands for the id) and how argparse names it.
ID_ARGUMENTS = [
    (["job", "ID"], "ID", "job id"),
    (["doc", "ID"], "ID", "document id"),
    (["unpark", "ID"], "ID", "document id"),
    (["export", "ID", "d.phd"], "ID", "document id"),
    (["create", "--type", TODO, "--id", "ID"], "--id", "document id"),
    (["publish", "--document", "ID", "--type", "ADD_TODO"], "--document", "document id"),
    (["subscribe", "--document", "ID", "--until-end"], "--document", "document id"),
]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        # Undecodable argv bytes (b"bad\xff"): create's own message, for every id.
        ("bad\udcff", "{what} 'bad\\udcff' is not valid Unicode text (it holds a lone surrogate)"),
        ("  ", "{what} '  ' is only whitespace"),
        ("a\nb", "{what} 'a\\nb' holds a control character ('\\n')"),
        ("a\x1bb", "{what} 'a\\x1bb' holds a control character ('\\x1b')"),
    ],
    ids=["empty", "undecodable", "whitespace", "newline", "escape"],
)
@pytest.mark.parametrize(
    ("command", "argument", "what"), ID_ARGUMENTS, ids=[c[0][0] for c in ID_ARGUMENTS]
)
def test_a_bad_id_argument_is_refused_when_parsed(
    home: Path, command: list[str], argument: str, what: str, value: str, problem: str
) -> None:
    args = [value if arg == "ID" else arg for arg in command]
    done = run(*args, home=home, KAFKA_BOOTSTRAP_SERVERS="h:1")
    assert_refused(
        done,
        f"argument {argument}: {problem.format(what=what)} (see `reactor-es {command[0]} --help`)",
    )
    assert not home.exists()


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_line_that_is_not_utf8_is_refused_with_its_number(
    home: Path, tmp_path: Path, via: str
) -> None:
    actions = tmp_path / "actions.jsonl"
    actions.write_bytes(
        b'{"document": "d", "type": "ADD_TODO", "input": {"id": "t1", "text": "a"}}\n'
        b'{"document": "d", "type": "ADD_TODO", "input": {"text": "\xc3\xa9", "id": "\xff"}}\n'
    )  # the column counts characters: the two bytes of "\xc3\xa9" are one
    if via == "file":
        done = run("publish", str(actions), home=home, KAFKA_BOOTSTRAP_SERVERS="h:1")
    else:
        done = run("publish", "-", home=home, stdin=actions, KAFKA_BOOTSTRAP_SERVERS="h:1")
    source = str(actions) if via == "file" else "stdin"
    assert_refused(done, f"{source} line 2: not valid UTF-8 (byte 0xff at column 69)")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"document": "d", "typ": "ADD_TODO", "input": {}}',
            "line 2: unknown key 'typ' (a line has document, type, scope, input, skip)",
        ),
        (
            '{"document": "d", "type": "UNDO", "input": {"count": 1}, "skip": -1}',
            "line 2: 'skip' must be a whole number of at least 0",
        ),
    ],
)
def test_a_bad_line_is_refused_with_its_number(
    home: Path, tmp_path: Path, line: str, message: str
) -> None:
    actions = tmp_path / "actions.jsonl"
    actions.write_text(
        '{"document": "d", "type": "ADD_TODO", "input": {"id": "t1", "text": "x"}}\n' + line + "\n"
    )
    done = run("publish", str(actions), home=home, KAFKA_BOOTSTRAP_SERVERS="h:1")
    assert_refused(done, f"{actions} {message}")


@pytest.mark.parametrize("command", [["job", "j-1"], ["doc", "d-1"], ["export", "d-1", "d.phd"]])
def test_reading_commands_create_no_store(home: Path, command: list[str]) -> None:
    done = run(*command, home=home, cwd=home.parent)
    what = "job j-1" if command[0] == "job" else "document d-1"
    store = "jobs.db" if command[0] == "job" else "legacy.db"
    assert_refused(
        done,
        f"no such {what}: the store {home / store} does not exist yet (REACTOR_ES_HOME is "
        f"{home}: is it the one `reactor-es run` uses?)",
    )
    assert not home.exists()
    assert not (home.parent / "d.phd").exists()


def test_no_broker_names_the_home_it_looked_in(home: Path, tmp_path: Path) -> None:
    message = (
        "no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS, run `reactor-es broker start`, or "
        "`docker compose -f docker/compose.yml up -d` (no project-local broker runs in "
        "REACTOR_ES_HOME {}: is it the one `reactor-es run` uses?)"
    )
    assert_refused(run("parked", home=home, REACTOR_ES_BROKER="local"), message.format(home))
    # The default home is relative: from another folder, where it points is said too.
    done = run("parked", home=Path(".reactor-es"), cwd=tmp_path, REACTOR_ES_BROKER="local")
    assert_refused(done, message.format(f".reactor-es, i.e. {tmp_path / '.reactor-es'}"))
    assert not home.exists()


@pytest.mark.parametrize("command", ["verify", "import"])
def test_a_folder_without_exports_is_an_error(home: Path, tmp_path: Path, command: str) -> None:
    empty = tmp_path / "no-exports"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an export")
    done = run(command, str(empty), home=home, KAFKA_BOOTSTRAP_SERVERS="h:1")
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        f"reactor-es: error: no exports (.phd/.zip) found in {empty}\n",
    )


def test_export_refuses_a_target_it_cannot_write(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "x.phd"
    assert_refused(
        run("export", "d-1", str(missing), home=home),
        f"cannot write {missing}: folder {missing.parent} does not exist",
    )
    assert_refused(
        run("export", "d-1", str(tmp_path), home=home),
        f"cannot write {tmp_path}: it is a folder (give a file name in it)",
    )
    assert not missing.parent.exists()
    assert not home.exists()


@pytest.fixture(scope="module")
def phd_file() -> Path:
    from tests.corpus import require_phd_dir

    return require_phd_dir() / "powerhouse__08159ba4__todo.phdm.zip"


def tampered_copy(source: Path, target: Path) -> str:
    """`source` with the recorded hash of global[3] changed; returns the original hash."""
    from reactor_es.document.phd import read_phd, write_phd

    export = read_phd(source)
    ops = export.document.operations["global"]
    ops[3] = ops[3].model_copy(update={"hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
    write_phd(export.document, target)
    return read_phd(source).document.operations["global"][3].hash


def test_import_refuses_what_does_not_verify_before_publishing(
    home: Path, tmp_path: Path, phd_file: Path
) -> None:
    from reactor_es.document.phd import read_phd, write_phd

    tampered = tmp_path / "tampered.phd"
    recorded = tampered_copy(phd_file, tampered)
    unknown = tmp_path / "unknown.phd"
    document = read_phd(phd_file).document
    document.header.document_type = "acme/unknown"
    write_phd(document, unknown)
    broken = tmp_path / "broken.phd"
    broken.write_bytes(b"not a zip")
    # Nothing is left to publish, so the (absent) broker is never asked.
    done = run(
        "import", str(broken), str(unknown), str(tampered), home=home,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        f"ERROR {broken}: not a readable zip archive (File is not a zip file)",
        f"ERROR {unknown}: unknown document type 'acme/unknown'",
        f"ERROR {tampered}: does not verify: hash global index 3: recorded "
        f"AAAAAAAAAAAAAAAAAAAAAAAAAAA=, computed {recorded}; not imported (--force imports it "
        "anyway)",
        "imported: 0 documents, 0 operations, 0 mismatches; 3 files not imported",
    ]


def test_verify_counts_only_what_it_verified(home: Path, tmp_path: Path, phd_file: Path) -> None:
    broken = tmp_path / "broken.phd"
    broken.write_bytes(b"not a zip")
    done = run("verify", str(broken), str(phd_file), home=home)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"ERROR     {broken}: not a readable zip archive (File is not a zip file)"
    )
    assert done.stdout.splitlines()[-1] == (
        "verified: 1 document, 24 operations, 0 mismatches; 1 file not verified"
    )
