"""Text columns as the kernel's staging reads them: codes of distinct values, and respellings remembered.

A column of text is an Arrow string array (an export's column, without a copy) or a Python list (a
request's few values): the same functions take both, and give the same answers. Case and blanks follow
Arrow's Unicode rules everywhere (pandas' ``str`` methods use them too), applied once per distinct value
and remembered by the process, so a request that brings a title or a domain seen before does no text
work at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Text = pa.Array | pa.ChunkedArray | list
"""A text column: Arrow strings (plain or dictionary-encoded, as a categorical column gives them), or a
list of ``str`` / None."""


def as_arrow(values: Text) -> pa.Array:
    """The column as one Arrow array (strings, or dictionary-encoded strings)."""
    if isinstance(values, list):
        return pa.array(values, type=pa.string())
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def _indices(values: pa.DictionaryArray) -> np.ndarray:
    return values.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def text_codes(values: Text) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (int64, -1 for null) and distinct values (in order of first appearance, or a
    dictionary-encoded column's own dictionary, unused values included)."""
    if isinstance(values, list):
        distinct: dict[str, int] = {}
        codes = [-1 if v is None else distinct.setdefault(v, len(distinct)) for v in values]
        return np.array(codes, dtype=np.int64), list(distinct)
    values = as_arrow(values)
    if isinstance(values, pa.DictionaryArray):
        dictionary_codes, distinct = text_codes(values.dictionary)  # a dictionary may repeat a value
        return np.append(dictionary_codes, -1)[_indices(values)], distinct
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), []
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, [str(v) for v in encoded.dictionary.to_pylist()]


def lookup(values: Text, vocabulary: Text | tuple[str, ...]) -> np.ndarray:
    """Position of each value in ``vocabulary`` (first occurrence), -1 where absent or null; compared as text."""
    if isinstance(values, list):
        words = vocabulary if isinstance(vocabulary, list | tuple) else as_arrow(vocabulary).to_pylist()
        position: dict[str, int] = {}
        for i, word in enumerate(words):
            if word is not None:
                position.setdefault(word, i)
        return np.array([-1 if v is None else position.get(v, -1) for v in values], dtype=np.int64)
    values = as_arrow(values)
    if isinstance(values, pa.DictionaryArray):
        return np.append(lookup(values.dictionary, vocabulary), -1)[_indices(values)]
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if isinstance(vocabulary, list | tuple):
        vocabulary = pa.array(list(vocabulary), type=pa.string())
    vocabulary = as_arrow(vocabulary)
    if vocabulary.type != values.type:
        vocabulary = vocabulary.cast(values.type)
    found = pc.index_in(values, value_set=vocabulary)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def is_valid(values: Text) -> np.ndarray:
    """Whether each value is present (not null)."""
    if isinstance(values, list):
        return np.array([v is not None for v in values], dtype=bool)
    values = as_arrow(values)
    if isinstance(values, pa.DictionaryArray):
        return _indices(values) >= 0
    return pc.is_valid(values).to_numpy(zero_copy_only=False) if len(values) else np.zeros(0, dtype=bool)


RESPELLINGS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "lower": pc.utf8_lower,
    "upper": pc.utf8_upper,
    "trim": pc.utf8_trim_whitespace,
    "trim_lower": lambda a: pc.utf8_lower(pc.utf8_trim_whitespace(a)),
    # DuckDB's trim and lower, as technologies and their categories were always compared.
    "technology": lambda a: pc.utf8_lower(pc.utf8_trim(a, characters=" ")),
    "category": lambda a: pc.replace_substring(pc.utf8_lower(pc.utf8_trim(a, characters=" ")), " ", "_"),
}
_REMEMBERED_MAX = 50_000
_REMEMBERED: dict[str, dict[str, str]] = {name: {} for name in RESPELLINGS}
_LOCK = threading.Lock()


def respelled(how: str, distinct: list[str]) -> list[str]:
    """Distinct values respelled by :data:`RESPELLINGS` ``[how]``; each value's result is remembered."""
    known = _REMEMBERED[how]
    out = [known.get(v) for v in distinct]
    missing = [v for v, o in zip(distinct, out, strict=True) if o is None]
    if missing:
        fresh = dict(zip(missing, RESPELLINGS[how](pa.array(missing, type=pa.string())).to_pylist(), strict=True))
        if len(fresh) <= _REMEMBERED_MAX // 10:  # a whole export's distinct values are not worth keeping
            with _LOCK:
                if len(known) + len(fresh) > _REMEMBERED_MAX:
                    known.clear()
                known.update(fresh)
        out = [o if o is not None else fresh[v] for v, o in zip(distinct, out, strict=True)]
    return out


def respell(how: str, values: Text) -> tuple[np.ndarray, list[str]]:
    """:func:`text_codes` of the column respelled (:func:`respelled`), distinct respellings in order."""
    codes, distinct = text_codes(values)
    spelled = respelled(how, distinct)
    recoded, spellings = text_codes(spelled)
    return np.append(recoded, -1)[codes], spellings
