#!/usr/bin/python3
"""End-to-end tests of the Python client (client/python, quiver_client)
against a real quiverd on 127.0.0.1.

Run by ctest (tests/python/CMakeLists.txt) with:
  PYTHONPATH  <build>/client/python (the package and its generated stubs)
  QUIVERD     the quiverd binary
  QUIVER_SOURCE_DIR  the repository (SIFT-small: ../shared/data/siftsmall,
              or $QUIVER_DATA_DIR/siftsmall)
By hand:
  PYTHONPATH=build/client/python QUIVERD=build/server/quiverd \
    /usr/bin/python3 tests/python/client_test.py -v

Exits 77 (ctest: skipped) when grpcio, protobuf or numpy is not installed.
Each server is started like tests/testing/quiverd.h does it: --listen
127.0.0.1:0, --port_file, its own --data_dir, --parent_watchdog.
"""

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
try:
    import google.protobuf
    import grpc
    import numpy as np
except ImportError as e:
    print(f"SKIP: the Python client's dependencies are missing ({e}); "
          "install python3-grpcio python3-protobuf python3-numpy "
          "(scripts/setup.sh)")
    sys.exit(SKIP)

# The package itself must import: a failure here is a real failure.
from quiver_client import Client, QuiverError  # noqa: E402

QUIVERD = os.environ.get("QUIVERD", "")
SANITIZED = bool(os.environ.get("QUIVER_SANITIZE"))
# Generous: sanitizer builds train far more slowly.
WAIT_S = 600 if SANITIZED else 120


def data_dir(name):
    root = os.environ.get("QUIVER_DATA_DIR")
    if not root:
        src = os.environ.get(
            "QUIVER_SOURCE_DIR",
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        root = os.path.join(src, "..", "shared", "data")
    p = os.path.normpath(os.path.join(root, name))
    return p if os.path.isdir(p) else None


def read_vecs(path, dtype):
    """TEXMEX .fvecs (float32) / .ivecs (int32): each row is an int32
    dimension followed by that many values."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise ValueError(f"{path}: empty")
    d = int(raw[0])
    if d <= 0 or raw.size % (d + 1):
        raise ValueError(f"{path}: malformed (dimension {d})")
    rows = raw.reshape(-1, d + 1)
    if not (rows[:, 0] == d).all():
        raise ValueError(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def load_siftsmall():
    d = data_dir("siftsmall")
    if d is None:
        return None
    base = read_vecs(os.path.join(d, "siftsmall_base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(d, "siftsmall_query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(d, "siftsmall_groundtruth.ivecs"), np.int32)
    return base, queries, gt


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: quiverd gets SIGKILL if this process dies
    # (--parent_watchdog covers the rest).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Quiverd:
    """A quiverd child on 127.0.0.1 and a free port."""

    def __init__(self, extra=()):
        if not QUIVERD or not os.path.exists(QUIVERD):
            raise unittest.SkipTest(f"quiverd not found (QUIVERD='{QUIVERD}')")
        self.tmp = tempfile.TemporaryDirectory(prefix="quiver-pytest-")
        data = os.path.join(self.tmp.name, "data")
        port_file = data + ".port"
        self.log_path = os.path.join(self.tmp.name, "quiverd.log")
        args = [QUIVERD, "--listen=127.0.0.1:0", f"--data_dir={data}",
                f"--port_file={port_file}", "--parent_watchdog",
                "--train_threads=1" if "thread" in os.environ.get(
                    "QUIVER_SANITIZE", "") else "--train_threads=2"]
        args += list(extra)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"quiverd exited during start-up ({self.proc.returncode}):"
                    f"\n{self.log()}")
            try:
                with open(port_file) as f:
                    port = int(f.read().strip() or 0)
                if port > 0:
                    self.address = f"127.0.0.1:{port}"
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"quiverd wrote no port file:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.tmp.cleanup()


SERVER = None


def setUpModule():
    global SERVER
    print(f"grpcio {grpc.__version__}, protobuf {google.protobuf.__version__}"
          f", numpy {np.__version__}; quiverd {QUIVERD}", file=sys.stderr)
    SERVER = Quiverd()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class ServerTestCase(unittest.TestCase):
    def setUp(self):
        self.client = Client(SERVER.address)
        self.client.timeout = WAIT_S

    def tearDown(self):
        self.client.close()

    def run(self, result=None):
        # On failure, show the server's log (as tests/client's e2e test does).
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            sys.stderr.write(f"--- quiverd log ---\n{SERVER.log()}\n---\n")
        return out

    def assertCode(self, code, fn, *args, **kwargs):
        with self.assertRaises(QuiverError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code, code, str(cm.exception))
        self.assertTrue(cm.exception.message)
        return cm.exception


class SiftSmallTest(ServerTestCase):
    """SIFT-small (10,000 x 128) ingested from numpy, trained, recall@10."""

    @classmethod
    def setUpClass(cls):
        data = load_siftsmall()
        if data is None:
            raise unittest.SkipTest(
                "data set 'siftsmall' not found under ../shared/data "
                "(or $QUIVER_DATA_DIR)")
        cls.base, cls.queries, cls.gt = data
        with Client(SERVER.address) as c:
            c.create_collection("sift", dimension=cls.base.shape[1],
                                metric="l2")
            t = time.monotonic()
            cls.upserted = c.upsert("sift", list(range(len(cls.base))),
                                    cls.base, batch_size=1000)
            cls.upsert_s = time.monotonic() - t
            t = time.monotonic()
            cls.trained = c.train("sift", wait=True, timeout=WAIT_S)
            cls.train_s = time.monotonic() - t
        print(f"\nsiftsmall: upsert {cls.upsert_s:.2f} s, "
              f"train {cls.train_s:.2f} s", file=sys.stderr)

    def test_upsert_acknowledged_every_batch(self):
        r = self.upserted
        self.assertTrue(r.ok, r.errors[:3])
        self.assertEqual(r.upserted, len(self.base))
        self.assertEqual(r.batches, 10)

    def test_describe_ready(self):
        info = self.client.describe("sift")
        self.assertEqual(info.state, "READY")
        self.assertEqual(info.count, len(self.base))
        self.assertEqual(info.dimension, 128)
        self.assertEqual(info.metric, "l2")
        self.assertGreater(info.nlist, 0)
        self.assertGreater(info.memory_bytes, 0)
        self.assertEqual(info.memory, info.memory_bytes)
        self.assertGreaterEqual(info.train_generation, 1)
        self.assertEqual(info.index["nlist"], info.nlist)
        self.assertEqual(self.trained.state, "READY")

    def test_recall_at_10(self):
        ids, dist = self.client.search("sift", self.queries, k=10)
        self.assertEqual(ids.shape, (len(self.queries), 10))
        self.assertEqual(dist.shape, (len(self.queries), 10))
        self.assertEqual(dist.dtype, np.float32)
        hits = 0
        for qi in range(len(self.queries)):
            truth = {str(i) for i in self.gt[qi, :10]}
            hits += len(truth & set(ids[qi]))
        recall = hits / (10 * len(self.queries))
        print(f"\nsiftsmall recall@10 = {recall:.3f}", file=sys.stderr)
        self.assertGreaterEqual(recall, 0.9)
        # Best first, smaller is better.
        self.assertTrue((np.diff(dist, axis=1) >= 0).all())

    def test_nprobe_and_single_vector(self):
        ids, dist = self.client.search("sift", self.queries[0], k=5,
                                       nprobe=self.client.describe("sift").nlist)
        self.assertEqual(ids.shape, (1, 5))
        self.assertEqual(ids[0, 0], str(self.gt[0, 0]))
        want = float(((self.base[self.gt[0, 0]] - self.queries[0]) ** 2).sum())
        self.assertAlmostEqual(float(dist[0, 0]), want, delta=want * 1e-3)

    def test_get_returns_stored_vectors(self):
        docs = self.client.get("sift", ["7", "9999", "no-such-id"])
        self.assertEqual(sorted(d.id for d in docs), ["7", "9999"])
        for d in docs:
            np.testing.assert_array_equal(d.vector, self.base[int(d.id)])
        docs = self.client.get("sift", [7], include_vectors=False)
        self.assertEqual(len(docs), 1)
        self.assertIsNone(docs[0].vector)

    def test_list_collections(self):
        names = [c.name for c in self.client.list_collections()]
        self.assertIn("sift", names)


class ApiTest(ServerTestCase):
    """Small synthetic collections (exact search): every call and every
    error path."""

    def setUp(self):
        super().setUp()
        self.name = self.id().rsplit(".", 1)[-1]
        self.rng = np.random.default_rng(42)
        self.x = self.rng.standard_normal((50, 8)).astype(np.float32)
        self.client.create_collection(self.name, dimension=8, metric="l2")
        r = self.client.upsert(
            self.name, [f"d{i}" for i in range(50)], self.x,
            attributes=[{"parity": str(i % 2)} for i in range(50)],
            batch_size=16)
        self.assertTrue(r.ok, r.errors)
        self.assertEqual((r.upserted, r.batches), (50, 4))

    def tearDown(self):
        try:
            self.client.drop(self.name)
        except QuiverError:
            pass
        super().tearDown()

    def test_search_exact_before_training(self):
        ids, dist = self.client.search(self.name, self.x[:3], k=1)
        self.assertEqual(list(ids[:, 0]), ["d0", "d1", "d2"])
        np.testing.assert_allclose(dist[:, 0], 0, atol=1e-4)
        self.assertEqual(self.client.describe(self.name).state, "UNTRAINED")

    def test_search_pads_missing_hits(self):
        ids, dist = self.client.search(self.name, self.x[:2], k=60)
        self.assertEqual(ids.shape, (2, 60))
        self.assertTrue(all(ids[0, :50]))
        self.assertEqual(list(ids[0, 50:]), [""] * 10)
        self.assertTrue(np.isinf(dist[:, 50:]).all())
        self.assertTrue(np.isfinite(dist[:, :50]).all())

    def test_filter(self):
        ids, _ = self.client.search(self.name, self.x[0], k=50,
                                    filter={"parity": "1"})
        got = [i for i in ids[0] if i]
        self.assertEqual(len(got), 25)
        self.assertTrue(all(int(i[1:]) % 2 == 1 for i in got))
        docs = self.client.get(self.name, ["d3"])
        self.assertEqual(docs[0].attributes, {"parity": "1"})

    def test_typed_attributes_and_where(self):
        x = np.array([[0, 0], [1, 0], [2, 0], [3, 0]], dtype=np.float32)
        name = self.name + "_typed"
        self.client.create_collection(name, dimension=2, metric="l2")
        try:
            attrs = [
                {"lang": "en", "year": 2021, "price": 9.5, "hot": True,
                 "tags": ["news", "sport"]},
                {"lang": "en", "year": np.int64(2019), "tags": ["news"]},
                {"lang": "fr", "year": 2022, "hot": np.bool_(False)},
                None,
            ]
            r = self.client.upsert(name, ["a", "b", "c", "d"], x,
                                   attributes=attrs)
            self.assertTrue(r.ok, r.errors)
            docs = {d.id: d for d in self.client.get(name, ["a", "b", "d"])}
            self.assertEqual(docs["a"].attributes, attrs[0])
            self.assertIs(type(docs["a"].attributes["year"]), int)
            self.assertIs(type(docs["a"].attributes["price"]), float)
            self.assertIs(type(docs["a"].attributes["hot"]), bool)
            self.assertEqual(docs["b"].attributes,
                             {"lang": "en", "year": 2019, "tags": ["news"]})
            self.assertEqual(docs["d"].attributes, {})

            def found(**kw):
                ids, _ = self.client.search(name, x[0], k=4, **kw)
                return [i for i in ids[0] if i]

            from quiver_client import filters as F
            self.assertEqual(found(where='lang = "en" and year >= 2020 and '
                                         'tags contains "news"'), ["a"])
            self.assertEqual(found(where=F.lt("year", 2022)), ["a", "b"])
            self.assertEqual(found(filter={"lang": "en"}), ["a", "b"])
            self.assertEqual(found(filter={"hot": False}), ["c"])
            self.assertEqual(found(filter={"lang": "en"},
                                   where="not exists hot"), ["b"])
            self.assertEqual(found(where="year = 2021.0"), ["a"])
            with self.assertRaises(F.FilterError) as cm:
                found(where="year >= ")
            self.assertEqual(str(cm.exception),
                             "at column 9: expected a value after '>=', "
                             "found end of input")
            ids, dist, hit_attrs, plan = self.client.search(
                name, x[0], k=3, where="exists year",
                include_attributes=True, explain=True)
            self.assertEqual(list(ids[0]), ["a", "b", "c"])
            self.assertEqual(hit_attrs[0][0], attrs[0])
            self.assertEqual(hit_attrs[0][2]["year"], 2022)
            self.assertEqual(plan["matching"], 3)
            self.assertEqual(plan["count"], 4)
            self.assertTrue(plan["strategy"])
            ids, _, hit_attrs = self.client.search(
                name, x[0], k=5, include_attributes=True)
            self.assertIsNone(hit_attrs[0][4])  # padding
            with self.assertRaises(TypeError):
                self.client.upsert(name, ["e"], x[:1],
                                   attributes=[{"bad": {"nested": 1}}])
            with self.assertRaises(TypeError):
                self.client.search(name, x[0], where=3)
        finally:
            self.client.drop(name)

    def test_many_queries_split_into_requests(self):
        q = np.repeat(self.x[:1], 1100, axis=0)
        ids, _ = self.client.search(self.name, q, k=1)
        self.assertEqual(ids.shape, (1100, 1))
        self.assertTrue((ids[:, 0] == "d0").all())

    def test_delete(self):
        self.assertEqual(self.client.delete(self.name, ["d0", "d1", "nope"]),
                         2)
        self.assertEqual(self.client.get(self.name, ["d0", "d1"]), [])
        self.assertEqual(self.client.describe(self.name).count, 48)
        ids, _ = self.client.search(self.name, self.x[0], k=50)
        self.assertNotIn("d0", set(ids[0]))

    def test_upsert_replaces(self):
        v = np.full((1, 8), 3.0, dtype=np.float32)
        self.assertEqual(self.client.upsert(self.name, ["d5"], v).upserted, 1)
        np.testing.assert_array_equal(
            self.client.get(self.name, ["d5"])[0].vector, v[0])
        self.assertEqual(self.client.describe(self.name).count, 50)

    def test_bad_records_are_record_errors(self):
        # Wrong dimension for every row: each is a RecordError, nothing raised.
        bad = np.ones((5, 7), dtype=np.float32)
        r = self.client.upsert(self.name, [f"b{i}" for i in range(5)], bad,
                               batch_size=2)
        self.assertFalse(r.ok)
        self.assertEqual(r.upserted, 0)
        self.assertEqual([e.index for e in r.errors], [0, 1, 2, 3, 4])
        self.assertEqual([e.id for e in r.errors], [f"b{i}" for i in range(5)])
        self.assertTrue(all(e.reason for e in r.errors))
        with self.assertRaises(QuiverError) as cm:
            r.raise_for_errors()
        self.assertEqual(cm.exception.code, "INVALID_ARGUMENT")
        # Mixed: a NaN in row 2 of 4 (second batch); the good rows are stored.
        mixed = np.ones((4, 8), dtype=np.float32)
        mixed[2, 3] = np.nan
        r = self.client.upsert(self.name, ["m0", "m1", "m2", "m3"], mixed,
                               batch_size=2)
        self.assertEqual(r.upserted, 3)
        self.assertEqual([(e.index, e.id) for e in r.errors], [(2, "m2")])
        self.assertEqual(self.client.describe(self.name).count, 53)

    def test_not_found(self):
        self.assertCode("NOT_FOUND", self.client.describe, "no_such")
        self.assertCode("NOT_FOUND", self.client.drop, "no_such")
        self.assertCode("NOT_FOUND", self.client.search, "no_such", self.x[0])
        self.assertCode("NOT_FOUND", self.client.get, "no_such", ["a"])
        self.assertCode("NOT_FOUND", self.client.delete, "no_such", ["a"])
        self.assertCode("NOT_FOUND", self.client.train, "no_such")
        self.assertCode("NOT_FOUND", self.client.upsert, "no_such", ["a"],
                        self.x[:1])

    def test_invalid_argument(self):
        c = self.client
        self.assertCode("ALREADY_EXISTS", c.create_collection, self.name, 8)
        self.assertCode("INVALID_ARGUMENT", c.create_collection, "bad name!", 8)
        self.assertCode("INVALID_ARGUMENT", c.create_collection, "zero_dim", 0)
        self.assertCode("INVALID_ARGUMENT", c.create_collection, "big_dim",
                        100000)
        self.assertCode("INVALID_ARGUMENT", c.search, self.name,
                        np.ones((1, 7), dtype=np.float32))
        self.assertCode("INVALID_ARGUMENT", c.search, self.name, self.x[0], k=0)
        self.assertCode("INVALID_ARGUMENT", c.search, self.name, self.x[0],
                        k=5000)
        self.assertCode("INVALID_ARGUMENT", c.get, self.name, [""])

    def test_failed_precondition(self):
        # 50 vectors are too few to train 8-bit codes (256 centroids each)
        # or 64 lists on.
        self.assertCode("FAILED_PRECONDITION", self.client.train, self.name,
                        pq_bits=8)
        self.assertCode("FAILED_PRECONDITION", self.client.train, self.name,
                        nlist=64)

    def test_client_side_checks(self):
        c = self.client
        with self.assertRaises(ValueError):
            c.create_collection("m", 8, metric="hamming")
        with self.assertRaises(TypeError):
            c.create_collection("m", 8, nlists=4)
        with self.assertRaises(ValueError):
            c.upsert(self.name, ["a", "b"], self.x[:3])
        with self.assertRaises(ValueError):
            c.search(self.name, np.ones((1, 2, 8)))

    def test_create_with_index_params_and_list(self):
        info = self.client.create_collection(
            "params_c", dimension=16, metric="cosine", nlist=4, pq_bits=4,
            balanced=True, target_recall=0.9)
        try:
            self.assertEqual((info.metric, info.nlist, info.pq_bits),
                             ("cosine", 4, 4))
            self.assertTrue(info.index["balanced"])
            d = self.client.describe("params_c")
            self.assertEqual((d.dimension, d.count, d.state),
                             (16, 0, "UNTRAINED"))
            names = [c.name for c in self.client.list_collections()]
            self.assertIn("params_c", names)
            self.assertEqual(names, sorted(names))
        finally:
            self.assertTrue(self.client.drop("params_c"))
        self.assertNotIn("params_c",
                         [c.name for c in self.client.list_collections()])

    def test_unavailable(self):
        # Nothing listens on port 1.
        c = Client("127.0.0.1:1")
        c.timeout = 10
        self.assertCode("UNAVAILABLE", c.list_collections)
        c.close()


class AuthTest(unittest.TestCase):
    """A server started with --api_key: calls without the key, or with a
    wrong one, are UNAUTHENTICATED; with it they work."""

    @classmethod
    def setUpClass(cls):
        cls.server = Quiverd(["--api_key=s3cret"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_api_key(self):
        x = np.ones((2, 4), dtype=np.float32)
        for key in (None, "wrong"):
            with Client(self.server.address, api_key=key) as c:
                c.timeout = WAIT_S
                for fn, args in ((c.list_collections, ()),
                                 (c.create_collection, ("a", 4)),
                                 (c.search, ("a", x)),
                                 (c.upsert, ("a", ["1", "2"], x))):
                    with self.assertRaises(QuiverError, msg=fn.__name__) as cm:
                        fn(*args)
                    self.assertEqual(cm.exception.code, "UNAUTHENTICATED")
                    self.assertEqual(cm.exception.status,
                                     grpc.StatusCode.UNAUTHENTICATED)
        with Client(self.server.address, api_key="s3cret") as c:
            c.timeout = WAIT_S
            c.create_collection("a", 4)
            self.assertEqual(c.upsert("a", ["1", "2"], x).upserted, 2)
            ids, _ = c.search("a", x[0], k=2)
            self.assertEqual(sorted(ids[0]), ["1", "2"])
            self.assertEqual([i.name for i in c.list_collections()], ["a"])


if __name__ == "__main__":
    result = unittest.main(exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    # Everything skipped (no quiverd): tell ctest (SKIP_RETURN_CODE).
    if result.testsRun == 0 or len(result.skipped) >= result.testsRun:
        sys.exit(SKIP)
