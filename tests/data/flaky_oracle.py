"""A slow, flaky oracle for the ``campaign run`` tests: ``flaky_oracle.py IN OUT --lookup FILE [...]``.

It answers from a lookup file (inchikey,value) and misbehaves on purpose: it sleeps a little per
molecule, fails whole calls at random (seeded, so a retry of the same chunk may succeed), hangs
on one molecule, crashes on another, answers NaN for a third, adds a row for an id nobody sent,
fails or hangs on a seeded random share of molecules (the same ones on every call), sleeps a
random extra bit,
appends every id it is sent to a counting file, and can hold every call but the first until a
file disappears (so a test can kill the campaign while calls are in flight). Standard library
only, so each call starts fast.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import os
import random
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--lookup", required=True)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds per molecule")
    ap.add_argument("--fail-rate", type=float, default=0.0, help="chance a call of several molecules fails")
    ap.add_argument("--hang", default="", help="an id that makes the call hang")
    ap.add_argument("--crash", default="", help="an id that makes the call exit 1")
    ap.add_argument("--nan", default="", help="an id answered with NaN")
    ap.add_argument("--unknown", action="store_true", help="add a row for an id nobody sent")
    ap.add_argument("--count", default="", help="append every id sent to this file")
    ap.add_argument("--log", default="", help="append 'TIME_NS ID' for every id sent to this file")
    ap.add_argument("--hold", default="", help="while this file exists, hold every call but the first")
    ap.add_argument("--molecule-fail-rate", type=float, default=0.0, help="chance a molecule gets no value")
    ap.add_argument("--hang-rate", type=float, default=0.0, help="chance a molecule makes its call hang")
    ap.add_argument("--jitter", type=float, default=0.0, help="up to this many seconds of extra sleep a call")
    ap.add_argument("--seed", default="0", help="which molecules fail or hang (the same on every call)")
    args = ap.parse_args()
    with Path(args.inp).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = [r["id"] for r in rows]
    first = True
    if args.count:
        with Path(args.count).open("a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            first = not fh.read()
            fh.write("".join(f"{i}\n" for i in ids))
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
    if args.log:  # when each call began, to compare with when each result was journaled
        with Path(args.log).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write("".join(f"{time.time_ns()} {i}\n" for i in ids))
            fcntl.flock(fh, fcntl.LOCK_UN)
    parent = os.getppid()
    while args.hold and not first and Path(args.hold).exists():
        if os.getppid() != parent:  # the campaign was killed: do not linger
            return 9
        time.sleep(0.02)
    lookup = {}
    with Path(args.lookup).open(newline="") as fh:
        for r in csv.DictReader(fh):
            lookup[r["inchikey"]] = r["value"]
    if args.hang in ids or any(_draw(args.seed, "hang", i) < args.hang_rate for i in ids):
        time.sleep(3600)
    if args.crash in ids:
        print("segfault in the docking engine", file=sys.stderr)
        return 1
    if len(ids) > 1 and random.Random().random() < args.fail_rate:
        print("license server busy", file=sys.stderr)
        return 2
    time.sleep(args.delay * len(ids) + random.Random().uniform(0, args.jitter))
    with Path(args.out).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "value", "pose_score"])
        for i in ids:
            value = "nan" if i == args.nan else lookup.get(i, "")
            if _draw(args.seed, "fail", i) < args.molecule_fail_rate:  # a molecule the engine cannot do
                value = random.Random(i).choice(["", "nan", "error: no pose found"])
            w.writerow([i, value, "0.5"])
        if args.unknown:
            w.writerow(["NOT-A-MOLECULE", "1.0", "0.1"])
    return 0


def _draw(seed: str, what: str, key: str) -> float:
    """A number in [0, 1) fixed by (seed, what, key): a molecule that fails fails every time."""
    return random.Random(f"{seed}|{what}|{key}").random()


if __name__ == "__main__":
    sys.exit(main())
