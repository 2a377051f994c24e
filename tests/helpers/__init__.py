"""Test helpers shared by the test folders: import as ``from helpers.<module> import ...``
(tests/ is on sys.path through tests/conftest.py)."""
