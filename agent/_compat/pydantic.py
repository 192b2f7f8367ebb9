"""Building a pydantic model instance without running its per-field construction loop."""

from __future__ import annotations

from typing import Any, TypeVar

ModelT = TypeVar("ModelT")

UPSTREAM: dict[str, str] = {
    "pydantic:BaseModel.__pydantic_fields_set__": "slot",
    "pydantic:BaseModel.__pydantic_extra__": "slot",
    "pydantic:BaseModel.__pydantic_private__": "slot",
}
"""Each upstream name written here and the shape relied on (``tests/test_compat.py``). Kept for
speed: a text chunk costs 3.9 µs built with ``construct`` against 4.9 µs validated and 128 µs
through ``model_construct`` (``agent.providers._chunks.text_chunk``, timeit on the dev box)."""


def construct(cls: type[ModelT], fields_set: set[str], values: dict[str, Any]) -> ModelT:
    """What ``cls.model_construct(fields_set, **values)`` builds, for a model without private
    attributes or post-init and ``values`` holding every field. pydantic's own loop costs more
    per text chunk than the validation it skips."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    allows_extra = cls.model_config.get("extra") == "allow"  # type: ignore[attr-defined]
    object.__setattr__(obj, "__pydantic_extra__", {} if allows_extra else None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj
