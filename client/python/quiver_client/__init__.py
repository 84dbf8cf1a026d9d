"""Python client for Quiver, the gRPC vector-search server (quiverd).

    import numpy as np
    from quiver_client import Client

    c = Client("127.0.0.1:50051")
    c.create_collection("docs", dimension=128, metric="l2")
    c.upsert("docs", ids=[str(i) for i in range(len(x))], vectors=x)
    ids, distances = c.search("docs", queries, k=10)
    ids, distances = c.search("docs", queries, k=10,
                              where='lang = "en" and year >= 2020')

Every gRPC error is raised as QuiverError (its `code` is the status code's
name, e.g. "NOT_FOUND"). See client.py and README.md.
"""

from quiver_client import filters
from quiver_client.client import (
    Client,
    CollectionInfo,
    Document,
    QuiverError,
    RecordError,
    UpsertResult,
)

__all__ = [
    "Client",
    "CollectionInfo",
    "Document",
    "QuiverError",
    "RecordError",
    "UpsertResult",
    "filters",
]
__version__ = "0.1.0"
