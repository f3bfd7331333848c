#!/usr/bin/env python3
"""The table `.ci/run` ends with: every suite's passed, failed and ignored counts, and the total.

`.ci/run` writes one line per suite to the manifest (tab-separated: name, how its log is counted,
log file, exit status) and the suite's whole output to its log. How a log is counted:
- `libtest`: the sum of its libtest summaries ("test result: ok. N passed; M failed; K ignored");
- `closing:P`: its last line "P: N passed, M failed" (the suites that are not `cargo test` print
  one), with the ignored count of a "K ignored" in the line before it, if any;
- `both:P`: the two added, for a suite that runs libtest binaries and something of its own;
- `check`: a step that runs no tests (a lint, a build): 1 passed if it succeeded, else 1 failed.
A suite whose log cannot be counted, or that exited non-zero with no failure counted, counts as
one failure: the table never reads green for a suite that did not finish.

Usage: summary.py MANIFEST
"""

import re
import sys

LIBTEST = re.compile(r"test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored")


def closing(text, prefix):
    """The last "PREFIX: N passed, M failed" line of `text`, as (passed, failed, ignored)."""
    pattern = re.compile(r"^" + re.escape(prefix) + r": (\d+) passed, (\d+) failed\s*$", re.M)
    found = pattern.findall(text)
    if not found:
        return None
    passed, failed = map(int, found[-1])
    ignored = 0
    # windows.sh reports what it ignored on its own line just before.
    for m in re.finditer(r"done: (\d+) ignored", text):
        ignored = int(m.group(1))
    return passed, failed, ignored


def libtest(text):
    results = LIBTEST.findall(text)
    if not results:
        return None
    return tuple(sum(int(r[i]) for r in results) for i in range(3))


def count(mode, text, status):
    if mode == "check":
        return (1, 0, 0) if status == 0 else (0, 1, 0)
    if mode == "libtest":
        return libtest(text)
    kind, _, prefix = mode.partition(":")
    own = closing(text, prefix)
    if kind == "closing":
        return own
    tests = libtest(text)
    if own is None or tests is None:
        return None
    return tuple(a + b for a, b in zip(own, tests))


def main():
    rows = []
    for line in open(sys.argv[1], encoding="utf-8"):
        name, mode, log, status = line.rstrip("\n").split("\t")
        status = int(status)
        try:
            text = open(log, encoding="utf-8", errors="replace").read()
        except OSError:
            text = ""
        counts = count(mode, text, status)
        note = "" if status == 0 else f"exit {status}"
        if counts is None:
            counts = (0, 1, 0)
            note = (note + "; " if note else "") + "no result counted"
        elif status != 0 and counts[1] == 0:
            counts = (counts[0], 1, counts[2])
        rows.append((name, *counts, note))

    width = max([len("suite"), len("total")] + [len(r[0]) for r in rows])
    print(f"{'suite':<{width}}  {'passed':>7}  {'failed':>6}  {'ignored':>7}")
    for name, p, f, i, note in rows:
        print(f"{name:<{width}}  {p:>7}  {f:>6}  {i:>7}  {note}".rstrip())
    total = [sum(r[k] for r in rows) for k in (1, 2, 3)]
    print(f"{'total':<{width}}  {total[0]:>7}  {total[1]:>6}  {total[2]:>7}")
    print(f"ci: {total[0]} passed, {total[1]} failed")


if __name__ == "__main__":
    main()
