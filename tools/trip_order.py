"""The visiting order of a trip over a cost matrix (travel times), and its split into days.

``best_order`` is exact (Held-Karp dynamic programming, O(2^n n^2)) up to ``EXACT_LIMIT`` places
and a heuristic beyond: nearest neighbour from every place (or from the fixed start through
every second place), each improved by 2-opt (segment reversal) and or-opt (moving 1-3 places)
until no move helps. The heuristic has no proven bound (none is known for it, least of all on
asymmetric matrices); on the 60 random 11-place trips of tests/tools/test_trip_order.py (open,
round, both ends fixed) it was optimal in 57, at most 4.6% above the optimum, 0.08% on average.
So each heuristic order comes with a bound of its own: ``lower_bound`` (Held-Karp's 1-tree bound)
is a cost no order can beat, and the result states how far above it the order may be (1-10% on
random 13-25 place trips). Costs may be asymmetric; ``None`` marks a pair without a route.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

EXACT_LIMIT = 12
"""Most places ordered exactly; more are ordered by the heuristic."""

Method = Literal["exact", "heuristic"]
Matrix = Sequence[Sequence[float | None]]


@dataclass(frozen=True)
class Order:
    """A visiting order (indices into the places) and its total cost; a round trip's order
    does not repeat its start."""

    order: list[int]
    cost: float
    method: Method
    lower_bound: float | None = None
    """A cost no order can beat (heuristic orders only)."""

    @property
    def gap(self) -> float | None:
        """How far above the best order this one may be, as a fraction (heuristic orders with
        a bound only)."""
        if self.lower_bound is None or not 0 < self.lower_bound < math.inf:
            return None
        return max(0.0, self.cost / self.lower_bound - 1)


def _costs(matrix: Matrix) -> list[list[float]]:
    return [[math.inf if v is None else float(v) for v in row] for row in matrix]


def unreachable(matrix: Matrix) -> list[int]:
    """Places no other place reaches, or that reach no other place (a gap in the matrix)."""
    n = len(matrix)
    bad = []
    for i in range(n):
        out = any(matrix[i][j] is not None for j in range(n) if j != i)
        into = any(matrix[j][i] is not None for j in range(n) if j != i)
        if not (out and into):
            bad.append(i)
    return bad


def path_cost(costs: Sequence[Sequence[float]], order: Sequence[int], cycle: bool) -> float:
    """The cost of visiting ``order`` (and returning to its first place when ``cycle``)."""
    total = sum(costs[a][b] for a, b in itertools.pairwise(order))
    if cycle and len(order) > 1:
        total += costs[order[-1]][order[0]]
    return total


def best_order(
    matrix: Matrix, *, start: int | None = None, end: int | None = None, cycle: bool = False
) -> Order:
    """The cheapest order visiting every place once: starting at ``start`` and ending at
    ``end`` when given; a round trip (back to the start) when ``cycle``. Exact up to
    ``EXACT_LIMIT`` places. The cost is ``math.inf`` when no order has a route for every leg."""
    n = len(matrix)
    if n == 0:
        return Order([], 0.0, "exact")
    if cycle:
        start, end = (0 if start is None else start), None
    costs = _costs(matrix)
    if n == 1:
        return Order([0], 0.0, "exact")
    if n <= EXACT_LIMIT:
        order = _held_karp(costs, start, end, cycle)
        return Order(order, path_cost(costs, order, cycle), "exact")
    order = _heuristic(costs, start, end, cycle)
    cost = path_cost(costs, order, cycle)
    if math.isinf(cost):  # no order has a route for every leg: nothing to bound
        return Order(order, cost, "heuristic")
    bound = lower_bound(costs, start=start, end=end, cycle=cycle, upper=cost)
    return Order(order, cost, "heuristic", bound)


def _held_karp(
    costs: list[list[float]], start: int | None, end: int | None, cycle: bool
) -> list[int]:
    """Exact order by dynamic programming over subsets (``dp[mask][j]``: cheapest path over the
    places of ``mask`` ending at ``j``)."""
    n = len(costs)
    full = (1 << n) - 1
    inf = math.inf
    dp = [[inf] * n for _ in range(1 << n)]
    parent = [[-1] * n for _ in range(1 << n)]
    for j in range(n):
        if start is None or j == start:
            dp[1 << j][j] = 0.0
    for mask in range(1, full + 1):
        row = dp[mask]
        for j in range(n):
            here = row[j]
            if here == inf or (end == j and mask != full):
                continue
            out = costs[j]
            for k in range(n):
                bit = 1 << k
                if mask & bit:
                    continue
                value = here + out[k]
                target = mask | bit
                if value < dp[target][k]:
                    dp[target][k] = value
                    parent[target][k] = j
    finals = [j for j in range(n) if end is None or j == end]
    closing = (lambda j: costs[j][start if start is not None else 0]) if cycle else (lambda j: 0.0)
    last = min(finals, key=lambda j: dp[full][j] + closing(j))
    if dp[full][last] == inf:
        last = finals[0]
    order, mask = [], full
    while last != -1:
        order.append(last)
        previous = parent[mask][last]
        mask ^= 1 << last
        last = previous
    order.reverse()
    if len(order) != n:  # no finite order: any order is as good (the caller reports the gap)
        return _fixed_ends(list(range(n)), start, end)
    return order


def _fixed_ends(order: list[int], start: int | None, end: int | None) -> list[int]:
    middle = [i for i in order if i not in (start, end)]
    return ([start] if start is not None else []) + middle + ([end] if end is not None else [])


def _nearest_neighbour(costs: list[list[float]], head: list[int], end: int | None) -> list[int]:
    """``head`` continued by always going to the nearest place left (``end`` last)."""
    n = len(costs)
    order = list(head)
    left = {i for i in range(n) if i not in order and i != end}
    while left:
        here = order[-1]
        step = min(left, key=lambda k: (costs[here][k], k))
        order.append(step)
        left.discard(step)
    if end is not None and end not in order:
        order.append(end)
    return order


def _improve(costs: list[list[float]], order: list[int], cycle: bool,
             fixed_first: bool, fixed_last: bool) -> list[int]:
    """2-opt (reverse a segment) and or-opt (move a segment of 1-3 places) until no move
    lowers the cost (ends kept where fixed)."""
    n = len(order)
    lo = 1 if fixed_first else 0
    hi = n - 1 if fixed_last else n
    best = path_cost(costs, order, cycle)
    improved = True
    while improved:
        improved = False
        for i in range(lo, hi - 1):
            for j in range(i + 1, hi):
                candidate = order[:i] + order[i:j + 1][::-1] + order[j + 1:]
                cost = path_cost(costs, candidate, cycle)
                if cost < best - 1e-9:
                    order, best, improved = candidate, cost, True
        for size in (1, 2, 3):
            for i in range(lo, hi - size + 1):
                segment = order[i:i + size]
                rest = order[:i] + order[i + size:]
                for j in range(lo, hi - size + 1):
                    if j == i:
                        continue
                    candidate = [*rest[:j], *segment, *rest[j:]]
                    cost = path_cost(costs, candidate, cycle)
                    if cost < best - 1e-9:
                        order, best, improved = candidate, cost, True
                        break
    return order


def _heuristic(
    costs: list[list[float]], start: int | None, end: int | None, cycle: bool
) -> list[int]:
    """The best of several improved nearest-neighbour orders: from every place (a round trip
    is then turned to begin at ``start``), or from ``start`` through every second place."""
    n = len(costs)
    if cycle or start is None:
        heads = [[i] for i in range(n) if i != end]
    else:
        heads = [[start, k] for k in range(n) if k not in (start, end)] or [[start]]
    best: list[int] | None = None
    best_cost = math.inf
    for head in heads:
        order = _improve(costs, _nearest_neighbour(costs, head, end), cycle,
                         start is not None and not cycle, end is not None)
        cost = path_cost(costs, order, cycle)
        if best is None or cost < best_cost - 1e-9:
            best, best_cost = order, cost
    assert best is not None
    if cycle and start is not None:
        at = best.index(start)
        best = best[at:] + best[:at]
    return best


BOUND_ROUNDS = 150
"""Subgradient steps of ``lower_bound`` (about 0.1 s for 25 places)."""


def lower_bound(
    matrix: Matrix, *, start: int | None = None, end: int | None = None, cycle: bool = False,
    upper: float, rounds: int = BOUND_ROUNDS,
) -> float:
    """A cost no order visiting every place can beat (same ends, round trip or not): Held-Karp's
    1-tree bound, with Lagrangian weights, on the costs made symmetric by the cheaper direction.
    ``upper`` is the cost of a known order (it sizes the steps). ``-inf`` when there is none."""
    n = len(matrix)
    costs = _costs(matrix)
    w = [[0.0 if i == j else min(costs[i][j], costs[j][i]) for j in range(n)] for i in range(n)]
    forced: list[int] = []
    if cycle:
        special = 0
    else:  # a path is a round trip through an extra place joined, at no cost, to its two ends
        special = n
        for row in w:
            row.append(0.0)
        w.append([0.0] * (n + 1))
        forced = [i for i in (start, end) if i is not None]
    size = len(w)
    tree = [k for k in range(size) if k != special]
    weights = [0.0] * size
    best, scale = -math.inf, 2.0
    for step in range(rounds):
        total, degree = _one_tree(w, weights, tree, special, forced)
        value = total - 2 * sum(weights)
        best = max(best, value)
        pull = [d - 2 for d in degree]
        norm = sum(x * x for x in pull)
        if norm == 0 or not math.isfinite(value):  # a tour itself (the bound is exact), or none
            break
        move = scale * (upper - value) / norm
        weights = [p + move * x for p, x in zip(weights, pull, strict=True)]
        if step % 25 == 24:
            scale /= 2
    return best


def _one_tree(w: list[list[float]], weights: list[float], tree: list[int], special: int,
              forced: list[int]) -> tuple[float, list[int]]:
    """The cheapest 1-tree under ``weights``: a spanning tree of ``tree`` (Prim) and two edges
    of ``special`` (to ``forced`` first); its cost and every place's degree."""
    size = len(w)
    key = [math.inf] * size
    parent = [-1] * size
    left = set(tree)
    key[tree[0]] = 0.0
    total = 0.0
    degree = [0] * size
    while left:
        u = min(left, key=key.__getitem__)
        left.discard(u)
        total += key[u]
        if parent[u] >= 0:
            degree[u] += 1
            degree[parent[u]] += 1
        row, here = w[u], weights[u]
        for v in left:
            d = row[v] + here + weights[v]
            if d < key[v]:
                key[v], parent[v] = d, u
    edge = [w[special][v] + weights[special] + weights[v] for v in range(size)]
    picks = list(forced)
    picks += sorted((v for v in tree if v not in picks), key=edge.__getitem__)[:2 - len(picks)]
    for v in picks:
        total += edge[v]
        degree[v] += 1
        degree[special] += 1
    return total, degree


def split_days(
    leg_seconds: Sequence[float], stay_seconds: float, budget_seconds: float, *,
    stay_at_end: bool = True,
) -> list[list[int]]:
    """The legs of each day, greedily: a day takes legs (each with the stay at the place it
    reaches) while its time stays within the budget; a day has at least one leg. The stay at
    the first place counts on day 1; none at the end of the last leg unless ``stay_at_end`` (a
    round trip's last leg comes back to the start)."""
    days: list[list[int]] = []
    used = stay_seconds
    current: list[int] = []
    last = len(leg_seconds) - 1
    for index, seconds in enumerate(leg_seconds):
        need = seconds + (stay_seconds if stay_at_end or index < last else 0.0)
        if current and used + need > budget_seconds:
            days.append(current)
            current, used = [], 0.0  # the stay where it starts ended the day before
        current.append(index)
        used += need
    if current:
        days.append(current)
    return days
