"""How every Kafka client authenticates and encrypts: `Settings` → aiokafka keyword arguments.

Checked when a client is built, before any connection: a SASL protocol without credentials
or a certificate file that is not there fails with the setting's name, instead of surfacing
later as an opaque handshake timeout. A SASL or SSL setting given while the protocol stays
PLAINTEXT is refused too: the user meant to secure the connection and would otherwise send
credentials nowhere and data in clear.

Supported: PLAINTEXT, SSL (server verification, optional client certificate), SASL_PLAINTEXT
and SASL_SSL with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. GSSAPI and OAUTHBEARER need a
Kerberos library or a token provider object, which an environment variable cannot carry.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reactor_es.errors import SettingsError

if TYPE_CHECKING:
    from reactor_es.config import Settings

__all__ = ["SASL_MECHANISMS", "SECURITY_PROTOCOLS", "security_options"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def security_options(settings: Settings) -> dict[str, Any]:
    """The aiokafka kwargs for `settings`; `SettingsError` naming the setting when unusable."""
    protocol = settings.security_protocol.strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(
            f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}, "
            f"not {settings.security_protocol!r}"
        )
    uses_sasl = protocol.startswith("SASL_")
    uses_ssl = protocol.endswith("SSL")
    mechanism = _mechanism(settings)
    _refuse_unused(settings, protocol, uses_sasl=uses_sasl, uses_ssl=uses_ssl)
    options: dict[str, Any] = {"security_protocol": protocol}
    if uses_sasl:
        options.update(_sasl_options(settings, protocol, mechanism))
    if uses_ssl:
        options["ssl_context"] = _ssl_context(settings)
    return options


def _refuse_unused(settings: Settings, protocol: str, *, uses_sasl: bool, uses_ssl: bool) -> None:
    sasl_given = [
        name
        for name, value in (
            ("KAFKA_SASL_MECHANISM", settings.sasl_mechanism),
            ("KAFKA_SASL_USERNAME", settings.sasl_username),
            ("KAFKA_SASL_PASSWORD", settings.sasl_password),
        )
        if value and not uses_sasl
    ]
    ssl_given = [
        name
        for name, value in (
            ("KAFKA_SSL_CAFILE", settings.ssl_cafile),
            ("KAFKA_SSL_CERTFILE", settings.ssl_certfile),
            ("KAFKA_SSL_KEYFILE", settings.ssl_keyfile),
            ("KAFKA_SSL_PASSWORD", settings.ssl_password),
        )
        if value and not uses_ssl
    ]
    given = sasl_given + ssl_given
    if not given:
        return
    if (sasl_given and (ssl_given or uses_ssl)) or (ssl_given and uses_sasl):
        wanted = "SASL_SSL"
    elif sasl_given:
        wanted = "SASL_PLAINTEXT or SASL_SSL"
    else:
        wanted = "SSL or SASL_SSL"
    raise SettingsError(
        f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL is {protocol}, "
        f"which does not use {'it' if len(given) == 1 else 'them'} (set it to {wanted})"
    )


def _mechanism(settings: Settings) -> str:
    """The SASL mechanism (PLAIN when unset); an unsupported one is refused whatever the
    protocol, so that is said before anything else."""
    mechanism = (settings.sasl_mechanism or "PLAIN").strip().upper()
    if mechanism not in SASL_MECHANISMS:
        raise SettingsError(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, "
            f"not {settings.sasl_mechanism!r}"
        )
    return mechanism


def _sasl_options(settings: Settings, protocol: str, mechanism: str) -> dict[str, Any]:
    missing = [
        name
        for name, value in (
            ("KAFKA_SASL_USERNAME", settings.sasl_username),
            ("KAFKA_SASL_PASSWORD", settings.sasl_password),
        )
        if not value
    ]
    if missing:
        raise SettingsError(
            f"KAFKA_SECURITY_PROTOCOL={protocol} with KAFKA_SASL_MECHANISM={mechanism} needs "
            f"{' and '.join(missing)}"
        )
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password,
    }


def _existing(name: str, path: Path | None) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise SettingsError(f"{name}: no such file: {path}")
    return str(path)


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    cafile = _existing("KAFKA_SSL_CAFILE", settings.ssl_cafile)
    certfile = _existing("KAFKA_SSL_CERTFILE", settings.ssl_certfile)
    keyfile = _existing("KAFKA_SSL_KEYFILE", settings.ssl_keyfile)
    if certfile is None and keyfile is not None:
        raise SettingsError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")
    if certfile is None and settings.ssl_password:
        raise SettingsError("KAFKA_SSL_PASSWORD is set without KAFKA_SSL_CERTFILE")
    try:
        # No CA file: the system's trusted CAs (a managed cluster with a public certificate).
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"KAFKA_SSL_CAFILE: cannot load {cafile}: {_reason(exc)}") from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile, settings.ssl_password or None)
        except (ssl.SSLError, OSError) as exc:
            names = "KAFKA_SSL_CERTFILE" + (", KAFKA_SSL_KEYFILE" if keyfile else "")
            if settings.ssl_password:
                names += ", KAFKA_SSL_PASSWORD"
            raise SettingsError(
                f"{names}: cannot load the client certificate {certfile}"
                f"{f' with key {keyfile}' if keyfile else ''}: {_reason(exc)}"
            ) from None
    if not settings.ssl_check_hostname:
        # The certificate is still verified against the CA; only the name check goes.
        context.check_hostname = False
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
