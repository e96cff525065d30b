"""Audiences: named conditions over profiles, membership kept current in the pipeline and
reconciled for time, entries and exits sent to each mapped destination (see
``docs/audiences.md``)."""
