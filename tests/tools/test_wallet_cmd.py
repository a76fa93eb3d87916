"""`vcoin wallet` end to end, with passwords from files."""

import argparse
import getpass
import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.keystore import mnemonic_for
from runtime.crypto import dev_keypair
from tests.nodeproc import REPO, vcoin
from tools import wallet_cmd


def _wallet(tmp_path: Path, *args: str, password: str = "s3cret", stdin: str = "") -> tuple[int, str, str]:
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "wallet", *args, "--keystore", str(tmp_path / "ks"),
         "--password-file", str(pw), "--json"],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    return out.returncode, out.stdout, out.stderr


def _secret(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret"
    path.write_text(text + "\n")
    return path


def test_new_list_address_import(tmp_path: Path) -> None:
    code, out, _ = _wallet(tmp_path, "new", "main")
    assert code == 0
    created = json.loads(out)
    assert created["address"].startswith("vc1") and len(created["mnemonic"].split()) == 24
    code, out, _ = _wallet(tmp_path, "list")
    assert json.loads(out) == [{"name": "main", "address": created["address"]}]
    code, out, _ = _wallet(tmp_path, "address", "main")
    assert json.loads(out)["address"] == created["address"]
    code, out, _ = _wallet(
        tmp_path, "import", "again", "--mnemonic-file", str(_secret(tmp_path, created["mnemonic"]))
    )
    assert code == 0 and json.loads(out)["address"] == created["address"]
    seed = bytes(range(32))
    code, out, _ = _wallet(tmp_path, "import", "hexkey", "--seed-file", str(_secret(tmp_path, seed.hex())))
    words = mnemonic_for(seed)
    code2, out2, _ = _wallet(tmp_path, "import", "wordkey", "--mnemonic-file", "-", stdin=words + "\n")
    assert code == code2 == 0 and json.loads(out)["address"] == json.loads(out2)["address"]


def test_dev_keys_are_accepted_wherever_a_key_name_is(tmp_path: Path) -> None:
    for name in ("//bob", "//alice"):
        code, out, err = _wallet(tmp_path, "address", name)
        assert code == 0, err
        assert json.loads(out) == {"name": name, "address": dev_keypair(name).address}
    for args, expected in ((("address", "//"), "a dev key needs a name"),
                           (("new", "//bob"), "built-in dev key")):  # fmt: skip
        code, _, err = _wallet(tmp_path, *args)
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, (args, err)


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    _wallet(tmp_path, "new", "main")
    for args, expected in (
        (("new", "main"), "already exists"),
        (("address", "ghost"), "no key named"),
        (("import", "x", "--seed-file", str(_secret(tmp_path, "zz"))), "not hex"),
        (("import", "x", "--mnemonic-file", str(_secret(tmp_path, "abandon " * 24))), "mnemonic"),
        (("import", "x", "--seed-file", str(tmp_path / "missing")), "cannot read the seed file"),
        (("import", "x"), "no terminal to ask for the secret"),
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


def test_secrets_on_the_command_line_are_refused_with_a_pointer(tmp_path: Path) -> None:
    seed = bytes(range(32))
    for flag, value, pointer in (
        ("--seed", seed.hex(), "--seed-file"),
        ("--mnemonic", mnemonic_for(seed), "--mnemonic-file"),
    ):
        code, _, err = _wallet(tmp_path, "import", "x", flag, value)
        assert code == 1 and pointer in err and "ps" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "ks" / "x.json").exists()


def test_the_prompt_reads_a_seed_or_a_mnemonic_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = bytes(range(32))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    prompts: list[str] = []
    for answer in (seed.hex(), mnemonic_for(seed)):

        def ask(prompt: str, answer: str = answer) -> str:
            prompts.append(prompt)
            return answer

        monkeypatch.setattr(getpass, "getpass", ask)
        args = argparse.Namespace(seed=None, mnemonic=None, seed_file=None, mnemonic_file=None)
        assert wallet_cmd._import_seed(args) == seed
    assert len(prompts) == 2 and "mnemonic" in prompts[0]
