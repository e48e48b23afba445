"""Built features column by column, without a frame: what the kernel hands the model, the reasons and the rules.

A numeric or flag feature is a float64 array (NaN where unknown); a categorical one is a
:class:`Category`: integer codes into its list of values (-1 where missing). The scorer and the HTTP
service read these directly; :meth:`FeatureColumns.frame` gives the pandas frame ``build_features``
returns (training, ``leadscore features``), with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Category:
    """A categorical column: ``values[codes[i]]`` for row ``i``, missing where ``codes[i] < 0``."""

    codes: np.ndarray
    values: list[str]

    def strings(self) -> pa.Array:
        """The column as Arrow strings (null where missing), decoded by Arrow, not Python."""
        indices = pa.array(np.where(self.codes < 0, 0, self.codes).astype(np.int32), mask=self.codes < 0)
        dictionary = pa.array(list(self.values) or [""], type=pa.string())
        return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())

    def value(self, row: int) -> str | None:
        code = int(self.codes[row])
        return self.values[code] if code >= 0 else None

    def take(self, rows: np.ndarray) -> Category:
        return Category(self.codes[rows], self.values)


@dataclass
class FeatureColumns:
    """Feature columns of ``n`` rows in the builder's order (see the module docstring)."""

    n: int
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    block: np.ndarray | None = None
    """The kernel's row-major matrix most numeric columns are views of (``block_at``: name -> its column),
    so a model's input gathers them in one pass over the rows instead of one column at a time."""
    block_at: dict[str, int] = field(default_factory=dict)

    def number(self, name: str, values: np.ndarray) -> None:
        self.numbers[name] = np.asarray(values, dtype=np.float64)
        self.order.append(name)

    def category(self, name: str, values: Category) -> None:
        self.categories[name] = Category(np.asarray(values.codes, dtype=np.int64), list(values.values))
        self.order.append(name)

    def __contains__(self, name: str) -> bool:
        return name in self.numbers or name in self.categories

    def value(self, name: str, row: int) -> object:
        """Row ``row``'s value of ``name``: a float (NaN when unknown), a string, or None for a missing category."""
        if name in self.numbers:
            return float(self.numbers[name][row])
        return self.categories[name].value(row)

    def take(self, rows: np.ndarray) -> FeatureColumns:
        """These rows only, in this order."""
        out = FeatureColumns(len(rows), order=list(self.order))
        out.numbers = {name: values[rows] for name, values in self.numbers.items()}
        out.categories = {name: values.take(rows) for name, values in self.categories.items()}
        return out

    def numbers_into(self, out: np.ndarray, positions: list[int], names: list[str]) -> None:
        """Write the numeric columns ``names`` into the columns ``positions`` of the row-major ``out``."""
        pairs = [(p, self.block_at[name]) for p, name in zip(positions, names, strict=True)
                 if self.block is not None and name in self.block_at]
        if pairs:
            _copy_columns(self.block, np.array([c for _, c in pairs], dtype=np.int64), out,
                          np.array([p for p, _ in pairs], dtype=np.int64))
        for p, name in zip(positions, names, strict=True):
            if self.block is None or name not in self.block_at:
                out[:, p] = self.numbers[name]


    def frame(self, lead_id: pd.Series, as_of: pd.Series) -> pd.DataFrame:
        """``lead_id``, ``as_of``, then every column in order: float64, or ``str`` with NaN for missing."""
        import pandas as pd

        columns: dict[str, object] = {"lead_id": lead_id.astype("str").reset_index(drop=True),
                                      "as_of": as_of.reset_index(drop=True)}
        for name in self.order:
            if name in self.numbers:
                columns[name] = self.numbers[name]
            else:
                columns[name] = pd.Series(pd.arrays.ArrowStringArray(self.categories[name].strings()), dtype="str")
        # copy=False keeps one block per column: consolidating would copy the whole frame once more.
        return pd.DataFrame(columns, copy=False)


@numba.njit(cache=True)
def _copy_columns(source: np.ndarray, source_columns: np.ndarray, target: np.ndarray,
                  target_columns: np.ndarray) -> None:
    """``target[:, target_columns] = source[:, source_columns]`` row by row (numpy's column scatter is slow)."""
    for i in range(source.shape[0]):
        for k in range(len(source_columns)):
            target[i, target_columns[k]] = source[i, source_columns[k]]
