"""What the property tests ran, per function: ``python tests/draws_report.py``.

Runs ``tests/test_properties_finite.py`` and ``tests/test_properties_relations.py``
(one process, under the loaded hypothesis profile, ``ci`` by default) with
``JAXLOSS_REPORT_DRAWS`` set, then prints one line per function for the
example hypothesis drew (shapes, dtypes, smallest and largest nonzero
``|input|``, share of zeros, infinities, whether the inputs were empty or all
zero, the range of ``|value|``), one line per function for its pinned cases,
and one line per example of the relation tests. It exits with status 1 if a
function's drawn example is empty, all zero or gives an all-zero value.

``--from FILE`` prints the table of an earlier run's file instead of running
the tests (e.g. ``JAXLOSS_REPORT_DRAWS=draws.jsonl pytest ...`` under xdist);
``--out FILE`` also writes the table to ``FILE``. Further arguments go to
pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("tests/test_properties_finite.py", "tests/test_properties_relations.py")
DRAW_TEST = "test_values_gradients_hvp_finite["


def _shape(inputs: dict) -> str:
    return " ".join("x".join(map(str, s)) or "()" for s in inputs["shapes"])


def _mag(d: dict) -> str:
    return f"{d['min_abs']:8.1e} {d['max_abs']:8.1e}"


def _flags(d: dict) -> str:
    flags = [f for f in ("empty", "all_zero") if d[f]]
    if d.get("inf"):
        flags.append(f"{d['inf']} inf")
    return ",".join(flags) or "-"


def _first_per_case(rows: list[dict]) -> list[dict]:
    """A failing hypothesis test shrinks and reruns: keep each test's first example per source."""
    seen, out = set(), []
    for r in rows:
        key = (r["test"], r["function"], r["source"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def degenerate(row: dict) -> list[str]:
    problems = [f"inputs {f}" for f in ("empty", "all_zero") if row["inputs"][f]]
    value = row.get("value")
    if value is not None and (value["empty"] or value["all_zero"]):
        problems.append("value " + ("empty" if value["empty"] else "all zero"))
    return problems


def table(rows: list[dict]) -> tuple[str, list[str]]:
    rows = _first_per_case(rows)
    draws = [r for r in rows if r["source"] == "draw" and DRAW_TEST in r["test"]]
    pinned = [r for r in rows if r["source"] not in ("draw", "draw-x64") and "test_properties_finite" in r["test"]]
    relations = [r for r in rows if "test_properties_relations" in r["test"]]
    head = (
        f"{'function':46} {'shapes':18} {'dtypes':24} {'min|x|':>8} {'max|x|':>8} {'zeros':>5} "
        f"{'flags':10} {'min|v|':>8} {'max|v|':>8} {'value':8} options"
    )
    lines = ["# The CI profile's example per function (test_values_gradients_hvp_finite)", head]
    bad = []
    for r in draws:
        i, v = r["inputs"], r.get("value") or {}
        problems = degenerate(r)
        if problems:
            bad.append(f"{r['function']}: {', '.join(problems)}")
        lines.append(
            f"{r['function']:46} {_shape(i):18} {','.join(i['dtypes']):24} {_mag(i)} {i['zero_frac']:5.0%} "
            f"{_flags(i):10} {_mag(v) if v else ' ' * 17} {_flags(v) if v else '':8} {json.dumps(r['options'])}"
        )
    lines += ["", f"# {len(draws)} functions drawn; degenerate: {len(bad)}", *[f"#   {b}" for b in bad], ""]
    lines.append(
        "# Pinned cases per function (test_values_gradients_hvp_finite_at_pinned_cases): "
        "source[dtypes; min|x|..max|x|; flags]"
    )
    by_function: dict[str, list[str]] = {}
    for r in pinned:
        i = r["inputs"]
        by_function.setdefault(r["function"], []).append(
            f"{r['source']}[{','.join(i['dtypes'])}; {i['min_abs']:.0e}..{i['max_abs']:.0e}; {_flags(i)}]"
        )
    for name, items in by_function.items():
        lines.append(f"{name:46} {' '.join(items)}")
    lines += ["", "# Relation tests: one line per example (hypothesis runs the pinned @examples first, then its draw)"]
    for r in relations:
        i = r["inputs"]
        lines.append(
            f"{r['test'].split('::')[-1]:70} {r['source']:14} {_shape(i):18} {','.join(i['dtypes']):24} "
            f"{_mag(i)} {i['zero_frac']:5.0%} {_flags(i):10} {json.dumps(r['options'])}"
        )
    return "\n".join(lines) + "\n", bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", help="a JAXLOSS_REPORT_DRAWS file of an earlier run")
    parser.add_argument("--out", help="also write the table here")
    args, pytest_args = parser.parse_known_args(argv)
    if args.source:
        path = Path(args.source)
    else:
        path = Path(tempfile.mkdtemp(prefix="jaxloss-draws-")) / "draws.jsonl"
        env = {**os.environ, "JAXLOSS_REPORT_DRAWS": str(path)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", *FILES, *pytest_args]
        status = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        print(f"(pytest exited with {status})\n")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    text, bad = table(rows)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
