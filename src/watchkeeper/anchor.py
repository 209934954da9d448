"""History anchors: the state database and the MLflow store each record what the other holds.

A scheduled run finds its history in two stores that can be lost apart: the state database (audit
trail, evaluated windows, alert state) and the MLflow store (one run per window, the registry).
Without an anchor, emptying or removing either makes the next run start over on a fresh store and
exit 0. So:

- the state database has an identity (`ensure_identity`: a UUID made with it, in `kv_state`);
- at the end of each monitoring run the window's MLflow run gets the audit trail's head as tags
  (`checkpoint_tags`: state id, head seq and hash, the model's window count, the time, an HMAC with
  `WATCHKEEPER_AUDIT_KEY` when set), and the state database records which MLflow run it anchored
  last, per tracking store and experiment (`record_mlflow_anchor`);
- the same checkpoint goes to the JSON log (event ``audit_checkpoint``) and, when
  ``WATCHKEEPER_AUDIT_CHECKPOINT`` names a file or an http(s) URL, there too (`write_checkpoint`).

At its start a run compares (`history_problems`): the latest anchor in MLflow (one search,
``max_results=1``) and in the configured checkpoint against the state database — another state
database's anchor, an audit head behind the anchored one, an entry rewritten since, fewer windows
— and the state database's record against MLflow — the experiment gone, or no anchored run as
recent as the one recorded. Any of these stops the run with a `HistoryError` that names the file or
URL and says how to restore it or to start over deliberately (``--new-history``, which
`start_new_history` records in the audit trail). A fresh state database with a fresh MLflow store
has nothing to compare and passes.

`audit verify` compares the chain with the latest checkpoint it can find (`verify_trail`): the JSON
log beside the state database and the configured file or URL.
"""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchkeeper.audit import ChainProblem, Checkpoint, compare_with_checkpoint, missing_triggers, protect
from watchkeeper.logs import LOG_FILE_NAME
from watchkeeper.redaction import redact
from watchkeeper.state import StateStore, audit_head, audit_log, describe_state_url, window_evaluations
from watchkeeper.timeutil import as_utc, utcnow

log = logging.getLogger("watchkeeper.audit")

HISTORY_NAMESPACE = "history"
IDENTITY_KEY = "identity"
CHECKPOINT_ENV = "WATCHKEEPER_AUDIT_CHECKPOINT"
CHECKPOINT_EVENT = "audit_checkpoint"
NEW_HISTORY_EVENT = "history.new"
REPAIR_EVENT = "audit.repair"
NEW_HISTORY_FLAG = "--new-history"

TAG_STATE_ID = "watchkeeper.anchor.state_id"
TAG_AUDIT_SEQ = "watchkeeper.anchor.audit_seq"
TAG_AUDIT_HASH = "watchkeeper.anchor.audit_hash"
TAG_WINDOWS = "watchkeeper.anchor.windows"
TAG_AT = "watchkeeper.anchor.at"
TAG_MAC = "watchkeeper.anchor.mac"
# The latest anchor first: `at` is fixed-width ISO UTC text, so text order is time order.
ANCHOR_ORDER = f"tags.`{TAG_AT}` DESC"

_HTTP_TIMEOUT_S = 10


class HistoryError(RuntimeError):
    """The run's history is missing or shorter than its anchor; the message says what to do."""


class CheckpointError(OSError):
    """A configured checkpoint file or URL cannot be written or read (the message names it)."""


# --- The state database's side -----------------------------------------------------------------


def read_identity(store: StateStore) -> str | None:
    value = store.get_json(HISTORY_NAMESPACE, IDENTITY_KEY)
    return str(value["id"]) if isinstance(value, dict) and value.get("id") else None


def ensure_identity(store: StateStore) -> str:
    """The state database's identity, made on first use (a database emptied or replaced gets a new one)."""
    current = read_identity(store)
    if current is not None:
        return current
    store.put_json(
        HISTORY_NAMESPACE, IDENTITY_KEY, {"id": str(uuid.uuid4()), "created_at": utcnow().isoformat()}
    )
    # Two first runs at once: both read back the one that was written last.
    return read_identity(store) or ""


@dataclass(frozen=True)
class NewHistories:
    """What the `history.new` entries of the audit trail superseded: other state databases' anchors,
    and every anchor taken before the latest of them (read from the hash-chained trail itself, so
    that with a key nobody can silence a checkpoint by writing a row elsewhere)."""

    superseded: frozenset[str] = frozenset()
    since: str | None = None

    def covers(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.state_id in self.superseded:
            return True
        return self.since is not None and checkpoint.at < self.since


def new_histories(store: StateStore) -> NewHistories:
    query = sa.select(audit_log.c.at, audit_log.c.evidence).where(audit_log.c.event == NEW_HISTORY_EVENT)
    with store.begin() as conn:
        rows = conn.execute(query).all()
    superseded: set[str] = set()
    since = None
    for at, evidence in rows:
        try:
            superseded.update(json.loads(evidence or "{}").get("superseded_state_ids") or [])
        except (ValueError, AttributeError):
            continue
        when = (as_utc(at) or at).isoformat(timespec="microseconds")
        since = max(since or when, when)
    return NewHistories(frozenset(superseded), since)


def head_of(store: StateStore) -> tuple[int, str, int]:
    """The audit head's seq and hash, and how many entries the trail holds."""
    with store.begin() as conn:
        head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.entry_hash)).first()
        entries = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
    if head is None:
        return 0, "", int(entries)
    return int(head.seq), str(head.entry_hash), int(entries)


def entry_hash_at(store: StateStore, seq: int) -> str | None:
    with store.begin() as conn:
        value = conn.execute(sa.select(audit_log.c.entry_hash).where(audit_log.c.seq == seq)).scalar()
    return None if value is None else str(value)


def count_windows(store: StateStore, model: str) -> int:
    with store.begin() as conn:
        query = sa.select(sa.func.count()).select_from(window_evaluations)
        return int(conn.execute(query.where(window_evaluations.c.model == model)).scalar_one())


def take_checkpoint(store: StateStore, model: str | None = None) -> Checkpoint:
    """The audit head now (with `model`'s window count), signed with the store's audit key."""
    seq, entry_hash, _ = head_of(store)
    windows = count_windows(store, model) if model is not None else None
    at = utcnow().isoformat(timespec="microseconds")
    return Checkpoint(ensure_identity(store), seq, entry_hash, at, model, windows).signed(store.audit_key)


def state_location(store: StateStore) -> str:
    return describe_state_url(store.engine.url.render_as_string(hide_password=False))


# --- MLflow's side (the flow's tasks do the I/O; these are the names and the judgement) --------------


def checkpoint_tags(checkpoint: Checkpoint) -> dict[str, str]:
    """The MLflow tags that anchor a window's run to the state database's history."""
    tags = {
        TAG_STATE_ID: checkpoint.state_id,
        TAG_AUDIT_SEQ: str(checkpoint.seq),
        TAG_AUDIT_HASH: checkpoint.entry_hash,
        TAG_WINDOWS: str(checkpoint.windows if checkpoint.windows is not None else ""),
        TAG_AT: checkpoint.at,
    }
    if checkpoint.mac:
        tags[TAG_MAC] = checkpoint.mac
    return tags


def checkpoint_from_tags(tags: Mapping[str, str], model: str | None) -> Checkpoint | None:
    """The anchor a run's tags hold (None: not anchored, or tags that are not an anchor)."""
    if TAG_STATE_ID not in tags or TAG_AUDIT_SEQ not in tags:
        return None
    try:
        return Checkpoint.from_dict(
            {
                "state_id": tags[TAG_STATE_ID],
                "seq": tags[TAG_AUDIT_SEQ],
                "entry_hash": tags.get(TAG_AUDIT_HASH, ""),
                "at": tags.get(TAG_AT, ""),
                "model": model,
                "windows": tags.get(TAG_WINDOWS) or None,
                "mac": tags.get(TAG_MAC),
            }
        )
    except (KeyError, TypeError, ValueError):
        return None


def tracking_location(uri: str) -> str:
    """The MLflow store as a person finds it: the SQLite file's path, else the URI without password."""
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).resolve())
    return redact(uri)


def _mlflow_record_key(experiment: str) -> str:
    # By experiment, not by URI: a state directory moved with its `mlflow.db` keeps its record, and a
    # run pointed at another store that lacks the experiment's history is stopped like an emptied one.
    return f"mlflow|{experiment}"


def read_mlflow_record(store: StateStore, experiment: str) -> dict[str, Any] | None:
    value = store.get_json(HISTORY_NAMESPACE, _mlflow_record_key(experiment))
    return value if isinstance(value, dict) else None


def record_mlflow_anchor(
    store: StateStore, uri: str, experiment: str, *, run_id: str, checkpoint: Checkpoint
) -> None:
    """Remember in the state database the MLflow run this history was anchored to last."""
    store.put_json(
        HISTORY_NAMESPACE,
        _mlflow_record_key(experiment),
        {
            "tracking": tracking_location(uri),
            "run_id": run_id,
            "at": checkpoint.at,
            "audit_seq": checkpoint.seq,
            "windows": checkpoint.windows,
        },
    )


@dataclass(frozen=True)
class MlflowHistory:
    """What the run's MLflow store holds of this model's history (read by one search)."""

    uri: str
    experiment: str
    experiment_exists: bool
    latest: Checkpoint | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class Anchor:
    """A checkpoint and where it was found (for messages)."""

    source: str
    checkpoint: Checkpoint


@dataclass(frozen=True)
class HistoryCheck:
    """What a run found comparing its history with its anchors."""

    state: str
    state_id: str
    problems: tuple[str, ...]
    # The files or URLs that lost history (what to restore).
    lost: tuple[str, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    mlflow_record: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def error(self) -> HistoryError:
        lost = self.lost or (self.state,)
        right = "the right one" if len(lost) == 1 else "the right ones"
        return HistoryError(
            "history check failed: "
            + "; ".join(self.problems)
            + f". Restore {' and '.join(lost)} from a backup (or point the run at {right}), or start a "
            f"new history deliberately with {NEW_HISTORY_FLAG} (recorded in the audit trail)"
        )


def history_problems(
    store: StateStore, model: str, *, anchors: Iterable[Anchor], mlflow: MlflowHistory | None
) -> HistoryCheck:
    """Compare the state database with its anchors (see the module docstring); cheap: a few queries."""
    state = state_location(store)
    state_id = ensure_identity(store)
    replaced = new_histories(store)
    seq, _, entries = head_of(store)
    windows = count_windows(store, model)
    problems: list[str] = []
    lost: list[str] = []
    notes: list[str] = []
    kept = [a for a in anchors if not replaced.covers(a.checkpoint)]
    for anchor in kept:
        cp = anchor.checkpoint
        if cp.mac_ok(store.audit_key) is False:
            problems.append(
                f"the anchor in {anchor.source} ({cp.describe()}) is not signed with this audit key "
                "(altered, or written with another key)"
            )
            lost.append(state)
            continue
        if cp.state_id != state_id:
            empty = entries == 0 and windows == 0
            what = "holds no history (emptied or removed?)" if empty else f"is another one (id {state_id})"
            problems.append(
                f"{anchor.source} is anchored to state database {cp.state_id} (audit seq {cp.seq}, "
                f"windows {cp.windows if cp.windows is not None else '?'}, at {cp.at}), but the state "
                f"database {state} {what}"
            )
            lost.append(state)
            continue
        if seq < cp.seq:
            problems.append(
                f"the audit trail of {state} ends at seq {seq}, behind the anchor in {anchor.source} "
                f"(seq {cp.seq} at {cp.at}): its last entries were removed"
            )
            lost.append(state)
        elif entry_hash_at(store, cp.seq) != cp.entry_hash:
            problems.append(
                f"the audit entry at seq {cp.seq} of {state} differs from the anchor in {anchor.source} "
                f"({cp.at}): the trail was rewritten"
            )
            lost.append(state)
        if cp.model == model and cp.windows is not None and windows < cp.windows:
            problems.append(
                f"{state} holds {windows} evaluated windows of {model}, fewer than the {cp.windows} "
                f"anchored in {anchor.source} at {cp.at}"
            )
            lost.append(state)
    record = None
    if mlflow is not None:
        record = read_mlflow_record(store, mlflow.experiment)
        where = tracking_location(mlflow.uri)
        if record is not None:
            if not mlflow.experiment_exists:
                problems.append(
                    f"the MLflow store {where} has no experiment {mlflow.experiment!r}, but {state} "
                    f"recorded window runs logged to it in {record.get('tracking')} (the last: run "
                    f"{record.get('run_id')} at {record.get('at')}): the store was emptied or removed"
                )
                lost.append(where)
            elif mlflow.latest is None or mlflow.latest.at < str(record.get("at") or ""):
                latest = (
                    f"its latest anchored run is {mlflow.run_id} ({mlflow.latest.at})"
                    if mlflow.latest is not None
                    else "it holds no anchored run"
                )
                problems.append(
                    f"the MLflow store {where} is missing runs of experiment {mlflow.experiment!r}: "
                    f"{state} recorded run {record.get('run_id')} anchored at {record.get('at')}, "
                    f"but {latest}"
                )
                lost.append(where)
    missing = missing_triggers(store.engine)
    if missing:
        notes.append(
            f"audit triggers missing in {state}: {', '.join(missing)} (run `watchkeeper audit verify`, "
            "then `watchkeeper audit repair`)"
        )
    return HistoryCheck(
        state, state_id, tuple(problems), tuple(dict.fromkeys(lost)), tuple(kept), record, tuple(notes)
    )


def start_new_history(
    store: StateStore, model: str, check: HistoryCheck, mlflow: MlflowHistory | None
) -> None:
    """`--new-history`: the anchors found are superseded, deliberately, by an entry of the audit trail
    (`new_histories` reads it back: the other state databases' anchors, and every earlier one)."""
    superseded = sorted(
        {a.checkpoint.state_id for a in check.anchors if a.checkpoint.state_id != check.state_id}
    )
    if mlflow is not None:
        store.put_json(HISTORY_NAMESPACE, _mlflow_record_key(mlflow.experiment), None)
    store.append_audit(
        model=model,
        event=NEW_HISTORY_EVENT,
        decision="new_history",
        reasons=list(check.problems),
        evidence={
            "state": check.state,
            "state_id": check.state_id,
            "superseded_state_ids": superseded,
            "anchors": [{"source": a.source, **a.checkpoint.to_dict()} for a in check.anchors],
            "mlflow_record": check.mlflow_record,
            "tracking": tracking_location(mlflow.uri) if mlflow is not None else None,
        },
    )


# --- Checkpoints outside the databases ------------------------------------------------------------


def log_checkpoint(checkpoint: Checkpoint, logger: logging.Logger | None = None) -> None:
    """The checkpoint as a JSON-log record (event ``audit_checkpoint``, under ``fields.checkpoint``)."""
    (logger or log).info(
        "audit checkpoint: seq %d",
        checkpoint.seq,
        extra={"event": CHECKPOINT_EVENT, "checkpoint": checkpoint.to_dict()},
    )


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def write_checkpoint(target: str, checkpoint: Checkpoint) -> None:
    """Append the checkpoint to a JSON-lines file, or POST it (JSON) to an http(s) URL."""
    text = json.dumps(checkpoint.to_dict())
    if _is_url(target):
        request = urllib.request.Request(
            target, data=text.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:
                response.read()
        except OSError as exc:
            raise CheckpointError(f"audit checkpoint: POST to {redact(target)} failed: {exc}") from None
        return
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise CheckpointError(f"audit checkpoint: cannot append to {path}: {exc.strerror or exc}") from None


def _parse_checkpoints(text: str) -> list[Checkpoint]:
    """Checkpoints in JSON lines, a JSON list or one JSON object; lines that are not one are skipped."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError:
            items = []
    else:
        items = []
        for line in stripped.splitlines():
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(Checkpoint.from_dict(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return out


def read_checkpoints(target: str) -> list[Checkpoint]:
    """The checkpoints a configured file holds, or that a GET of the URL returns (JSON lines/list)."""
    if _is_url(target):
        try:
            with urllib.request.urlopen(target, timeout=_HTTP_TIMEOUT_S) as response:
                return _parse_checkpoints(response.read().decode("utf-8", errors="replace"))
        except OSError as exc:
            raise CheckpointError(f"audit checkpoint: GET {redact(target)} failed: {exc}") from None
    path = Path(target)
    if not path.exists():
        return []
    try:
        return _parse_checkpoints(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise CheckpointError(f"audit checkpoint: cannot read {path}: {exc.strerror or exc}") from None


def read_log_checkpoints(log_dir: Path) -> list[Checkpoint]:
    """The ``audit_checkpoint`` records of the JSON log in `log_dir` (rotated files included)."""
    out = []
    for path in sorted(log_dir.glob(f"{LOG_FILE_NAME}*")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if CHECKPOINT_EVENT not in line:
                continue
            try:
                record = json.loads(line)
                if record.get("event") == CHECKPOINT_EVENT:
                    out.append(Checkpoint.from_dict(record["fields"]["checkpoint"]))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return out


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    """The most recent checkpoint (the highest seq; the latest time among equals)."""
    return max(checkpoints, key=lambda c: (c.seq, c.at), default=None)


# --- audit verify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailReport:
    """`audit verify`: the chain, the latest checkpoint and the triggers, as lines to print."""

    problems: tuple[str, ...]
    lines: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_trail(store: StateStore, sources: Mapping[str, Sequence[Checkpoint]]) -> TrailReport:
    """Walk the chain, compare it with the latest checkpoint of this database, check the triggers.

    `sources`: where checkpoints were looked for (a file, a URL, the JSON log) and what each held.
    """
    chain = store.verify_audit()
    lines = [chain.to_text()]
    problems = [] if chain.ok else [chain.to_text()]
    notes: list[str] = []
    state = state_location(store)
    state_id = read_identity(store)
    replaced = new_histories(store)
    seq, _, entries = head_of(store)
    own: list[Anchor] = []
    foreign: list[Anchor] = []
    superseded = 0
    for source, checkpoints in sources.items():
        for cp in checkpoints:
            if replaced.covers(cp):
                superseded += 1
                continue
            (own if cp.state_id == state_id else foreign).append(Anchor(source, cp))
    if superseded:
        notes.append(
            f"{superseded} checkpoint(s) from before the latest new history (audited "
            f"{NEW_HISTORY_EVENT} at {replaced.since}) ignored"
        )
    if foreign:
        # Another state database's checkpoints, not superseded by a `history.new` entry of this one:
        # this database replaced it without saying so (removed, emptied, swapped), or two state
        # databases write to one checkpoint target (give each its own).
        newest = max(foreign, key=lambda a: (a.checkpoint.at, a.checkpoint.seq))
        this = f"(id {state_id})" if state_id is not None else "(no history identity)"
        problem = (
            f"{newest.source} holds checkpoints of another state database {newest.checkpoint.state_id} "
            f"({newest.checkpoint.describe()}) than {state} {this}, and no {NEW_HISTORY_EVENT} entry "
            "supersedes them: the database was emptied or replaced (restore it, or start over with "
            f"{NEW_HISTORY_FLAG})"
        )
        problems.append(problem)
        lines.append(f"audit trail REPLACED: {problem}")
    forged = [a for a in own if a.checkpoint.mac_ok(store.audit_key) is False]
    for anchor in forged:
        problem = (
            f"checkpoint {anchor.checkpoint.describe()} in {anchor.source} is not signed with this "
            "audit key (altered, or written with another key)"
        )
        problems.append(problem)
        lines.append(f"audit checkpoint FORGED: {problem}")
    trusted = [a for a in own if a not in forged]
    newest_own = max(trusted, key=lambda a: (a.checkpoint.seq, a.checkpoint.at), default=None)
    if newest_own is None:
        searched = ", ".join(sources) or "nowhere"
        notes.append(
            f"no audit checkpoint of this database found (looked in {searched}): a removed tail with "
            "the head moved back cannot be detected"
        )
    else:
        cp = newest_own.checkpoint
        found: ChainProblem | None = compare_with_checkpoint(
            head_seq=seq,
            entries=entries,
            hash_at_seq=entry_hash_at(store, cp.seq) if seq >= cp.seq else None,
            checkpoint=cp,
        )
        if found is None:
            signed = "signed" if cp.mac_ok(store.audit_key) else "unsigned"
            lines.append(f"latest checkpoint ({cp.describe()}, {signed}, {newest_own.source}) matches")
        else:
            text = f"audit trail {found.kind.upper()} against {newest_own.source}: {found.describe()}"
            problems.append(text)
            lines.append(text)
    missing = missing_triggers(store.engine)
    if missing:
        text = (
            f"audit triggers MISSING in {state}: {', '.join(missing)} (the trail can be rewritten "
            "unrefused; `watchkeeper audit repair` re-creates them and audits that)"
        )
        problems.append(text)
        lines.append(text)
    return TrailReport(tuple(problems), tuple(lines), tuple(notes))


def repair_triggers(store: StateStore, *, actor: str) -> list[str]:
    """Re-create the missing protecting triggers and record it in the audit trail; the names."""
    missing = missing_triggers(store.engine)
    if not missing:
        return []
    protect(store.engine, force=True)
    store.append_audit(
        model="*",
        event=REPAIR_EVENT,
        decision="triggers_recreated",
        reasons=[f"re-created missing audit triggers: {', '.join(missing)}"],
        evidence={"recreated": missing, "by": actor, "state": state_location(store)},
    )
    return missing
