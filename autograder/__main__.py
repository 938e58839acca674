"""Command line of the hidden grader: ``python -m autograder grade PATH [PATH ...] --out DIR [--jobs N]`` and
``python -m autograder checks``, ``python -m autograder references`` (build, compare and store the reference
values). One notebook by hand: ``python -m pytest autograder --submission NOTEBOOK``."""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    from .isolation import DEFAULT_MEMORY_GB
    from .results import VISIBILITIES

    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Hidden grader of the class visualization assignment.")
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade notebooks, folders of notebooks or an nbgrader submitted/ tree",
                           description="Run the hidden tests on every submission; writes OUT/results/<id>.json, "
                                       "OUT/gradescope/<id>/results.json, OUT/grades.csv and a summary table.")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook, a folder of notebooks, or a submitted/<student>/<assignment>/ tree")
    grade.add_argument("--out", required=True, help="output folder (created)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded in OUT")
    grade.add_argument("--weights", default=None, help="SqueezeNet weights folder (default: classviz's)")
    grade.add_argument("--timeout-scale", type=float, default=1.0,
                       help="multiply every time limit (slow machines > 1; default 1)")
    grade.add_argument("--memory-gb", type=float, default=float(DEFAULT_MEMORY_GB),
                       help=f"address-space limit of each student process in GB (default {DEFAULT_MEMORY_GB})")
    grade.add_argument("--visibility", default=VISIBILITIES[0], choices=VISIBILITIES,
                       help=f"Gradescope visibility of the tests (default {VISIBILITIES[0]})")
    grade.add_argument("--shard", metavar="I/N", help="grade only shard I of N (1 <= I <= N; the same split on "
                                                     "every machine), then combine with `merge`")
    grade.add_argument("--students", metavar="GLOB", help="in an nbgrader tree, only the students whose folder "
                                                          "name matches GLOB (as nbgrader's --student)")
    grade.add_argument("--assignment", metavar="NAME", help="in an nbgrader tree, only this assignment's folders")
    grade.add_argument("--quiet", action="store_true", help="print nothing (results are still written)")
    merge = sub.add_parser("merge", help="combine the output folders of shards into one",
                           description="Combine OUT folders of `grade --shard` runs into one grades.csv, summary and "
                                       "results (the same as one run over all the submissions).")
    merge.add_argument("outs", nargs="+", metavar="OUT", help="output folders of the shards")
    merge.add_argument("--out", required=True, help="the combined output folder (created)")
    merge.add_argument("--visibility", default=VISIBILITIES[0], choices=VISIBILITIES)
    gs = sub.add_parser("gradescope", help="build the Gradescope autograder zip",
                        description="Write autograder.zip (setup.sh and run_autograder at its root) to upload as a "
                                    "Gradescope programming assignment's autograder.")
    gs.add_argument("--out", default="autograder.zip", help="the zip to write (default autograder.zip)")
    gs.add_argument("--visibility", default=VISIBILITIES[0], choices=VISIBILITIES,
                    help=f"when students see each check's result and feedback (default {VISIBILITIES[0]})")
    run = sub.add_parser("run-gradescope", help="grade ROOT/submission into ROOT/results/results.json "
                                                "(what the zip's run_autograder runs)")
    run.add_argument("--root", default="/autograder", help="Gradescope's folder (default /autograder)")
    run.add_argument("--weights", help="weights folder (default ROOT/source/datasets/squeezenet1.1_nchw)")
    refs = sub.add_parser("references", help="build the reference values, compare them with the stored ones, store "
                                             "them when missing or invalid",
                          description="Build the hidden checks' reference values on the real network, compare them "
                                      "with the stored ones (exact), and store them when the store is missing, "
                                      "stale or damaged. Exit status 1 when valid stored values differ.")
    refs.add_argument("--weights", help="SqueezeNet weights folder (default: classviz's, verified)")
    refs.add_argument("--store", help="the store folder (default: $CLASSVIZ_REFERENCES_DIR, else "
                                      "datasets/grader-references in the course folder)")
    refs.add_argument("--replace", action="store_true", help="store the rebuilt values even when the stored "
                                                             "ones are valid but differ")
    checks = sub.add_parser("checks", help="print the checks, their points and thresholds (from the hidden tests)")
    checks.add_argument("--markdown", action="store_true", help="as the README's table")
    return parser


def checks_text(markdown: bool = False) -> str:
    """The checks as the hidden tests declare them: plain text, or the README's Markdown table."""
    from .results import checks, max_score

    if markdown:
        cell = lambda text: text.replace("|", "\\|")  # noqa: E731 - a literal | inside a Markdown table cell
        rows = [f"| `{c.name}` | {c.points} | {cell(c.title)}. Passes when: {cell(c.criterion)} |"
                for c in checks().values()]
        return "\n".join(["| check | points | what it checks, and when it passes (all or nothing) |",
                          "|---|---|---|", *rows])
    blocks = [f"{c.name} ({c.points} pts): {c.title}\n  passes when: {c.criterion}\n  why: {c.why}\n"
              for c in checks().values()]
    return "\n".join(blocks) + f"\ntotal: {max_score()} points"


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    if args.command == "checks":
        print(checks_text(args.markdown))
        return 0
    if args.command in ("gradescope", "run-gradescope"):
        from .gradescope import main_build, main_run

        return (main_build if args.command == "gradescope" else main_run)(args)
    if args.command == "references":
        from .reference_store import main as main_references

        return main_references(args)
    if args.command == "merge":
        from .batch import main_merge

        return main_merge(args)
    if args.jobs < 1:
        print("--jobs must be >= 1", file=sys.stderr)
        return 2
    from .batch import main_grade

    return main_grade(args)


if __name__ == "__main__":
    sys.exit(main())
