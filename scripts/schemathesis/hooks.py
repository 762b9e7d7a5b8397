"""Schemathesis hooks of scripts/schemathesis.sh.

The upload bodies (CSV, NDJSON) are documented as text, one record per line.
"""

import schemathesis
from schemathesis.core import NotSet

TEXT_BODIES = ("text/csv", "application/x-ndjson")

# NDJSON goes on the wire as the generated text, as text/csv bodies already do.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@schemathesis.hook
def filter_case(context, case):
    """Drops text bodies generated as arrays or objects "of the wrong type".

    They reach the server as text like any other (`[1, 2]` is a one-line CSV record), so
    they cannot test a rejection; schemathesis skips such mutations for form bodies itself.
    """
    media_type = (case.media_type or "").split(";")[0].strip()
    if media_type in TEXT_BODIES:
        return case.body is None or isinstance(case.body, (str, NotSet))
    return True
