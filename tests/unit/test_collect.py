"""The collector executes specs against fakes: manifest entries, size caps, timeouts,
forbidden paths, secret environment variables, a host where everything is broken."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from spotidoctor.bundle.collect import Collector, Item, ItemStatus, Limits, ManifestEntry, safe_name
from spotidoctor.bundle.sources import global_spec
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.checks.pulse.evidence import NO_AUTOSPAWN
from spotidoctor.probes.command import Completed
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

HOME = "/home/alice"


@dataclass
class RecordingRunner:
    """Answers from a function and remembers argv, timeout and env of every call."""

    answer: Callable[[tuple[str, ...]], Completed]
    calls: list[tuple[tuple[str, ...], float, Mapping[str, str] | None]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, env: Mapping[str, str] | None = None,
            input: str | None = None, cwd: str | None = None) -> Completed:
        self.calls.append((tuple(argv), timeout, env))
        return self.answer(tuple(argv))

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}"


def with_runner(ctx, runner):
    """A context whose command probe is ``runner``."""
    return dataclasses.replace(ctx, probes=dataclasses.replace(ctx.probes, cmd=runner))


def entry(name: str, kind: str, source: str, status: ItemStatus, reason: str = "", *, origin: str = "spotidoctor",
          size: int = 0, original_size: int | None = None, returncode: int | None = None) -> ManifestEntry:
    return ManifestEntry(name, kind, source, origin, status, reason, size, original_size, 0.0, returncode)


def by_name(items: list[Item]) -> dict[str, Item]:
    return {i.entry.name: i for i in items}


def test_spec_executed_with_a_manifest_entry_per_item(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/etc/subuid": "alice:100000:65536\nbob:165536:65536\n"},
                       commands=[FakeCommand(("podman", "--version"), stdout="podman version 4.3.1\n")],
                       env={"DISPLAY": ":0"})
    spec = BundleSpec(origin="userns.subuid")
    spec.add_file("/etc/subuid", "subuid", only_lines_matching=r"^alice:")
    spec.add_command(("podman", "--version"), "podman-version.txt")
    spec.add_env("DISPLAY", "WAYLAND_DISPLAY", name="env.txt")
    spec.add_text("note.txt", "hello\n")
    items = Collector(ctx, clock=lambda: 0.0).run([spec])
    base = "facts/checks/userns.subuid"
    assert [(i.entry.name, i.text) for i in items] == [
        (f"{base}/subuid", "alice:100000:65536\n"),
        (f"{base}/podman-version.txt", "podman version 4.3.1\n"),
        (f"{base}/env.txt", "DISPLAY=:0\nWAYLAND_DISPLAY is not set\n"),
        (f"{base}/note.txt", "hello\n"),
    ]
    entries = [i.entry for i in items]
    assert entries[0] == entry(f"{base}/subuid", "file", "/etc/subuid", ItemStatus.COLLECTED, origin="userns.subuid",
                               size=19, original_size=36)
    assert entries[1] == entry(f"{base}/podman-version.txt", "command", "podman --version", ItemStatus.COLLECTED,
                               origin="userns.subuid", size=21, original_size=21, returncode=0)
    assert [e.to_json()["status"] for e in entries] == ["collected"] * 4


def test_file_over_its_cap_is_truncated_and_says_so(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/var/log/big.log": "x" * 5000})
    spec = BundleSpec()
    spec.add_file("/var/log/big.log", "big.log", max_bytes=1000)
    (item,) = Collector(ctx).run([spec])
    assert item.entry.status is ItemStatus.TRUNCATED
    assert item.entry.original_size == 5000 and item.entry.reason == "capped at 1000 bytes"
    assert item.text is not None and item.text.startswith("x" * 1000)
    assert "truncated by spotidoctor: 1000 of 5000 bytes kept" in item.text
    assert item.entry.to_json()["truncated"] is True


def test_spec_cannot_exceed_the_collectors_item_cap(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/f": "y" * 300})
    spec = BundleSpec()
    spec.add_file("/f", "f", max_bytes=10_000_000)
    (item,) = Collector(ctx, limits=Limits(item_bytes=100)).run([spec])
    assert item.entry.status is ItemStatus.TRUNCATED and item.text is not None and item.text.startswith("y" * 100)


def test_command_timeout_is_capped_and_partial_output_kept(tmp_path) -> None:
    runner = RecordingRunner(lambda argv: Completed(argv, 124, "partial\n", "", timed_out=True, duration_s=5.0))
    ctx = with_runner(make_context(tmp_path), runner)
    spec = BundleSpec()
    spec.add_command(("xdpyinfo",), "xdpyinfo.txt", timeout_s=500)
    (item,) = Collector(ctx, limits=Limits(max_timeout_s=7), clock=lambda: 0.0).run([spec])
    assert runner.calls == [(("xdpyinfo",), 7, None)]
    assert item.entry == dataclasses.replace(
        entry("facts/xdpyinfo.txt", "command", "xdpyinfo", ItemStatus.TIMED_OUT,
              "timed out after 7s; partial output kept", size=8, original_size=8, returncode=124), duration_s=5.0)
    assert item.text == "partial\n"


def test_missing_and_failing_commands(tmp_path) -> None:
    runner = FakeCommandRunner([FakeCommand(("pactl", "info"), stderr="Connection failure: Connection refused\n",
                                            returncode=1)], missing=("podman",))
    ctx = make_context(tmp_path, commands=runner)
    spec = BundleSpec()
    spec.add_command(("podman", "info"), "info.json")
    spec.add_command(("pactl", "info"), "pactl.txt")
    missing, failing = Collector(ctx, clock=lambda: 0.0).run([spec])
    assert missing == Item(entry("facts/info.json", "command", "podman info", ItemStatus.SKIPPED,
                                 "command not found", returncode=127))
    assert failing.entry.status is ItemStatus.FAILED and failing.entry.reason == "exit status 1"
    assert failing.text == "\n--- stderr ---\nConnection failure: Connection refused\n"


def test_identical_commands_run_once_and_env_is_passed(tmp_path) -> None:
    runner = RecordingRunner(lambda argv: Completed(argv, 0, "Server Name: pulseaudio\n"))
    ctx = with_runner(make_context(tmp_path), runner)
    first, second = BundleSpec(origin="pulse.a"), BundleSpec(origin="pulse.b")
    first.add_command(("pactl", "info"), "info.txt", env=NO_AUTOSPAWN)
    second.add_command(("pactl", "info"), "info.txt", env=NO_AUTOSPAWN)
    items = Collector(ctx).run([first, second])
    assert runner.calls == [(("pactl", "info"), 10.0, {"PULSE_BINARY": "/bin/false"})]
    assert [i.text for i in items] == ["Server Name: pulseaudio\n"] * 2


@pytest.mark.parametrize(("path", "reason"), [
    pytest.param(f"{HOME}/.config/pulse/cookie", "forbidden: the name looks like credential material (*cookie*)",
                 id="pulse-cookie"),
    pytest.param(f"{HOME}/.config/pulse/pulse-cookie", "forbidden: the name looks like credential material (*cookie*)",
                 id="container-cookie"),
    pytest.param(f"{HOME}/.Xauthority", "forbidden: the name looks like credential material (*xauthority*)",
                 id="xauthority"),
    pytest.param(f"{HOME}/.ssh/config", f"forbidden path ({HOME}/.ssh)", id="ssh-dir"),
    pytest.param(f"{HOME}/.config/containers/auth.json",
                 "forbidden: the name looks like credential material (auth.json)", id="registry-auth"),
    pytest.param("/etc/shadow", "forbidden: the name looks like credential material (shadow)", id="shadow"),
    pytest.param("/proc/1/environ", "forbidden path (/proc/*/environ)", id="other-process-env"),
    pytest.param(f"{HOME}/notes/link-to-x", "forbidden: the name looks like credential material (*xauthority*)",
                 id="symlink-to-xauthority"),
    pytest.param(f"{HOME}/private/data.txt", f"forbidden path ({HOME}/private)", id="spec-forbids-a-dir"),
    pytest.param("/run/user/1600/spotidoctor/Xauthority-0",
                 "forbidden: the name looks like credential material (*xauthority*)", id="container-x-cookie"),
    pytest.param("/run/secrets.d/x", "forbidden path (/run/secrets.d/*)", id="spec-forbids-a-glob"),
])
def test_forbidden_paths_are_never_read(tmp_path, path: str, reason: str) -> None:
    files = {p: "SECRET-CONTENT\n" for p in (f"{HOME}/.config/pulse/cookie", f"{HOME}/.config/pulse/pulse-cookie",
                                             f"{HOME}/.Xauthority", f"{HOME}/.ssh/config",
                                             f"{HOME}/.config/containers/auth.json", "/etc/shadow", "/proc/1/environ",
                                             f"{HOME}/private/data.txt", "/run/user/1600/spotidoctor/Xauthority-0",
                                             "/run/secrets.d/x")}
    ctx = make_context(tmp_path, files=files)
    os.makedirs(tmp_path / "home/alice/notes", exist_ok=True)
    os.symlink(tmp_path / "home/alice/.Xauthority", tmp_path / "home/alice/notes/link-to-x")
    spec = BundleSpec(origin="x11.test")
    spec.forbid("~/private")
    spec.forbid("/run/secrets.d/*")
    spec.add_file(path, "item")
    (item,) = Collector(ctx, clock=lambda: 0.0).run([spec])
    assert item == Item(entry("facts/checks/x11.test/item", "file", path, ItemStatus.SKIPPED, reason,
                              origin="x11.test"))


def test_a_forbid_in_one_spec_protects_against_all_specs(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/srv/data/notes.txt": "private\n"})
    guard, greedy = BundleSpec(origin="a.guard"), BundleSpec(origin="b.greedy")
    guard.forbid("/srv/data")
    greedy.add_file("/srv/data/notes.txt", "notes")
    greedy.add_glob("/srv/data/*", "all")
    items = Collector(ctx).run([guard, greedy])
    assert [(i.entry.status, i.entry.reason) for i in items] == [
        (ItemStatus.SKIPPED, "forbidden path (/srv/data)")] * 2


@pytest.mark.parametrize(("argv", "reason"), [
    (("sh", "-c", "cat ~/.config/pulse/cookie"), "refused: sh (declare the real command, never a shell or xauth)"),
    (("/usr/bin/xauth", "list"), "refused: xauth (declare the real command, never a shell or xauth)"),
    (("cat", f"{HOME}/.config/pulse/cookie"),
     "refused: an argument names a forbidden: the name looks like credential material (*cookie*)"),
    (("pactl", "--server=unix:~/.ssh/sock", "info"), f"refused: an argument names a forbidden path ({HOME}/.ssh)"),
    ((), "empty command"),
])
def test_commands_that_could_read_secrets_are_refused(tmp_path, argv: tuple[str, ...], reason: str) -> None:
    ctx = make_context(tmp_path)  # an unexpected command would raise in the fake runner
    spec = BundleSpec()
    spec.add_command(argv, "out.txt")
    (item,) = Collector(ctx).run([spec])
    assert (item.entry.status, item.entry.reason, item.text) == (ItemStatus.SKIPPED, reason, None)


def test_secret_looking_environment_variables_are_withheld(tmp_path) -> None:
    env = {"DISPLAY": ":1", "SPOTIFY_TOKEN": "tok-123", "MY_PASSWORD": "hunter2", "XAUTHORITY": "/x/auth",
           "PULSE_COOKIE": "/c", "AWS_SECRET_ACCESS_KEY": "k", "GITHUB_API_KEY": "g"}
    ctx = make_context(tmp_path, env=env)
    spec = BundleSpec()
    spec.add_env(*env, "UNSET_TOKEN")
    (item,) = Collector(ctx).run([spec])
    assert item.text == (
        "DISPLAY=:1\n"
        "SPOTIFY_TOKEN is set; value withheld (the name looks secret)\n"
        "MY_PASSWORD is set; value withheld (the name looks secret)\n"
        "XAUTHORITY is set; value withheld (the name looks secret)\n"
        "PULSE_COOKIE is set; value withheld (the name looks secret)\n"
        "AWS_SECRET_ACCESS_KEY is set; value withheld (the name looks secret)\n"
        "GITHUB_API_KEY is set; value withheld (the name looks secret)\n"
        "UNSET_TOKEN is not set\n")
    assert item.entry.reason == "6 value(s) withheld: the names look secret"
    assert not any(v in item.text for v in ("tok-123", "hunter2", "/x/auth"))


def test_files_that_are_not_plain_text_are_skipped(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/bin/tool": b"\x7fELF\x00\x01", "/srv/dir/a": "a"})
    os.mkfifo(tmp_path / "srv/fifo")  # reading it would block forever
    spec = BundleSpec()
    for path in ("/bin/tool", "/srv/fifo", "/srv/dir", "/srv/missing", "relative/path"):
        spec.add_file(path)
    reasons = [(i.entry.status, i.entry.reason) for i in Collector(ctx).run([spec])]
    assert reasons == [(ItemStatus.SKIPPED, "binary content (only text is collected)"),
                       (ItemStatus.SKIPPED, "not a regular file"), (ItemStatus.SKIPPED, "a directory"),
                       (ItemStatus.SKIPPED, "not found"), (ItemStatus.SKIPPED, "not an absolute path")]


def test_transform_and_line_filter(tmp_path) -> None:
    ctx = make_context(tmp_path, files={"/a": "keep 1\ndrop\nkeep 2\n", "/b": "raw secret\n"})

    def broken(text: str) -> str:
        raise ValueError("bad format")

    spec = BundleSpec()
    spec.add_file("/a", "a", only_lines_matching="^keep", transform=str.upper)
    spec.add_file("/b", "b", transform=broken)
    spec.add_file("/a", "c", only_lines_matching="([")
    a, b, c = Collector(ctx).run([spec])
    assert a.text == "KEEP 1\nKEEP 2\n"
    dropped = "transform failed (ValueError); content dropped"
    assert (b.entry.status, b.entry.reason, b.text) == (ItemStatus.FAILED, dropped, None)
    assert c.entry.status is ItemStatus.SKIPPED and c.entry.reason.startswith("bad line filter")


def test_bundle_size_cap_skips_what_does_not_fit(tmp_path) -> None:
    ctx = make_context(tmp_path)
    spec = BundleSpec()
    for n in range(3):
        spec.add_text(f"t{n}.txt", "z" * 40)
    items = Collector(ctx, limits=Limits(total_bytes=100)).run([spec])
    assert [i.entry.status for i in items] == [ItemStatus.COLLECTED, ItemStatus.COLLECTED, ItemStatus.SKIPPED]
    assert items[2].entry.reason == "bundle size cap reached (100 bytes)" and items[2].text is None


def test_time_budget_skips_later_commands(tmp_path) -> None:
    now = [0.0]

    def slow(argv: tuple[str, ...]) -> Completed:
        now[0] += 50
        return Completed(argv, 0, "ok\n", duration_s=50)

    runner = RecordingRunner(slow)
    ctx = with_runner(make_context(tmp_path), runner)
    spec = BundleSpec()
    for n in range(3):
        spec.add_command(("podman", "info", str(n)), f"{n}.txt")
    items = Collector(ctx, limits=Limits(time_budget_s=60), clock=lambda: now[0]).run([spec])
    assert [i.entry.status for i in items] == [ItemStatus.COLLECTED, ItemStatus.COLLECTED, ItemStatus.SKIPPED]
    assert items[2].entry.reason == "time budget of 60s for commands used up"
    assert len(runner.calls) == 2


def test_names_are_sanitised_and_unique(tmp_path) -> None:
    ctx = make_context(tmp_path)
    spec = BundleSpec(origin="../evil")
    for name in ("../../etc/passwd", "a b/c?.txt", "same.txt", "same.txt", ""):
        spec.add_text(name, "x")
    names = [i.entry.name for i in Collector(ctx).run([spec])]
    assert names == ["facts/checks/evil/etc/passwd", "facts/checks/evil/a_b/c_.txt", "facts/checks/evil/same.txt",
                     "facts/checks/evil/same-2.txt", "facts/checks/evil/item"]
    assert safe_name("/abs/../x") == "abs/x"


def test_glob_collects_each_match_up_to_a_limit(tmp_path) -> None:
    files = {f"{HOME}/.config/containers/{n}.conf": f"{n}\n" for n in ("a", "b", "c")}
    files[f"{HOME}/.config/containers/auth-token.conf"] = "secret\n"
    ctx = make_context(tmp_path, files=files)
    spec = BundleSpec(origin="podman.conf")
    spec.add_glob("~/.config/containers/*.conf", "conf", max_files=3)
    items = Collector(ctx).run([spec])
    assert [(i.entry.name, i.entry.status.value, i.text) for i in items] == [
        ("facts/checks/podman.conf/conf/a.conf", "collected", "a\n"),
        ("facts/checks/podman.conf/conf/auth-token.conf", "skipped", None),
        ("facts/checks/podman.conf/conf/b.conf", "collected", "b\n"),
        ("facts/checks/podman.conf/conf", "skipped", None),
    ]
    assert items[3].entry.reason == "1 more match(es) over the limit of 3 files"


def test_admit_counts_outside_items_against_the_cap_and_names(tmp_path) -> None:
    ctx = make_context(tmp_path)
    spec = BundleSpec()
    spec.add_text("x.txt", "a" * 60)
    collector = Collector(ctx, limits=Limits(total_bytes=100))
    collector.run([spec])
    extra = Item(entry("facts/x.txt", "log", "/l", ItemStatus.COLLECTED), "b" * 60)
    (admitted,) = collector.admit([extra])
    assert admitted.entry.name == "facts/x-2.txt" and admitted.entry.status is ItemStatus.SKIPPED


def all_specs(ctx):
    """The report's own spec plus what every bundled check declares in ``collect()``."""
    from spotidoctor.bundle.build import check_specs
    from spotidoctor.engine.registry import discover

    specs, notes = check_specs(discover(plugins=False).checks, ctx, 5.0)
    assert notes == []
    return [global_spec(ctx), *specs]


def test_checks_declare_their_own_evidence(tmp_path) -> None:
    """The domain evidence comes from the checks' collect(), not from the report code."""
    ctx = make_context(tmp_path)
    own = {item.name for _, item in global_spec(ctx).items}
    assert not any(name.startswith(("x11/", "pulse/", "podman/", "userns/", "storage/", "crash/"))
                   for name in own)
    from spotidoctor.bundle.build import check_specs
    from spotidoctor.engine.registry import discover

    specs, _ = check_specs(discover(plugins=False).checks, ctx, 5.0)
    declared = {spec.origin: {item.name for _, item in spec.items} for spec in specs}
    assert "x11/xdpyinfo.txt" in declared["x11.display"]
    assert "pulse/pactl-info.txt" in declared["pulse.server"]
    assert "userns/subuid" in declared["userns.subid-ranges"]
    assert "podman/info.json" in declared["podman.rootless"]
    assert "image/inspect.json" in declared["image.present"]
    assert "storage/spotify-login.txt" in declared["storage.dir"]
    assert "crash/last-launch.json" in declared["crash.last-launch"]


def test_global_collectors_survive_a_host_where_everything_is_missing(tmp_path) -> None:
    """No podman, no pulse, no X, no /etc files: facts and manifest entries, no exception."""
    runner = FakeCommandRunner(missing=("podman", "buildah", "pactl", "xdpyinfo", "xhost", "uname"))
    ctx = make_context(tmp_path, commands=runner, env={"DISPLAY": ":7"})
    items = by_name(Collector(ctx).run(all_specs(ctx)))
    for name in ("facts/podman/version.txt", "facts/podman/info.json", "facts/pulse/pactl-info.txt",
                 "facts/x11/xdpyinfo.txt", "facts/x11/xhost.txt", "facts/image/inspect.json"):
        assert (items[name].entry.status, items[name].entry.reason) == (ItemStatus.SKIPPED, "command not found")
    assert items["facts/system/os-release"].entry.reason == "not found"
    assert items["facts/x11/files.txt"].text == (
        "DISPLAY: :7\nsocket /tmp/.X11-unix/X7: missing\n"
        "container cookie file /run/user/1600/spotidoctor/Xauthority-7: missing\n"
        f"Xauthority {HOME}/.Xauthority: missing (contents never collected)\n/tmp/.X11-unix: missing\n")
    assert items["facts/storage/spotify-login.txt"].text == "logged in: unknown (no prefs file yet)\nprefs files: 0\n"
    assert "no launch recorded" in (items["facts/crash/last-launch.json"].text or "")
    assert ("pactl", "info") in runner.calls and runner.envs[runner.calls.index(("pactl", "info"))] == NO_AUTOSPAWN


def test_global_collectors_keep_only_this_users_subuid_lines_and_no_credentials(tmp_path) -> None:
    prefs = f"{HOME}/.spotify/config/prefs"
    files = {"/etc/subuid": "bob:100000:65536\nalice:165536:65536\n1600:300000:10\n",
             prefs: 'autologin.username="canary"\nautologin.saved_credentials="CANARYSECRET"\nstorage.size=2048\n'}
    ctx = make_context(tmp_path, files=files, commands=FakeCommandRunner(
        missing=("podman", "buildah", "pactl", "xdpyinfo", "xhost", "uname")))
    items = by_name(Collector(ctx).run(all_specs(ctx)))
    assert items["facts/userns/subuid"].text == "alice:165536:65536\n1600:300000:10\n"
    assert items["facts/storage/spotify-prefs"].text == (
        "# spotidoctor: 2 autologin.* line(s) withheld (credentials)\nstorage.size=2048\n")
    assert items["facts/storage/spotify-login.txt"].text == "logged in: yes\nprefs files: 1\n"


def test_image_summary_keeps_labels_and_withholds_secret_env() -> None:
    from spotidoctor.checks.image.evidence import image_summary

    inspect = json.dumps([{"Id": "abc", "Created": "2026-11-01", "Labels": {"version": "1.2.86"},
                           "GraphDriver": {"Data": {"UpperDir": "/home/alice/x"}}, "History": ["..."],
                           "Config": {"User": "1500:1500", "Env": ["PATH=/usr/bin", "SPOTIFY_TOKEN=abc"],
                                      "Labels": {"version": "1.2.86"}, "Volumes": None}}])
    assert json.loads(image_summary(inspect)) == [{
        "Id": "abc", "Created": "2026-11-01", "Labels": {"version": "1.2.86"},
        "Config": {"User": "1500:1500", "Labels": {"version": "1.2.86"},
                   "Env": ["PATH=/usr/bin", "SPOTIFY_TOKEN=<withheld>"]}}]
    assert image_summary("Error: not json") == "Error: not json"


@pytest.mark.parametrize(("display", "number"), [
    (":0", 0), (":71.0", 71), ("unix:5", 5), ("unix/:3", 3), ("localhost:10.0", 10), ("", None), ("garbage", None),
    (None, None)])
def test_display_number(display: str | None, number: int | None) -> None:
    from spotidoctor.bundle.sources import display_number

    assert display_number(display) == number


@pytest.mark.parametrize(("files", "mode"), [
    ({"/sys/fs/cgroup/cgroup.controllers": "cpu io memory\n"}, "v2 (unified)"),
    ({"/sys/fs/cgroup/unified/cgroup.controllers": "", "/sys/fs/cgroup/memory/x": ""},
     "v1 (hybrid: v1 controllers with a v2 hierarchy at /sys/fs/cgroup/unified)"),
    ({"/sys/fs/cgroup/memory/x": ""}, "v1 (legacy)"),
    ({}, "unknown (/sys/fs/cgroup missing)"),
])
def test_cgroup_mode(tmp_path, files: dict[str, str], mode: str) -> None:
    from spotidoctor.bundle.sources import cgroup_mode

    assert cgroup_mode(make_context(tmp_path, files=files)) == mode


def test_generated_texts_survive_unreadable_directories(tmp_path) -> None:
    """Storage owned by the mapped subuid with mode 0700 is unreadable for the user: say so."""
    from spotidoctor.checks.storage.evidence import storage_text

    ctx = make_context(tmp_path, files={f"{HOME}/.spotify/config/prefs": "x=1\n"})
    locked = tmp_path / "home/alice/.spotify/config"
    locked.chmod(0o000)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        text = storage_text(ctx)
    finally:
        locked.chmod(0o755)
    assert f"{HOME}/.spotify/config: directory" in text and "  prefs" not in text
