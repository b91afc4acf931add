"""The layers point one way: read every module's imports (statically, with ast) and check the
rules the design notes state that once broke: runtime never imports export, the product's quant
never imports runtime, and the artifact metadata reader sits below both."""

from __future__ import annotations

import ast
from pathlib import Path

import edgepose

PACKAGE = Path(edgepose.__file__).parent


def _imports(module: Path) -> set[str]:
    """Every edgepose module named by an import statement in ``module`` (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("edgepose")}


def _offenders(package: str, forbidden: str) -> list[str]:
    files = sorted((PACKAGE / package).rglob("*.py")) if (PACKAGE / package).is_dir() else [PACKAGE / f"{package}.py"]
    assert files, package
    return [f"{f.relative_to(PACKAGE)} imports {n}" for f in files for n in sorted(_imports(f))
            if n == forbidden or n.startswith(forbidden + ".")]


def test_runtime_never_imports_export():
    assert _offenders("runtime", "edgepose.export") == []


def test_quant_never_imports_runtime():
    assert _offenders("quant", "edgepose.runtime") == []


def test_artifact_reader_is_below_runtime_and_export():
    for upper in ("edgepose.runtime", "edgepose.export", "edgepose.models", "edgepose.estimator"):
        assert _offenders("artifact", upper) == []


def test_onnx_conversion_without_tensorflow_is_core():
    """The pure-Python graph -> ONNX converter and the ONNX reader sit below models, runtime and export,
    so the estimator's default-model set-up and the OpenCV backend can use them."""
    for module in ("protowire", "onnx_file", "tfpose_onnx"):
        for upper in ("edgepose.runtime", "edgepose.export", "edgepose.models", "edgepose.estimator"):
            assert _offenders(module, upper) == []
