#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keeps brig(1) true and clean (run by `meson test man_brig`): usage: man_check.py PAGE BRIG.

1. groff renders PAGE (as `man -l` would) without a single warning: -wall, and -ww for the categories
   "all" leaves out (an undefined macro, "mac", is one).
2. Every command in brig's command table (cli/brig.c, as `brig --help` lists it) has a section in PAGE,
   and so does every subcommand a command's own --help lists (`brig env --help`'s usage lines, `brig
   policy --help`'s command list): a command added without its man page fails here.
"""
import re
import subprocess
import sys

page, brig = sys.argv[1], sys.argv[2]
failures = []

r = subprocess.run(["groff", "-wall", "-ww", "-mandoc", "-Tutf8", "-P-cbou", page], capture_output=True, text=True)
if r.returncode != 0 or r.stderr:
    failures.append(f"groff -wall -ww -mandoc -Tutf8 {page}: exit {r.returncode}:\n{r.stderr}")
# Section headings (.SS) render indented by three spaces: "   brig env list".
headings = [line.strip() for line in r.stdout.splitlines() if re.match(r"^   brig \S", line)]


def documented(words):
    return any(h == "brig " + words or h.startswith("brig " + words + " ") for h in headings)


def help_of(*args):
    out = subprocess.run([brig, *args, "--help"], capture_output=True, text=True)
    if out.returncode != 0:
        failures.append(f"brig {' '.join(args)} --help: exit {out.returncode}")
    return out.stdout


def commands_section(text):
    """The first word of each entry of a help text's "Commands:" list."""
    names, inside = [], False
    for line in text.splitlines():
        if line == "Commands:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside and re.match(r"^  [a-z]", line):
            names.append(line.split()[0])
    return names


top = commands_section(help_of())
if not top:
    failures.append("`brig --help` lists no commands")
for name in dict.fromkeys(top):
    if not documented(name):
        failures.append(f"{page}: no section for `brig {name}` (in brig's command table)")
    if name == "help":
        continue
    text = help_of(name)
    subs = commands_section(text)
    # "Usage: brig [--socket PATH] env list" and "       brig [--socket PATH] env info ID" lines.
    for m in re.finditer(r"^(?:Usage:)?\s+brig (?:\[--socket PATH\] )?" + name + r" ([a-z]+)\b", text, re.M):
        subs.append(m.group(1))
    for sub in dict.fromkeys(subs):
        if not documented(f"{name} {sub}"):
            failures.append(f"{page}: no section for `brig {name} {sub}` (in `brig {name} --help`)")

for f in failures:
    print("FAIL:", f)
print(f"{len(headings)} sections, {len(set(top))} commands checked")
sys.exit(1 if failures else 0)
