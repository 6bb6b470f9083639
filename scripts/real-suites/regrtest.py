"""python3.11 -m test, with each junit <testsuite> tagged with its module.

regrtest's --junit-xml output does not say which test module a <testsuite>
came from, and test-case ids do not always start with test.<module> (ctypes'
cases are ctypes.test.*, doctests are named after the module under test).
This wrapper records the module name (module="test_x") on every testsuite
element as regrtest collects it; everything else is plain `-m test`.
"""

import importlib
import sys

# (test.libregrtest re-exports the function main(), which shadows the module.)
regrtest_main = importlib.import_module("test.libregrtest.main")

_orig = getattr(regrtest_main.Regrtest, "accumulate_result", None)

if _orig is not None:
    def accumulate_result(self, result, *args, **kwargs):
        before = len(self.testsuite_xml) if self.testsuite_xml is not None else 0
        ret = _orig(self, result, *args, **kwargs)
        name = getattr(result, "name", None) or getattr(result, "test_name", None)
        if self.testsuite_xml is not None and name:
            for suite in self.testsuite_xml[before:]:
                suite.set("module", name)
        return ret

    regrtest_main.Regrtest.accumulate_result = accumulate_result
else:
    print("regrtest.py: cannot tag junit suites with modules (regrtest changed)", file=sys.stderr)

regrtest_main.main()
