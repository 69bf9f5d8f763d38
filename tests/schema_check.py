#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keeps policies/schema.json honest against the real parser (run by `meson test schema`).

1. The schema is a valid JSON Schema, and every shipped policy validates against it.
2. Every field the schema describes is one `brig policy check` accepts: a policy with just that field set to
   its default (or an example of its type) must not be refused as an unknown field.
3. Every field name the parser knows (the keys[] tables of sandbox/policy*.c) and every tool name it knows
   (brig_tool_names) appears in the schema.
Exits 77 (skip) when the jsonschema module is missing; `make deps` installs python3-jsonschema.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)

src = os.environ.get("BRIG_SOURCE_DIR", ".")
build = os.environ.get("BRIG_BUILD_DIR", "build")
schema = json.load(open(os.path.join(src, "policies", "schema.json")))
failures = []

jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for d in ("policies", "policies/examples"):
    for name in sorted(os.listdir(os.path.join(src, d))):
        if not name.endswith(".json") or name == "schema.json":
            continue
        doc = json.load(open(os.path.join(src, d, name)))
        for e in validator.iter_errors(doc):
            failures.append(f"{d}/{name}: {'/'.join(map(str, e.path))}: {e.message}")


def resolve(node):
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/$defs/"), ref
        node = {**schema["$defs"][ref[len("#/$defs/"):]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def example(node):
    node = resolve(node)
    if "default" in node:
        return node["default"]
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "oneOf" in node:
        return example(node["oneOf"][0])
    t = node.get("type")
    return {"object": {}, "array": [], "string": "x", "boolean": False, "integer": 1, "number": 1}[t]


def fields(node, prefix):
    """(json path, value) for every property the schema describes."""
    node = resolve(node)
    for key, sub in node.get("properties", {}).items():
        path = prefix + [key]
        yield path, example(sub)
        yield from fields(sub, path)


brig = os.path.join(build, "brig")
names = set()
with tempfile.TemporaryDirectory() as tmp:
    for path, value in fields(schema, []):
        names.add(path[-1])
        if path == ["extends"]:
            continue  # needs a file to extend; covered by the unit tests
        doc = value
        for key in reversed(path):
            doc = {key: doc}
        f = os.path.join(tmp, "p.json")
        with open(f, "w") as fh:
            json.dump(doc, fh)
        out = subprocess.run([brig, "policy", "check", f], capture_output=True, text=True).stdout
        if "unknown field" in out:
            failures.append(f"schema field {'.'.join(path)} is unknown to the parser: {out.strip()}")



def all_property_names(node):
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                names.update(sub.keys())
            all_property_names(sub)
    elif isinstance(node, list):
        for sub in node:
            all_property_names(sub)


all_property_names(schema)
policy_c = "".join(open(os.path.join(src, "sandbox", f)).read()
                   for f in sorted(os.listdir(os.path.join(src, "sandbox")))
                   if f.startswith("policy") and f.endswith(".c") and f != "policy_merge.c")
for table in re.findall(r"keys\[\]\s*=\s*\{([^}]*)\}", policy_c):
    for key in re.findall(r'"([^"]+)"', table):
        if key not in names:
            failures.append(f"parser field {key!r} is missing from policies/schema.json")
tools = re.search(r"brig_tool_names\[\]\s*=\s*\{([^}]*)\}", policy_c)
schema_tools = set(schema["$defs"]["tool"]["enum"])
for t in re.findall(r'"([^"]+)"', tools.group(1) if tools else ""):
    if t not in schema_tools:
        failures.append(f"tool {t!r} is missing from the schema's tool names")
if not tools:
    failures.append("brig_tool_names not found in sandbox/policy*.c")

for f in failures:
    print(f)
print(f"schema: {len(names)} fields checked, {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
