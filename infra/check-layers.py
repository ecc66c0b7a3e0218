#!/usr/bin/env python3
"""Framework crates know no domain: no framework crate depends, directly or through another crate, on an example
crate (normal and build dependencies, from `cargo metadata`; tests may use the example).

Where a package lives says what it is, not its name:
  * `examples/<domain>/...`: an example domain (the bank: its domain, API, service and function packages). A user
    replaces the folder, or adds one beside it.
  * `crates/...` and `functions/...`: the framework (the `tributary-*` libraries and the generic functions, e.g. the
    relay). A framework package may depend on framework packages only: reaching an example package, or a tool,
    fails the check, whatever either is called (a `shop-*` crate under `crates/` is checked as framework, and one
    under `examples/shop/` is an example).
  * `infra/...` and `tests`: tools and the end-to-end tests (they run, measure and test the example): not checked.

No circles: within each crate, no two top-level modules use each other (`crate::a` in `b` and `crate::b` in `a`,
comments and unit tests aside): one room per concept, each readable on its own terms.

Store-neutral: the crates a domain's command loop, read side and publishing run on do not depend on the DynamoDB
event store (`tributary-dynamodb`: an adapter chosen in wiring), and `tributary-store` (the store's seam) depends
on no AWS crate at all.

The function shells themselves are framework: the denormaliser and the process-manager reactor
(`tributary-consumer`), commit-then-publish (`tributary-aggregate`), the HTTP/Lambda plumbing (`tributary-http`,
`tributary-runtime`), the read side (`tributary-projections`).
"""
import glob
import json
import os
import re
import subprocess
import sys

FRAMEWORK_FOLDERS = ("crates", "functions")
EXAMPLE_FOLDER = "examples"
STORE_NEUTRAL = ["tributary-core", "tributary-store", "tributary-aggregate", "tributary-kafka", "tributary-projections"]
DYNAMODB_STORE = "tributary-dynamodb"
NO_AWS = ["tributary-core", "tributary-store"]


def module_circles(root: str) -> list:
    """The pairs of top-level modules of the crate at `root` (its `src`) that use each other."""
    uses = {}
    for path in glob.glob(os.path.join(root, "src", "**", "*.rs"), recursive=True):
        relative = os.path.relpath(path, os.path.join(root, "src"))
        if relative in ("lib.rs", "main.rs") or relative.startswith("bin" + os.sep):
            continue
        module = relative.split(os.sep)[0].removesuffix(".rs")
        with open(path, encoding="utf-8") as source:
            text = source.read()
        text = re.sub(r"(?s)#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text)
        text = re.sub(r"//.*", "", text)
        used = set(re.findall(r"\bcrate::(\w+)", text))
        for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
            used |= {item.strip().split("::")[0] for item in group.split(",") if item.strip()}
        uses.setdefault(module, set()).update(used - {module})
    return sorted(
        (a, b) for a in uses for b in uses[a] if a < b and a in uses.get(b, set())
    )


def layering_failures(meta, say=print) -> list:
    """What breaks the layering in `cargo metadata`'s answer (`meta`); `say` hears what holds."""
    members = {p["id"]: p["name"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    names = {p["id"]: p["name"] for p in meta["packages"]}
    root = meta["workspace_root"]
    folder = {
        p["name"]: os.path.relpath(os.path.dirname(p["manifest_path"]), root).split(os.sep)[0]
        for p in meta["packages"]
        if p["id"] in members
    }
    every_normal = {
        node["id"]: [d["pkg"] for d in node["deps"] if any(k["kind"] in (None, "build") for k in d["dep_kinds"])]
        for node in meta["resolve"]["nodes"]
    }

    def closure(name):
        start = next(i for i, n in members.items() if n == name)
        seen, todo = set(), [start]
        while todo:
            for dep in every_normal.get(todo.pop(), []):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return {names[i] for i in seen}

    normal = {}
    for node in meta["resolve"]["nodes"]:
        if node["id"] in members:
            normal[members[node["id"]]] = [
                members[d["pkg"]]
                for d in node["deps"]
                if d["pkg"] in members and any(k["kind"] in (None, "build") for k in d["dep_kinds"])
            ]

    framework = sorted(n for n in members.values() if folder[n] in FRAMEWORK_FOLDERS)
    examples = sorted(n for n in members.values() if folder[n] == EXAMPLE_FOLDER)

    def reaches_example(name, seen=()):
        """A path from `name` to a workspace member outside the framework, if there is one."""
        for dep in normal.get(name, []):
            if dep not in framework:
                return [name, dep]
            if dep not in seen:
                path = reaches_example(dep, seen + (name,))
                if path:
                    return [name] + path
        return None

    failures = []
    for name in framework:
        path = reaches_example(name)
        if path:
            failures.append(
                f"{name} depends on {path[-1]} (under {folder[path[-1]]}/), which is not a framework crate: "
                f"{' -> '.join(path)}"
            )
        else:
            say(f"  {name}: generic")
    for name in STORE_NEUTRAL:
        deps = closure(name)
        if DYNAMODB_STORE in deps:
            failures.append(f"{name} depends on the DynamoDB event store ({DYNAMODB_STORE}); use tributary-store's trait")
        else:
            say(f"  {name}: store-neutral")
    for name in NO_AWS:
        aws = sorted(d for d in closure(name) if d.startswith("aws"))
        if aws:
            failures.append(f"{name} depends on AWS crates: {', '.join(aws)}")
    if not examples:
        failures.append(f"no workspace member under {EXAMPLE_FOLDER}/: the check would have no example to keep out")
    for name in examples:
        say(f"  {name}: example")
    return failures


def with_dependency(meta, dependent, dependency, kind):
    """`meta` as if the workspace member `dependent` had a `kind` ("build" or None: normal) dependency on `dependency`."""
    meta = json.loads(json.dumps(meta))
    ids = {p["name"]: p["id"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    node = next(n for n in meta["resolve"]["nodes"] if n["id"] == ids[dependent])
    node["deps"].append({"pkg": ids[dependency], "dep_kinds": [{"kind": kind, "target": None}]})
    return meta


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
    failures = layering_failures(meta)
    # The check catches what it is for: a framework crate given a normal or a build dependency on an example package
    # (through another framework crate: the relay on the kafka crate), and the kafka crate one on the DynamoDB store.
    seeded = [
        ("tributary-kafka", "bank-account", None),
        ("tributary-testkit", "bank-service", "build"),
        ("tributary-kafka", "tributary-dynamodb", None),
    ]
    for dependent, dependency, kind in seeded:
        if not layering_failures(with_dependency(meta, dependent, dependency, kind), say=lambda _: None):
            failures.append(f"the check missed a seeded {kind or 'normal'} dependency of {dependent} on {dependency}")
    print(f"  the check catches each of {len(seeded)} seeded dependencies that break the layering")
    for package in meta["packages"]:
        if package["id"] not in meta["workspace_members"]:
            continue
        root = os.path.dirname(package["manifest_path"])
        for a, b in module_circles(root):
            failures.append(f"{package['name']}: modules {a} and {b} use each other (a circle); move what both need into one")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
