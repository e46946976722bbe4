"""The ``net`` fixture of the stream, server and connection tests (see ``_harness.py``)."""
from ._harness import net, tmpdir_short  # noqa: F401  (fixtures: pytest finds them here)
