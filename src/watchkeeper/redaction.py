"""Secret redaction: one home for what counts as a secret and how it is blanked out.

Two kinds of secrets are replaced by ``***``:

- known values: whatever a caller registers with a `Redactor` (a webhook URL or token read from an
  env var or a Prefect Secret block), with its URL-encoded form and, for a webhook URL, its path
  (the secret part of an incoming-webhook URL);
- recognizable shapes (`PATTERNS`): Slack/Discord/Teams webhook URLs, the password of any
  ``scheme://user:password@host`` URL, Slack tokens, ``Bearer`` tokens and ``password=``-style
  parameters.

`redact` and `register_secret` work on the process-wide redactor the JSON logs use
(`watchkeeper.logs`); an alert channel keeps a `Redactor` of its own for its own secrets.
`redact_value` also blanks values under secret-like keys (``password``, ``token``, …).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

REDACTED = "***"

# Order matters: whole webhook URLs first, so their path is not half-redacted by a later rule.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Webhook URLs are bearer credentials in their path: keep the host so the reader knows which.
    (re.compile(r"(https?://hooks\.slack\.com/)[^\s\"'<>]+", re.I), r"\1" + REDACTED),
    (
        re.compile(r"(https?://(?:\w+\.)?discord(?:app)?\.com/api/webhooks/)[^\s\"'<>]+", re.I),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(https?://[\w.-]*\.webhook\.office\.com/)[^\s\"'<>]+", re.I), r"\1" + REDACTED),
    # scheme://user:password@host — database URLs, Pushgateway with basic auth, proxies.
    (
        re.compile(r"(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://[^\s:/@\"']*:)[^\s@/\"']+(@)", re.I),
        r"\1" + REDACTED + r"\2",
    ),
    # Slack tokens: bot, user, app-level, refresh, legacy workspace.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 " + REDACTED),
    (re.compile(r"\b(Authorization:\s*Basic)\s+[A-Za-z0-9+/=]+", re.I), r"\1 " + REDACTED),
    # key=value in query strings, DSNs and command lines.
    (
        re.compile(
            r"\b((?:password|passwd|pwd|token|access_token|refresh_token|api[_-]?key|secret|client_secret)"
            r"=)[^&\s\"',;]+",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
)

# Field names whose value is a secret whatever it looks like (compared lowercased, `-` → `_`).
SENSITIVE_KEYS = re.compile(
    r"(password|passwd|secret|token|api_key|apikey|authorization|webhook_url|private_key|credential)"
)

MIN_SECRET_LEN = 4  # shorter "secrets" would blank out ordinary digits and words in every line
_MIN_PATH_LEN = 8  # a webhook URL's path is its secret; a short path ("/", "/hook") is not


class Redactor:
    """Known secret values and the recognizable shapes (`PATTERNS`), replaced with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None, *, url_path: bool = False) -> bool:
        """Redact `secret` from now on; False (nothing registered) for None or very short values.

        `url_path` also redacts the URL's path on its own: the secret part of an incoming-webhook
        URL. Not for other URLs, whose paths (a database name, a directory) are ordinary text.
        """
        if secret is None or len(secret) < MIN_SECRET_LEN:
            return False
        values = {secret, quote(secret, safe="")}
        path = urlsplit(secret).path if url_path and "://" in secret else ""
        if len(path) >= _MIN_PATH_LEN:
            values.add(path)
        with self._lock:
            self._secrets.update(values)
            # Longest first, so a secret that contains another (a URL and its path) is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return True

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        for regex, replacement in PATTERNS:
            text = regex.sub(replacement, text)
        return text


_process = Redactor()


def register_secret(value: str | None) -> bool:
    """Redact `value` (and its URL-encoded form) from every log line from now on.

    Returns False, registering nothing, for None or values shorter than 4 characters: those cannot be
    told apart from ordinary text, and would blank out digits and words everywhere.
    """
    return _process.add(value)


def clear_secrets() -> None:
    """Forget every registered secret (tests; a long-lived process rotating credentials)."""
    _process.clear()


def redact(text: str) -> str:
    """`text` with registered secrets, webhook URLs, URL passwords and tokens replaced by ``***``."""
    return _process(text)


def _is_sensitive_key(key: str) -> bool:
    return bool(SENSITIVE_KEYS.search(key.lower().replace("-", "_")))


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """Redact strings inside `value` (dicts, lists, tuples, sets), and values under secret-like keys."""
    if _depth > 20:  # a self-referencing structure must not hang the logger
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            str(k): (
                REDACTED
                if _is_sensitive_key(str(k)) and v is not None
                else redact_value(v, _depth=_depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, _depth=_depth + 1) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets redacted, for handlers that are not ours.

    Put it on a handler or a logger: it formats the message once, redacts it (with the process-wide
    redactor, or the one given) and drops the arguments, so every handler after it sees the
    redacted text.
    """

    def __init__(self, redactor: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, reported by its handler
            return True
        record.msg = self.redactor(message)
        record.args = None
        return True
