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
    assert users == ["chatbot/vectors.py"]


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
    from chatbot.answer import Engine, open_engine
    from chatbot.errors import ChatbotError

    assert chatbot.Engine is Engine and chatbot.open_engine is open_engine
    assert chatbot.ChatbotError is ChatbotError
