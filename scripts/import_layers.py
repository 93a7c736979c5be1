"""The import graph of the inr package, by module and by layer, read from the source with ast
(imports inside functions and __main__ blocks count too).

    python scripts/import_layers.py [ROOT]     print each layer's imports and floor

A layer is a subfolder of inr/ (data, model, ...); a module left flat in inr/ is a layer of its
own. A node's floor is the length of its longest chain of imports down to a node that imports
nothing of the suite (0 for such a node).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "inr"


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package below `root`."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of the package that the module `name` (file `path`) imports, anywhere in it."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    files = module_names(root)
    return {name: imported(path, name, set(files)) for name, path in files.items()}


def layer_of(module: str) -> str:
    """inr.training.loop -> training; inr.cli -> cli; inr -> inr."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Layer -> the other layers its modules import (the package's own __init__ left out)."""
    layers: dict[str, set[str]] = {}
    for name, targets in modules.items():
        if name == PACKAGE:
            continue
        own = layers.setdefault(layer_of(name), set())
        own |= {layer_of(t) for t in targets if t != PACKAGE} - {layer_of(name)}
    return layers


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each node that lies on one (empty: the graph is a set of layers)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each node's longest chain of imports down to a node that imports nothing (acyclic)."""
    memo: dict[str, int] = {}

    def floor(node):
        if node not in memo:
            memo[node] = 1 + max((floor(t) for t in graph.get(node, ()) if t in graph),
                                 default=-1)
        return memo[node]

    return {node: floor(node) for node in graph}


def within(modules: dict[str, set[str]], layer: str) -> dict[str, set[str]]:
    """The import graph of the modules inside one layer's folder."""
    own = {m for m in modules if layer_of(m) == layer and m != PACKAGE}
    return {m: modules[m] & own for m in own}


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parents[1])
    modules = module_graph(root)
    layers = layer_graph(modules)
    loops = cycles(layers)
    floor = floors(layers) if not loops else {}
    for layer in sorted(layers, key=lambda n: (floor.get(n, 0), n)):
        print(f"{layer:<12} floor {floor.get(layer, '?')!s:<3} imports {', '.join(sorted(layers[layer])) or '-'}")
    for loop in loops:
        print("cycle: " + " -> ".join(loop))
    return 1 if loops else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
