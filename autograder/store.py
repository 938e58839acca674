"""Signed result files: written atomically, trusted only with this output folder's signature.

Rule of this module: every file the grader writes goes through :func:`atomic_write` (a temporary file in the
same folder and a rename: a killed grader leaves the old file or the new one, never half a file). A result is
reused (:func:`load_result`) only for the same notebook bytes and grader version *and* with the signature of its
output folder (an HMAC-SHA256 with the key in ``OUT/.autograder-key``, created on first use, readable by the
grader's user only): a result file written by anyone else -- e.g. a student process that found a way to write
there -- is graded again, never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path

from . import results as R
from .reports import csv_text, feedback_text, summary_table
from .submissions import Submission


def atomic_write(path: Path, text: str, mode: int = 0o666) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename (``mode``: the new
    file's permissions, less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


KEY_FILE = ".autograder-key"
_KEY_LOCK = threading.Lock()


def output_key(out: Path) -> bytes:
    """This output folder's signing key (``OUT/.autograder-key``, 32 random bytes, mode 0600; created once)."""
    path = Path(out) / KEY_FILE
    with _KEY_LOCK:
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            pass
        key = secrets.token_bytes(32)
        atomic_write(path, key.hex() + "\n", mode=0o600)  # a damaged key file is replaced: all is graded again
        return key


def _signature(key: bytes, record: dict) -> str:
    """HMAC-SHA256 of everything in the record but its timings (so a deterministic regrade signs the same)."""
    body = {k: v for k, v in record.items() if k not in ("signature", "timings")}
    if isinstance(body.get("checks"), list):
        body["checks"] = [{k: v for k, v in c.items() if k != "seconds"} if isinstance(c, dict) else c
                          for c in body["checks"]]
    if isinstance(body.get("process"), dict):
        body["process"] = {k: v for k, v in body["process"].items() if k != "failures"}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def write_result(out: Path, sub: Submission, record: dict, visibility: str = R.VISIBILITIES[0]) -> None:
    """Write one submission's result file (signed with the folder's key) and its Gradescope file, atomically."""
    record = dict(record)
    record["signature"] = _signature(output_key(out), record)
    atomic_write(out / "results" / f"{sub.id}.json", json.dumps(record, indent=1, sort_keys=False) + "\n")
    write_json(out / "gradescope" / sub.id / "results.json", R.gradescope(record, visibility))
    atomic_write(out / "feedback" / f"{sub.id}.md", feedback_text(record))


def load_result(out: Path, sub: Submission) -> dict | None:
    """A finished result on disk for this submission's current notebook bytes and grader version, signed with
    this folder's key (so written by this grader), else None."""
    if sub.notebook is None:
        return None  # a missing notebook is recorded again (instantly), never cached
    path = out / "results" / f"{sub.id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("signature"), str)
            and hmac.compare_digest(record["signature"], _signature(output_key(out), record))):
        return None
    if (record.get("grader_version") == R.GRADER_VERSION
            and record.get("notebook_sha256") == R.sha256(sub.notebook)
            and record.get("status") in ("graded", "unreadable") and isinstance(record.get("checks"), list)
            and [c.get("name") for c in record["checks"]] == list(R.checks())):
        return record
    return None


def missing_record(sub: Submission) -> dict:
    """The result of a submission folder without a notebook: status ``"missing"``, 0 points, the reason."""
    reason = sub.note or "no notebook found"
    return _zero_record(sub, "missing", reason, f"nothing was graded: {reason}")


def error_record(sub: Submission, reason: str) -> dict:
    """The result of a submission the grader itself could not grade: status ``"error"``, 0 points, the reason
    (the feedback says it is not the student's mistake)."""
    return _zero_record(sub, "error", f"grader error: {reason}", R.grader_failed(f"on this notebook ({reason})"))


def _zero_record(sub: Submission, status: str, reason: str, feedback: str) -> dict:
    notebook = None if sub.notebook is None else str(sub.notebook)
    return {"schema": R.SCHEMA_VERSION, "grader_version": R.GRADER_VERSION, "submission": sub.id,
            "student": sub.student, "assignment": sub.assignment, "notebook": notebook,
            "notebook_sha256": R.sha256(sub.notebook) if notebook else None, "status": status, "reason": reason,
            "checks": R.all_failed(feedback), "score": 0, "max_score": R.max_score(), "timings": {"total": 0.0}}


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON, written atomically."""
    atomic_write(Path(path), json.dumps(data, indent=1) + "\n")


def write_tables(out: Path, records: list[dict]) -> None:
    """``grades.csv`` and ``summary.txt`` of these records (by submission id)."""
    atomic_write(Path(out) / "grades.csv", csv_text(records))
    atomic_write(Path(out) / "summary.txt", summary_table(records) + "\n")
