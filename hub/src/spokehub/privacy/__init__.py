"""Privacy: erasure, suppression and access requests with a receipt per destination,
retention of what the data path keeps, and the tokens' scopes (see docs/privacy.md).

Requests are filed (:mod:`.requests`) by the API, the CLI or the pipeline (a source's
``privacy_request`` record), carried out by :mod:`.erase` (the hub's own tables, the
forget changes in the outbox, the tombstones), and settled by :mod:`.settle` once the
destinations answered. Nothing here is imported by the migrations but :mod:`.tables`.
"""
