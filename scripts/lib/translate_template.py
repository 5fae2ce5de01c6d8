#!/usr/bin/env python3
"""template.yaml as CloudFormation will run it: language extensions expanded (Fn::ForEach over
the given subscribers), then the SAM transform applied, by the SAM CLI's own libraries (the ones
`sam build` and `sam deploy` use). Prints the resulting JSON; the template tests read it to
check each resource as deployed: the roles SAM generates, the event source mapping, the
policies.

Usage: translate_template.py TEMPLATE [Subscribers=a,b ...]
"""
import json
import os
import sys

from samcli.lib.cfn_language_extensions.api import process_template
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class ManagedPolicies:
    """The AWS managed policies SAM may attach, by name (the real loader asks IAM)."""

    def load(self):
        names = ["AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole", "AWSLambdaRole"]
        return {n: f"arn:aws:iam::aws:policy/service-role/{n}" for n in names}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    path, overrides = sys.argv[1], sys.argv[2:]
    params = {"Subscribers": ["acme", "globex-eu"]}
    for o in overrides:
        key, value = o.split("=", 1)
        params[key] = value.split(",") if key == "Subscribers" else value
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    expanded = process_template(template, parameter_values=params)
    expanded["Transform"] = "AWS::Serverless-2016-10-31"
    # What `sam package` does to each function's code before the transform runs.
    for name, resource in expanded["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"
    json.dump(transform(expanded, params, ManagedPolicies()), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
