"""Kafka security settings: the aiokafka options they become, their errors, and real brokers.

The certificates are made with the `openssl` command for each run. Besides the run's
PLAINTEXT broker, one test starts a private broker with SSL (client certificate required),
SASL_PLAINTEXT and SASL_SSL listeners (SASL/PLAIN), so the options are proven against
Kafka itself, not only against aiokafka's signature.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from reactor_es.config import Settings
from reactor_es.errors import SettingsError
from reactor_es.kafka.broker import LocalKafkaBroker, free_port
from reactor_es.kafka.clients import client_options, make_admin, make_consumer, make_producer
from reactor_es.kafka.topics import TopicNames, ensure_topics

CLIENT_KEY_PASSWORD = "client-key-secret"
KEYSTORE_PASSWORD = "keystore-secret"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_p12: Path
    client_cert: Path
    client_key: Path  # encrypted with CLIENT_KEY_PASSWORD
    other_ca: Path  # a CA that signed nothing the broker uses


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
            "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=reactor-es test {ca}", cwd=d,
        )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost", cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d,
    )  # fmt: skip
    _openssl(
        "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-out", "server.p12",
        "-passout", f"pass:{KEYSTORE_PASSWORD}", "-name", "broker", cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-keyout", "client.key", "-passout",
        f"pass:{CLIENT_KEY_PASSWORD}", "-out", "client.csr", "-subj", "/CN=reactor-es client",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.pem", "-days", "2", cwd=d,
    )  # fmt: skip
    return Pki(
        d / "ca.pem", d / "server.p12", d / "client.pem", d / "client.key", d / "other-ca.pem"
    )


# -- the mapping -------------------------------------------------------------------------------


def test_plaintext_default() -> None:
    assert Settings().kafka_security_options() == {"security_protocol": "PLAINTEXT"}
    assert client_options(Settings(), "b:9092") == {
        "bootstrap_servers": "b:9092",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext(mechanism: str) -> None:
    settings = Settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username="alice",
        sasl_password="s3cret",
    )
    assert settings.kafka_security_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
    }


def test_sasl_ssl_with_ca(pki: Pki) -> None:
    settings = Settings(
        security_protocol="SASL_SSL",
        sasl_username="alice",
        sasl_password="s3cret",
        ssl_cafile=pki.ca,
    )
    options = settings.kafka_security_options()
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "reactor-es test ca"),),)
    ]


def test_ssl_client_certificate_and_no_hostname_check(pki: Pki) -> None:
    settings = Settings(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        ssl_password=CLIENT_KEY_PASSWORD,
        ssl_check_hostname=False,
    )
    options = settings.kafka_security_options()
    assert sorted(options) == ["security_protocol", "ssl_context"]
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert context.check_hostname is False
    assert context.verify_mode is ssl.CERT_REQUIRED  # the CA still vouches for the broker


def test_ssl_without_cafile_uses_system_cas() -> None:
    context = Settings(security_protocol="SSL").kafka_security_options()["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"security_protocol": "TLS"},
            "KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, "
            "not 'TLS'",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "alice"},
            "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT with KAFKA_SASL_MECHANISM=PLAIN needs "
            "KAFKA_SASL_PASSWORD",
        ),
        (
            {"security_protocol": "SASL_SSL"},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL with KAFKA_SASL_MECHANISM=PLAIN needs "
            "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "GSSAPI",
                "sasl_username": "a",
                "sasl_password": "b",
            },
            "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, not 'GSSAPI'",
        ),
        (
            {"sasl_mechanism": "SCRAM-SHA-256"},
            "KAFKA_SASL_MECHANISM set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT, which does not "
            "use it (set it to SASL_PLAINTEXT or SASL_SSL)",
        ),
        (
            {"security_protocol": "SSL", "sasl_mechanism": "PLAIN"},
            "KAFKA_SASL_MECHANISM set but KAFKA_SECURITY_PROTOCOL is SSL, which does not use it "
            "(set it to SASL_SSL)",
        ),
        (
            {"sasl_mechanism": "GSSAPI"},
            "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, not 'GSSAPI'",
        ),
        (
            {"sasl_username": "alice", "sasl_password": "s3cret"},
            "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set but KAFKA_SECURITY_PROTOCOL is "
            "PLAINTEXT, which does not use them (set it to SASL_PLAINTEXT or SASL_SSL)",
        ),
        (
            {"ssl_cafile": Path("/x/ca.pem")},
            "KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT, which does not "
            "use it (set it to SSL or SASL_SSL)",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_username": "a",
                "sasl_password": "b",
                "ssl_cafile": Path("/x/ca.pem"),
            },
            "KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT, which does not "
            "use it (set it to SASL_SSL)",
        ),
        (
            {"security_protocol": "SSL", "ssl_cafile": Path("/no/such/ca.pem")},
            "KAFKA_SSL_CAFILE: no such file: /no/such/ca.pem",
        ),
        (
            {"security_protocol": "SSL", "ssl_certfile": Path("/no/such/client.pem")},
            "KAFKA_SSL_CERTFILE: no such file: /no/such/client.pem",
        ),
    ],
)
def test_refused_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings().with_(**changes).kafka_security_options()
    assert str(caught.value) == message


def test_key_without_certificate(pki: Pki) -> None:
    settings = Settings(security_protocol="SSL", ssl_keyfile=pki.client_key)
    with pytest.raises(SettingsError) as caught:
        settings.kafka_security_options()
    assert str(caught.value) == "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE"


def test_wrong_key_password_names_the_settings(pki: Pki) -> None:
    settings = Settings(
        security_protocol="SSL",
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        ssl_password="wrong",
    )
    with pytest.raises(SettingsError) as caught:
        settings.kafka_security_options()
    assert str(caught.value).startswith(
        "KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE, KAFKA_SSL_PASSWORD: cannot load the client "
        f"certificate {pki.client_cert} with key {pki.client_key}: "
    )


def test_cafile_that_is_not_a_certificate(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    settings = Settings(security_protocol="SSL", ssl_cafile=bogus)
    with pytest.raises(SettingsError) as caught:
        settings.kafka_security_options()
    assert str(caught.value).startswith(f"KAFKA_SSL_CAFILE: cannot load {bogus}: ")


def test_clients_are_refused_before_connecting() -> None:
    settings = Settings(security_protocol="SASL_SSL")
    with pytest.raises(SettingsError):
        make_producer(settings, "127.0.0.1:1")
    with pytest.raises(SettingsError):
        make_consumer(settings, "127.0.0.1:1")


# -- real brokers ------------------------------------------------------------------------------


async def _round_trip(settings: Settings, bootstrap: str, topic: str, value: bytes) -> list[bytes]:
    """Produce one record and read the topic back, with clients built from `settings`."""
    admin = make_admin(settings, bootstrap)
    await admin.start()
    try:
        assert len((await admin.describe_cluster())["brokers"]) == 1
    finally:
        await admin.close()
    producer = make_producer(settings, bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(settings, bootstrap, topic, group_id=None)
    await consumer.start()
    try:
        values: list[bytes] = []
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records)
            if value in values:
                break
        return values
    finally:
        await consumer.stop()


async def test_plaintext_default_against_the_broker(
    kafka_bootstrap: str, unique_name: Any, tmp_path: Path
) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique_name("sec") + ".")
    await ensure_topics(kafka_bootstrap, settings.with_(partitions=1))
    topic = TopicNames.from_settings(settings).operations
    assert await _round_trip(settings, kafka_bootstrap, topic, b"plain") == [b"plain"]


class _SecuredBroker(LocalKafkaBroker):
    """The project's local broker plus SSL, SASL_PLAINTEXT and SASL_SSL listeners.

    The PLAINTEXT listener stays (readiness probe, inter-broker traffic, topic creation);
    later lines of a properties file win, so the extra settings are appended.
    """

    def __init__(self, data_dir: Path, pki: Pki) -> None:
        super().__init__(data_dir, die_with_parent=True)
        self.pki = pki
        self.ssl_port = free_port()
        self.sasl_port = free_port(exclude=(self.ssl_port,))
        self.sasl_ssl_port = free_port(exclude=(self.ssl_port, self.sasl_port))

    def _write_config(self) -> None:
        super()._write_config()
        host = "127.0.0.1"
        plain_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            'user_alice="alice-secret";'
        )
        extra = {
            "listeners": (
                f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{self.controller_port},"
                f"SSL://{host}:{self.ssl_port},SASL_PLAINTEXT://{host}:{self.sasl_port},"
                f"SASL_SSL://{host}:{self.sasl_ssl_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://{host}:{self.port},SSL://{host}:{self.ssl_port},"
                f"SASL_PLAINTEXT://{host}:{self.sasl_port},SASL_SSL://{host}:{self.sasl_ssl_port}"
            ),
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
                "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
            ),
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas,
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain_jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.pki.server_p12),
            "ssl.keystore.password": KEYSTORE_PASSWORD,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.pki.ca),
            "listener.name.ssl.ssl.client.auth": "required",
        }
        with self.properties_file.open("a", encoding="utf-8") as handle:
            handle.write("# test: secured listeners\n")
            handle.writelines(f"{key}={value}\n" for key, value in extra.items())


@pytest.fixture(scope="module")
def secured_broker(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, java_for_broker: str
) -> Iterator[_SecuredBroker]:
    broker = _SecuredBroker(tmp_path_factory.mktemp("secured-broker"), pki)
    try:
        broker.start(timeout=120)
        yield broker
    finally:
        broker.stop()


@pytest.mark.kafka
async def test_ssl_sasl_plaintext_and_sasl_ssl_against_a_secured_broker(
    secured_broker: _SecuredBroker, pki: Pki, unique_name: Any
) -> None:
    base = Settings(topic_prefix=unique_name("secured") + ".", partitions=1)
    await ensure_topics(secured_broker.bootstrap_servers, base)  # over PLAINTEXT
    topic = TopicNames.from_settings(base).operations
    host = "127.0.0.1"

    mtls = base.with_(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        ssl_password=CLIENT_KEY_PASSWORD,
    )
    sasl = base.with_(
        security_protocol="SASL_PLAINTEXT", sasl_username="alice", sasl_password="alice-secret"
    )
    sasl_ssl = sasl.with_(security_protocol="SASL_SSL", ssl_cafile=pki.ca)

    assert await _round_trip(mtls, f"{host}:{secured_broker.ssl_port}", topic, b"ssl") == [b"ssl"]
    assert await _round_trip(sasl, f"{host}:{secured_broker.sasl_port}", topic, b"sasl") == [
        b"ssl",
        b"sasl",
    ]
    assert await _round_trip(
        sasl_ssl, f"{host}:{secured_broker.sasl_ssl_port}", topic, b"sasl-ssl"
    ) == [b"ssl", b"sasl", b"sasl-ssl"]


@pytest.mark.kafka
@pytest.mark.parametrize("case", ["wrong-password", "untrusted-ca", "no-client-cert"])
async def test_secured_broker_refuses_bad_credentials(
    secured_broker: _SecuredBroker, pki: Pki, case: str
) -> None:
    host = "127.0.0.1"
    if case == "wrong-password":
        settings = Settings(
            security_protocol="SASL_PLAINTEXT", sasl_username="alice", sasl_password="nope"
        )
        port = secured_broker.sasl_port
    elif case == "untrusted-ca":
        settings = Settings(
            security_protocol="SASL_SSL",
            sasl_username="alice",
            sasl_password="alice-secret",
            ssl_cafile=pki.other_ca,
        )
        port = secured_broker.sasl_ssl_port
    else:
        settings = Settings(security_protocol="SSL", ssl_cafile=pki.ca)
        port = secured_broker.ssl_port
    admin = make_admin(settings, f"{host}:{port}")
    try:
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap from"):
            await admin.start()
    finally:
        await admin.close()
