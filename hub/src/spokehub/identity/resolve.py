"""Resolution: from the identifiers a batch of records carried to one contact ID per record.

The model: identifiers are nodes; the identifiers one record carried together are joined
by evidence edges (a star from the record's highest-priority identifier); a profile is a
connected component of the *active* edges. Rules decide which edges become active:

- a blocked value is ignored outright (it never creates, links or merges anything);
- a pair an operator removed with ``unmerge`` stays removed (rule ``unmerged``);
- (opt-in) a record whose identifiers would fuse two anchored profiles that existed
  before it only through a ``never_merge_on`` type loses those identifiers' edges (rule
  ``never_merge``); an identifier new in the record is never one of the two;
- a record whose identifiers would put more identifiers of a type into one profile than
  its limit allows, and more than any one of the profiles it joins holds already, loses
  the edge of its lowest-priority identifier outside the profile of its highest-priority
  one (among those whose loss relieves an exceeded type), repeatedly, until the link fits
  (rule ``limit``); an alias (``Evidence.asserted``) is exempt.

Everything else joins, as in Segment Unify: the identifiers one record carries are one
person.

A refused identifier still belongs to exactly one profile: its own, if it is new.

Order: the records of a batch are resolved in ``(observed_at, record_id)`` order, and a
record's identifiers in priority order, then by type and value. So any order of the same
records in one batch gives the same partition. When no rule refuses an edge, the
partition is the connected components of all edges, whatever the order and batching.

The survivor of a merge keeps the oldest (smallest, as IDs are UUIDv7) contact ID; the
absorbed IDs redirect to it.

Resolution runs in four steps, each in a module of its own: :mod:`.batch` normalizes the
records, :mod:`.load` reads (and on PostgreSQL locks) the slice of the stored graph they
touch, :mod:`.decide` works out the write plan as a pure function of the two, and
:mod:`.apply` writes it through the store seam.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from sqlalchemy import Connection

from ..store.driver_sql import cursor
from .apply import apply_plan
from .batch import normalize
from .decide import Graph, MissingCounts, decide
from .evidence import Evidence
from .load import load_counts, load_graph
from .outcome import ResolveResult
from .rules import IdentityRules


def resolve_batch(
    conn: Connection, rules: IdentityRules, records: Sequence[Evidence]
) -> ResolveResult:
    """Resolve ``records`` to contact IDs, creating, attaching and merging profiles.

    Runs inside the caller's transaction on ``conn`` and never commits. Set-based: a batch
    costs a handful of queries however many identifiers it carries. Replaying records is
    idempotent (same partition, same contact IDs, no new log entries). Merges are written
    to the merge log with their evidence, refused links as ``reject`` entries. Only the
    identity tables change: moving an absorbed profile's own data is the profile store's
    part (:func:`spokehub.profiles.resolve_profiles` does both).
    """
    # A batch allocates many small objects and frees them all at the end; letting the
    # cyclic collector walk them meanwhile costs time and finds nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _resolve(conn, rules, records)
    finally:
        if collecting:
            gc.enable()


def _resolve(conn: Connection, rules: IdentityRules, records: Sequence[Evidence]) -> ResolveResult:
    batch = normalize(rules, records)
    if not batch.entries:
        return ResolveResult([None] * len(records), ignored=batch.ignored)
    sql = cursor(conn)
    graph = load_graph(conn, sql, rules, batch)
    try:
        plan = decide(rules, batch, graph)
    except MissingCounts:
        # The load predicts which profiles' counts the rules may weigh; should it ever
        # predict too few, decide again with every stored profile of the batch counted.
        every = {k[1] for k in graph.known.values()}
        counts = {**graph.counts, **load_counts(sql, every - graph.counts.keys())}
        graph = Graph(graph.known, counts, graph.removed)
        plan = decide(rules, batch, graph)
    return apply_plan(sql, batch, graph, plan)
