"""One ``to_dict`` / ``from_dict`` for every configuration dataclass (bottom layer).

Configs are frozen dataclasses written on model cards as JSON. JSON has no tuples, so
:meth:`ConfigDict.from_dict` turns lists back into tuples for the fields declared as
tuples, and refuses keys the dataclass does not have (a typo on an edited card, or a card
from another version) instead of a bare ``TypeError`` from ``__init__``::

    @dataclass(frozen=True)
    class UNetConfig(ConfigDict):
        channel_mult: tuple[int, ...] = (1, 2, 2)
        ...

    UNetConfig.from_dict(json.loads(text)["config"]["unet"])
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["ConfigDict"]

C = TypeVar("C", bound="ConfigDict")


def _is_tuple_field(field: dataclasses.Field) -> bool:
    annotation = field.type if isinstance(field.type, str) else repr(field.type)
    return "tuple" in annotation.lower()


class ConfigDict:
    """Mixin for dataclass configs: ``to_dict`` (JSON-able) and ``from_dict`` (its inverse)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``dataclasses.asdict``); tuples stay tuples (JSON: lists)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """The config from a dict such as a card's: lists become tuples where the field is a
        tuple; missing fields take their defaults.

        Raises:
            TypeError: if ``d`` is not a dict.
            ValueError: naming the keys that are not fields of the config, and whatever the
                config's own checks raise.
        """
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a dict, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(
                f"{cls.__name__} has no field {', '.join(map(repr, unknown))} "
                f"(fields: {', '.join(fields)})"
            )
        kwargs = {}
        for key, value in d.items():
            if isinstance(value, list) and _is_tuple_field(fields[key]):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)
