"""The package's seams, as rules an `ast` walk can check: FAISS behind one module, the CLI imported
by no module but `__main__`, every error class in `errors.py`, no engine or vector index typed `Any`."""

from __future__ import annotations

import ast

from conftest import ROOT

PACKAGE = ROOT / "chatbot"


def modules() -> dict[str, ast.Module]:
    return {
        str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8"))
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def imported(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_faiss_is_imported_in_exactly_one_module() -> None:
    users = [
        name for name, tree in modules().items() if any(m.split(".")[0] == "faiss" for m in imported(tree))
    ]
    assert users == ["chatbot/indexing/vectors.py"]


def test_no_module_but_main_imports_the_cli() -> None:
    users = [name for name, tree in modules().items() if "chatbot.cli" in imported(tree)]
    assert users == ["chatbot/__main__.py"]


def test_every_error_class_is_defined_in_errors() -> None:
    """Private control-flow exceptions (never shown to a person) may stay where they are raised."""
    strays = [
        f"{name}:{node.name}"
        for name, tree in modules().items()
        if name != "chatbot/errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases)
    ]
    assert strays == []


def test_no_engine_or_vector_index_is_typed_any() -> None:
    loose = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.arg):
                what, annotation = node.arg, node.annotation
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                what, annotation = node.target.id, node.annotation
            else:
                continue
            typed_any = annotation is not None and ast.unparse(annotation) == "Any"
            if what in ("engine", "answerer", "dense", "index") and typed_any:
                loose.append(f"{name}:{what}")
    assert loose == []


def test_the_package_exports_what_a_library_user_needs() -> None:
    import chatbot

    assert {"open_engine", "Engine", "Answer", "Passage", "Answerer", "ChatbotError"} <= set(chatbot.__all__)
    for name in chatbot.__all__:
        assert getattr(chatbot, name) is not None
    from chatbot.answering.engine import Engine, open_engine
    from chatbot.errors import ChatbotError

    assert chatbot.Engine is Engine and chatbot.open_engine is open_engine
    assert chatbot.ChatbotError is ChatbotError


def packages() -> list[str]:
    return sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def test_every_package_exports_its_public_names() -> None:
    """`__all__`, the lazy map and the imports a type checker sees name the same things, and each
    name is the very object its module defines."""
    import importlib

    assert {"corpus", "indexing", "question", "safety", "answering", "feedback", "evaluation", "web"} <= set(
        packages()
    )
    for name in packages():
        package = importlib.import_module(f"chatbot.{name}")
        tree = ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))
        typed = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chatbot.")
            for alias in node.names
            if node.module != "chatbot.lazy"
        }
        assert package.__doc__, name
        assert sorted(package.__all__) == package.__all__ == sorted(package._EXPORTS) == sorted(typed), name
        for export, module in package._EXPORTS.items():
            defining = importlib.import_module(module, package.__name__)
            assert getattr(package, export) is getattr(defining, export), f"{name}.{export}"
        try:
            package.no_such_name  # noqa: B018
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError(f"{name} invented an attribute")


def test_importing_a_package_imports_none_of_its_modules() -> None:
    """Exports are lazy: `import chatbot.web` must not start Gradio, nor `chatbot.indexing` torch."""
    import subprocess
    import sys

    code = (
        "import sys, chatbot, " + ", ".join(f"chatbot.{p}" for p in packages()) + "\n"
        "print(sorted(m for m in sys.modules if m.startswith(('chatbot.', 'gradio', 'torch', 'faiss'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == str(sorted(f"chatbot.{p}" for p in [*packages(), "lazy"]))


# The pipeline's order: a module may import only from its own stage or an earlier one. Modules at
# the top of the package are stages of their own (protocol and present read answers; cli drives all).
STAGES = (
    ("errors", "lazy", "language"),
    ("corpus",),
    ("indexing",),
    ("question",),
    ("safety",),
    ("answering",),
    ("protocol",),
    ("present",),
    ("feedback",),
    ("evaluation",),
    ("web",),
    ("cli",),
    ("__main__",),
)
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def stage(module: str) -> str:
    """`chatbot.indexing.store` -> "indexing"; `chatbot/present.py` -> "present"."""
    parts = module.removesuffix(".py").replace("/", ".").split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def later_imports(tree: ast.Module, rank: int) -> list[str]:
    return sorted(
        m for m in imported(tree) if m.startswith("chatbot.") and RANK.get(stage(m), len(STAGES)) > rank
    )


def test_every_module_belongs_to_a_stage() -> None:
    assert {stage(name) for name in modules()} - {"__init__"} == set(RANK)


def test_no_stage_imports_a_later_one() -> None:
    """`chatbot/__init__.py` is exempt: it re-exports the library names, lazily."""
    upward = {
        name: later
        for name, tree in modules().items()
        if stage(name) != "__init__" and (later := later_imports(tree, RANK[stage(name)]))
    }
    assert upward == {}


def test_the_order_rule_catches_an_upward_import() -> None:
    tree = ast.parse("from chatbot.answering.engine import Engine\nimport chatbot.web.server\n")
    assert later_imports(tree, RANK["indexing"]) == ["chatbot.answering.engine", "chatbot.web.server"]
    assert later_imports(tree, RANK["web"]) == []


def test_every_package_has_its_tests_folder() -> None:
    tests = ROOT / "tests"
    for name in [*packages(), "system"]:
        assert sorted((tests / name).glob("test_*.py")), f"tests/{name}/ has no tests"
    strays = sorted(p.name for p in tests.glob("test_*.py"))
    assert strays == [], "tests live in the folder of the package they test (or tests/system)"
