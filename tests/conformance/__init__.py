"""CPython's ``test.test_asyncio`` run against nexusloop (see ``_harness.py``)."""
