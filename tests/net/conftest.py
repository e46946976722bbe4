"""The ``net`` fixture of the stream, server and connection tests (see ``_harness.py``)."""
from ._harness import net  # noqa: F401  (a fixture: pytest finds it in this module)
