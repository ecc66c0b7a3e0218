#!/usr/bin/env python3
"""Framework crates know no domain: no framework crate depends, directly or through another crate, on an example
crate (normal dependencies, from `cargo metadata`; tests may use the example).

Framework: the `tributary-*` library crates and the function shells (`*-function`). Example: `bank-*`.
Not checked: `tributary-tests` and `tributary-bench` (they test and measure the example), `devstack`.

STILL_COUPLED names the framework crates that still depend on the example domain, to be made generic (issue 12).
The check fails when any other framework crate depends on it — and when a listed one no longer does, so that the
list only ever shrinks.
"""
import json
import subprocess
import sys

STILL_COUPLED = {
    "tributary-projections": "the bank read models live in it (Projection enum, views)",
    "command-function": "its routes build account commands",
    "query-function": "its routes read the bank read models",
    "denormaliser-function": "it decodes account events",
}
NOT_CHECKED = {"tributary-tests", "tributary-bench", "devstack", "bench-core"}


def main() -> int:
    host = next(
        line.split(": ", 1)[1]
        for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
        if line.startswith("host: ")
    )
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host], text=True
        )
    )
    members = {p["id"]: p["name"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    normal = {}
    for node in meta["resolve"]["nodes"]:
        if node["id"] in members:
            normal[members[node["id"]]] = [
                members[d["pkg"]]
                for d in node["deps"]
                if d["pkg"] in members and any(k["kind"] in (None, "build") for k in d["dep_kinds"])
            ]

    def reaches_example(name, seen=()):
        for dep in normal.get(name, []):
            if dep.startswith("bank-"):
                return [name, dep]
            if dep not in seen:
                path = reaches_example(dep, seen + (name,))
                if path:
                    return [name] + path
        return None

    framework = sorted(
        n for n in members.values()
        if n not in NOT_CHECKED and (n.startswith("tributary-") or n.endswith("-function"))
    )
    failures = []
    for name in framework:
        path = reaches_example(name)
        if path and name not in STILL_COUPLED:
            failures.append(f"{name} depends on the example domain: {' -> '.join(path)}")
        elif not path and name in STILL_COUPLED:
            failures.append(f"{name} no longer depends on the example domain: remove it from STILL_COUPLED")
        else:
            state = f"still coupled ({STILL_COUPLED[name]})" if path else "generic"
            print(f"  {name}: {state}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
