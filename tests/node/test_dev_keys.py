"""Dev keys (public seeds) are refused outside the dev chain unless
--allow-dev-keys insists; the project's own launchers pass it."""

from pathlib import Path

from node.keystore import Keystore, is_dev_key
from runtime.crypto import Keypair, dev_keypair, dev_seed
from tests.nodeproc import NodeProcess, vcoin, wait_until
from tools.testnet import free_port, plan_testnet


def _node(tmp_path: Path, *args: str) -> tuple[int, str]:
    out = vcoin(
        "node", "--base-path", str(tmp_path / "base"), "--rpc-port", str(free_port()),
        "--no-prometheus", "--port", str(free_port()), *args, timeout=30,
    )  # fmt: skip
    return out.returncode, out.stderr


def test_dev_key_on_local_chain_is_refused(tmp_path: Path) -> None:
    for args in (
        ("--validator", "--key", "//alice"),
        ("--worker", "--key", "//bob"),
        ("--validator", "--key", "//zed"),
    ):
        code, err = _node(tmp_path, "--chain", "local", *args)
        assert code == 1, err
        assert "refusing the dev key" in err and "--allow-dev-keys" in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_keystore_entry_holding_a_dev_seed_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "ks"
    Keystore(keys).create("looks-fine", "pw", seed=dev_seed("alice"))
    (tmp_path / "pw").write_text("pw\n")
    code, err = _node(tmp_path, "--chain", "local", "--validator", "--key", "looks-fine",
                      "--keystore", str(keys), "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert code == 1 and "refusing the dev key looks-fine" in err, err


def test_allow_dev_keys_starts_with_a_loud_warning(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", dev=False,
                       extra=["--chain", "local", "--validator", "--key", "//alice", "--allow-dev-keys"])  # fmt: skip
    try:
        node.start()
        wait_until(lambda: "DEV KEY //alice" in node.log.read_text(), 10, "the warning")
    finally:
        node.stop()


def test_dev_chain_takes_dev_keys_without_the_flag(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", extra=["--key", "//bob"]).start()
    try:
        assert "DEV KEY" not in node.log.read_text()
    finally:
        node.stop()


def test_testnet_launcher_passes_the_flag(tmp_path: Path) -> None:
    plan = plan_testnet(tmp_path, validators=2)
    for index in range(2):
        command = plan.command(index)
        assert "--key" in command and "--allow-dev-keys" in command


def test_is_dev_key() -> None:
    assert is_dev_key("//anything", dev_keypair("//anything"))
    assert is_dev_key("mine", dev_keypair("ferdie"))
    assert not is_dev_key("mine", Keypair.generate())
