#!/usr/bin/env python3
"""Checks that neurona's includes follow its layers (docs/architecture.md).

Each folder under neurona/ is a layer and may include only the folders below it. The build
runs this script before it compiles the library (an include that runs upward fails the build),
and the test command runs it too:

    python3 scripts/check_includes.py            # from the repository root; exit 1 on a violation

It also checks that no kernel (neurona/kernels/cpu/, cuda/) calls a front door (a function
that kernels/'s public headers declare) by its qualified name `kernels::f(`: a kernel that needs
another op calls that op's kernel (cpu/kernels.h, cuda/kernels.h).

Standard library only; it reads `#include "neurona/..."` lines and the front doors' names.
"""
import pathlib
import re
import sys

# What each folder may include besides itself: docs/architecture.md, "Layers of the code".
ALLOWED = {
    "core": set(),
    "kernels": {"core"},
    "autograd": {"core", "kernels"},
    "layers": {"core", "autograd"},
    # The optimizers' fused update is a kernel with no gradient: training calls its front door.
    "training": {"core", "autograd", "kernels"},
    # Readers use tensor ops without gradients (image_dataset_from_directory resizes).
    "data": {"core", "kernels"},
    # Collectives over tensors; casts through the kernels' front door.
    "distribution": {"core", "kernels"},
    "models": {"core", "autograd", "layers", "training", "data", "distribution"},
    "applications": {"core", "autograd", "layers", "training", "data", "distribution", "models"},
}

# Headers that are internal to their folder (and, for core/, to kernels/, which implements the
# backends): code above may not include them even where it may include the folder.
PRIVATE = [
    (re.compile(r"^neurona/kernels/(dispatch\.h|widen\.h|\w+_stubs\.h|cpu/|cuda/|math/)"),
     {"kernels"}),
    (re.compile(r"^neurona/core/(backend|device_backend|capture)\.h"), {"core", "kernels"}),
    # The NCCL communicator (distribution/nccl.cpp) runs on neurona's stream of its GPU.
    (re.compile(r"^neurona/core/cuda/"), {"core", "kernels", "distribution"}),
]

# Generated into the build folder; any folder may include it.
GENERATED = {"neurona/config.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"(neurona/[^"]+)"')


def folder_of(path: str) -> str | None:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "neurona" else None


def check(root: pathlib.Path) -> list[str]:
    errors = []
    sources = sorted(
        p for p in (root / "neurona").rglob("*") if p.suffix in {".h", ".cpp", ".cu", ".cuh"}
    )
    for source in sources:
        rel = source.relative_to(root).as_posix()
        here = folder_of(rel)
        if here is None:
            continue  # neurona/neurona.h, the umbrella header, includes every folder
        if here not in ALLOWED:
            errors.append(f"{rel}: folder '{here}' has no place in the layers; add it to "
                          "scripts/check_includes.py and docs/architecture.md")
            continue
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) in GENERATED:
                continue
            target = m.group(1)
            there = folder_of(target)
            if there is None:
                errors.append(f"{rel}:{number}: includes {target}, the umbrella header; "
                              "include what is used")
                continue
            if there != here and there not in ALLOWED[here]:
                errors.append(f"{rel}:{number}: {here}/ includes {target}, but {here}/ may "
                              f"include only {', '.join(sorted(ALLOWED[here] | {here}))}")
                continue
            for pattern, owners in PRIVATE:
                if pattern.match(target) and here not in owners:
                    errors.append(f"{rel}:{number}: {here}/ includes {target}, which is "
                                  f"private to {' and '.join(sorted(owners))}/")
    errors += check_public(root)
    errors += check_unit_cycles(root, "core")
    errors += check_kernels_call_no_front_door(root)
    return errors


# A function declared at the start of a line in a public kernels/ header: a front door.
FRONT_DOOR = re.compile(r"^(?:[\w:<>, ]+?)\s+\*?&?(\w+)\(", re.MULTILINE)


def check_kernels_call_no_front_door(root: pathlib.Path) -> list[str]:
    base = root / "neurona" / "kernels"
    names: set[str] = set()
    for header in base.glob("*.h"):
        rel = header.relative_to(root).as_posix()
        if any(pattern.match(rel) for pattern, _ in PRIVATE) or header.name == "checks.h":
            continue
        names.update(FRONT_DOOR.findall(header.read_text(encoding="utf-8")))
    if not names:
        return []
    call = re.compile(r"\bkernels::(" + "|".join(sorted(names)) + r")\s*\(")
    errors = []
    for folder in ("cpu", "cuda"):
        for source in sorted((base / folder).rglob("*")):
            if source.suffix not in {".h", ".cpp", ".cu", ".cuh"}:
                continue
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                m = call.search(line)
                if m:
                    errors.append(f"{source.relative_to(root).as_posix()}:{number}: a kernel "
                                  f"calls the front door kernels::{m.group(1)}; call that op's "
                                  "kernel (cpu/kernels.h, cuda/kernels.h)")
    return errors


def check_unit_cycles(root: pathlib.Path, folder: str) -> list[str]:
    """A unit is a header and its source (core/graph.h + core/graph.cpp). Within `folder`, no
    unit may reach itself again through the units its files include."""
    base = root / "neurona" / folder
    deps: dict[str, set[str]] = {}
    for source in base.rglob("*"):
        if source.suffix not in {".h", ".cpp", ".cu", ".cuh"}:
            continue
        unit = source.relative_to(base).with_suffix("").as_posix()
        deps.setdefault(unit, set())
        for line in source.read_text(encoding="utf-8").splitlines():
            m = INCLUDE.match(line)
            prefix = f"neurona/{folder}/"
            if m and m.group(1).startswith(prefix):
                other = pathlib.PurePosixPath(m.group(1)[len(prefix):]).with_suffix("").as_posix()
                if other != unit:
                    deps[unit].add(other)
    errors = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(unit: str) -> None:
        state[unit] = 1
        path.append(unit)
        for other in sorted(deps.get(unit, ())):
            if state.get(other) == 1:
                cycle = path[path.index(other):] + [other]
                errors.append(f"neurona/{folder}/: the units form a cycle: {' -> '.join(cycle)}")
            elif other not in state:
                visit(other)
        path.pop()
        state[unit] = 2

    for unit in sorted(deps):
        if unit not in state:
            visit(unit)
    return errors


def check_public(root: pathlib.Path) -> list[str]:
    """What a user's `#include <neurona/neurona.h>` pulls in must hold no private header."""
    errors = []
    parents: dict[str, str] = {"neurona/neurona.h": ""}
    todo = ["neurona/neurona.h"]
    while todo:
        header = todo.pop()
        path = root / header
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            m = INCLUDE.match(line)
            if not m or m.group(1) in GENERATED or m.group(1) in parents:
                continue
            target = m.group(1)
            parents[target] = header
            if any(pattern.match(target) for pattern, _ in PRIVATE):
                chain = [target]
                while parents[chain[-1]]:
                    chain.append(parents[chain[-1]])
                errors.append(f"{target} is private but reaches users: "
                              f"{' <- '.join(chain)}")
                continue
            todo.append(target)
    return errors


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    if not (root / "neurona").is_dir():
        print(f"check_includes: no neurona/ folder under {root}", file=sys.stderr)
        return 2
    errors = check(root)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check_includes: {len(errors)} problem(s) with the layers "
              "(docs/architecture.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
