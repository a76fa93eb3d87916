"""`vcoin wallet` end to end, with passwords from files."""

import json
from pathlib import Path

from node.keystore import mnemonic_for
from tests.nodeproc import vcoin


def _wallet(tmp_path: Path, *args: str, password: str = "s3cret") -> tuple[int, str, str]:
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    out = vcoin("wallet", *args, "--keystore", str(tmp_path / "ks"), "--password-file", str(pw), "--json")
    return out.returncode, out.stdout, out.stderr


def test_new_list_address_import(tmp_path: Path) -> None:
    code, out, _ = _wallet(tmp_path, "new", "main")
    assert code == 0
    created = json.loads(out)
    assert created["address"].startswith("vc1") and len(created["mnemonic"].split()) == 24
    code, out, _ = _wallet(tmp_path, "list")
    assert json.loads(out) == [{"name": "main", "address": created["address"]}]
    code, out, _ = _wallet(tmp_path, "address", "main")
    assert json.loads(out)["address"] == created["address"]
    code, out, _ = _wallet(tmp_path, "import", "again", "--mnemonic", created["mnemonic"])
    assert code == 0 and json.loads(out)["address"] == created["address"]
    seed = bytes(range(32))
    code, out, _ = _wallet(tmp_path, "import", "hexkey", "--seed", seed.hex())
    code2, out2, _ = _wallet(tmp_path, "import", "wordkey", "--mnemonic", mnemonic_for(seed))
    assert code == code2 == 0 and json.loads(out)["address"] == json.loads(out2)["address"]


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    _wallet(tmp_path, "new", "main")
    for args, expected in (
        (("new", "main"), "already exists"),
        (("address", "ghost"), "no key named"),
        (("import", "x", "--seed", "zz"), "not hex"),
        (("import", "x", "--mnemonic", "abandon " * 24), "mnemonic"),
        (("import", "x"), "exactly one"),
    ):
        code, _, err = _wallet(tmp_path, *args)
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, (args, err)


def test_wrong_password_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    _wallet(tmp_path, "new", "main")
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    out = vcoin(
        "tx", "transfer", "--from", "main", "--to", "//bob", "--amount", "1", "--keystore", str(tmp_path / "ks"),
        "--password-file", str(bad), "--rpc-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert out.returncode == 1 and "wrong password" in out.stderr and "Traceback" not in out.stderr
