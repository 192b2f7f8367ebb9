"""Loopback fakes of external services used by the test suite (see README.md)."""
