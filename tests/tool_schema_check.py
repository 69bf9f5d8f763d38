#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks brig's tool schemas and real results (run by test_exec's results_match_output_schemas).

Input: a JSON-lines file from that test: first {"tools": [...]} (tools/list), then one
{"tool", "args", "response", "kind"} per real call through brigd ("kind": "ok", "bad_args" or "nulls").
1. Every input and output schema is valid JSON Schema 2020-12; every argument has a description.
2. Every input schema converts to OpenAI strict mode without loss: each object lists its properties and
   has additionalProperties false (no open maps, no patternProperties).
3. Every result is a tool result (not a JSON-RPC error) whose structuredContent validates against the
   tool's outputSchema and carries no member the schema does not declare.
4. The text content is written for a model, not a JSON dump.
5. Bad arguments come back as isError results whose text names the field; calls sending null for every
   optional argument are not refused for their arguments.
Exits 77 (skip) when the jsonschema module is missing.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed")
    sys.exit(77)

failures = []
lines = [json.loads(l) for l in open(sys.argv[1])]
tools = {t["name"]: t for t in lines[0]["tools"]}


def walk_input(name, node, where):
    if not isinstance(node, dict):
        return
    if node.get("type") == "object":
        if node.get("additionalProperties") is not False:
            failures.append(f"{name}: {where}: additionalProperties must be false (strict mode)")
        if "patternProperties" in node or "properties" not in node:
            failures.append(f"{name}: {where}: an open object cannot be made strict")
        for k, v in node.get("properties", {}).items():
            if not v.get("description"):
                failures.append(f"{name}: {where}.{k}: no description")
            walk_input(name, v, f"{where}.{k}")
    if "items" in node:
        walk_input(name, node["items"], where + "[]")


for name, t in tools.items():
    for key in ("inputSchema", "outputSchema"):
        if key not in t:
            failures.append(f"{name}: no {key}")
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(t[key])
        except jsonschema.SchemaError as e:
            failures.append(f"{name}: {key}: {e.message}")
    for key in ("title", "annotations"):
        if key not in t:
            failures.append(f"{name}: no {key}")
    walk_input(name, t.get("inputSchema", {}), "arguments")

seen = set()
for rec in lines[1:]:
    name, resp, kind = rec["tool"], rec["response"], rec["kind"]
    label = f"{name} {json.dumps(rec['args'])}"
    if "result" not in resp:
        failures.append(f"{label}: JSON-RPC error {resp.get('error')}")
        continue
    res = resp["result"]
    sc = res.get("structuredContent")
    text = res.get("content", [{}])[0].get("text")
    if not isinstance(text, str):
        failures.append(f"{label}: no text content")
    elif text.lstrip().startswith("{"):
        failures.append(f"{label}: the text for the model is a JSON dump: {text[:80]!r}")
    if sc is None:
        failures.append(f"{label}: no structuredContent")
        continue
    schema = tools[name].get("outputSchema")
    if schema is None:
        failures.append(f"{label}: cannot be checked, the tool has no outputSchema")
        continue
    for e in jsonschema.Draft202012Validator(schema).iter_errors(sc):
        failures.append(f"{label}: result does not match outputSchema: {e.message}")
    for k in sc:
        if k not in schema.get("properties", {}):
            failures.append(f"{label}: result member {k} is not declared in outputSchema")
    err_kind = (sc.get("error") or {}).get("kind") if isinstance(sc.get("error"), dict) else None
    if kind == "bad_args":
        if not res.get("isError") or err_kind != "invalid_argument" or rec["field"] not in (text or ""):
            failures.append(f"{label}: expected an isError result naming {rec['field']}, got {text!r}")
    if kind == "nulls" and err_kind == "invalid_argument":
        failures.append(f"{label}: nulls for optional arguments refused: {text!r}")
    seen.add((name, bool(res.get("isError"))))

for name in tools:
    if (name, False) not in seen:
        failures.append(f"{name}: no successful call checked")

for f in failures:
    print(f)
print(f"{len(lines) - 1} results of {len(tools)} tools checked, {len(failures)} problems")
sys.exit(1 if failures else 0)
