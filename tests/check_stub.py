"""Checks that src/mobilenet/_core.pyi is the stub of the installed mobilenet._core.

The stub is what type checkers and editors see of the extension, so CI fails
when a binding changes without it. It is pybind11-stubgen's output (the
version pinned in the test extra) with two rewrites, because stubgen renders
pybind11's native enums in a form type checkers reject, and differently
across Python versions:

- an enum member ``NAME: typing.ClassVar[Enum]`` becomes ``NAME = value``
  (a stub that only annotates its members declares an enum with none);
- the ``__new__`` stubgen copies from the enum machinery is dropped.

    python tests/check_stub.py           # exit status 1 and a diff when they differ
    python tests/check_stub.py --write   # regenerate the checked-in stub
"""
import argparse
import difflib
import enum
import importlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MODULE = "mobilenet._core"
CHECKED_IN = Path(__file__).resolve().parents[1] / "src" / "mobilenet" / "_core.pyi"
# Enum defaults (Activation.NONE, ...) are plain expressions: print them rather than '...'.
ENUM_DEFAULTS = r"(LayerKind|Activation|InputLayout|PointwiseBackend|Precision)\.[A-Z0-9_]+"


def generated_stub() -> str:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", MODULE, "--output-dir", out, "--exit-code",
                        "--print-safe-value-reprs", ENUM_DEFAULTS], check=True, capture_output=True, text=True)
        return (Path(out) / (MODULE.replace(".", "/") + ".pyi")).read_text()


def normalized(stub: str) -> str:
    module = importlib.import_module(MODULE)
    enums = {name: cls for name, cls in vars(module).items() if isinstance(cls, type) and issubclass(cls, enum.Enum)}

    def member(match: re.Match) -> str:
        indent, name, cls = match.groups()
        if cls not in enums or name not in enums[cls].__members__:
            return match.group(0)
        return f"{indent}{name} = {enums[cls][name].value!r}"

    stub = re.sub(r"^( +)(\w+): typing\.ClassVar\[(\w+)\]$", member, stub, flags=re.MULTILINE)
    return re.sub(r"^ +@classmethod\n +def __new__\(cls, value\):\n +\.\.\.\n", "", stub, flags=re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write the stub to {CHECKED_IN.name}")
    args = parser.parse_args()
    stub = normalized(generated_stub())
    if args.write:
        CHECKED_IN.write_text(stub)
        return 0
    checked_in = CHECKED_IN.read_text()
    if checked_in == stub:
        print(f"{CHECKED_IN.name} matches the built {MODULE}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(checked_in.splitlines(True), stub.splitlines(True),
                                               f"{CHECKED_IN.name} (checked in)", f"{MODULE} (built)"))
    print(f"\n{CHECKED_IN.name} is out of date: run python tests/check_stub.py --write and commit it")
    return 1


if __name__ == "__main__":
    sys.exit(main())
