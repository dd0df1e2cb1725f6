"""All trees of a fitted scikit-learn forest walked at once with numpy, for a few rows.

sklearn walks one tree per call: for a served request of one molecule that is ~300 Python→Cython
calls whose fixed cost dwarfs the walk itself. Here every tree's nodes sit in flat arrays and one
vectorised step moves all (tree, row) pairs down a level, so a few rows cost a few dozen numpy calls
however many trees there are. The decision is sklearn's to the bit: a float32 feature value goes
left when it is ``<=`` the node's float64 threshold (compared here against the float32 just below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: After this many steps the pairs that reached a leaf are set aside, so deep trees do not keep
#: every short path in the arrays until the deepest one ends.
_COMPACT_EVERY = 4


class FlatForest:
    """The nodes of every tree in contiguous arrays, numbered globally (tree t starts at ``roots[t]``).

    A leaf's two children are the leaf itself, so a pair that reached its leaf stays there. Node
    ids and features are 32-bit (16 bytes a node in all): half of sklearn's 64-bit ones in a
    serving worker's memory, and more of the nodes a walk gathers from fit in the cache.
    """

    def __init__(self, trees: Sequence[Any]) -> None:
        counts = [int(t.node_count) for t in trees]
        # the walk indexes children by 2 × node: int32 holds that below 2^30 nodes (~70 GB in sklearn)
        index: type[np.signedinteger[Any]] = np.int32 if 2 * sum(counts) < 2**31 else np.intp
        self.roots = np.cumsum([0, *counts[:-1]]).astype(index)
        children = []
        for tree, count, root in zip(trees, counts, self.roots, strict=True):
            own = np.arange(count, dtype=index)
            pair = np.stack([tree.children_left, tree.children_right], axis=1).astype(index)
            leaf = pair[:, 0] < 0
            pair[leaf] = own[leaf, None]
            children.append(pair + root)
        #: children[2 * node + (x > threshold)] is the next node
        self.children = np.concatenate(children).ravel()
        # a leaf's feature is sklearn's -2: any valid column does, its children are itself
        features = np.concatenate([t.feature for t in trees])
        self.feature = np.where(features < 0, 0, features).astype(np.int32)
        self.threshold = _float32_floor(np.concatenate([t.threshold for t in trees]))
        self.max_depth = max(int(t.max_depth) for t in trees)

    @property
    def nbytes(self) -> int:
        """Bytes held by the node arrays."""
        return int(self.children.nbytes + self.feature.nbytes + self.threshold.nbytes + self.roots.nbytes)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Global leaf ids, shape (n_trees, n), for the float32 matrix *X*."""
        n_rows, n_features = X.shape
        n_trees = len(self.roots)
        values = np.ascontiguousarray(X, dtype=np.float32).ravel()
        # pair p = row * n_trees + tree: neighbouring pairs read the same row (the cache's sake)
        leaves = np.empty(n_rows * n_trees, dtype=np.intp)
        pair = np.arange(n_rows * n_trees, dtype=np.intp)
        # the walk's own node ids are intp: numpy casts any other index array on every gather
        node = np.tile(self.roots.astype(np.intp), n_rows)
        offset = np.repeat(np.arange(n_rows, dtype=np.intp) * n_features, n_trees)
        for step in range(1, self.max_depth + 1):
            right = values[offset + self.feature[node]] > self.threshold[node]
            node = self.children[2 * node + right].astype(np.intp, copy=False)
            if step % _COMPACT_EVERY == 0 or step == self.max_depth:
                done = self.children[2 * node] == node  # a leaf is its own child
                leaves[pair[done]] = node[done]
                going = ~done
                if not going.any():
                    break
                pair, node, offset = pair[going], node[going], offset[going]
        else:  # a stump (max_depth 0): every root is a leaf
            leaves[pair] = node
        return leaves.reshape(n_rows, n_trees).T


def _float32_floor(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 threshold: for a float32 x, ``x <= t`` exactly
    when ``x <= floor32(t)``, so the walk compares in float32 (half the bytes) with sklearn's result."""
    near = thresholds.astype(np.float32)
    above = near.astype(np.float64) > thresholds
    near[above] = np.nextafter(near[above], np.float32(-np.inf))
    return near
