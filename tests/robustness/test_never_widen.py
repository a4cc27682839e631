"""Never widen access (issue 9, item 4).

Static part: the product code (``spotidoctor/`` and ``checks/``) is read as Python syntax
trees, so a new code path cannot slip past a grep by formatting: no ``shell=True``; only the
command runner starts processes; every ``xhost`` argv is the read-only listing; ``chown``
only in the two guarded, symlink-safe forms (``podman unshare chown`` after the storage
guard, and the printed root fallback) and inside the pulse probe's private tmpfs; ``sudo``
only where ``RunCommand`` adds it to a ROOT step; every bundled ROOT step belongs to a manual
fix (printed, never run — not even with ``--allow-root``).

Dynamic part, through the real CLI: dangerous storage directories are refused by ``fix``
(every flag) and ``launch`` (real and dry run, ``--force`` too) before podman is asked to
chown or mount anything; ROOT steps run (through ``sudo --``) only with ``--allow-root`` and
consent, and never from ``launch``'s preflight.

The storage guard's rules are unit-tested (tests/unit/test_storage.py) and a symlink to
$HOME with the real podman in tests/integration/test_storage.py.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.sandbox import Sandbox, assert_sane

REPO = Path(__file__).resolve().parents[2]
PRODUCT = sorted([*(REPO / "spotidoctor").rglob("*.py"), *(REPO / "checks").rglob("*.py")])


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for path in PRODUCT:
        yield _rel(path), ast.parse(path.read_text(), filename=str(path))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _enclosing(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    func = _enclosing(node, parents)
    return func.name if func else "<module>"


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _argv_literals(tree: ast.AST) -> Iterator[tuple[ast.AST, list[str | None]]]:
    """Every tuple/list literal with at least one string constant: (node, elements as str/None)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List)) and any(_str(e) is not None for e in node.elts):
            yield node, [_str(e) for e in node.elts]


def test_the_static_checks_see_the_product_code() -> None:
    names = {_rel(p) for p in PRODUCT}
    assert {"spotidoctor/probes/command.py", "spotidoctor/backend/storageguard.py", "checks/storage/steps.py",
            "checks/storage/ownership.py", "checks/x11/steps.py"} <= names


def test_no_shell_true_anywhere() -> None:
    found = [f"{name}:{node.lineno}" for name, tree in _trees() for node in ast.walk(tree)
             if isinstance(node, ast.keyword) and node.arg == "shell"
             and not (isinstance(node.value, ast.Constant) and node.value.value is False)]
    assert found == []


def test_only_the_command_runner_starts_processes() -> None:
    spawners = {"system", "popen", "spawnl", "spawnlp", "spawnv", "spawnvp", "spawnve", "execv", "execve", "execvp",
                "execl", "execlp", "fork", "forkpty", "posix_spawn", "posix_spawnp"}
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name in ("subprocess", "pty") for a in node.names):
                found.append(f"{name}:{node.lineno} imports {[a.name for a in node.names]}")
            if isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "pty"):
                found.append(f"{name}:{node.lineno} imports from {node.module}")
            if (isinstance(node, ast.Attribute) and node.attr in spawners and isinstance(node.value, ast.Name)
                    and node.value.id == "os"):
                found.append(f"{name}:{node.lineno} os.{node.attr}")
    runner = [f for f in found if f.startswith("spotidoctor/probes/command.py:")]
    assert [f for f in found if f not in runner] == []
    assert [f.split(" ", 1)[1] for f in runner] == ["imports ['subprocess']"]


def test_the_command_runner_starts_processes_in_two_places_only() -> None:
    """Inside command.py: ``Popen`` in ``_spawn`` (run and stream) and ``start`` (every child that
    outlives the call), each with an argv list, a session decision and no ``preexec_fn``/``shell``:
    a third way to start processes cannot be added without this test saying so."""
    tree = ast.parse((REPO / "spotidoctor" / "probes" / "command.py").read_text())
    parents = _parents(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Popen")]
    assert sorted(_enclosing_function(c, parents) for c in calls) == ["_spawn", "start"]
    for call in calls:
        keywords = {k.arg for k in call.keywords}
        assert "start_new_session" in keywords and not {"preexec_fn", "shell", "executable"} & keywords
        assert ast.unparse(call.args[0]).startswith("list(")


def test_every_xhost_argv_is_the_read_only_listing() -> None:
    seen, bad = [], []
    for name, tree in _trees():
        for node, elts in _argv_literals(tree):
            if any(e is not None and (e == "xhost" or e.endswith("/xhost")) for e in elts):
                seen.append(f"{name}:{node.lineno}")
                if elts != ["xhost"]:  # `xhost +`, `xhost local:`, `xhost +SI:...` all add grants
                    bad.append(f"{name}:{node.lineno} {elts}")
    assert bad == []
    assert seen  # the report's `xhost` listing: the test does see xhost argvs


def _shell_scripts() -> Iterator[tuple[str, int, str]]:
    """(file, line, script) for every ``sh -c SCRIPT`` argv; SCRIPT must be a module constant."""
    for name, tree in _trees():
        constants = {t.id: _str(n.value) for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name) and _str(n.value) is not None}
        for node, elts in _argv_literals(tree):
            for i, elt in enumerate(elts[:-2]):
                if elt in ("sh", "bash", "dash") and elts[i + 1] == "-c":
                    script_node = node.elts[i + 2]  # type: ignore[attr-defined]
                    assert isinstance(script_node, ast.Name) and constants.get(script_node.id), (
                        f"{name}:{node.lineno}: a shell script must be a constant; values go in as arguments")
                    yield name, node.lineno, str(constants[script_node.id])


def test_shell_scripts_are_constants_that_grant_nothing() -> None:
    scripts = list(_shell_scripts())
    assert [(name, "OTHER_UID_SCRIPT" in open(REPO / name).read()) for name, _, _ in scripts] == [
        ("spotidoctor/channels/dbus/proof.py", True), ("spotidoctor/probes/pulse.py", True)]
    for name, line, script in scripts:
        assert "xhost" not in script and "sudo" not in script and "chmod 0777" not in script
        # chown only inside the private tmpfs the script mounts at "$d"
        targets = re.findall(r"chown\s+(?:-\S+\s+)*\S+\s+(\S+)", script)
        assert (targets or "chown" not in script) and all(t.startswith('"$d/') for t in targets), (name, line, targets)


def test_chown_only_in_the_guarded_symlink_safe_forms() -> None:
    calls, argvs = [], []
    for name, tree in _trees():
        parents = _parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("chown", "lchown", "fchown"):
                calls.append(f"{name}:{node.lineno} {ast.unparse(node)}")
        for node, elts in _argv_literals(tree):
            if "chown" in elts:
                argvs.append((name, _enclosing_function(node, parents), elts))
    # No os.chown / shutil.chown on a path: the one call is linkcopy's fchown of the copy it has
    # just created itself (O_EXCL), never of an existing file.
    assert [c.split(" ", 1)[1] for c in calls] == ["os.fchown"]
    assert calls[0].startswith("spotidoctor/backend/linkcopy.py:")
    linkcopy = (REPO / "spotidoctor" / "backend" / "linkcopy.py").read_text()
    assert "os.fchown(dst, *owner)" in linkcopy and re.search(r"dst = os\.open\(tmp, [^)]*O_EXCL", linkcopy)
    # Ownership of the tree changes only through the one guarded form, used by the userns fix and
    # printed for root: find never follows a symlink, skips hard-linked files, chown changes links themselves.
    assert {(name, func) for name, func, _ in argvs} == {("checks/storage/steps.py", "chown_tree_argv")}
    for _, _, elts in argvs:
        assert elts[:2] == ["find", "-P"] and not {"-L", "-H", "-follow"} & set(elts[:elts.index("chown")])
        start = elts.index("!")
        assert elts[start:start + 8] == ["!", "(", "-type", "f", "-links", "+1", ")", "-exec"]
        flags = elts[elts.index("chown") + 1:]
        assert "--no-dereference" in flags and not {"-L", "-H", "--dereference", "-R"} & set(flags)
        assert flags[-3:] == ["--", "{}", "+"]  # only find's paths after "--"


def test_the_userns_chown_reasks_the_guard_before_it_runs() -> None:
    """``UserNsChown.apply`` checks the guard rails again at apply time (a swapped path)."""
    tree = ast.parse((REPO / "checks" / "storage" / "steps.py").read_text())
    apply = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "UserNsChown")
    method = next(n for n in apply.body if isinstance(n, ast.FunctionDef) and n.name == "apply")
    body = ast.unparse(method)
    assert body.index("self._refuse_unless_guarded(env)") < body.index("env.probes.cmd.run(self.argv")


def test_sudo_is_only_added_by_run_command_to_root_steps() -> None:
    found = []
    for name, tree in _trees():
        parents = _parents(tree)
        for node, elts in _argv_literals(tree):
            if {"sudo", "pkexec", "doas", "su", "runuser"} & {e for e in elts if e}:
                found.append((name, _enclosing_function(node, parents), elts[:2]))
    assert found == [("spotidoctor/fixes.py", "effective_argv", ["sudo", "--"])]


def test_every_bundled_root_step_is_part_of_a_manual_fix() -> None:
    """So `fix --allow-root` runs nothing of spotidoctor's own as root: those are printed."""
    found = []
    for name, tree in _trees():
        if not name.startswith("checks/"):
            continue
        parents = _parents(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.keyword) and node.arg == "run_as"
                    and ast.unparse(node.value) == "Privilege.ROOT"):
                func = _enclosing(node, parents)
                assert func is not None, f"{name}: a ROOT step outside any function"
                makers = {ast.unparse(c.func) for c in ast.walk(func) if isinstance(c, ast.Call)
                          and ast.unparse(c.func) in ("Fix.safe", "Fix.unsafe", "Fix.manual", "Fix")}
                found.append((name, func.name, makers))
    assert found, "no ROOT steps found: the test no longer sees them"
    assert [(n, f, m) for n, f, m in found if m != {"Fix.manual"}] == []


# -- dangerous storage directories (the real CLI; podman is a recording stand-in) ----------------

@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox.create(tmp_path)
    sandbox.spy_podman()
    return sandbox


def _dangerous(box: Sandbox, case: str) -> str:
    home = box.home
    if case == "symlink-to-home":
        (box.root / "spotify-link").symlink_to(home)
        return str(box.root / "spotify-link")
    if case == "symlink-to-root":
        (box.root / "root-link").symlink_to("/")
        return str(box.root / "root-link")
    if case == "below-a-symlink-to-home":
        (box.root / "home-link").symlink_to(home)
        (home / ".spotify").mkdir(exist_ok=True)
        return str(box.root / "home-link" / ".spotify")
    return {"root": "/", "home": str(home), "home-tilde": "~", "dotdot-to-home": "~/.spotify/..",
            "usr": "/usr", "etc": "/etc", "var-lib": "/var/lib", "tmp": "/tmp", "home-parent": str(home.parent),
            "runtime-dir": box.env["XDG_RUNTIME_DIR"], "inside-runtime-dir": box.env["XDG_RUNTIME_DIR"] + "/spotify",
            "proc": "/proc/self"}[case]


DANGEROUS = ["root", "home", "home-tilde", "dotdot-to-home", "symlink-to-home", "symlink-to-root",
             "below-a-symlink-to-home", "usr", "etc", "var-lib", "tmp", "home-parent", "runtime-dir",
             "inside-runtime-dir", "proc"]


def _touched(box: Sandbox) -> list[list[str]]:
    """podman calls that would change or mount something."""
    return [c for c in box.spy_calls() if c[1:3] in (["unshare", "chown"], ["unshare", "mkdir"])
            or (c[1:3] == ["unshare", "find"] and "chown" in c)  # the storage chown (never hard links)
            or (c[1:2] == ["unshare"] and "spotidoctor.backend.linkcopy" in c)  # the hard-link copy
            or (c[1:2] == ["run"] and any(a.startswith("--volume=") for a in c))]


@pytest.mark.parametrize("case", DANGEROUS)
def test_dangerous_storage_is_refused_by_fix_and_launch(box: Sandbox, case: str) -> None:
    target = _dangerous(box, case)
    home_before = sorted(p.name for p in box.home.iterdir() if p.name != ".local")
    for args in (("fix", "storage"), ("fix", "--unsafe", "--allow-root", "--yes", "storage")):
        done = box.run(*args, "--storage-dir", target)
        assert_sane(done, box)
        assert done.returncode == 1
        assert "cannot be used as Spotify's storage" in done.stdout, done.stdout
    dry = box.run("launch", "--dry-run", "--storage-dir", target)
    assert_sane(dry, box)
    assert dry.returncode == 1 and "Launch refused: spotidoctor will not mount" in dry.stderr
    preflight = box.run("launch", "--yes", "--storage-dir", target)  # storage.dir fails the preflight
    assert_sane(preflight, box)
    assert preflight.returncode == 1 and "storage.dir" in preflight.stdout.split("Launch refused:")[1]
    forced = box.run("launch", "--no-check", "--force", "--yes", "--storage-dir", target)
    assert_sane(forced, box)
    assert forced.returncode == 1
    assert "Launch refused: spotidoctor will not mount" in forced.stdout, forced.stdout
    assert "--force does not override this guard" in forced.stdout
    assert _touched(box) == []
    # nothing made in $HOME but spotidoctor's own state dir (the lock, in ~/.local/state)
    assert sorted(p.name for p in box.home.iterdir() if p.name != ".local") == home_before
    assert not (box.home / "config").exists() and not (box.home / "cache").exists()
    assert not (Path(box.env["XDG_RUNTIME_DIR"]) / "config").exists()


def test_dangerous_storage_from_the_config_file_too(box: Sandbox) -> None:
    box.write_config('storage_dir = "~"\n')
    done = box.run("fix", "--yes", "storage")
    assert done.returncode == 1 and f"{box.home} is your home directory" in done.stdout
    assert box.run("launch", "--no-check", "--force", "--yes").returncode == 1
    assert _touched(box) == []


def test_an_ordinary_storage_directory_passes_the_same_path(box: Sandbox) -> None:
    """The control: the same commands do create, chown and get past the guard."""
    target = box.home / ".spotify"
    done = box.run("fix", "storage")
    assert_sane(done, box)
    assert (target / "config").is_dir()
    assert sorted(box.chown_targets()) == [str(target / "cache"), str(target / "config")]
    launched = box.run("launch", "--no-check", "--yes")
    assert "Launch refused: spotidoctor will not mount" not in launched.stdout
    assert "spotify_pod is not built yet: building it now" in launched.stdout  # past the guard, at the image


# -- configuration that would change what podman runs, or widen the sandbox -----------------------

@pytest.mark.parametrize("args", [("launch", "--yes"), ("launch", "--dry-run"), ("launch", "--no-check", "--force")],
                         ids=" ".join)
def test_an_image_that_is_an_option_never_reaches_podman(box: Sandbox, args: tuple[str, ...]) -> None:
    box.write_config('image = "--privileged"\n')
    done = box.run(*args)
    assert_sane(done, box)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "image '--privileged' starts with '-': podman would read it as an option" in done.stderr
    assert box.spy_calls() == []  # podman was not asked anything


def test_extra_run_args_that_widen_are_named_in_preflight_and_dry_run(box: Sandbox) -> None:
    box.write_config('extra_run_args = ["--privileged", "--volume=/:/host"]\n')
    dry = box.run("launch", "--dry-run")
    assert_sane(dry, box)
    assert "WARNING: widens the sandbox: extra_run_args: --privileged: every capability" in dry.stderr
    assert "WARNING: widens the sandbox: extra_run_args: --volume=/:/host:" in dry.stderr
    assert "--privileged" in [line.split("  # ")[0].strip() for line in dry.stdout.splitlines()[1:]]
    launched = box.run("launch", "--yes")  # refused by the preflight here (no display): still named first
    assert_sane(launched, box)
    assert "WARNING: widens the sandbox: extra_run_args: --privileged" in launched.stdout


# -- root only with --allow-root and consent ------------------------------------------------------

ROOT_DROPIN = '''
from spotidoctor.api import Check
from spotidoctor.fixes import Fix, Privilege, RunCommand


class NeedsRoot(Check):
    """What it checks: a test check whose safe fix needs root. Why it matters: tests. Fix safety: root."""

    id = "robust.needs-root"
    title = "needs a root step"
    tags = frozenset({"launch"})

    def run(self, ctx):
        return self.fail("needs root", fixes=(Fix.safe("robust.root-fix", "Do a root thing",
            RunCommand("touch as root", argv=("touch", ctx.user.home + "/rooted"), run_as=Privilege.ROOT)),))


CHECKS = (NeedsRoot,)
'''


@pytest.fixture
def root_box(box: Sandbox) -> Sandbox:
    dropins = Path(box.env["XDG_CONFIG_HOME"]) / "spotidoctor" / "checks.d"
    dropins.mkdir(parents=True)
    (dropins / "robust_root.py").write_text(ROOT_DROPIN)
    box.spy("sudo")
    return box


def _sudo_calls(box: Sandbox) -> list[list[str]]:
    return [c for c in box.spy_calls() if c[:1] == ["sudo"]]


@pytest.mark.parametrize("args", [
    ("fix", "robust"),
    ("fix", "--yes", "--unsafe", "robust"),
    ("fix", "--allow-root", "robust"),  # no terminal to confirm, no --yes
    ("fix", "--allow-root", "--yes", "--dry-run", "robust"),
    ("launch", "--yes"),
    ("launch", "--yes", "--force"),
], ids=" ".join)
def test_root_steps_never_run_without_allow_root_and_consent(root_box: Sandbox, args: tuple[str, ...]) -> None:
    done = root_box.run(*args)
    assert_sane(done, root_box)
    assert _sudo_calls(root_box) == []
    assert not (root_box.home / "rooted").exists()


def test_root_step_runs_through_sudo_with_allow_root_and_yes(root_box: Sandbox) -> None:
    done = root_box.run("fix", "--allow-root", "--yes", "robust")
    assert_sane(done, root_box)
    assert _sudo_calls(root_box) == [["sudo", "--", "touch", f"{root_box.home}/rooted"]]
    assert "→ Do a root thing  [safe, root]" in done.stdout


def test_bundled_fixes_never_call_sudo_even_with_every_flag(box: Sandbox) -> None:
    box.spy("sudo")
    done = box.run("fix", "--allow-root", "--unsafe", "--yes")
    assert_sane(done, box)
    assert _sudo_calls(box) == []
    if "[manual, root]" in done.stdout:  # e.g. /dev/net/tun, buildah missing on this host: printed only
        assert "manual: run the commands yourself" in done.stdout
