"""The package's shape: layers that import only downwards (scripts/import_layers.py reads the
imports, those inside functions and __main__ blocks included), at most 8 modules left flat, and
one owner of the output tree's folder names."""
import ast
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("import_layers", REPO / "scripts" / "import_layers.py")
layers = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(layers)
TREE_NAMES = {"runs", "videos", "results", "ray_results", ".sweep.lock"}


# DESIGN's table of the layers each layer may import (shared/DESIGN.md), with the departures each
# folder's __init__ states and explains: training writes its runs' folders (artefacts),
# artefacts loads a run's network (model), config names what data and model accept, report
# names profiles (config) and draws the images (data). Flat modules: vocabulary, io, roundoff
# import nothing of the suite; cli wires everything; train is cli's entry point.
ALLOWED = {
    "vocabulary": set(), "io": set(), "roundoff": set(),
    "data": {"vocabulary", "io"},
    "model": {"vocabulary", "io"},
    "stats": {"vocabulary"},
    "config": {"data", "model", "io", "vocabulary"},
    "artefacts": {"config", "model", "io", "vocabulary"},
    "training": {"data", "model", "config", "artefacts", "io", "vocabulary", "roundoff"},
    "sweep": {"training", "artefacts", "config", "data", "model", "stats", "io", "vocabulary"},
    "report": {"artefacts", "config", "data", "stats", "io", "vocabulary"},
    "cli": {"artefacts", "config", "data", "model", "report", "sweep", "training", "stats",
            "io", "vocabulary"},
    "train": {"cli"},
}


def against_the_table(graph: dict, allowed: dict = ALLOWED) -> list[tuple[str, str]]:
    """Every (layer, imported layer) edge the table does not allow; a layer it does not name
    may import nothing."""
    return sorted((layer, other) for layer, imported in graph.items()
                  for other in imported if other not in allowed.get(layer, set()))


def test_every_import_follows_the_layer_table():
    graph = layers.layer_graph(layers.module_graph(REPO))
    assert against_the_table(graph) == []


def test_a_planted_import_against_the_table_is_found(tmp_path):
    """The checker itself: the data layer importing the training layer (a function-level
    import) is an arrow the table does not allow."""
    package = tmp_path / "inr"
    for folder in ("data", "training"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "training" / "loop.py").write_text("from inr.data.heat import x\n")
    (package / "data" / "heat.py").write_text("x = 1\ndef f():\n    from inr.training import loop\n")
    graph = layers.layer_graph(layers.module_graph(tmp_path))
    assert against_the_table(graph) == [("data", "training")]


def test_no_layer_imports_one_that_imports_it_back():
    graph = layers.layer_graph(layers.module_graph(REPO))
    assert layers.cycles(graph) == []
    assert {"data", "model", "config", "training", "artefacts", "sweep", "report"} <= set(graph)


def test_inside_each_folder_no_module_imports_one_that_imports_it_back():
    modules = layers.module_graph(REPO)
    for layer in {layers.layer_of(m) for m in modules}:
        assert layers.cycles(layers.within(modules, layer)) == [], layer


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    """The checker itself: an import inside a function closes a cycle it must report."""
    package = tmp_path / "inr"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("def f():\n    from inr.high import b\n")
    (package / "high.py").write_text("from inr.low.a import f\n")
    graph = layers.layer_graph(layers.module_graph(tmp_path))
    assert graph == {"low": {"high"}, "high": {"low"}}
    assert layers.cycles(graph)


def test_at_most_eight_modules_are_left_flat():
    flat = [p.name for p in (REPO / "inr").glob("*.py") if p.name != "__init__.py"]
    assert len(flat) <= 8, flat


def test_only_the_output_tree_spells_its_folder_names():
    """No module but inr/artefacts/tree.py builds a path from the tree's folder names: no
    `path / "runs"`, no "videos/..." string, no "ray_results" or ".sweep.lock" at all."""
    for path in (REPO / "inr").rglob("*.py"):
        if path == REPO / "inr" / "artefacts" / "tree.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str):
                        assert side.value.strip("/").split("/")[0] not in TREE_NAMES, \
                            (path, side.value)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                assert value not in ("ray_results", ".sweep.lock"), (path, value)
                assert not any(value.startswith(f"{name}/") for name in TREE_NAMES) \
                    or "\n" in value, (path, value)


def test_a_configuration_has_one_name_across_images_in_every_layout():
    """run_name with the image part ANY_IMAGE, as a sweep plans it, is the same for a
    configuration on every image and differs between configurations; the name a record without
    one is given (across_images_name, built from its config) is that same name."""
    from inr.artefacts.tree import ANY_IMAGE, LAYOUTS, across_images_name, run_name
    from inr.config import profile_config
    base = profile_config("quick")
    expected = {"betas": "*/experiments/1_0_0_0/sine_constant_0.0001",
                "activation": "sine/*_experiments_grad",
                "losses": "*/losses/grad/sine_constant_0.0001"}
    on = lambda image, cfg=base: cfg.replace(data={"image": f"/x/{image}.png"})  # noqa: E731
    for layout in LAYOUTS:
        names = {run_name(layout, "grad", on(i), ANY_IMAGE) for i in ("camera", "moon")}
        assert names == {expected[layout]}
        for i in ("camera", "moon"):
            assert across_images_name(run_name(layout, "grad", on(i)), "grad", on(i)) \
                == expected[layout]
        other = base.replace(schedule={"lr": 3e-4})
        if layout != "activation":  # the activation layout names no lr
            assert run_name(layout, "grad", on("moon", other), ANY_IMAGE) != expected[layout]
    assert across_images_name("single", None, on("moon")) == "single"  # no layout names it


def test_the_sweeps_help_and_dry_run_leave_the_plotting_stack_unloaded(tmp_path):
    """matplotlib loads when a report or a panel is drawn, not when sweep.py starts."""
    import subprocess
    import sys
    code = ("import sys\nfrom inr.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('help', any(m.startswith('matplotlib') for m in sys.modules))\n"
            f"main(['--random-weights', '2', '--dry-run', '--out', {str(tmp_path)!r}])\n"
            "print('dry-run', any(m.startswith('matplotlib') for m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert "help False" in out.stdout and "dry-run False" in out.stdout, out.stdout[-500:]
