"""Records as compact bytes for remote stores: scalars as JSON, arrays as compressed `.npy`.

One item per record keeps a DynamoDB item well under 400 KB for every record hazflow writes
(disaggregations are mostly zeros and compress to a few kB); the AWS store moves a larger one to S3.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def array_bytes(array: np.ndarray) -> bytes:
    """An array as `.npy` bytes (dtype and shape kept; object arrays refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


_HEADERS: dict[bytes, tuple[np.dtype, tuple[int, ...], bool, int]] = {}  # npy header -> dtype, shape, Fortran order, data offset


def load_array(data: bytes) -> np.ndarray:
    """An array from `.npy` bytes. A store reads hundreds of thousands of small arrays with a few
    distinct headers (912 per hazard target), so a header seen before is not parsed again:
    np.load took 33 us per 44-value curve, this takes about 2."""
    version = data[6:8]
    if data[:6] == b"\x93NUMPY" and version in (b"\x01\x00", b"\x02\x00", b"\x03\x00"):
        size = 2 if version == b"\x01\x00" else 4
        end = 8 + size + int.from_bytes(data[8 : 8 + size], "little")
        known = _HEADERS.get(data[:end])
        if known is None:
            array = np.load(io.BytesIO(data), allow_pickle=False)
            _HEADERS[data[:end]] = (array.dtype, array.shape, bool(np.isfortran(array) and array.ndim > 1), end)
            return array
        dtype, shape, fortran, offset = known
        return np.frombuffer(data, dtype, offset=offset).reshape(shape, order="F" if fortran else "C").copy(order="K")
    return np.load(io.BytesIO(data), allow_pickle=False)


def encode(record: Any) -> bytes:
    """A dataclass record (arrays, dicts of arrays, tuples, scalars) as compressed bytes."""
    meta: dict[str, Any] = {}
    blobs: list[bytes] = []
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, np.ndarray) or str(f.type) == "np.ndarray":  # None or objects: refused by np.save
            meta[f.name] = {"array": len(blobs)}
            blobs.append(array_bytes(np.asarray(value)))
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            meta[f.name] = {"arrays": {k: len(blobs) + i for i, k in enumerate(value)}}
            blobs.extend(array_bytes(v) for v in value.values())
        else:
            meta[f.name] = {"value": list(value) if isinstance(value, tuple) else value}
    head = json.dumps({"meta": meta, "sizes": [len(b) for b in blobs]}, separators=(",", ":")).encode()
    return zlib.compress(len(head).to_bytes(4, "big") + head + b"".join(blobs), 1)


def decode(cls: type[T], data: bytes) -> T:
    """The record of type `cls` that `encode` made these bytes from."""
    raw = zlib.decompress(data)
    n = int.from_bytes(raw[:4], "big")
    head = json.loads(raw[4 : 4 + n])
    offsets = np.cumsum([4 + n, *head["sizes"]])
    arrays = [load_array(raw[offsets[i] : offsets[i + 1]]) for i in range(len(head["sizes"]))]
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in head["meta"]:  # written before the field existed: its default
            continue
        spec = head["meta"][f.name]
        if "array" in spec:
            kwargs[f.name] = arrays[spec["array"]]
        elif "arrays" in spec:
            kwargs[f.name] = {k: arrays[i] for k, i in spec["arrays"].items()}
        else:
            value = spec["value"]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
