"""The shared config (de)serialisation (ldm_teach.config)."""

import json
from dataclasses import dataclass

import pytest

from ldm_teach.config import ConfigDict


@dataclass(frozen=True)
class _Cfg(ConfigDict):
    widths: tuple[int, ...] = (1, 2)
    levels: tuple[int, ...] | None = None
    name: str = "x"
    tags: list = None


def test_round_trip_through_json_gives_tuples_back():
    cfg = _Cfg(levels=(0,), tags=["a"])
    back = _Cfg.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and isinstance(back.widths, tuple) and isinstance(back.levels, tuple)
    assert back.tags == ["a"]  # a list field stays a list


def test_missing_keys_take_defaults_and_unknown_keys_are_named():
    assert _Cfg.from_dict({}) == _Cfg()
    with pytest.raises(ValueError, match=r"_Cfg has no field 'widht' \(fields: widths, levels"):
        _Cfg.from_dict({"widht": [1]})
    with pytest.raises(TypeError, match="expects a dict, got list"):
        _Cfg.from_dict([1, 2])
