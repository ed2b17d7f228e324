"""Generated functions folders for the cold-start and scale benchmarks (under build/bench/)."""
import json
import pathlib
import shutil

TEMPLATES = pathlib.Path(__file__).resolve().parent / "fixtures" / "templates"


def _write_folder(folder, endpoints):
    """endpoints: [(name, file name, template file name)]."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"runtime": "nodejs18.x", "version": "1.0", "environment": {}, "secrets": [], "endpoints": {}}
    for name, file_name, template in endpoints:
        text = (TEMPLATES / template).read_text().replace("NAME", name)
        (folder / file_name).write_text(text)
        spec["endpoints"][name] = {"method": "GET", "file": file_name}
    (folder / "serverless.json").write_text(json.dumps(spec, indent=2) + "\n")
    (folder / "package.json").write_text(json.dumps(
        {"name": folder.name.replace(".functions", ""), "version": "1.0.0", "private": True, "dependencies": {}},
        indent=2) + "\n")


def cold_folder(root, count):
    """`count` endpoints that load axios+lodash (cold-libs-NN) and `count` empty ones
    (cold-empty-NN), each its own file and so its own function and worker."""
    root = pathlib.Path(root)
    if root.exists():
        shutil.rmtree(root)
    endpoints = []
    for i in range(count):
        endpoints.append((f"cold-libs-{i:02d}", f"libs_{i:02d}.js", "cold_libs.js"))
        endpoints.append((f"cold-empty-{i:02d}", f"empty_{i:02d}.js", "cold_empty.js"))
    _write_folder(root / "cold.functions", endpoints)
    libs = [f"/_hcms/api/cold-libs-{i:02d}" for i in range(count)]
    empty = [f"/_hcms/api/cold-empty-{i:02d}" for i in range(count)]
    return root, libs, empty


def scale_folder(root, total, per_folder=100):
    """`total` functions in folders of at most `per_folder` endpoints (f0000, f0001, …), each
    endpoint its own file. Returns (parent folder to serve, every path in order)."""
    root = pathlib.Path(root)
    if root.exists():
        shutil.rmtree(root)
    paths = []
    for start in range(0, total, per_folder):
        endpoints = []
        for i in range(start, min(total, start + per_folder)):
            name = f"f{i:04d}"
            endpoints.append((name, f"{name}.js", "scale_fn.js"))
            paths.append(f"/_hcms/api/{name}")
        _write_folder(root / f"s{start // per_folder:02d}.functions", endpoints)
    return root, paths
