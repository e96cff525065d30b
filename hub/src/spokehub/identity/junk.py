"""Values that never identify anyone, whatever the project's rules say.

Identity policy, so it lives with the identity store: resolution ignores an identifier
whose normalized value matches one of these (or one of the project's ``blocked_values``,
see :mod:`.rules`), so it never creates, links or merges a profile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Placeholders, empty IDs, test addresses and the all-zero advertising IDs. Compared
#: after normalization, case-insensitively; patterns are anchored regexes.
DEFAULT_JUNK_PATTERNS: tuple[str, ...] = (
    r"^[0-]*$",
    r"^-1$",
    r"^(null|none|nil|undefined|unknown|n/?a|anonymous|test|guest)$",
    r"^test@test\.com$",
    r"^(no-?reply|noreply|donotreply)@.*$",
    r"^00000000-0000-0000-0000-000000000000$",
    r"^\+?0+$",
)
_DEFAULT_JUNK = tuple(re.compile(p, re.IGNORECASE) for p in DEFAULT_JUNK_PATTERNS)


def is_junk(value: str, extra_patterns: Iterable[str] = ()) -> bool:
    """True if ``value`` (already normalized) is a placeholder that must never link profiles."""
    if any(p.match(value) for p in _DEFAULT_JUNK):
        return True
    return any(re.match(p, value, re.IGNORECASE) for p in extra_patterns)
