"""Exact path-dependent TreeSHAP for LightGBM boosters, compiled once per model and fast per lead.

Why not ``Booster.predict(pred_contrib=True)``? It is exact but runs the recursive TreeSHAP of
Lundberg et al. for every row, whose cost grows with trees × leaves × depth²: about 2,500 rows/s on
this project's model shape, too slow to explain a million leads every morning. This module computes
the *same* numbers (the path-dependent Shapley values LightGBM returns, to floating-point rounding)
with the "precompute per leaf" idea of Fast TreeSHAP (Yang, 2021):

For one leaf with value ``v`` whose root path tests the unique features ``U`` (``d = |U|``), let
``z_k`` be the share of training rows that follow the path's splits on feature ``k`` (the product of
child/parent counts over those splits) and ``o_k`` be 1 when the lead satisfies all of them. The
path-dependent value function is ``v(S) = v · Π_{k∈S} o_k · Π_{k∉S} z_k``, so the leaf's Shapley value
for feature ``j`` depends on the lead only through the bit pattern ``o`` over ``U``::

    φ_j = v · (o_j − z_j) · Σ_{S ⊆ {k≠j: o_k=1}} |S|! (d−|S|−1)! / d! · Π_{k∈U∖{j}∖S} z_k

Every leaf therefore gets a table of ``2^d × d`` values at load time. Per lead and tree, the scorer
evaluates each split once, builds each leaf's bit pattern and adds ``d`` table entries: O(leaves × d)
instead of O(leaves × d²) with a far smaller constant. Tables stay small while paths are short
(a model with ``max_depth`` 5 has ``d ≤ 5``); for deep trees :func:`compile_booster` returns ``None``
and the caller falls back to LightGBM's own TreeSHAP.

Split decisions mirror LightGBM's ``Tree::NumericalDecision`` / ``CategoricalDecision`` (missing
types None / Zero / NaN, default directions, category bitsets), and the scorer checks every batch's
reconstructed margin against ``Booster.predict(raw_score=True)``.

This module imports numba at import time; :mod:`serving.explain` imports it only when it explains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# LightGBM's kZeroThreshold is the float 1e-35f, compared in double precision.
ZERO_THRESHOLD = float(np.float32(1e-35))
# Beyond this many unique features on one root-to-leaf path the tables grow as 2^d: fall back.
MAX_PATH_FEATURES = 12
# Upper bound on the tables' size (float64 entries), about 256 MB.
MAX_TABLE_ENTRIES = 32_000_000


@dataclass(frozen=True)
class CompiledTrees:
    """A booster flattened into arrays plus the per-leaf Shapley tables; see the module docstring."""

    n_features: int
    expected_value: float
    node_start: np.ndarray  # per tree, first internal node (global index); length n_trees + 1
    leaf_start: np.ndarray  # per tree, first leaf (global index); length n_trees + 1
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    cat_begin: np.ndarray
    cat_len: np.ndarray
    cat_bits: np.ndarray
    leaf_value: np.ndarray
    left_child: np.ndarray  # local to the tree; ~leaf (negative) for a leaf
    right_child: np.ndarray
    node_bit: np.ndarray  # 1 << (position of the node's feature among its path's unique features)
    leaf_d: np.ndarray
    leaf_feature_start: np.ndarray
    leaf_features: np.ndarray
    table_start: np.ndarray
    table: np.ndarray
    max_nodes: int
    max_leaves: int


def _parse_array(text: str, dtype: type) -> np.ndarray:
    return np.array(text.split(), dtype=dtype) if text.strip() else np.array([], dtype=dtype)


def parse_model_string(model: str) -> tuple[int, list[dict[str, str]]]:
    """Split LightGBM's text model into ``(max_feature_idx + 1, [tree key/value dicts])``."""
    n_features = 0
    trees: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in model.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
            continue
        if line.startswith("end of trees"):
            break
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        if current is None:
            if key == "max_feature_idx":
                n_features = int(value) + 1
            elif key == "num_tree_per_iteration" and int(value) != 1:
                raise ValueError("only single-output (binary or regression) boosters are supported")
        else:
            current[key] = value
    return n_features, trees


def compile_booster(booster: object) -> CompiledTrees | None:  # lightgbm.Booster, imported lazily by callers
    """Flatten ``booster`` and precompute its leaf tables, or ``None`` when that would not pay.

    ``None`` means: linear trees, more than :data:`MAX_PATH_FEATURES` unique features on a path, or
    tables larger than :data:`MAX_TABLE_ENTRIES`; the caller then uses LightGBM's own TreeSHAP.
    """
    n_features, trees = parse_model_string(booster.model_to_string())
    node_start, leaf_start = [0], [0]
    split_feature, threshold, decision_type, cat_begin, cat_len, cat_bits = [], [], [], [], [], []
    leaf_value, left_child, right_child, node_bit = [], [], [], []
    leaf_d, leaf_feature_start, leaf_features, leaf_z = [], [0], [], []
    expected = 0.0
    max_nodes = 1
    n_bits = 0
    for tree in trees:
        if tree.get("is_linear", "0").strip() == "1":
            return None
        n_leaves = int(tree["num_leaves"])
        values = _parse_array(tree["leaf_value"], np.float64)
        if n_leaves == 1:
            expected += float(values[0])
            leaf_value.append(float(values[0]))
            leaf_d.append(0)
            leaf_feature_start.append(leaf_feature_start[-1])
            leaf_z.append(np.empty(0))
            node_start.append(node_start[-1])
            leaf_start.append(leaf_start[-1] + 1)
            continue
        feat = _parse_array(tree["split_feature"], np.int64)
        thr = _parse_array(tree["threshold"], np.float64)
        dtype = _parse_array(tree["decision_type"], np.int64)
        left = _parse_array(tree["left_child"], np.int64)
        right = _parse_array(tree["right_child"], np.int64)
        leaf_count = _parse_array(tree["leaf_count"], np.float64)
        internal_count = _parse_array(tree["internal_count"], np.float64)
        boundaries = _parse_array(tree.get("cat_boundaries", ""), np.int64)
        bits = _parse_array(tree.get("cat_threshold", ""), np.uint32)
        n_internal = n_leaves - 1
        max_nodes = max(max_nodes, n_internal)
        # The kernel visits nodes in index order, so a parent must come before its children (LightGBM
        # numbers nodes in the order it splits them).
        children = np.concatenate([left, right])
        parents = np.concatenate([np.arange(n_internal), np.arange(n_internal)])
        internal = children >= 0
        if np.any(parents[internal] >= children[internal]):
            return None
        for node in range(n_internal):
            split_feature.append(int(feat[node]))
            left_child.append(int(left[node]))
            right_child.append(int(right[node]))
            threshold.append(float(thr[node]))
            decision_type.append(int(dtype[node]))
            if dtype[node] & 1:
                idx = int(thr[node])
                cat_begin.append(n_bits + int(boundaries[idx]))
                cat_len.append(int(boundaries[idx + 1] - boundaries[idx]))
            else:
                cat_begin.append(0)
                cat_len.append(0)
        cat_bits.extend(bits.tolist())
        n_bits += len(bits)
        expected += float(np.sum(leaf_count / internal_count[0] * values))

        def count(child: int, _leaf_count: np.ndarray = leaf_count, _internal: np.ndarray = internal_count) -> float:
            return float(_internal[child]) if child >= 0 else float(_leaf_count[~child])

        # Depth-first walk collecting, for every leaf, its root path as (node, went_left).
        paths: dict[int, list[tuple[int, int]]] = {}
        stack: list[tuple[int, list[tuple[int, int]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if node < 0:
                paths[~node] = path
                continue
            stack.append((int(left[node]), [*path, (node, 1)]))
            stack.append((int(right[node]), [*path, (node, 0)]))
        # A node's feature sits at the same position in the unique-feature list of every leaf below
        # it (positions follow first appearance from the root), so one bit per node serves them all.
        bits_of_node = np.zeros(n_internal, dtype=np.int64)
        for leaf in range(n_leaves):
            path = paths[leaf]
            unique: list[int] = []
            z: list[float] = []
            for node, went_left in path:
                child = int(left[node]) if went_left else int(right[node])
                ratio = count(child) / count(node)
                f = int(feat[node])
                if f in unique:
                    z[unique.index(f)] *= ratio
                else:
                    unique.append(f)
                    z.append(ratio)
                bits_of_node[node] = 1 << unique.index(f)
            if len(unique) > MAX_PATH_FEATURES:
                return None
            leaf_value.append(float(values[leaf]))
            leaf_d.append(len(unique))
            leaf_features.extend(unique)
            leaf_feature_start.append(len(leaf_features))
            leaf_z.append(np.asarray(z, dtype=np.float64))
        node_bit.extend(bits_of_node.tolist())
        node_start.append(node_start[-1] + n_internal)
        leaf_start.append(leaf_start[-1] + n_leaves)

    sizes = np.array([(1 << d) * d for d in leaf_d], dtype=np.int64)
    if sizes.sum() > MAX_TABLE_ENTRIES:
        return None
    table_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    table = np.zeros(int(table_start[-1]), dtype=np.float64)
    for i, z in enumerate(leaf_z):
        if len(z):
            d = len(z)
            _fill_leaf_table(z, leaf_value[i], table[table_start[i] : table_start[i] + (1 << d) * d].reshape(1 << d, d))

    def arr(values: list, dtype: type) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    return CompiledTrees(
        n_features=n_features,
        expected_value=expected,
        node_start=arr(node_start, np.int64),
        leaf_start=arr(leaf_start, np.int64),
        split_feature=arr(split_feature, np.int64),
        threshold=arr(threshold, np.float64),
        decision_type=arr(decision_type, np.int64),
        cat_begin=arr(cat_begin, np.int64),
        cat_len=arr(cat_len, np.int64),
        cat_bits=arr(cat_bits, np.uint32),
        leaf_value=arr(leaf_value, np.float64),
        left_child=arr(left_child, np.int64),
        right_child=arr(right_child, np.int64),
        node_bit=arr(node_bit, np.int64),
        leaf_d=arr(leaf_d, np.int64),
        leaf_feature_start=arr(leaf_feature_start, np.int64),
        leaf_features=arr(leaf_features, np.int64),
        table_start=table_start,
        table=table,
        max_nodes=max_nodes,
        max_leaves=max_nodes + 1,
    )


@numba.njit(cache=True)
def _fill_leaf_table(z: np.ndarray, value: float, out: np.ndarray) -> None:
    """``out[mask, j]``: the leaf's Shapley value for its ``j``-th path feature given pattern ``mask``."""
    d = z.shape[0]
    weight = np.empty(d)
    for s in range(d):
        # |S|! (d - |S| - 1)! / d!  ==  1 / (d * C(d - 1, |S|))
        binom = 1.0
        for i in range(s):
            binom = binom * (d - 1 - i) / (i + 1)
        weight[s] = 1.0 / (d * binom)
    coef = np.empty(d)
    for mask in range(1 << d):
        for j in range(d):
            coef[:] = 0.0
            coef[0] = 1.0
            degree = 0
            for k in range(d):
                if k == j:
                    continue
                if (mask >> k) & 1:
                    # k may be in S (factor 1, raises the degree) or not (factor z_k)
                    for s in range(degree + 1, 0, -1):
                        coef[s] = coef[s] * z[k] + coef[s - 1]
                    coef[0] = coef[0] * z[k]
                    degree += 1
                else:
                    for s in range(degree + 1):
                        coef[s] = coef[s] * z[k]
            total = 0.0
            for s in range(degree + 1):
                total += weight[s] * coef[s]
            out[mask, j] = value * (((mask >> j) & 1) - z[j]) * total


@numba.njit(inline="always")
def _goes_left(x: float, node: int, threshold: np.ndarray, decision_type: np.ndarray,
               cat_begin: np.ndarray, cat_len: np.ndarray, cat_bits: np.ndarray) -> bool:
    dt = decision_type[node]
    if dt & 1:
        # CategoricalDecision: NaN, negative or out-of-int-range values go right.
        if np.isnan(x) or x <= -1.0 or x >= 2147483648.0:
            return False
        value = int(x)
        word = value // 32
        if word >= cat_len[node]:
            return False
        return ((cat_bits[cat_begin[node] + word] >> np.uint32(value % 32)) & np.uint32(1)) == 1
    missing = (dt >> 2) & 3
    if np.isnan(x) and missing != 2:
        x = 0.0
    if (missing == 1 and -ZERO_THRESHOLD <= x <= ZERO_THRESHOLD) or (missing == 2 and np.isnan(x)):
        return (dt & 2) != 0
    return x <= threshold[node]


@numba.njit(parallel=True, cache=True)
def _explain_rows(X, node_start, leaf_start, split_feature, threshold, decision_type, cat_begin, cat_len,
                  cat_bits, left_child, right_child, node_bit, leaf_value, leaf_d, leaf_feature_start,
                  leaf_features, table_start, table, expected_value, max_nodes, max_leaves,
                  out, margin):  # noqa: ANN001 (numba kernel on plain arrays)
    n_rows = X.shape[0]
    n_features = out.shape[1] - 1
    n_trees = node_start.shape[0] - 1
    # Rows in small blocks, trees outermost within a block: one tree's tables stay in L1 cache while
    # every row of the block uses them (row-major order thrashes the cache on the table lookups).
    block = 64
    n_blocks = (n_rows + block - 1) // block
    for b in numba.prange(n_blocks):
        node_mask = np.empty(max_nodes, dtype=np.int64)
        leaf_mask = np.empty(max_leaves, dtype=np.int64)
        start = b * block
        stop = min(n_rows, start + block)
        for t in range(n_trees):
            first = node_start[t]
            first_leaf = leaf_start[t]
            n_leaves = leaf_start[t + 1] - first_leaf
            for i in range(start, stop):
                # Push each leaf's pattern down the tree: a bit is cleared where the lead leaves the path.
                node_mask[0] = -1
                leaf_mask[0] = -1
                for node in range(first, node_start[t + 1]):
                    m = node_mask[node - first]
                    # Arithmetic instead of a branch: the decision is data-dependent and unpredictable.
                    go = np.int64(_goes_left(X[i, split_feature[node]], node, threshold, decision_type,
                                             cat_begin, cat_len, cat_bits))
                    left_m = m & ~(node_bit[node] * (1 - go))
                    right_m = m & ~(node_bit[node] * go)
                    child = left_child[node]
                    if child >= 0:
                        node_mask[child] = left_m
                    else:
                        leaf_mask[~child] = left_m
                    child = right_child[node]
                    if child >= 0:
                        node_mask[child] = right_m
                    else:
                        leaf_mask[~child] = right_m
                for local in range(n_leaves):
                    leaf = first_leaf + local
                    d = leaf_d[leaf]
                    full = (1 << d) - 1
                    mask = leaf_mask[local] & full
                    if mask == full:
                        margin[i] += leaf_value[leaf]
                    base = table_start[leaf] + mask * d
                    features = leaf_feature_start[leaf]
                    for s in range(d):
                        out[i, leaf_features[features + s]] += table[base + s]
        for i in range(start, stop):
            out[i, n_features] = expected_value


def explain_matrix(compiled: CompiledTrees, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contributions (``n × (features + 1)``, base value last, as LightGBM lays them out) and margins.

    ``X`` holds the booster's inputs as float64 in the booster's feature order, categoricals as their
    integer codes with NaN for missing (what LightGBM itself feeds its trees).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.shape[1] != compiled.n_features:
        raise ValueError(f"expected {compiled.n_features} feature columns, got {X.shape[1]}")
    out = np.zeros((X.shape[0], compiled.n_features + 1), dtype=np.float64)
    margin = np.zeros(X.shape[0], dtype=np.float64)
    c = compiled
    _explain_rows(X, c.node_start, c.leaf_start, c.split_feature, c.threshold, c.decision_type, c.cat_begin,
                  c.cat_len, c.cat_bits, c.left_child, c.right_child, c.node_bit, c.leaf_value, c.leaf_d,
                  c.leaf_feature_start, c.leaf_features, c.table_start, c.table, c.expected_value,
                  c.max_nodes, c.max_leaves, out, margin)
    return out, margin
