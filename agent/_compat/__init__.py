"""Every private upstream API the package relies on, one module per upstream.

Each is wrapped here so that its use is visible and tested: ``tests/test_compat.py`` checks the
signature or shape each wrapper relies on, so an upstream change fails there, by name, instead
of corrupting a stream. Nothing outside this package touches an upstream's private names.
"""
