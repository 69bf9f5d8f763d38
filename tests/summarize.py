#!/usr/bin/env python3
"""Sums up meson test logs (tests registered with the exitcode protocol, printing TAP) at the level of individual cmocka/TAP test cases and prints one closing line,
'brig: N passed, N failed, N skipped'. Exits 1 when anything failed or nothing ran."""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        print(f"brig: missing test log {path}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        name, result, out = t["name"], t["result"], t.get("stdout") or ""
        tap = [l for l in out.splitlines() if re.match(r"^(not )?ok \d+", l)]
        if not tap:
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append(f"{path}: {name} ({result})")
            continue
        bad = 0
        for l in tap:
            if re.search(r"#\s*skip", l, re.I):
                skipped += 1
            elif l.startswith("not ok"):
                failed += 1
                bad += 1
                failures.append(f"{path}: {name}: {l}")
            else:
                passed += 1
        # cmocka exits with its failure count; a crash after the last case shows only here.
        if t.get("returncode", 0) not in (0, 77) and bad == 0:
            failed += 1
            failures.append(f"{path}: {name} ({result} after its test cases)")
for f in failures:
    print("FAILED", f)
print(f"brig: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
