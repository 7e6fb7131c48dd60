"""Settings from the environment and from a `REACTOR_ES_CONFIG` TOML file."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from reactor_es.config import ENV_NAMES, Settings
from reactor_es.errors import SettingsError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, "REACTOR_ES_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_env_names_are_exactly_what_from_env_reads() -> None:
    # A setting added to from_env but not to ENV_NAMES would be refused in a config file.
    source = inspect.getsource(Settings.from_env)
    read = set(re.findall(r'"((?:KAFKA|REACTOR_ES)_[A-Z_]+)"', source))
    assert read == set(ENV_NAMES)
    assert len(ENV_NAMES) == len(set(ENV_NAMES)) == 26


def test_defaults() -> None:
    settings = Settings.from_env()
    assert settings == Settings()
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.sasl_mechanism is None  # unset: PLAIN, and nothing to refuse under PLAINTEXT
    assert settings.ssl_check_hostname is True
    assert settings.metrics_port is None
    assert (settings.log_format, settings.log_level) == ("plain", "INFO")


def test_security_metrics_and_log_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "scram-sha-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "alice")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/etc/kafka/ca.pem")
    monkeypatch.setenv("KAFKA_SSL_CHECK_HOSTNAME", "false")
    monkeypatch.setenv("REACTOR_ES_METRICS_PORT", "9464")
    monkeypatch.setenv("REACTOR_ES_LOG_FORMAT", "JSON")
    monkeypatch.setenv("REACTOR_ES_LOG_LEVEL", "debug")
    settings = Settings.from_env()
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert (settings.sasl_username, settings.sasl_password) == ("alice", "s3cret")
    assert settings.ssl_cafile == Path("/etc/kafka/ca.pem")
    assert settings.ssl_certfile is None
    assert settings.ssl_check_hostname is False
    assert settings.metrics_port == 9464
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


def test_passwords_stay_out_of_repr() -> None:
    settings = Settings(sasl_username="alice", sasl_password="s3cret", ssl_password="k3y")
    assert "alice" in repr(settings)
    assert "s3cret" not in repr(settings)
    assert "k3y" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "KAFKA_SSL_CHECK_HOSTNAME",
            "maybe",
            "KAFKA_SSL_CHECK_HOSTNAME must be true or false, not 'maybe'",
        ),
        (
            "REACTOR_ES_METRICS_PORT",
            "http",
            "REACTOR_ES_METRICS_PORT must be a TCP port number (0-65535), not 'http'",
        ),
        (
            "REACTOR_ES_METRICS_PORT",
            "70000",
            "REACTOR_ES_METRICS_PORT must be a TCP port number (0-65535), not '70000'",
        ),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "value", ["localhost:9092", " kafka-1.internal:9093, kafka-2.internal:9093 ", "[::1]:9092"]
)
def test_bootstrap_lists_of_host_and_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", value)
    assert Settings.from_env().bootstrap_servers == value.strip()


def test_a_bootstrap_entry_without_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # aiokafka would quietly use 9092; a misspelt address should not become a long timeout.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:9092,broker-2")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert str(caught.value) == (
        "KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port, "
        "not 'a:9092,broker-2': 'broker-2' has no port"
    )


def test_config_file_values_with_env_winning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write(
        tmp_path / "reactor.toml",
        """
KAFKA_BOOTSTRAP_SERVERS = "kafka-1:9093,kafka-2:9093"
KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
KAFKA_SASL_USERNAME = "from-file"
KAFKA_SASL_PASSWORD = "file-secret"
KAFKA_SSL_CAFILE = "certs/ca.pem"
KAFKA_SSL_CHECK_HOSTNAME = false
REACTOR_ES_PARTITIONS = 12
REACTOR_ES_METRICS_PORT = 9464
""",
    )
    monkeypatch.setenv("REACTOR_ES_CONFIG", str(config))
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "from-env")
    settings = Settings.from_env()
    assert settings.bootstrap_servers == "kafka-1:9093,kafka-2:9093"
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_username == "from-env"
    assert settings.sasl_password == "file-secret"
    # Relative paths in the file are relative to the file.
    assert settings.ssl_cafile == tmp_path / "certs" / "ca.pem"
    assert settings.ssl_check_hostname is False
    assert settings.partitions == 12
    assert settings.metrics_port == 9464

    # An edited file is read again.
    write(config, 'REACTOR_ES_TOPIC_PREFIX = "tenant-a."\n')
    settings = Settings.from_env()
    assert settings.topic_prefix == "tenant-a."
    assert settings.partitions == 6
    assert settings.bootstrap_servers is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'KAFKA_SASL_PASWORD = "typo"\n',
            "unknown key KAFKA_SASL_PASWORD in config file {path} (see docs/configuration.md)",
        ),
        (
            '[kafka]\nsasl_username = "x"\n',
            "unknown key kafka in config file {path} (see docs/configuration.md)",
        ),
        (
            'JAVA_HOME = "/opt/java"\n',
            "key JAVA_HOME in config file {path} is read from the environment only: set it there",
        ),
        (
            'KAFKA_BOOTSTRAP_SERVERS = ["a:9092"]\n',
            "key KAFKA_BOOTSTRAP_SERVERS in config file {path} must be a string, number or "
            "boolean, not a TOML list",
        ),
        (
            "KAFKA_BOOTSTRAP_SERVERS = \n",
            "config file {path} is not valid TOML: Invalid value (at line 1, column 27)",
        ),
    ],
)
def test_config_file_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, message: str
) -> None:
    config = write(tmp_path / "reactor.toml", text)
    monkeypatch.setenv("REACTOR_ES_CONFIG", str(config))
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert str(caught.value) == message.format(path=config)


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REACTOR_ES_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert (
        str(caught.value)
        == f"REACTOR_ES_CONFIG: config file {tmp_path / 'nope.toml'} does not exist"
    )


def test_compression_is_one_of_kafkas_codecs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().compression == "zstd"
    monkeypatch.setenv("REACTOR_ES_COMPRESSION", "LZ4")
    assert Settings.from_env().compression == "lz4"
    monkeypatch.setenv("REACTOR_ES_COMPRESSION", "brotli")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == (
        "REACTOR_ES_COMPRESSION must be one of none, gzip, snappy, lz4, zstd, not 'brotli'"
    )


async def test_consumers_wait_at_most_the_configured_fetch_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read_committed fetch is not woken by a commit: its wait bounds a job's latency."""
    from reactor_es.kafka.clients import make_consumer

    assert Settings().fetch_max_wait_ms == 50
    monkeypatch.setenv("REACTOR_ES_FETCH_MAX_WAIT_MS", "35")
    settings = Settings.from_env()
    assert settings.fetch_max_wait_ms == 35
    consumer = make_consumer(settings, "127.0.0.1:9")
    assert consumer._fetch_max_wait_ms == 35
    await consumer.stop()
    monkeypatch.setenv("REACTOR_ES_FETCH_MAX_WAIT_MS", "-1")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert "REACTOR_ES_FETCH_MAX_WAIT_MS" in str(refused.value)
