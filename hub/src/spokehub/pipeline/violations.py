"""A record the pipeline rejects: where, which rule, at which stage."""

from __future__ import annotations

from pydantic import ValidationError


class RecordRejected(Exception):
    """Raised for one record the pipeline must quarantine instead of process.

    :param stage: ``validate`` (not a valid message), ``contract`` (a field breaks the
        schema), ``transform`` (a plugin failed), ``resolve`` (the profile update failed),
        ``privacy`` (a privacy request the hub does not carry out), ``enrich`` (an
        enricher failed).
    :param field: the dotted path of the offending field, or ``(record)``.
    :param rule: the rule broken; never the offending value, which may be personal data.
    """

    def __init__(self, stage: str, field: str, rule: str) -> None:
        self.stage = stage
        self.field = field
        self.rule = rule
        super().__init__(f"{stage}: {field}: {rule}")


def from_validation_error(stage: str, exc: ValidationError, prefix: str = "") -> RecordRejected:
    """The first error of a pydantic ``ValidationError`` as a :class:`RecordRejected`.

    Uses ``loc`` and ``msg`` only (``include_input=False``): the value is never kept.
    """
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return RecordRejected(stage, prefix or "(record)", "invalid")
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    field = ".".join(p for p in (prefix, loc) if p) or "(record)"
    rule = first["msg"]
    if len(errors) > 1:
        rule = f"{rule} (and {len(errors) - 1} more)"
    return RecordRejected(stage, field, rule)
