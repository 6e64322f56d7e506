"""State records that cross processes, encoded without any way to run code when read.

State goes through Kafka (the compacted state topic), so whoever can produce
to that topic writes the bytes a worker restores. ``dumps``/``loads`` use a
closed set of types: msgpack for structure; NumPy arrays as dtype, shape and
raw little-endian bytes (numeric and boolean dtypes only); tuples, sets,
deques and a few containers as tagged lists; objects only of classes from an
explicit allow-list of packages, rebuilt by setting their attributes (no
constructor, ``__setstate__`` or ``__reduce__`` runs) and pydantic settings
by validation. There is no pickle, marshal, eval or exec here.

A record is ``MAGIC``, a format version byte, then the compressed msgpack
body: LZ4 (a block with its size first) since format version 2, zlib in
version 1, which is still read. LZ4 decompresses a record about twenty
times faster than zlib for some 10% more bytes, which is what a restore of
many series waits on. ``seal``/``unseal`` wrap a record for the state topic with an
HMAC-SHA256 over the record's key and bytes when a key is configured
(``AIOPS_STATE_KEY``), so a forged or moved record is refused.

>>> import numpy as np
>>> state = {"v": 1, "ring": np.arange(3.0), "labels": {"host": "a"}, "features": ("x", "y"), "n": None}
>>> back = loads(dumps(state))
>>> back["features"], back["ring"].tolist(), back["labels"]
(('x', 'y'), [0.0, 1.0, 2.0], {'host': 'a'})
>>> def refused(call, *args):
...     try:
...         call(*args)
...     except StateError as exc:
...         return str(exc)
>>> refused(loads, b"not a state record")
'not a state record (bad magic)'
>>> unseal("engine/a", seal("engine/a", b"x", b"k"), b"k")
b'x'
>>> refused(unseal, "engine/b", seal("engine/a", b"x", b"k"), b"k")
'state record signature does not match'
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import importlib
import os
import sys
import zlib
from typing import Any, Iterable

import cramjam
import msgpack
import numpy as np
from pydantic import BaseModel, ValidationError

from aiops.detectors.core.errors import InputError

MAGIC = b"AIOS"
ZLIB_FORMAT = 1
LZ4_FORMAT = 2
#: The format ``dumps`` writes; ``loads`` reads both.
FORMAT_VERSION = LZ4_FORMAT
SEAL_MAGIC = b"AIOK"
SEAL_VERSION = 1
#: The environment variable holding the key that signs state records.
STATE_KEY_ENV = "AIOPS_STATE_KEY"
STATE_KEY_FILE_ENV = "AIOPS_STATE_KEY_FILE"
#: A record never inflates past this many bytes (a decompression bomb is refused).
MAX_STATE_BYTES = 256 * 1024 * 1024
_MAX_DEPTH = 48  # each level is a C unpacker frame of ~40 KB of stack: keep well under a thread stack
_ARRAY_KINDS = frozenset("biufc")

# ext type codes
_NDARRAY, _NPSCALAR, _TUPLE, _SET, _FROZENSET, _DEQUE, _OBJECT, _MODEL, _ODICT, _COUNTER, _DEFDICT, _TABLE = range(1, 13)
_DEFAULT_FACTORIES = {"int": int, "float": float, "list": list, "dict": dict, "set": set}
#: Modules that moved: records written before the move name the old path.
_MOVED_MODULES = {"aiops.pipeline.templates_drain": "aiops.detectors.logs.templates_drain"}

#: Packages whose plain classes may be rebuilt from a state record (attributes only).
DEFAULT_ALLOWED = (
    "aiops.detectors.logs.",
    "aiops.detectors.security.",
    "drain3.drain",
    "drain3.simple_profiler",
)


class StateError(InputError):
    """A state record is malformed, forged, truncated, of an unknown version or holds a type not allowed."""


class TableLayout:
    """The names, dtypes and shapes of an ``ArrayTable``'s arrays, and where each lies in its bytes.

    Tables of one layout decode to the same (cached) ``TableLayout`` object, so
    a batch of records can be grouped by layout and read column by column.
    """

    __slots__ = ("names", "dtypes", "shapes", "offsets", "sizes", "row_bytes")

    def __init__(self, names: tuple[str, ...], dtypes: tuple[np.dtype, ...], shapes: tuple[tuple[int, ...], ...]) -> None:
        self.names, self.dtypes, self.shapes = names, dtypes, shapes
        sizes = []
        for dt, shape in zip(dtypes, shapes):
            count = 1
            for n in shape:
                count *= n
            sizes.append(count * dt.itemsize)
        self.sizes = tuple(sizes)
        self.offsets = tuple(sum(sizes[:i]) for i in range(len(sizes)))
        self.row_bytes = sum(sizes)

    def header(self) -> bytes:
        """The names, dtypes and shapes as a table's ext value holds them (msgpack)."""
        return _pack(list(self.names), [dt.str for dt in self.dtypes], [list(s) for s in self.shapes])

    def column(self, rows: np.ndarray, i: int) -> np.ndarray:
        """Field ``i`` of every table whose bytes are the rows of ``rows`` (uint8, one row per table)."""
        start = self.offsets[i]  # a view: each row's bytes of the field, read as the field's dtype (not copied)
        return rows[:, start:start + self.sizes[i]].view(self.dtypes[i]).reshape(len(rows), *self.shapes[i])


class ArrayTable:
    """Named numeric arrays stored as one block of bytes: a whole slot of per-series state in one ext value.

    Decoding a table builds no array until asked (``arrays()``); ``stack``
    reads the same field of many tables of one layout at once.

    >>> t = loads(dumps({"t": ArrayTable({"a": np.arange(3.0), "n": np.int64(2)})}))["t"]
    >>> t.layout.names, t.arrays()["a"].tolist(), int(t.arrays()["n"])
    (('a', 'n'), [0.0, 1.0, 2.0], 2)
    >>> stacked = ArrayTable.stack([t, t])
    >>> stacked["a"].shape, stacked["n"].tolist()
    ((2, 3), [2, 2])
    """

    __slots__ = ("layout", "blob")
    layout: TableLayout
    blob: bytes | memoryview  # a decoded table's bytes are a view of the record's

    def __init__(self, arrays: dict[str, Any] | None = None) -> None:
        arrays = {} if arrays is None else arrays
        parts = []
        for name, value in arrays.items():
            a = np.asarray(value)
            if not isinstance(name, str) or a.dtype.kind not in _ARRAY_KINDS:
                raise StateError(f"table field {name!r} of dtype {a.dtype} has no state encoding")
            parts.append(a.astype(a.dtype.newbyteorder("<"), copy=False))
        self.layout = _layout(tuple(arrays), tuple(a.dtype.str for a in parts), tuple(a.shape for a in parts))
        self.blob = b"".join(a.tobytes() for a in parts)

    @classmethod
    def _decoded(cls, layout: TableLayout, blob: bytes | memoryview) -> ArrayTable:
        table = cls.__new__(cls)
        table.layout, table.blob = layout, blob
        return table

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays, each a fresh writable copy (a one-value field is a 0-d array)."""
        lay, blob = self.layout, self.blob
        return {name: np.frombuffer(blob, dtype=dt, count=size // dt.itemsize, offset=off).reshape(shape).copy()
                for name, dt, shape, off, size in zip(lay.names, lay.dtypes, lay.shapes, lay.offsets, lay.sizes)}

    @staticmethod
    def stack(tables: list[ArrayTable]) -> dict[str, np.ndarray]:
        """Each field of tables of one layout, stacked: ``(len(tables), *shape)`` per name."""
        lay = tables[0].layout
        if any(t.layout is not lay for t in tables):
            raise ValueError("tables of different layouts cannot be stacked")
        rows = np.frombuffer(b"".join(t.blob for t in tables), dtype=np.uint8).reshape(len(tables), lay.row_bytes)
        return {name: lay.column(rows, i) for i, name in enumerate(lay.names)}


_LAYOUTS: dict[Any, TableLayout] = {}
_HEADERS: dict[bytes, TableLayout] = {}  # a table's header as encoded -> its layout, checked once
_MAX_LAYOUTS = 1024  # caches, not stores: records of hostile layouts cannot grow them without bound


def _read_header(header: bytes) -> TableLayout:
    try:
        names, dtypes, shapes = _list(msgpack.unpackb(header, use_list=True))
    except (ValueError, TypeError, msgpack.UnpackException, msgpack.ExtraData):
        raise StateError("array table in state record is malformed") from None
    if not (isinstance(names, list) and isinstance(dtypes, list) and isinstance(shapes, list)):
        raise StateError("array table in state record is malformed")
    layout = _layout(tuple(names), tuple(dtypes), tuple(tuple(_list(s)) for s in shapes))
    if len(_HEADERS) >= _MAX_LAYOUTS:
        _HEADERS.clear()
    _HEADERS[header] = layout
    return layout


def _layout(names: tuple[Any, ...], dtypes: tuple[Any, ...], shapes: tuple[Any, ...]) -> TableLayout:
    """The one ``TableLayout`` of these fields, checked (``StateError`` when malformed)."""
    key = (names, dtypes, shapes)
    try:
        cached = _LAYOUTS.get(key)
    except TypeError:  # an unhashable part: not a layout
        raise StateError("array table in state record is malformed") from None
    if cached is not None:
        return cached
    if not (len(names) == len(dtypes) == len(shapes) and all(type(n) is str for n in names)
            and len(set(names)) == len(names)):
        raise StateError("array table in state record is malformed")
    checked = []
    for dtype, shape in zip(dtypes, shapes):
        if not isinstance(dtype, str):
            raise StateError("array table in state record is malformed")
        dt = np.dtype(dtype)
        if dt.kind not in _ARRAY_KINDS or dt.byteorder == ">" or dt.fields is not None or dt.subdtype is not None:
            raise StateError(f"array dtype {dtype!r} is not allowed in state records")
        if len(shape) > 32 or not all(type(n) is int and 0 <= n < 2**32 for n in shape):
            raise StateError("array shape in state record is malformed")
        checked.append(dt)
    if len(_LAYOUTS) >= _MAX_LAYOUTS:
        _LAYOUTS.clear()
    layout = _LAYOUTS[key] = TableLayout(names, tuple(checked), shapes)
    return layout


def dumps(obj: Any, *, allowed: Iterable[str] = DEFAULT_ALLOWED) -> bytes:
    """``obj`` as a state record; ``StateError`` if it holds something that has no safe encoding."""
    encoder = _Encoder(tuple(allowed))
    try:
        body = msgpack.packb(obj, default=encoder.default, use_bin_type=True, strict_types=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise StateError(f"state cannot be encoded: {exc}") from None
    return MAGIC + bytes([FORMAT_VERSION]) + bytes(cramjam.lz4.compress_block(body))


def loads(data: bytes, *, allowed: Iterable[str] = DEFAULT_ALLOWED) -> Any:
    """The value of a ``dumps`` record; ``StateError`` (with the reason) for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StateError(f"state record must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if data[:4] != MAGIC:
        raise StateError("not a state record (bad magic)")
    if len(data) < 5 or data[4] not in (ZLIB_FORMAT, LZ4_FORMAT):
        raise StateError(f"state record of unknown format version {data[4] if len(data) > 4 else None}")
    body = _lz4_body(data) if data[4] == LZ4_FORMAT else _zlib_body(data)
    decoder = _Decoder(tuple(allowed))
    try:
        return msgpack.unpackb(body, ext_hook=decoder.ext, strict_map_key=False, use_list=True)
    except StateError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            msgpack.UnpackException, msgpack.ExtraData) as exc:
        raise StateError(f"state record is malformed: {type(exc).__name__}: {exc}") from None


def _lz4_body(data: bytes) -> bytes | memoryview:
    if len(data) < 9:
        raise StateError("state record is truncated")
    size = int.from_bytes(data[5:9], "little")
    if size > MAX_STATE_BYTES:
        raise StateError(f"state record inflates past {MAX_STATE_BYTES} bytes")
    try:
        body = cramjam.lz4.decompress_block(memoryview(data)[5:])
    except cramjam.DecompressionError as exc:
        raise StateError(f"state record is corrupt: {exc}") from None
    if len(body) != size:
        raise StateError("state record is truncated")
    return memoryview(body)  # read in place by msgpack, not copied


def _zlib_body(data: bytes) -> bytes:
    try:
        inflater = zlib.decompressobj()
        body = inflater.decompress(data[5:], MAX_STATE_BYTES)
        if inflater.unconsumed_tail:
            raise StateError(f"state record inflates past {MAX_STATE_BYTES} bytes")
        if not inflater.eof:
            raise StateError("state record is truncated")
    except zlib.error as exc:
        raise StateError(f"state record is corrupt: {exc}") from None
    return body


# -- signing at the state topic -------------------------------------------------------------


def state_key_from_env(environ: dict[str, str] | None = None) -> bytes | None:
    """The signing key from ``AIOPS_STATE_KEY``, or the file named by ``AIOPS_STATE_KEY_FILE`` (None when neither).

    >>> state_key_from_env({"AIOPS_STATE_KEY": "s3cret"}), state_key_from_env({})
    (b's3cret', None)
    """
    env = os.environ if environ is None else environ
    value = env.get(STATE_KEY_ENV, "")
    if not value and env.get(STATE_KEY_FILE_ENV):
        with open(env[STATE_KEY_FILE_ENV]) as f:
            value = f.read().strip()
    return value.encode() if value else None


def seal(key: str, record: bytes, secret: bytes | None) -> bytes:
    """The record as written to the state topic: signed over ``key`` and its bytes when there is a secret."""
    head = SEAL_MAGIC + bytes([SEAL_VERSION, 1 if secret else 0])
    if not secret:
        return head + record
    return head + _mac(secret, key, record) + record


def unseal(key: str, data: bytes, secret: bytes | None) -> bytes:
    """The record inside a state-topic value; ``StateError`` if unsigned while a key is set, or forged."""
    if not isinstance(data, (bytes, bytearray)) or data[:4] != SEAL_MAGIC:
        raise StateError("state topic record has no known envelope")
    if len(data) < 6 or data[4] != SEAL_VERSION:
        raise StateError(f"state topic record of unknown envelope version {data[4] if len(data) > 4 else None}")
    signed = data[5]
    if signed not in (0, 1):
        raise StateError("state topic record has an unknown signature flag")
    if not signed:
        if secret:
            raise StateError("state record is not signed and a state key is set")
        return bytes(data[6:])
    if not secret:
        raise StateError(f"state record is signed and no key is set to check it ({STATE_KEY_ENV})")
    mac, record = bytes(data[6:38]), bytes(data[38:])
    if len(mac) != 32 or not hmac.compare_digest(mac, _mac(secret, key, record)):
        raise StateError("state record signature does not match")
    return record


def _mac(secret: bytes, key: str, record: bytes) -> bytes:
    k = key.encode()
    return hmac.new(secret, len(k).to_bytes(4, "big") + k + record, hashlib.sha256).digest()


# -- the closed set of types ----------------------------------------------------------------


def _pack(*parts: Any) -> bytes:
    return msgpack.packb(list(parts), use_bin_type=True)


class _Encoder:
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed

    def default(self, obj: Any) -> msgpack.ExtType:
        enc = self._enc
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in _ARRAY_KINDS:
                raise TypeError(f"arrays of dtype {obj.dtype} have no state encoding")
            a = obj.astype(obj.dtype.newbyteorder("<"), copy=False)  # a 0-d array stays one (tobytes: C order)
            return msgpack.ExtType(_NDARRAY, _pack(a.dtype.str, list(a.shape), a.tobytes()))
        if isinstance(obj, np.generic):
            if obj.dtype.kind not in _ARRAY_KINDS:
                raise TypeError(f"scalars of dtype {obj.dtype} have no state encoding")
            a = np.asarray(obj, dtype=obj.dtype.newbyteorder("<"))
            return msgpack.ExtType(_NPSCALAR, _pack(a.dtype.str, a.tobytes()))
        if type(obj) is ArrayTable:  # the header's length (4 bytes, little-endian), the header, the arrays' bytes
            header = obj.layout.header()
            return msgpack.ExtType(_TABLE, len(header).to_bytes(4, "little") + header + obj.blob)
        if type(obj) is tuple:
            return msgpack.ExtType(_TUPLE, enc(list(obj)))
        if type(obj) is set:
            return msgpack.ExtType(_SET, enc(_sorted_list(obj)))
        if type(obj) is frozenset:
            return msgpack.ExtType(_FROZENSET, enc(_sorted_list(obj)))
        if type(obj) is collections.deque:
            return msgpack.ExtType(_DEQUE, enc([list(obj), obj.maxlen]))
        if type(obj) is collections.OrderedDict:
            return msgpack.ExtType(_ODICT, enc(list(obj.items())))
        if type(obj) is collections.Counter:
            return msgpack.ExtType(_COUNTER, enc(dict(obj)))
        if type(obj) is collections.defaultdict:
            factory = next((n for n, f in _DEFAULT_FACTORIES.items() if obj.default_factory is f), None)
            if factory is None and obj.default_factory is not None:
                raise TypeError(f"defaultdict({obj.default_factory!r}) has no state encoding")
            return msgpack.ExtType(_DEFDICT, enc([factory, dict(obj)]))
        if isinstance(obj, (str, int, float, bytes, dict, list, tuple)):  # subclasses (enums ...): no guessing
            raise TypeError(f"{type(obj).__module__}.{type(obj).__qualname__} has no state encoding")
        if isinstance(obj, BaseModel):
            name = self._class_name(type(obj))
            return msgpack.ExtType(_MODEL, enc([name, obj.model_dump(mode="python")]))
        name = self._class_name(type(obj))
        return msgpack.ExtType(_OBJECT, enc([name, _attributes(obj)]))

    def _class_name(self, cls: type) -> str:
        name = f"{cls.__module__}:{cls.__qualname__}"
        if not _allowed_module(cls.__module__, self.allowed) or "<" in cls.__qualname__:
            raise TypeError(f"{name} is not a type allowed in state records")
        return name

    def _enc(self, obj: Any) -> bytes:
        return msgpack.packb(obj, default=self.default, use_bin_type=True, strict_types=True)


class _Decoder:
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        self.depth = 0

    def ext(self, code: int, data: bytes) -> Any:
        if code == _NDARRAY:
            dtype, shape, raw = self._plain(data)
            return _array(dtype, shape, raw)
        if code == _NPSCALAR:
            dtype, raw = self._plain(data)
            return _array(dtype, [], raw)[()]
        if code == _TABLE:
            size = int.from_bytes(data[:4], "little") + 4
            if len(data) < size:
                raise StateError("array table in state record is truncated")
            header, blob = data[4:size], memoryview(data)[size:]  # the arrays' bytes are not copied again
            layout = _HEADERS.get(header) or _read_header(header)
            if layout.row_bytes != len(blob):
                raise StateError(f"array table of {layout.row_bytes} bytes holds {len(blob)}")
            return ArrayTable._decoded(layout, blob)
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise StateError("state record nests too deep")
        try:
            value = msgpack.unpackb(data, ext_hook=self.ext, strict_map_key=False, use_list=True)
        finally:
            self.depth -= 1
        if code == _TUPLE:
            return tuple(_list(value))
        if code == _SET:
            return set(_list(value))
        if code == _FROZENSET:
            return frozenset(_list(value))
        if code == _DEQUE:
            items, maxlen = _list(value)
            if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                raise StateError("deque maxlen in state record is not a count")
            return collections.deque(_list(items), maxlen)
        if code == _ODICT:
            return collections.OrderedDict((k, v) for k, v in _list(value))
        if code == _COUNTER:
            return collections.Counter(_dict(value))
        if code == _DEFDICT:
            factory, items = _list(value)
            if factory is not None and factory not in _DEFAULT_FACTORIES:
                raise StateError(f"defaultdict factory {factory!r} is not allowed in state records")
            return collections.defaultdict(_DEFAULT_FACTORIES.get(factory), _dict(items))
        if code == _MODEL:
            name, fields = _list(value)
            cls = self._cls(name)
            if not issubclass(cls, BaseModel):
                raise StateError(f"{name} is not a settings model")
            try:
                return cls.model_validate(_dict(fields))
            except ValidationError as exc:
                raise StateError(f"{name} in state record is invalid: {exc.error_count()} problems") from None
        if code == _OBJECT:
            name, attrs = _list(value)
            cls = self._cls(name)
            if issubclass(cls, BaseModel):
                raise StateError(f"{name} must be encoded as a settings model")
            return _rebuild(cls, _dict(attrs))
        raise StateError(f"state record holds an unknown type code {code}")

    def _plain(self, data: bytes) -> list[Any]:
        return _list(msgpack.unpackb(data, use_list=True))

    def _cls(self, name: Any) -> type:
        if not isinstance(name, str) or name.count(":") != 1:
            raise StateError(f"state record names a type badly: {name!r}")
        module_name, qualname = name.split(":")
        module_name = _MOVED_MODULES.get(module_name, module_name)
        if not _allowed_module(module_name, self.allowed) or not all(p.isidentifier() for p in qualname.split(".")):
            raise StateError(f"{name} is not a type allowed in state records")
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        obj: Any = module
        for part in qualname.split("."):
            obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
        if not isinstance(obj, type) or obj.__module__ != module_name:
            raise StateError(f"{name} is not a class of {module_name}")
        return obj


def _allowed_module(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == p or (p.endswith(".") and module.startswith(p)) for p in allowed)


def _array(dtype: Any, shape: Any, raw: Any) -> np.ndarray:
    if not isinstance(dtype, str) or not isinstance(raw, bytes) or not isinstance(shape, list):
        raise StateError("array in state record is malformed")
    dt = np.dtype(dtype)
    if dt.kind not in _ARRAY_KINDS or dt.byteorder == ">" or dt.fields is not None or dt.subdtype is not None:
        raise StateError(f"array dtype {dtype!r} is not allowed in state records")
    if len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        raise StateError("array shape in state record is malformed")
    count = 1
    for n in shape:
        count *= n
    if count * dt.itemsize != len(raw):
        raise StateError(f"array of shape {shape} and dtype {dtype} does not match its {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def _attributes(obj: Any) -> dict[str, Any]:
    attrs = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                attrs[name] = getattr(obj, name)
    return attrs


def _rebuild(cls: type, attrs: dict[str, Any]) -> Any:
    """An instance of ``cls`` with these attributes; no method of the class runs."""
    if not all(isinstance(k, str) and k.isidentifier() for k in attrs):
        raise StateError(f"attribute names of {cls.__qualname__} in state record are malformed")
    if cls.__new__ is not object.__new__:  # type: ignore[comparison-overlap]
        raise StateError(f"{cls.__qualname__} cannot be rebuilt from a state record")
    obj: Any = object.__new__(cls)
    slots = {n for c in cls.__mro__ for n in getattr(c, "__slots__", ())}
    for name, value in attrs.items():
        if name in slots or hasattr(obj, "__dict__"):
            object.__setattr__(obj, name, value)
        else:
            raise StateError(f"{cls.__qualname__} has no attribute {name!r}")
    return obj


def _sorted_list(items: Any) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise StateError(f"state record holds a {type(value).__name__} where a list belongs")
    return value


def _dict(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise StateError(f"state record holds a {type(value).__name__} where a map belongs")
    return value
