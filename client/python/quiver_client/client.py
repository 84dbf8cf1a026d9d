"""The Pythonic layer over Quiver's gRPC API (proto/quiver/v1/quiver.proto).

Conventions:
  * Vectors are numpy arrays: (n, d) for upsert, (nq, d) or (d,) for search;
    they are sent as float32.
  * Ids are strings (ints are converted with str()).
  * Every gRPC error is raised as QuiverError; its `code` is the status
    code's name ("NOT_FOUND", "INVALID_ARGUMENT", "UNAUTHENTICATED", ...) and
    its `message` the server's text. Arguments that cannot even be sent (an
    ids list whose length differs from the number of rows, a 3-D array, an
    unknown index parameter) raise ValueError / TypeError before any call.
  * Distances are "smaller is better" (the server's convention): squared L2,
    negated inner product, negated cosine similarity.
"""

import dataclasses
import numbers
import time
from typing import Any, Dict, List, Optional

import grpc
import numpy as np

from quiver_client._proto import quiver_pb2 as pb
from quiver_client._proto import quiver_pb2_grpc as pb_grpc
from quiver_client import filters as _filters

# Server limits (see the top of quiver.proto): the client splits larger
# requests into several calls.
MAX_QUERIES_PER_SEARCH = 1024
MAX_IDS_PER_REQUEST = 10000

_METRICS = {
    "l2": pb.METRIC_L2,
    "euclidean": pb.METRIC_L2,
    "ip": pb.METRIC_INNER_PRODUCT,
    "inner_product": pb.METRIC_INNER_PRODUCT,
    "dot": pb.METRIC_INNER_PRODUCT,
    "cosine": pb.METRIC_COSINE,
    "angular": pb.METRIC_COSINE,
}
_METRIC_NAMES = {
    pb.METRIC_L2: "l2",
    pb.METRIC_INNER_PRODUCT: "ip",
    pb.METRIC_COSINE: "cosine",
}
_INDEX_FIELDS = tuple(f.name for f in pb.IndexParams.DESCRIPTOR.fields)


class QuiverError(Exception):
    """Any error the server (or the gRPC channel) returned.

    code:    the gRPC status code's name, e.g. "NOT_FOUND".
    message: the server's message.
    status:  the grpc.StatusCode itself (None for errors raised by this
             client, such as a train(wait=True) timeout).
    """

    def __init__(self, code: str, message: str, status=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @classmethod
    def _from_rpc(cls, e: grpc.RpcError) -> "QuiverError":
        status = e.code() if hasattr(e, "code") else None
        details = e.details() if hasattr(e, "details") else str(e)
        name = status.name if status is not None else "UNKNOWN"
        return cls(name, details or "", status)


@dataclasses.dataclass
class CollectionInfo:
    """A collection as GetCollection describes it.

    state is "UNTRAINED", "TRAINING" or "READY"; metric is "l2", "ip" or
    "cosine"; nlist, pq_m, ... are the index parameters (the values in use
    once trained, 0 = automatic before); index holds all of them as a dict.
    """

    name: str
    dimension: int
    metric: str
    state: str
    count: int
    nlist: int
    pq_m: int
    pq_bits: int
    nprobe: int
    rerank: int
    index: Dict[str, object]
    list_min: int
    list_max: int
    list_mean: float
    memory_bytes: int
    disk_bytes: int
    training_progress: float
    train_generation: int
    trained_count: int
    measured_recall: float
    last_error: str
    last_training_reason: str
    kernel: str

    @property
    def memory(self) -> int:
        """Alias of memory_bytes."""
        return self.memory_bytes

    @classmethod
    def _from_proto(cls, m) -> "CollectionInfo":
        state = pb.CollectionState.Name(m.state)
        prefix = "COLLECTION_STATE_"
        if state.startswith(prefix):
            state = state[len(prefix):]
        index = {f: getattr(m.index, f) for f in _INDEX_FIELDS}
        return cls(
            name=m.name,
            dimension=m.dimension,
            metric=_METRIC_NAMES.get(m.metric, "unspecified"),
            state=state,
            count=m.count,
            nlist=m.index.nlist,
            pq_m=m.index.pq_m,
            pq_bits=m.index.pq_bits,
            nprobe=m.index.nprobe,
            rerank=m.index.rerank,
            index=index,
            list_min=m.list_min,
            list_max=m.list_max,
            list_mean=m.list_mean,
            memory_bytes=m.memory_bytes,
            disk_bytes=m.disk_bytes,
            training_progress=m.training_progress,
            train_generation=m.train_generation,
            trained_count=m.trained_count,
            measured_recall=m.measured_recall,
            last_error=m.last_error,
            last_training_reason=m.last_training_reason,
            kernel=m.kernel,
        )


@dataclasses.dataclass
class RecordError:
    """One document upsert() could not store.

    index:  its row in the upsert() call (0-based, over all batches).
    id:     its id.
    reason: the server's reason.
    """

    index: int
    id: str
    reason: str


@dataclasses.dataclass
class UpsertResult:
    """What upsert() stored: `upserted` documents were stored durably;
    `errors` lists the rejected ones (bad dimension, NaN, invalid id, ...).
    A rejected record does not stop the others. `ok` is True when nothing
    was rejected; raise_for_errors() turns rejections into a QuiverError."""

    upserted: int = 0
    errors: List[RecordError] = dataclasses.field(default_factory=list)
    batches: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> "UpsertResult":
        if self.errors:
            first = self.errors[0]
            raise QuiverError(
                "INVALID_ARGUMENT",
                f"{len(self.errors)} record(s) rejected; first: row "
                f"{first.index} id '{first.id}': {first.reason}",
            )
        return self


@dataclasses.dataclass
class Document:
    """A stored document: id, vector (float32 numpy array, or None when
    get() was called with include_vectors=False) and attributes (str, int,
    float, bool or list of str values)."""

    id: str
    vector: Optional[np.ndarray]
    attributes: Dict[str, Any]


def _attributes_dict(strings, typed) -> Dict[str, Any]:
    """A Document's / Hit's two attribute maps as one dict of Python
    values."""
    out = {k: _filters.from_value(v) for k, v in typed.items()}
    out.update(strings)
    return out


def _where(filter, where) -> "Optional[pb.Filter]":
    """search()'s filter dict (non-str values) and `where` as one Filter."""
    parts = []
    if filter:
        for k, v in filter.items():
            if not isinstance(k, str):
                raise TypeError("filter keys must be str")
            if not isinstance(v, str):
                parts.append(_filters.eq(k, v))
    if where is not None:
        if isinstance(where, str):
            parts.append(_filters.parse(where))
        elif isinstance(where, pb.Filter):
            parts.append(where)
        else:
            raise TypeError("where is a filter expression (str) or a "
                            "quiver_pb2.Filter (see quiver_client.filters)")
    if not parts:
        return None
    f = parts[0] if len(parts) == 1 else _filters.and_(*parts)
    _filters.check_limits(f)
    return f


def _id_str(i) -> str:
    if isinstance(i, str):
        return i
    if isinstance(i, numbers.Integral):
        return str(int(i))
    raise TypeError(f"ids must be str or int, not {type(i).__name__}")


def _ids_list(ids) -> List[str]:
    if isinstance(ids, (str, bytes)) or isinstance(ids, numbers.Integral):
        ids = [ids]
    return [_id_str(i) for i in ids]


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _index_params(params, what) -> "pb.IndexParams":
    unknown = sorted(set(params) - set(_INDEX_FIELDS))
    if unknown:
        raise TypeError(
            f"{what}: unknown index parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(_INDEX_FIELDS)})")
    return pb.IndexParams(**params)


class Client:
    """A connection to one quiverd.

    address: "host:port".
    api_key: sent as `authorization: Bearer <key>` metadata on every call.
    tls:     False (plain text), True (TLS with the system's root
             certificates), or the root certificate(s) to trust: PEM bytes,
             or the path of a PEM file.

    `timeout` (attribute, seconds, default None = no deadline) applies to
    every unary call. Use as a context manager, or call close().
    """

    def __init__(self, address, api_key=None, tls=False):
        options = [
            ("grpc.max_receive_message_length", 256 << 20),
            ("grpc.max_send_message_length", 256 << 20),
        ]
        if tls is False or tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            roots = None
            if isinstance(tls, (bytes, bytearray)):
                roots = bytes(tls)
            elif isinstance(tls, str):
                with open(tls, "rb") as f:
                    roots = f.read()
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(address, creds, options=options)
        self._stub = pb_grpc.QuiverStub(self._channel)
        self._metadata = (
            (("authorization", f"Bearer {api_key}"),) if api_key else ())
        self.address = address
        self.timeout = None

    # -- plumbing --------------------------------------------------------

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout,
                          metadata=self._metadata)
        except grpc.RpcError as e:
            raise QuiverError._from_rpc(e) from None

    # -- collections -----------------------------------------------------

    def create_collection(self, name, dimension, metric="l2",
                          **index_params) -> CollectionInfo:
        """Creates an empty collection. metric: "l2", "ip" (inner product)
        or "cosine". index_params: the IndexParams fields (nlist, pq_m,
        pq_bits, train_size, nprobe, rerank, balanced, auto_train_threshold,
        target_recall); 0 or absent = automatic."""
        m = _METRICS.get(str(metric).lower())
        if m is None:
            raise ValueError(
                f"unknown metric '{metric}' (expected l2, ip or cosine)")
        req = pb.CreateCollectionRequest(
            name=name, dimension=int(dimension), metric=m,
            index=_index_params(index_params, "create_collection"))
        return CollectionInfo._from_proto(
            self._call(self._stub.CreateCollection, req))

    def list_collections(self) -> List[CollectionInfo]:
        """Every collection (CollectionInfo), sorted by name."""
        resp = self._call(self._stub.ListCollections,
                          pb.ListCollectionsRequest())
        return [CollectionInfo._from_proto(c) for c in resp.collections]

    def describe(self, name) -> CollectionInfo:
        return CollectionInfo._from_proto(
            self._call(self._stub.GetCollection,
                       pb.GetCollectionRequest(name=name)))

    def drop(self, name) -> bool:
        """Deletes a collection and its documents (NOT_FOUND if unknown)."""
        return self._call(self._stub.DropCollection,
                          pb.DropCollectionRequest(name=name)).dropped

    def train(self, collection, wait=False, timeout=None,
              **overrides) -> CollectionInfo:
        """(Re)trains the collection's index in the background (the server
        also trains by itself; see quiver.proto). overrides: IndexParams
        fields for this training. With wait=True, polls until the collection
        has left TRAINING with a newer index and returns its description;
        raises QuiverError if the training failed ("ABORTED", with the
        server's last_error) or `timeout` seconds passed
        ("DEADLINE_EXCEEDED")."""
        req = pb.TrainRequest(collection=collection)
        if overrides:
            req.overrides.CopyFrom(_index_params(overrides, "train"))
        before = self.describe(collection) if wait else None
        info = CollectionInfo._from_proto(self._call(self._stub.Train, req))
        if not wait:
            return info
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.describe(collection)
            if info.state != "TRAINING":
                if info.train_generation > before.train_generation:
                    return info
                if info.last_error and info.last_error != before.last_error:
                    raise QuiverError("ABORTED",
                                      f"training failed: {info.last_error}")
            if deadline is not None and time.monotonic() > deadline:
                raise QuiverError(
                    "DEADLINE_EXCEEDED",
                    f"collection '{collection}' still {info.state} after "
                    f"{timeout} s")
            time.sleep(0.05)

    # -- documents -------------------------------------------------------

    def upsert(self, collection, ids, vectors, attributes=None,
               batch_size=1000) -> UpsertResult:
        """Stores (or replaces) documents over one Upsert stream.

        ids:        n ids (str or int).
        vectors:    numpy array (n, d) (anything np.asarray accepts; sent as
                    float32).
        attributes: None, or n dicts (or None) of str -> value, a value
                    being a str, int (int64), float, bool or list of str
                    (tags).
        batch_size: documents per UpsertRequest (server limit 10,000).

        Sends every batch, then waits for every batch's acknowledgement
        (each means its good records are durable). Returns an UpsertResult:
        `upserted` (documents stored) and `errors` (RecordError: row index
        in this call, id, reason) for records the server rejected, e.g. a
        wrong dimension -- those do NOT raise; call
        result.raise_for_errors() for that. A failed stream (unknown
        collection, auth, connection) raises QuiverError; batches
        acknowledged before it are stored.
        """
        ids = _ids_list(ids)
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1 and len(ids) == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2:
            raise ValueError(
                f"vectors must be a 2-D array (n, d), got shape {x.shape}")
        if x.shape[0] != len(ids):
            raise ValueError(
                f"{len(ids)} ids but {x.shape[0]} vectors")
        if attributes is not None:
            attributes = list(attributes)
            if len(attributes) != len(ids):
                raise ValueError(
                    f"{len(ids)} ids but {len(attributes)} attribute dicts")
            converted = []
            for a in attributes:
                strings, typed = {}, {}
                for k, v in (a or {}).items():
                    if not isinstance(k, str):
                        raise TypeError("attribute keys must be str")
                    if isinstance(v, str):
                        strings[k] = v
                    else:
                        typed[k] = _filters.value(v)
                converted.append((strings, typed))
            attributes = converted
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        result = UpsertResult()
        if not ids:
            return result
        starts = list(range(0, len(ids), batch_size))

        def requests():
            for b, start in enumerate(starts):
                req = pb.UpsertRequest(collection=collection, batch_id=b)
                end = min(start + batch_size, len(ids))
                rows = x[start:end].tolist()
                for i in range(start, end):
                    d = req.documents.add(id=ids[i], vector=rows[i - start])
                    if attributes is not None:
                        strings, typed = attributes[i]
                        d.attributes.update(strings)
                        for k, v in typed.items():
                            d.typed_attributes[k].CopyFrom(v)
                yield req

        try:
            for resp in self._stub.Upsert(requests(),
                                          metadata=self._metadata):
                if resp.batch_id >= len(starts):
                    raise QuiverError(
                        "INTERNAL",
                        f"acknowledgement for unknown batch {resp.batch_id}")
                start = starts[resp.batch_id]
                result.batches += 1
                result.upserted += resp.upserted
                for e in resp.errors:
                    result.errors.append(
                        RecordError(start + e.position, e.id, e.reason))
        except grpc.RpcError as e:
            raise QuiverError._from_rpc(e) from None
        if result.batches != len(starts):
            raise QuiverError(
                "UNKNOWN",
                f"Upsert stream ended after {result.batches} of "
                f"{len(starts)} acknowledgements")
        return result

    def get(self, collection, ids, include_vectors=True) -> List[Document]:
        """The stored documents among `ids` (unknown ids are silently
        absent), as Document objects."""
        out = []
        for chunk in _chunks(_ids_list(ids), MAX_IDS_PER_REQUEST):
            resp = self._call(self._stub.Get, pb.GetRequest(
                collection=collection, ids=chunk,
                include_vectors=include_vectors))
            for d in resp.documents:
                vec = (np.array(d.vector, dtype=np.float32)
                       if include_vectors else None)
                out.append(Document(
                    d.id, vec,
                    _attributes_dict(d.attributes, d.typed_attributes)))
        return out

    def delete(self, collection, ids) -> int:
        """Deletes documents by id; returns how many existed."""
        deleted = 0
        for chunk in _chunks(_ids_list(ids), MAX_IDS_PER_REQUEST):
            deleted += self._call(self._stub.Delete, pb.DeleteRequest(
                collection=collection, ids=chunk)).deleted
        return deleted

    def search(self, collection, queries, k=10, nprobe=None, filter=None,
               where=None, include_attributes=False, explain=False):
        """k-nearest-neighbour search.

        queries: numpy array (nq, d), or one vector (d,) (then nq = 1).
        nprobe:  lists probed (None = the collection's default).
        filter:  dict of attribute key -> value a hit must have (equality;
                 str values go in the request's string `filter` map, others
                 become `where` comparisons).
        where:   a filter expression: a str in the syntax of `quiver search
                 --filter` ('lang = "en" and year >= 2020'), or a
                 quiver_pb2.Filter (see quiver_client.filters for
                 builders). ANDed with `filter`. A str that does not parse
                 raises filters.FilterError (a ValueError) naming the column.
        include_attributes: also return each hit's attributes.
        explain: also return the server's plan (of the first request).

        Returns (ids, distances), both of shape (nq, k): ids a numpy object
        array of str, distances float32, best first (smaller is better).
        Where a query has fewer than k hits, the rest of its row is padded
        with id "" and distance +inf. More than 1,024 queries are sent as
        several requests. With include_attributes, a third element: per
        query a list of k attribute dicts (None for padding). With explain,
        a last element: the plan as a dict (strategy, matching, count,
        nprobe, rerank, detail).
        """
        where_filter = _where(filter, where)
        plan = None
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2:
            raise ValueError(
                f"queries must be (nq, d) or (d,), got shape {q.shape}")
        k = int(k)
        nq = q.shape[0]
        kk = max(k, 0)
        ids = np.full((nq, kk), "", dtype=object)
        dist = np.full((nq, kk), np.inf, dtype=np.float32)
        attrs = [[None] * kk for _ in range(nq)]
        for off in range(0, max(nq, 1), MAX_QUERIES_PER_SEARCH):
            req = pb.SearchRequest(collection=collection, k=k,
                                   nprobe=int(nprobe or 0),
                                   include_attributes=bool(include_attributes),
                                   explain=bool(explain))
            for row in q[off:off + MAX_QUERIES_PER_SEARCH].tolist():
                req.queries.add(values=row)
            if filter:
                req.filter.update(
                    {k: v for k, v in filter.items() if isinstance(v, str)})
            if where_filter is not None:
                req.where.CopyFrom(where_filter)
            resp = self._call(self._stub.Search, req)
            if explain and plan is None:
                p = resp.plan
                plan = {"strategy": p.strategy, "matching": p.matching,
                        "count": p.count, "nprobe": p.nprobe,
                        "rerank": p.rerank, "detail": p.detail}
            for qi, res in enumerate(resp.results):
                for j, h in enumerate(res.hits[:kk]):
                    ids[off + qi, j] = h.id
                    dist[off + qi, j] = h.distance
                    if include_attributes:
                        attrs[off + qi][j] = _attributes_dict(
                            h.attributes, h.typed_attributes)
        out = (ids, dist)
        if include_attributes:
            out += (attrs,)
        if explain:
            out += (plan,)
        return out
