"""In-memory graph helpers: union-find and connected components.

Resolution keeps the graph in the database; these work on the slice a batch touches.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


class UnionFind(Generic[N]):
    """Disjoint sets with path halving and union by size."""

    __slots__ = ("_parent", "_size")

    def __init__(self) -> None:
        self._parent: dict[N, N] = {}
        self._size: dict[N, int] = {}

    def add(self, node: N) -> None:
        """Make ``node`` a singleton set if it is not known yet."""
        if node not in self._parent:
            self._parent[node] = node
            self._size[node] = 1

    def find(self, node: N) -> N:
        """The representative of ``node``'s set (``node`` is added if unknown)."""
        parent = self._parent
        if node not in parent:
            self.add(node)
            return node
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: N, b: N) -> N:
        """Join the sets of ``a`` and ``b``; returns the new representative."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        return ra

    def groups(self) -> list[set[N]]:
        """Every set, as a list of node sets."""
        out: dict[N, set[N]] = {}
        for node in self._parent:
            out.setdefault(self.find(node), set()).add(node)
        return list(out.values())


def components(nodes: Iterable[N], edges: Iterable[tuple[N, N]]) -> list[set[N]]:
    """Connected components of the undirected graph (``nodes`` may include isolated ones)."""
    uf: UnionFind[N] = UnionFind()
    for node in nodes:
        uf.add(node)
    for a, b in edges:
        uf.union(a, b)
    return uf.groups()
