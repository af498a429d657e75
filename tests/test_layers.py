"""The doors between layers: which package may import which, checked on the source.

Every module of homeserver/, client_api/ and federation/ is parsed with ``ast``
(imports inside functions and under TYPE_CHECKING count too) and each import is
held against the rules below; so is an API module calling ``.transaction()``
(writes belong to core services that own their transactions), setting an
attribute on the core (``hs.typing.relay = ...``: the core is handed what it
needs when it is built, see homeserver/gateway.py), or reaching through a
core service to its store or pool (``hs.reader.events``, ``server.db``: the
APIs call services, and federation reads rooms through ``hs.history``). Violations that
exist today are listed in KNOWN; the test wants that list to be exactly right,
so a new violation fails and a fixed one must be struck from the list: it only
ever shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("homeserver", "client_api", "federation")
APIS = ("client_api", "federation")
# The composition root builds the app and mounts both APIs, so it may import them.
COMPOSITION_ROOT = {"homeserver.app", "homeserver.cli", "homeserver.__main__"}
# The names the APIs give the Homeserver container.
CORE_NAMES = {"hs", "server"}
# Attributes that are a store or the pool, never to be reached from an API through the core.
STORE_NAMES = {"events", "store", "db", "_events", "_db"}
# What storage may take from the rest of the core: plain data and the error type.
STORAGE_MAY_IMPORT = {"homeserver.models", "homeserver.errors"}

# (importer, imported, rule) for each violation still to be fixed, with a comment saying
# why; none are left. Add one only with a reason and a plan to remove it.
KNOWN: set[tuple[str, str, str]] = set()


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known_modules: set[str]) -> Iterator[str]:
    """The modules ``name`` imports; ``from pkg import sub`` counts as importing pkg.sub."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in known_modules else base


def _absolute(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, node.module] if node.module else package)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def broken_rule(importer: str, imported: str) -> str | None:
    """The rule an import breaks, or None."""
    if (_within(importer, "homeserver") and importer not in COMPOSITION_ROOT
            and any(_within(imported, api) for api in APIS)):
        return "core imports an api"
    if any(_within(importer, api) for api in APIS) and _within(imported, "homeserver.storage"):
        return "api imports storage"
    if (_within(importer, "homeserver.storage") and _within(imported, "homeserver")
            and not _within(imported, "homeserver.storage")
            and imported not in STORAGE_MAY_IMPORT):
        return "storage imports core"
    if _within(importer, "federation") and _within(imported, "client_api"):
        return "federation imports client_api"
    return None


def opens_transaction(path: Path) -> bool:
    """Whether the module calls ``something.transaction()``: only the core may."""
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "transaction"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
    )


def patches_core(path: Path) -> bool:
    """Whether the module assigns to an attribute reached from the Homeserver container."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute):
                root = root.value
            if target is not root and isinstance(root, ast.Name) and root.id in CORE_NAMES:
                return True
    return False


def _core_rooted(node: ast.expr) -> bool:
    """Whether an attribute chain starts at the container (``hs``, ``server``, ``self.hs``),
    not through ``peers`` (federation's own door to the stores it may use)."""
    while isinstance(node, ast.Attribute):
        if node.attr == "peers":
            return False
        if node.attr == "hs":
            return True
        node = node.value
    return isinstance(node, ast.Name) and node.id in CORE_NAMES


def reaches_stores(path: Path) -> bool:
    """Whether the module reads a store or the pool through the Homeserver container
    (a method of that name, ``hs.received.store(...)``, is a service's, not a store)."""
    tree = ast.parse(path.read_text(), str(path))
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return any(
        isinstance(node, ast.Attribute) and node.attr in STORE_NAMES
        and id(node) not in called and _core_rooted(node.value)
        for node in ast.walk(tree)
    )


def violations() -> set[tuple[str, str, str]]:
    found = modules()
    names = set(found)
    result = set()
    for importer, path in found.items():
        for imported in imports(importer, path, names):
            rule = broken_rule(importer, imported)
            if rule:
                result.add((importer, imported, rule))
        if any(_within(importer, api) for api in APIS) and opens_transaction(path):
            result.add((importer, "transaction()", "api opens a transaction"))
        if any(_within(importer, api) for api in APIS) and patches_core(path):
            result.add((importer, "hs.<attribute> =", "api patches the core"))
        if any(_within(importer, api) for api in APIS) and reaches_stores(path):
            result.add((importer, "hs.<service>.<store>", "api reaches a store"))
    return result


def test_no_new_layer_violations() -> None:
    new = violations() - KNOWN
    assert not new, "imports that cross a layer's door:\n" + "\n".join(map(str, sorted(new)))


def test_known_violations_are_still_real() -> None:
    fixed = KNOWN - violations()
    assert not fixed, "fixed; strike from KNOWN:\n" + "\n".join(map(str, sorted(fixed)))


def test_the_checker_sees_each_kind_of_import(tmp_path: Path) -> None:
    """A guard on the guard: plain, from, relative and function-level imports all count."""
    package = tmp_path / "federation"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "x.py").write_text(
        "import client_api.http\n"
        "from . import y\n"
        "def f():\n"
        "    from homeserver import storage\n"
    )
    known = {"federation", "federation.x", "federation.y", "homeserver.storage"}
    found = set(imports("federation.x", package / "x.py", known))
    assert found == {"client_api.http", "federation.y", "homeserver.storage"}
    assert broken_rule("federation.x", "client_api.http") == "federation imports client_api"
    assert broken_rule("federation.x", "homeserver.storage") == "api imports storage"
    assert broken_rule("homeserver.rooms.writer", "federation.sender") == "core imports an api"
    assert broken_rule("homeserver.app", "federation.services") is None
    assert broken_rule("homeserver.storage.events", "homeserver.models") is None
    assert broken_rule("homeserver.storage.events", "homeserver.rooms") == "storage imports core"
    (package / "y.py").write_text("async def f(w):\n    async with w.transaction():\n        ...\n")
    assert opens_transaction(package / "y.py")
    assert not opens_transaction(package / "x.py")
    (package / "z.py").write_text("def f(hs, edus):\n    hs.typing.relay = edus\n")
    assert patches_core(package / "z.py")
    assert not patches_core(package / "y.py")
    (package / "s.py").write_text("async def f(self, server):\n"
                                  "    await server.reader.events.event(1)\n"
                                  "    await self.hs.db.fetch('')\n")
    assert reaches_stores(package / "s.py")
    (package / "t.py").write_text("async def f(self, server, federation, hs):\n"
                                  "    await server.history.event(1)\n"
                                  "    await server.received.store(1, 2)\n"
                                  "    keys = hs.peers.store\n"
                                  "    await federation.store.inbound_response(1, 2)\n")
    assert not reaches_stores(package / "t.py")
