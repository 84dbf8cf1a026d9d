#!/usr/bin/python3
"""Unit tests of quiver_client.filters (no server): the filter expression
parser against the cases the C++ parser is tested with
(tests/client/filter_cases.txt), the printer's round trip, the builders and
typed attribute values.

Run by ctest with PYTHONPATH=<build>/client/python; by hand:
  PYTHONPATH=build/client/python /usr/bin/python3 tests/python/filters_test.py
Exits 77 (ctest: skipped) when protobuf or grpcio is not installed.
"""

import os
import sys
import unittest

SKIP = 77
try:
    import google.protobuf  # noqa: F401
    import grpc  # noqa: F401
    import numpy as np
    from google.protobuf import text_format
except ImportError as e:
    print(f"SKIP: the Python client's dependencies are missing ({e})")
    sys.exit(SKIP)

from quiver_client import filters as F  # noqa: E402
from quiver_client._proto import quiver_pb2 as pb  # noqa: E402

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                     "client", "filter_cases.txt")


def read_cases():
    with open(CASES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if " ==> " in line:
                text, proto = line.split(" ==> ", 1)
                yield text, text_format.Parse(proto, pb.Filter()), None
            else:
                text, error = line.split(" !!! ", 1)
                yield text, None, error


class SharedCasesTest(unittest.TestCase):
    def test_cases(self):
        n = 0
        for text, want, error in read_cases():
            n += 1
            with self.subTest(text=text):
                if want is not None:
                    self.assertEqual(F.parse(text), want)
                else:
                    with self.assertRaises(F.FilterError) as cm:
                        F.parse(text)
                    self.assertEqual(str(cm.exception), error)
        self.assertGreater(n, 60)

    def test_round_trip(self):
        for text, want, _ in read_cases():
            if want is None:
                continue
            with self.subTest(text=text):
                printed = F.to_string(want)
                self.assertEqual(F.parse(printed), want, printed)

    def test_printer(self):
        self.assertEqual(
            F.to_string(F.parse("(a = 1 or b = 2) and not (c = 3 or d = 4)")),
            "(a = 1 or b = 2) and not (c = 3 or d = 4)")
        self.assertEqual(F.to_string(F.parse("x == 2.0 or y != 1e21")),
                         "x = 2.0 or y != 1e+21")
        self.assertEqual(F.to_string(F.parse("`a b` exists")), "exists `a b`")
        r = pb.Filter(range=pb.Range(key="p", gte=F.value(1),
                                     lt=F.value(5.0)))
        self.assertEqual(F.to_string(F.not_(r)), "not (p >= 1 and p < 5.0)")
        self.assertEqual(F.to_string(pb.Filter()), "<empty filter>")


class LimitsTest(unittest.TestCase):
    def test_depth_nodes_lists(self):
        ok = "exists a"
        for _ in range(15):
            ok = "not " + ok
        F.parse(ok)
        with self.assertRaisesRegex(F.FilterError,
                                    "^at column 1: the filter nests deeper "
                                    "than 16 levels"):
            F.parse("not " + ok)
        wide = " and ".join(f"exists k{i}" for i in range(255))
        F.parse(wide)
        with self.assertRaisesRegex(F.FilterError, "more than 256 parts"):
            F.parse(wide + " and exists more")
        F.parse("k in [" + ", ".join(str(i) for i in range(1024)) + "]")
        with self.assertRaisesRegex(F.FilterError, "more than 1024 values"):
            F.parse("k in [" + ", ".join(str(i) for i in range(1025)) + "]")
        with self.assertRaisesRegex(F.FilterError, "nests too deeply"):
            F.parse("(" * 10000)
        deep = F.exists("a")
        for _ in range(16):
            deep = F.not_(deep)
        with self.assertRaisesRegex(F.FilterError, "deeper than 16"):
            F.check_limits(deep)
        F.check_limits(deep.negate)


class BuildersAndValuesTest(unittest.TestCase):
    def test_builders_match_the_parser(self):
        built = F.and_(F.eq("lang", "en"), F.gte("year", 2020),
                       F.contains("tags", "news"),
                       F.or_(F.isin("k", [1, "a"]), F.not_(F.exists("x"))),
                       F.ne("ok", True), F.gt("p", 0.5), F.lt("p", 9),
                       F.lte("p", 10))
        parsed = F.parse('lang = "en" and year >= 2020 and '
                         'tags contains "news" and '
                         '(k in [1, "a"] or not exists x) and ok != true and '
                         'p > 0.5 and p < 9 and p <= 10')
        self.assertEqual(built, parsed)
        with self.assertRaises(TypeError):
            F.gt("p", "x")
        with self.assertRaises(TypeError):
            F.gt("p", True)
        with self.assertRaises(TypeError):
            F.contains("t", 3)

    def test_values(self):
        self.assertEqual(F.value("s"), pb.Value(string_value="s"))
        self.assertEqual(F.value(True), pb.Value(bool_value=True))
        self.assertEqual(F.value(np.bool_(False)), pb.Value(bool_value=False))
        self.assertEqual(F.value(7), pb.Value(int_value=7))
        self.assertEqual(F.value(np.int32(-3)), pb.Value(int_value=-3))
        self.assertEqual(F.value(2.5), pb.Value(double_value=2.5))
        self.assertEqual(F.value(np.float32(0.5)),
                         pb.Value(double_value=0.5))
        self.assertEqual(F.value(["a", "b"]),
                         pb.Value(tags=pb.StringList(values=["a", "b"])))
        with self.assertRaises(ValueError):
            F.value(1 << 63)
        with self.assertRaises(TypeError):
            F.value(["a", 1])
        with self.assertRaises(TypeError):
            F.value({"a": 1})
        with self.assertRaises(TypeError):
            F.value(None)
        for v in ("s", True, 7, 2.5, ["a", "b"], []):
            self.assertEqual(F.from_value(F.value(v)), v)
            self.assertIs(type(F.from_value(F.value(v))), type(v))
        self.assertIsNone(F.from_value(pb.Value()))


if __name__ == "__main__":
    unittest.main()
