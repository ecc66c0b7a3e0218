#!/usr/bin/env python3
"""Check the IAM a template deploys, as CloudFormation will see it: after the SAM transform (run offline with
samtranslator and its bundled map of AWS managed policies), so the roles SAM generates for functions - and the AWS
managed policies it attaches to them - are checked too, not only the statements written in the template.

Fails on:
  * any managed policy attached to a role (AWS managed policies are not ours to scope, and the ones SAM attaches by
    default grant wildcards: AWSLambdaDynamoDBExecutionRole reads every stream in the account, AWSLambdaMSKExecutionRole
    describes every cluster, AWSLambdaBasicExecutionRole writes every log group);
  * a wildcard in a statement: an Action of "*" or "service:*", or a Resource of "*". A statement may use a wildcard
    only where AWS requires one; its Sid must start with "AwsRequiresWildcard" and the template says why beside it.

Usage: check-iam.py TEMPLATE                  the check
       check-iam.py --expect-failure TEMPLATE  succeed only if the check fails (proves it catches what it should)

Run with the Python of the SAM CLI's virtualenv (it has samtranslator, cfn-lint and the SAM CLI's expansion of
AWS::LanguageExtensions, which the template's Fn::ForEach needs before the SAM transform).
"""
import copy
import os
import sys

# The transform resolves pseudo parameters such as AWS::Region from a boto session: any region, offline.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import decode  # noqa: E402
from samcli.lib.cfn_language_extensions.models import TemplateProcessingContext  # noqa: E402
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline  # noqa: E402
from samcli.lib.cfn_language_extensions.processors.foreach import ForEachProcessor  # noqa: E402
from samcli.lib.cfn_language_extensions.processors.parsing import TemplateParsingProcessor  # noqa: E402
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402


class BundledManagedPolicies:
    """samtranslator's policy loader, answered from its bundled map instead of IAM (offline)."""

    def load(self):
        return get_bundled_managed_policy_map("aws")


LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "check-iam",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/check-iam/0",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}


def transformed(path):
    template, errors = decode(path)
    if errors:
        raise SystemExit("\n".join(str(e) for e in errors))
    parameters = dict(PSEUDO_PARAMETERS)
    for name, spec in (template.get("Parameters") or {}).items():
        parameters[name] = spec.get("Default", "placeholder")
    if "Transform" not in template:
        return template
    # AWS::LanguageExtensions runs first in CloudFormation (Fn::ForEach: one set of resources per read model): expand
    # the loops with the SAM CLI's own processor, and only them (its full pipeline also resolves intrinsics partially,
    # into strings CloudFormation would not make), then hand the SAM transform a template without it.
    transforms = template["Transform"] if isinstance(template["Transform"], list) else [template["Transform"]]
    if LANGUAGE_EXTENSIONS in transforms:
        context = TemplateProcessingContext(fragment=copy.deepcopy(template))
        template = ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor()]).process_template(context)
        template["Transform"] = [t for t in transforms if t != LANGUAGE_EXTENSIONS]
    # Code is packaged to S3 at deploy time; the transform wants an S3 location, and IAM does not depend on it.
    for resource in (template.get("Resources") or {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://check-iam/code.zip"
    return transform(template, parameters, BundledManagedPolicies())


def statements(template):
    """Yield (where, statement) for every IAM statement in the (transformed) template."""
    for name, resource in (template.get("Resources") or {}).items():
        props = resource.get("Properties") or {}
        for i, policy in enumerate(props.get("Policies") or []):
            if isinstance(policy, dict):
                document = policy.get("PolicyDocument", policy)
                for j, statement in enumerate(as_list(document.get("Statement") or [])):
                    yield f"{name}.Policies[{i}].Statement[{j}]", statement
        document = props.get("PolicyDocument")
        if isinstance(document, dict):
            for j, statement in enumerate(as_list(document.get("Statement") or [])):
                yield f"{name}.PolicyDocument.Statement[{j}]", statement


def managed_policies(template):
    """Yield (role, policy) for every managed policy attached to a role."""
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for policy in (resource.get("Properties") or {}).get("ManagedPolicyArns") or []:
            yield name, policy


def as_list(value):
    return value if isinstance(value, list) else [value]


def problems_of(path):
    template = transformed(path)
    problems = []
    checked = 0
    for role, policy in managed_policies(template):
        problems.append(f"{role}: managed policy {policy} (grant exactly what the function needs, inline)")
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
    return checked, problems


def main(argv):
    expect_failure = argv[:1] == ["--expect-failure"]
    path = argv[-1]
    checked, problems = problems_of(path)
    if expect_failure:
        if not problems:
            print(f"IAM check: {path} should fail the check, and passed it")
            return 1
        print(f"IAM check: {path} fails as it should ({len(problems)} problem(s), e.g. {problems[0]})")
        return 0
    for problem in problems:
        print(problem)
    print(f"IAM check (after the SAM transform): {checked} statements, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
