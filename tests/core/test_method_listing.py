"""The method listing the run panel shows is what the plugin classes declare, read from a cache
that is refreshed whenever a plugin or the workbench changes, and read without importing plugins."""
from __future__ import annotations

import dataclasses
import os
import typing

import pytest

from workbench import method_listing
from workbench.backbone_rules import BACKBONES
from workbench.config import field_type
from workbench.registry import discover
from workbench.spec import MODALITIES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(method_listing, "_memo", None)
    return tmp_path / "methods.json"


def test_listing_from_the_cache_matches_the_classes(cache):
    built = method_listing.listing()
    assert cache.exists()
    method_listing._memo = None
    cached = method_listing._read_cache(cache, method_listing._core_fingerprint(), method_listing._stamps())
    assert cached is not None and set(cached) == set(built) == set(discover())
    for name, entry in discover().items():
        listed = cached[name]
        assert listed.ok == entry.ok and listed.error == entry.error
        if not entry.ok:
            continue
        cls, info = entry.cls, listed.info
        for attr in ("title", "family", "modality", "summary", "reference", "run_defaults"):
            assert getattr(info, attr) == getattr(cls, attr), (name, attr)
        assert tuple(info.input_channels) == tuple(cls.input_channels)
        for modality in MODALITIES:
            assert info.accepts(modality) == cls.accepts(modality)
            for backbone in BACKBONES:
                assert info.backbone_problem(backbone, modality) == cls.backbone_problem(backbone, modality)
        real = {f.name: f for f in dataclasses.fields(cls.Config)}
        made = {f.name: f for f in dataclasses.fields(info.Config)}
        assert list(made) == list(real), name
        for key, f in real.items():
            g = made[key]
            assert field_type(info.Config, g) is field_type(cls.Config, f), (name, key)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            assert info.Config().__getattribute__(key) == default, (name, key)
            for meta in ("help", "min", "max", "label", "exclusive_min"):
                assert g.metadata.get(meta) == f.metadata.get(meta), (name, key, meta)
            assert (tuple(g.metadata["choices"]) if g.metadata.get("choices") else None) == \
                   (tuple(f.metadata["choices"]) if f.metadata.get("choices") else None)
            optional = type(None) in typing.get_args(typing.get_type_hints(cls.Config)[key])
            assert optional == (type(None) in typing.get_args(typing.get_type_hints(info.Config)[key])), (name, key)


def test_a_fresh_cache_is_read_without_the_classes(cache, monkeypatch):
    first = method_listing.listing()
    method_listing._memo = None
    monkeypatch.setattr(method_listing, "from_classes", lambda: pytest.fail("the cache was not used"))
    again = method_listing.listing()
    assert {n: m.info.title if m.ok else m.error for n, m in again.items()} == \
           {n: m.info.title if m.ok else m.error for n, m in first.items()}


def test_a_changed_plugin_file_rebuilds_the_listing(cache, monkeypatch):
    method_listing.listing()
    stamps = method_listing._stamps()
    simclr = next(s for key, s in stamps.items() if key.startswith("simclr="))
    path = simclr[2]
    st = os.stat(path)
    calls = []
    real = method_listing.from_classes
    monkeypatch.setattr(method_listing, "from_classes", lambda: calls.append(1) or real())
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        method_listing._memo = None
        method_listing.listing()
        assert calls == [1], "an edited plugin was listed from the old cache"
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_damaged_cache_is_read_again_from_the_classes(cache):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("{not json")
    assert "simclr" in method_listing.listing()
    assert method_listing._read_cache(cache, method_listing._core_fingerprint(), method_listing._stamps()) is not None
