"""Runs a test script's checks: each a function that raises on failure.

Command-line arguments, when given, keep only the checks whose name contains
one of them. Prints "ok NAME" or "FAIL NAME" with the traceback for each, and
"N passed, N failed" last, which the Node tests read; returns the exit status.
"""

import sys
import traceback


def run_checks(checks, only=None):
    only = sys.argv[1:] if only is None else only
    passed = failed = 0
    for fn in checks:
        if only and not any(o in fn.__name__ for o in only):
            continue
        try:
            fn()
            passed += 1
            print("ok", fn.__name__)
        except Exception:
            failed += 1
            print("FAIL", fn.__name__)
            traceback.print_exc(file=sys.stdout)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
