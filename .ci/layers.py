#!/usr/bin/env python3
"""Fails when a module of src/ uses a module of a layer above it (ARCHITECTURE.md).

Each top-level module of the crate may use the modules listed for it below and, through them,
everything those may use; nothing else. A use is any `crate::NAME` (or `super::NAME` reaching
the crate root) outside comments, so doc links, which are not dependencies, do not count.
A new top-level module must be added here: an unknown one fails the check.
"""

import pathlib
import re
import sys

# Direct dependencies, from the layer diagram in ARCHITECTURE.md. Lower layers first.
ALLOWED = {
    "sync": set(),
    "task": {"sync"},
    "config": set(),
    "tokens": {"sync"},
    "tokio_context": {"config", "reactor"},
    "sys": set(),
    "per_process": {"sys"},
    "executor": {"sync", "task"},
    "alarm": {"sync"},
    "park": {"sync"},
    "context": {"park"},
    "reactor": {"context", "config", "sys", "task", "per_process"},
    "io": {"reactor", "sys"},
    "timer": {"reactor"},
    "blocking": {"config", "task", "sync", "tokens", "tokio_context", "per_process"},
    "fs": {"blocking", "task"},
    "net": {"io", "blocking", "task"},
    "signal": {"io"},
    "process": {"io", "signal", "sys", "config", "blocking"},
    "idle_loop": {"reactor", "executor"},
    "global": {"idle_loop", "executor", "config", "tokens", "tokio_context"},
    "block_on": {"global", "tokio_context"},
    "dual": {"block_on"},
    "scope": {"block_on", "global"},
    "metrics": {"global", "blocking", "reactor"},
    "hyper": {"global", "timer"},  # the `hyper` feature; nothing but lib may use it
    "lib": None,  # the table of contents: `mod` lines and `pub use` of everything
}


def closure(name, seen=None):
    seen = set() if seen is None else seen
    for dep in ALLOWED[name] or ():
        if dep not in seen:
            seen.add(dep)
            closure(dep, seen)
    return seen


def strip_comments(text):
    # Line comments (doc comments included) and block comments; string literals are left, as a
    # `crate::` inside one is rare and would show up as a false alarm, not a missed one.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def main():
    root = pathlib.Path(__file__).resolve().parent.parent / "src"
    failures = []
    checked = 0
    for path in sorted(root.rglob("*.rs")):
        rel = path.relative_to(root)
        module = rel.parts[0].removesuffix(".rs")
        if module not in ALLOWED:
            failures.append(f"{rel}: module `{module}` is not in .ci/layers.py; place it in a layer")
            continue
        if ALLOWED[module] is None:
            continue
        checked += 1
        allowed = closure(module) | {module}
        code = strip_comments(path.read_text())
        for lineno, line in enumerate(code.splitlines(), 1):
            for used in re.findall(r"(?<![\w$])crate::(\w+)", line):
                if used not in ALLOWED:
                    continue  # a macro or item at the root (e.g. `crate::dual!`), not a module
                if used not in allowed:
                    failures.append(f"{rel}:{lineno}: `{module}` uses `{used}`, a layer above it or beside it")
    for failure in failures:
        print(failure)
    print(f"layers: {checked - len({f.split(':')[0] for f in failures})} passed, "
          f"{len({f.split(':')[0] for f in failures})} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
