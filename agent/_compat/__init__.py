"""Every private upstream name the package relies on, one module per upstream.

Each module lists the names it relies on, with the shape relied on, in ``UPSTREAM``, and says
why each is kept (correctness, or the measured speed or memory it buys). ``tests/test_compat.py``
checks every entry on the upstream module or class itself, so an upstream change fails there,
by name, instead of corrupting a stream. Nothing outside this package touches an upstream's
private names, except the two hooks langchain-openai's partner packages override
(``_get_request_payload``, ``_convert_chunk_to_generation_chunk``; fenced in
``langchain_openai.UPSTREAM``).
"""
