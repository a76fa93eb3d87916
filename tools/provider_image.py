"""Building the agent image (`vcoin provider image build`) with no image
registry: a Debian root made from packages (mmdebstrap) is imported as the
base, every Python dependency comes as a wheel from this machine's package
index, and `images/agent.Dockerfile` installs them offline (the build has no
network). An image whose inputs (Dockerfile, base, wheels) have not changed
is reused as it is."""

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.docker_spec import CPU_IMAGE, CUDA_IMAGE

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "images" / "agent.Dockerfile"
SUITE = "bookworm"
IMAGE_PYTHON = (3, 11)  # bookworm's python3
BASE_PACKAGES = ("python3", "python3-venv", "libgomp1")
INPUTS_LABEL = "vcoin.inputs"
PACKAGES = ("runtime", "consensus", "node", "offchain", "agent", "genesis", "tools")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")
Progress = Callable[[str], None]


class ImageBuildError(Exception):
    """The image could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    size: int  # bytes
    seconds: float
    cached: bool  # nothing changed: the existing image was kept
    cuda: bool
    base: str

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "id": self.id, "size": self.size, "seconds": round(self.seconds, 1),
                "cached": self.cached, "cuda": self.cuda, "base": self.base}  # fmt: skip


def base_tag() -> str:
    """The base's tag names what is in it, so a changed package list builds a new one."""
    digest = hashlib.sha256(" ".join((SUITE, *BASE_PACKAGES)).encode()).hexdigest()[:12]
    return f"vcoin/base:{SUITE}-{digest}"


def ensure_base(client: Any, progress: Progress) -> str:
    tag = base_tag()
    try:
        client.images.get(tag)
        progress(f"base image {tag}: cached")
        return tag
    except Exception:  # docker.errors.ImageNotFound, or the daemon's own error below
        pass
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("building the base image needs mmdebstrap (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="vcoin-base-") as tmp:
        tarball = Path(tmp) / "root.tar"
        progress(f"base image {tag}: making a Debian {SUITE} root with mmdebstrap")
        command = [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(tarball),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ImageBuildError(f"mmdebstrap failed: {' / '.join(tail)}")
        progress(f"base image {tag}: importing {tarball.stat().st_size >> 20} MiB into Docker")
        repository, version = tag.split(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=version)
    return tag


def wheels(context: Path, cuda: bool, torch_index: str | None, progress: Progress) -> None:
    """Every wheel the image needs, in `context/deps`; the project's own in
    `context/project`. A fixed SOURCE_DATE_EPOCH makes the project's wheel
    the same bytes for the same sources, so an unchanged tree is a cache hit."""
    deps, project = context / "deps", context / "project"
    deps.mkdir()
    project.mkdir()
    env = dict(os.environ, SOURCE_DATE_EPOCH="315532800", PIP_DISABLE_PIP_VERSION_CHECK="1")
    source = _source_copy(context / "source")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(deps), f"{source}[worker]"]
    if cuda:  # the configured local wheels (find-links, extra indexes) hold torch's CPU build: PyPI's is CUDA
        env.pop("PIP_FIND_LINKS", None)
        env["PIP_CONFIG_FILE"] = os.devnull
        if torch_index:
            command += ["--extra-index-url", torch_index]
    progress("collecting wheels for the worker extra" + (" (CUDA torch)" if cuda else ""))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if "WARNING" not in line][-3:]
        raise ImageBuildError(f"pip could not collect the wheels: {' / '.join(tail)}")
    torch_wheels = [w.name for w in deps.glob("torch-*.whl")]
    if cuda and any("+cpu" in name for name in torch_wheels):
        raise ImageBuildError(
            "the package index gave the CPU build of torch; pass --torch-index with an index that has CUDA builds"
        )
    for wheel in deps.glob("vcoin-*.whl"):
        wheel.rename(project / wheel.name)
    shutil.rmtree(source)


def _source_copy(target: Path) -> Path:
    """The project's sources alone: setuptools builds in the tree it is given,
    and a checkout's own build/ would put stale modules in the wheel."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=SKIP)
    return target


def inputs_digest(context: Path, dockerfile: bytes, base_id: str, cuda: bool) -> str:
    digest = hashlib.sha256(dockerfile + base_id.encode() + (b"cuda" if cuda else b"cpu"))
    for path in sorted(context.rglob("*.whl")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _existing(client: Any, tag: str) -> Any:
    try:
        return client.images.get(tag)
    except Exception:
        return None


def check_python() -> None:
    """The wheels are collected for this interpreter; the image runs Debian
    bookworm's Python 3.11, and compiled wheels of another version would not load."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise ImageBuildError(
            f"the image runs Python {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]} (Debian {SUITE}); run the build from a "
            f"Python {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]} environment (this one is {sys.version.split()[0]})"
        )


def build(
    client: Any, tag: str | None = None, cuda: bool = False, torch_index: str | None = None,
    progress: Progress = lambda line: None,
) -> BuiltImage:  # fmt: skip
    check_python()
    start = time.monotonic()
    tag = tag or (CUDA_IMAGE if cuda else CPU_IMAGE)
    base = ensure_base(client, progress)
    base_id = client.images.get(base).id
    dockerfile = DOCKERFILE.read_bytes()
    with tempfile.TemporaryDirectory(prefix="vcoin-image-") as tmp:
        context = Path(tmp)
        wheels(context, cuda, torch_index, progress)
        digest = inputs_digest(context, dockerfile, base_id, cuda)
        image = _existing(client, tag)
        if image is not None and image.labels.get(INPUTS_LABEL) == digest:
            progress(f"{tag}: up to date (inputs unchanged)")
            return BuiltImage(tag, image.id, image.attrs["Size"], time.monotonic() - start, True, cuda, base)
        (context / "Dockerfile").write_bytes(dockerfile)
        progress(f"building {tag} (the dependency layers are reused when cached)")
        _docker_build(client, context, tag, base, digest, progress)
    with contextlib.suppress(Exception):  # the images this tag replaced: gigabytes each, of no more use
        client.images.prune(filters={"dangling": True, "label": "vcoin.image=agent"})
    image = client.images.get(tag)
    return BuiltImage(tag, image.id, image.attrs["Size"], time.monotonic() - start, False, cuda, base)


def _docker_build(client: Any, context: Path, tag: str, base: str, digest: str, progress: Progress) -> None:
    stream = client.api.build(
        path=str(context), dockerfile="Dockerfile", tag=tag, rm=True, forcerm=True, decode=True,
        buildargs={"BASE": base}, network_mode="none",
        labels={INPUTS_LABEL: digest, "vcoin.image": "agent"},
    )  # fmt: skip
    recent: list[str] = []  # what the failing step printed: pip's own reason, say
    for chunk in stream:
        if "error" in chunk:
            said = " / ".join(recent[-4:])
            raise ImageBuildError(
                f"docker build failed: {str(chunk['error']).strip()}" + (f" ({said})" if said else "")
            )
        line = str(chunk.get("stream", "")).strip()
        if line.startswith("Step "):
            progress(line)
            recent.clear()
        elif line:
            recent.append(line)
