#!/usr/bin/env python3
"""Fail when template.yaml grants a wildcard: an Action of "*" or "service:*", or a Resource of "*".

A statement may use a wildcard only where AWS requires one; such a statement's Sid must start with
"AwsRequiresWildcard" and the template must say why in a comment beside it. Run with the Python that has cfn-lint
(it parses CloudFormation's short-form tags).
"""
import sys

from cfnlint.decode import decode


def statements(template):
    """Yield (where, statement) for every IAM statement in the template."""
    for name, resource in (template.get("Resources") or {}).items():
        props = resource.get("Properties") or {}
        for i, policy in enumerate(props.get("Policies") or []):
            if isinstance(policy, dict):
                document = policy.get("PolicyDocument", policy)
                for j, statement in enumerate(document.get("Statement") or []):
                    yield f"{name}.Policies[{i}].Statement[{j}]", statement
        document = props.get("PolicyDocument")
        if isinstance(document, dict):
            for j, statement in enumerate(document.get("Statement") or []):
                yield f"{name}.PolicyDocument.Statement[{j}]", statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def main(path):
    template, errors = decode(path)
    if errors:
        for error in errors:
            print(error)
        return 1
    problems = []
    checked = 0
    for where, statement in statements(template):
        checked += 1
        if str(statement.get("Sid", "")).startswith("AwsRequiresWildcard"):
            continue
        for action in as_list(statement.get("Action", [])):
            if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                problems.append(f"{where}: wildcard action {action!r}")
        for resource in as_list(statement.get("Resource", [])):
            if resource == "*":
                problems.append(f"{where}: wildcard resource '*'")
    for problem in problems:
        print(problem)
    print(f"IAM check: {checked} statements, {len(problems)} wildcard(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
