#!/usr/bin/env python3
"""Framework crates know no domain: no framework crate depends, directly or through another crate, on an example
crate (normal dependencies, from `cargo metadata`; tests may use the example).

Framework: the `tributary-*` library crates and the generic function packages (`relay-function`). Example: `bank-*`.
Deployables: the function packages that wire the framework's shells to the example (their `main.rs` and, for the
HTTP functions, their routes name the bank's read models, commands, queries and process manager). Each must be listed in DEPLOYABLES with what it wires; a
function package not listed is framework and is checked like one.
Not checked: `tributary-tests` and `tributary-bench` (they test and measure the example), `devstack`, `bench-core`.

Store-neutral: the crates a domain's command loop, read side and publishing run on do not depend on the DynamoDB
event store (`tributary-dynamodb`: an adapter chosen in wiring), and `tributary-store` (the store's seam) depends
on no AWS crate at all.

The function shells themselves are framework: the denormaliser and the process-manager reactor
(`tributary-consumer`), commit-then-publish (`tributary-aggregate`), the HTTP/Lambda plumbing (`tributary-http`,
`tributary-runtime`), the read side (`tributary-projections`).
"""
import json
import subprocess
import sys

DEPLOYABLES = {
    "command-function": "the bank's command routes (accounts, transfers) on tributary-aggregate and tributary-http",
    "query-function": "the bank's query routes on tributary-projections and tributary-http",
    "denormaliser-function": "the bank's read models on tributary-consumer's denormaliser",
    "transfers-function": "the bank's transfer process manager on tributary-consumer's reactor",
}
NOT_CHECKED = {"tributary-tests", "tributary-bench", "devstack", "bench-core"}
STORE_NEUTRAL = ["tributary-core", "tributary-store", "tributary-aggregate", "tributary-kafka", "tributary-projections"]
DYNAMODB_STORE = "tributary-dynamodb"
NO_AWS = ["tributary-core", "tributary-store"]


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
    names = {p["id"]: p["name"] for p in meta["packages"]}
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
        if n not in NOT_CHECKED and n not in DEPLOYABLES and (n.startswith("tributary-") or n.endswith("-function"))
    )
    failures = []
    for name in framework:
        path = reaches_example(name)
        if path:
            failures.append(f"{name} depends on the example domain: {' -> '.join(path)}")
        else:
            print(f"  {name}: generic")
    for name in STORE_NEUTRAL:
        deps = closure(name)
        if DYNAMODB_STORE in deps:
            failures.append(f"{name} depends on the DynamoDB event store ({DYNAMODB_STORE}); use tributary-store's trait")
        else:
            print(f"  {name}: store-neutral")
    for name in NO_AWS:
        aws = sorted(d for d in closure(name) if d.startswith("aws"))
        if aws:
            failures.append(f"{name} depends on AWS crates: {', '.join(aws)}")
    for name, wires in sorted(DEPLOYABLES.items()):
        if name not in members.values():
            failures.append(f"{name} is listed in DEPLOYABLES but is not a workspace member")
        else:
            print(f"  {name}: deployable, wires {wires}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
