"""Cold start of the grader, before and after stored reference values (issue 17), interleaved in one run.

For two checkouts of the project (``--before``: e.g. a ``git worktree`` of the commit before, with its own
``.venv`` and ``datasets`` links; the other is this one), each round runs, alternating the two versions:

* ``python -c "import tensorflow"`` (the floor: the student's process must do it);
* one cold grade of the reference answer in a fresh process (``python -m autograder grade NB --out DIR``);
* Gradescope's ``run_autograder`` for one submission (zip built by each version, unpacked, its ``setup.sh`` run
  once before the rounds: the "after" one stores the reference values there, as in the image);
* with ``--batch``, a ``--jobs 2`` batch of the whole corpus (time per submission).

For each run: wall time, the peak resident memory (VmHWM) of the largest *grader* process (any Python process
that is not a student process) and the peak of all processes together (RSS summed every 50 ms). Points and
feedback of every graded notebook must be the same in both versions (printed, and the exit status is 1
otherwise). Medians are reported with the load average. Run under the project's lock on a shared machine::

    flock /tmp/classviz-heavy.lock .venv/bin/python bench/bench_cold_start.py --before /tmp/cold-before \\
        --rounds 3 --batch
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

AFTER = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(AFTER / "tests" / "autograder")]

from bench_gradescope import tree  # noqa: E402 - the process tree, walked once for both benchmarks


def _status(pid: int) -> tuple[int, int, str]:
    """(VmRSS, VmHWM) in bytes and the command line of ``pid`` (zeros when it is gone)."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024, cmd
    except (OSError, KeyError, ValueError, IndexError):
        return 0, 0, ""


def measure(cmd, cwd, env) -> dict:
    """Run ``cmd``; its wall time, the largest grader process's VmHWM and the peak of the whole tree (MiB)."""
    hwm, tree_peak, done = {}, [0], threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample():
        while not done.is_set():
            total = 0
            for pid in tree(proc.pid):
                rss, peak, line = _status(pid)
                total += rss
                if "python" in line and "cvgrade_child" not in line:
                    hwm[pid] = max(hwm.get(pid, 0), peak)
            tree_peak[0] = max(tree_peak[0], total)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode:
        raise RuntimeError(f"{cmd} ended with {proc.returncode}: {err.decode()[-2000:]}")
    return {"seconds": time.perf_counter() - start, "grader_mib": max(hwm.values(), default=0) / 2 ** 20,
            "tree_mib": tree_peak[0] / 2 ** 20}


def grades(results_dir: Path) -> dict:
    """{submission: [(check, points, feedback)]} of an output folder's records."""
    return {p.stem: [(c["name"], c["points"], c["feedback"]) for c in json.loads(p.read_text())["checks"]]
            for p in sorted(results_dir.glob("*.json"))}


def gradescope_root(version: Path, label: str, tmp: Path, env: dict) -> Path:
    """Build ``version``'s autograder zip, unpack it as /autograder, run its setup.sh; returns the root."""
    root = tmp / f"gs-{label}" / "autograder"
    zpath = tmp / f"gs-{label}.zip"
    subprocess.run([sys.executable, "-c", f"from autograder.gradescope import build_zip; build_zip({str(zpath)!r})"],
                   cwd=version, env=dict(env, PYTHONPATH=str(version)), check=True)
    with zipfile.ZipFile(zpath) as archive:
        archive.extractall(root / "source")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    began = time.perf_counter()
    subprocess.run(["bash", str(root / "source" / "setup.sh")], env=dict(env, AUTOGRADER_ROOT=str(root)),
                   check=True, capture_output=True)
    print(f"{label}: Gradescope setup.sh {time.perf_counter() - began:.1f} s", flush=True)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, type=Path, help="checkout of the version before")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", action="store_true", help="also a --jobs 2 batch of the corpus per version")
    parser.add_argument("--before-venv", type=Path, default=AFTER / ".venv",
                        help="virtual environment of the version before (default: this one's), e.g. a copy with "
                             "the packages pinned before")
    args = parser.parse_args(argv)
    import corpus

    versions = {"before": args.before.resolve(), "after": AFTER}
    venvs = {"before": args.before_venv.absolute(), "after": AFTER / ".venv"}
    pythons = {k: str(v / "bin" / "python") for k, v in venvs.items()}
    python = pythons["after"]
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
            "CLASSVIZ_WEIGHTS_MIRROR": os.environ.get("CLASSVIZ_WEIGHTS_MIRROR", "")}
    results = {k: {} for k in versions}
    same = True
    with tempfile.TemporaryDirectory(prefix="cold-bench-") as tmpname:
        tmp = Path(tmpname)
        nbs = tmp / "nb"
        corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py"), nbs)
        notebook = next(nbs.glob("*.ipynb"))
        env = {k: dict(base, HOME=tmpname) for k in versions}
        began = time.perf_counter()
        subprocess.run([python, "-m", "autograder", "references"], cwd=AFTER, env=env["after"], check=True,
                       capture_output=True)
        print(f"after: python -m autograder references (build, compare, store) {time.perf_counter() - began:.1f} s",
              flush=True)
        gs = {k: gradescope_root(v, k, tmp, dict(base, HOME=tmpname, CLASSVIZ_VENV=str(venvs[k])))
              for k, v in versions.items()}
        for root in gs.values():
            corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py"),
                                  root / "submission", "Copy of class_visualization.ipynb")
        cold_grades = {}
        for r in range(args.rounds):
            for label, version in versions.items():
                if label == "after" or venvs["before"] != venvs["after"]:  # the floor of each environment
                    results.setdefault(f"import ({label})" if label == "before" else "import", {}).setdefault(
                        "import tensorflow", []).append(measure([pythons[label], "-c", "import tensorflow"], AFTER,
                                                                base))
                out = tmp / f"cold-{label}-{r}"
                results[label].setdefault("cold grade", []).append(measure(
                    [pythons[label], "-m", "autograder", "grade", str(notebook), "--out", str(out)], version,
                    env[label]))
                cold_grades.setdefault(label, grades(out / "results"))
                results[label].setdefault("gradescope", []).append(measure(
                    ["bash", str(gs[label] / "source" / "run_autograder")], gs[label],
                    dict(base, HOME=tmpname, AUTOGRADER_ROOT=str(gs[label]), CLASSVIZ_VENV=str(venvs[label]))))
            print(f"round {r + 1}: " + "; ".join(
                f"{label} {m['cold grade'][-1]['seconds']:.1f} s / {m['gradescope'][-1]['seconds']:.1f} s"
                for label, m in results.items() if label in versions) + f"; load {os.getloadavg()[0]:.2f}",
                flush=True)
        same &= cold_grades.get("before") == cold_grades.get("after")
        if args.batch:
            folder = tmp / "corpus"
            count = len(corpus.materialize(folder))
            batch_grades = {}
            for label, version in versions.items():
                out = tmp / f"batch-{label}"
                m = measure([pythons[label], "-m", "autograder", "grade", str(folder), "--out", str(out), "--jobs",
                             "2"], version, env[label])
                m["per_submission"] = m["seconds"] / count
                results[label]["batch --jobs 2"] = [m]
                batch_grades[label] = grades(out / "results")
                print(f"{label}: batch of {count}: {m['seconds']:.1f} s", flush=True)
            diff = [k for k in batch_grades["after"] if batch_grades["after"][k] != batch_grades["before"].get(k)]
            same &= not diff and batch_grades["after"].keys() == batch_grades["before"].keys()
            print(f"corpus: {count} submissions, points and feedback identical: {not diff} {diff[:5]}")
    print(f"\nmedians of {args.rounds} round(s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")
    print("| what | version | wall s | s per submission | largest grader process MiB | all processes MiB |")
    print("|---|---|---|---|---|---|")
    for label, table in results.items():
        for what, runs in table.items():
            med = lambda key: statistics.median(m[key] for m in runs)  # noqa: E731
            per = f"{med('per_submission'):.2f}" if "per_submission" in runs[0] else ""
            print(f"| {what} | {label} | {med('seconds'):.1f} | {per} | {med('grader_mib'):.0f} | "
                  f"{med('tree_mib'):.0f} |")
    print(f"points and feedback identical before/after: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
