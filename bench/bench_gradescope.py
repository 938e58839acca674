"""What one Gradescope submission costs: wall time (cold, as in Gradescope's fresh container) and peak memory of
all the processes together (run_autograder, the grader, the student process).

The autograder zip is unpacked into a temporary folder standing in for /autograder, its setup.sh is run with the
project's virtual environment and a weights mirror (so nothing is downloaded), then run_autograder grades the
reference answer ``--runs`` times; a thread sums the resident memory (RSS, from /proc) of run_autograder's whole
process tree every 50 ms. Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first)::

    .venv/bin/python bench/bench_gradescope.py [--runs 3] [--isolation user]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "autograder"))  # the corpus of the tests (not installed)


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_rss(pid: int) -> int:
    """Bytes of resident memory of ``pid`` and all its descendants (Linux /proc)."""
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--isolation", default="", help="CLASSVIZ_GRADER_ISOLATION for the runs (e.g. user)")
    args = parser.parse_args(argv)
    import corpus

    from autograder.gradescope import build_zip

    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        root = Path(tmp) / "autograder"
        build_zip(Path(tmp) / "autograder.zip")
        with zipfile.ZipFile(Path(tmp) / "autograder.zip") as archive:
            archive.extractall(root / "source")
        (root / "results").mkdir()
        (root / "submission").mkdir()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmp, "AUTOGRADER_ROOT": str(root),
               "CLASSVIZ_VENV": sys.prefix, "CLASSVIZ_WEIGHTS_MIRROR": os.environ.get("CLASSVIZ_WEIGHTS_MIRROR", "")}
        if args.isolation:
            env["CLASSVIZ_GRADER_ISOLATION"] = args.isolation
        subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, check=True, capture_output=True)
        snippet = corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py")
        corpus.write_notebook(snippet, root / "submission", "Copy of class_visualization.ipynb")
        seconds, peaks = [], []
        for run in range(args.runs):
            peak, done = [0], threading.Event()
            start = time.perf_counter()
            proc = subprocess.Popen(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], tree_rss(proc.pid))
                    time.sleep(0.05)
            thread = threading.Thread(target=sample)
            thread.start()
            proc.wait()
            done.set()
            thread.join()
            seconds.append(time.perf_counter() - start)
            peaks.append(peak[0] / 2 ** 20)
            score = json.loads((root / "results" / "results.json").read_text())["score"]
            print(f"run {run + 1}: {seconds[-1]:.1f} s, peak {peaks[-1]:.0f} MiB (all processes), score {score}",
                  flush=True)
        print(f"median {statistics.median(seconds):.1f} s, peak memory {max(peaks):.0f} MiB; load average "
              f"{os.getloadavg()[0]:.2f}; isolation {args.isolation or 'best available'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
