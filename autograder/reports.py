"""What a batch reports: ``grades.csv``, the summary table, the Markdown feedback of a submission, and the
closing lines that name the submissions needing a look."""

from __future__ import annotations

import csv
import io
import sys

from . import results as R


def csv_text(records: list[dict]) -> str:
    """``grades.csv``: one row per record, by submission id, with a pointer to its feedback file (no timings: the
    same submissions give the same bytes, graded on one machine or in merged shards)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(R.checks())
    writer.writerow(["submission", "student", "assignment", "notebook", "status", "score", "max_score", *names,
                     "feedback", "note"])
    for rec in sorted(records, key=lambda r: r["submission"]):
        points = {c["name"]: c["points"] for c in rec["checks"]}
        writer.writerow([rec["submission"], rec.get("student") or "", rec.get("assignment") or "",
                         rec.get("notebook") or "", rec["status"], rec["score"], rec["max_score"],
                         *(points.get(n, 0) for n in names), f"feedback/{rec['submission']}.md",
                         "; ".join(x for x in (rec.get("note", ""), rec.get("reason", "")) if x)])
    return buf.getvalue()


def summary_table(records: list[dict], seconds: bool = False) -> str:
    """A fixed-width table: one line per submission (by id), points per check (headed by its first word), status,
    and with ``seconds`` the grading time of each."""
    checks = R.checks()
    heads = {n: n.split("_")[0] for n in checks}
    width = max([len("submission")] + [len(rec["submission"]) for rec in records])
    head = f"{'submission':<{width}}  score  " + " ".join(heads.values()) + ("    time" if seconds else "") + "  status"
    lines = [head, "-" * len(head)]

    def cells(values):
        return " ".join(f"{v:>{len(heads[n])}}" for n, v in zip(checks, values))

    for rec in sorted(records, key=lambda r: r["submission"]):
        points = {c["name"]: c["points"] for c in rec["checks"]}
        time_cell = f"  {rec.get('timings', {}).get('total', 0.0):5.1f}s" if seconds else ""
        status = rec["status"] + (" (tampering)" if str(rec.get("reason", "")).startswith("tampering") else "")
        lines.append(f"{rec['submission']:<{width}}  {rec['score']:>2}/{rec['max_score']:<2}  "
                     + cells(points.get(n, 0) for n in checks) + f"{time_cell}  {status}")
    lines.append(f"{'(max)':<{width}}  {R.max_score():>2}/{R.max_score():<2}  "
                 + cells(c.points for c in checks.values()))
    return "\n".join(lines)


def feedback_text(record: dict) -> str:
    """The Markdown feedback file of one submission: its score, then each check with its points and feedback."""
    titles = {name: check.title for name, check in R.checks().items()}
    lines = [f"# Class visualization: feedback for {record['submission']}", "",
             f"**Score: {record['score']} / {record['max_score']}** ({record['status']})"]
    texts = {check["feedback"] for check in record["checks"]}
    if record["status"] != "graded" and len(texts) == 1:  # unreadable, missing, grader error: say why once
        lines += ["", texts.pop() or record.get("reason") or "(no message)", "",
                  "Every check: 0 points (" + ", ".join(f"{c['name']} 0 / {c['max_points']}" for c in record["checks"])
                  + ")."]
        return "\n".join(lines) + "\n"
    if record.get("reason"):
        lines.append(f"\n{record['reason']}")
    for check in record["checks"]:
        mark = "passed" if check["passed"] else "not passed"
        lines += ["", f"## {check['name']}: {check['points']} / {check['max_points']} ({mark})", "",
                  f"*{titles.get(check['name'], check['name'])}.*", "", check["feedback"] or "(no message)"]
    return "\n".join(lines) + "\n"


def report(records: list[dict], problems: list[str]) -> int:
    """Print the problems and the submissions that need a look (missing, unreadable, tampering, grader errors)
    on stderr; the exit status: 2 when nothing was graded because of problems, 1 with problems, else 0."""
    for problem in problems:
        print(f"[autograder] {problem}", file=sys.stderr)
    for what, chosen in (
            ("submission folder(s) without a notebook (recorded with 0 points)",
             [r for r in records if r.get("status") == "missing"]),
            ("unreadable notebook(s) (recorded with 0 points; see their reason, ask the student for the file again)",
             [r for r in records if r.get("status") == "unreadable"]),
            ("submission(s) caught tampering (see their reason)",
             [r for r in records if str(r.get("reason", "")).startswith("tampering detected")]),
            ("submission(s) hit a grader error (recorded, not the students' fault; see their reason and regrade "
             "after a fix)", [r for r in records if r.get("status") == "error"])):
        if chosen:
            print(f"[autograder] {len(chosen)} {what}: " + ", ".join(r["submission"] for r in chosen),
                  file=sys.stderr)
    return 2 if problems and not records else (1 if problems else 0)
