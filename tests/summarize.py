#!/usr/bin/env python3
"""Sums up meson test logs (tests registered with the exitcode protocol, printing TAP) at the level of individual
cmocka/TAP test cases and prints one closing line, 'brig: N passed, N failed, N skipped'.

Exits 1 when anything failed, nothing ran, or a test binary skipped more cases than ALLOWED_SKIPS grants it: a skip
is expected only where the mode lacks a privilege, so a brigd that cannot start (which the harness reports as a
failure anyway) or a check that quietly stopped running cannot leave the suite green."""
import json
import re
import sys

# Test cases each test (meson's name, the mode suffix included) may skip, in every build (plain and ASan), and
# why. Everything not listed may skip nothing. Counted from a full `make test` as root on main; a test that
# skips more fails the summary, one that skips fewer is fine (e.g. a host that grants more).
ALLOWED_SKIPS = {
    "test_env-setpriv": (4, "brigd as nobody: cannot act as two other users, has no delegated cgroups, "
                            "and per-environment host ids (two cases) need brigd as real root"),
    "test_env-userns": (4, "root only in its user namespace: the same four as test_env-setpriv"),
    "test_env_fork-setpriv": (1, "acting as another user than the environment's owner needs brigd and the test as "
                                 "root: peer credentials are seen through brigd's user namespace otherwise"),
    "test_env_fork-userns": (1, "the same as test_env_fork-setpriv"),
    "test_env_export-setpriv": (1, "the same as test_env_fork-setpriv: exporting another user's environment"),
    "test_env_export-userns": (1, "the same as test_env_fork-setpriv"),
    "test_memory-setpriv": (1, "the same as test_env_fork-setpriv: another owner's memory needs brigd and the "
                               "test as root to act as another user"),
    "test_memory-userns": (1, "the same as test_env_fork-setpriv"),
    "test_worker-setpriv": (4, "`brig run` (one-shot jail, host binds) is covered by the default mode; the "
                               "socket's --socket-mode/--socket-group (a root brigd giving its socket a group, "
                               "clients as two other users) need brigd as root"),
    "test_worker-userns": (4, "`brig run` (one-shot jail, host binds) is covered by the default mode; the "
                              "socket's --socket-mode/--socket-group tests need brigd as root"),
    "test_layers-setpriv": (1, "`brig run` reporting missing Landlock is covered by the default mode"),
    "test_layers-userns": (1, "`brig run` reporting missing Landlock is covered by the default mode"),
    "test_cgroups-setpriv": (3, "brigd as nobody has no cgroups delegated to it here (cgroup v1)"),
    "test_cgroups-userns": (3, "root in a user namespace cannot create cgroups here (cgroup v1)"),
    "test_load-setpriv": (1, "lowering brigd's fd limit needs CAP_SYS_RESOURCE over another uid's process"),
    "test_load-userns": (2, "the same, and crowding from a second uid needs root outside a user namespace"),
    "test_audit_tools-userns": (2, "brig/audit.subscribe as an admin (streaming, and dropping a subscriber that "
                                   "does not read): the test as root is an unmapped user, no admin, to brigd in "
                                   "its user namespace (the refusal is checked instead)"),
    "test_quota": (2, "a hard quota refused or replaced by the soft one is what rootless brigd does: rootless modes"),
    "test_quota-setpriv": (2, "a hard quota (loop device, ext4 image, ready copies) needs brigd as root"),
    "systemd_units": (1, "only where systemd-analyze is missing; the Makefile's deps install systemd"),
    "test_full_disk-setpriv": (2, "workspace images (a loop device, an ext4 mount) need brigd as root"),
    "test_full_disk-userns": (2, "workspace images (a loop device, an ext4 mount) need brigd as root in the host "
                                 "namespace"),
    "test_quota-userns": (2, "a hard quota (loop device, ext4 image, ready copies) needs brigd as root in the host "
                          "namespace"),
}

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
        short = name.split(" / ")[-1]
        tap = [l for l in out.splitlines() if re.match(r"^(not )?ok \d+", l)]
        skips = 0
        if not tap:
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skips = 1
            else:
                failed += 1
                failures.append(f"{path}: {name} ({result})")
        bad = 0
        for l in tap:
            if re.search(r"#\s*skip", l, re.I):
                skips += 1
            elif l.startswith("not ok"):
                failed += 1
                bad += 1
                failures.append(f"{path}: {name}: {l}")
            else:
                passed += 1
        skipped += skips
        allowed, why = ALLOWED_SKIPS.get(short, (0, "nothing"))
        if skips > allowed:
            failed += 1
            failures.append(f"{path}: {name}: {skips} test cases skipped, {allowed} allowed ({why}); "
                            "see its log for the reasons")
        # cmocka exits with its failure count; a crash after the last case shows only here.
        if tap and t.get("returncode", 0) not in (0, 77) and bad == 0:
            failed += 1
            failures.append(f"{path}: {name} ({result} after its test cases)")
for f in failures:
    print("FAILED", f)
print(f"brig: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
