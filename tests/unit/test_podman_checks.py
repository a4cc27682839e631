"""spotidoctor.podman (podman info parsing, memoised facts, id maps, containers.conf editing) and the
podman.* checks over canned commands, including the crun → runc fix applied to a sysroot."""
from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.api import Context
from spotidoctor.checks.podman.installed import KEEP_ID_TOO_OLD, NO_BUILDAH, NO_PODMAN, PodmanInstalled
from spotidoctor.checks.podman.network import (
    NETWORK_OK,
    NO_PASTA,
    NO_SLIRP,
    NO_TUN,
    PASTA_TOO_OLD,
    TUN_NO_ACCESS,
    RootlessNetwork,
)
from spotidoctor.checks.podman.probe import HUNG, NO_PROBE_DIR, Failure, classify, probe_argv
from spotidoctor.checks.podman.rootless import AS_ROOT, NOT_ROOTLESS, VFS_ADVICE, VFS_DRIVER, PodmanRootless
from spotidoctor.checks.podman.runtime import (
    HYBRID,
    KEEP_GROUPS_NOTE,
    NO_INIT,
    RUNC_FIX_ID,
    RUNTIME_MISSING,
    RUNTIME_OK,
    USERNS_BROKEN,
    OciRuntimeStarts,
)
from spotidoctor.config import Config, SetConfig
from spotidoctor.engine.fixer import FixPolicy, StepEnvironment, apply
from spotidoctor.engine.records import Candidate
from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.fixes import Applicability, Instruction, Privilege, RunCommand, WriteFile
from spotidoctor.model import Message, Status
from spotidoctor.paths import UserInfo
from spotidoctor.podman.conf import containers_conf_path, with_engine_runtime
from spotidoctor.podman.idmaps import id_maps, mapped_owner, namespace_owner
from spotidoctor.podman.info import parse_podman_info, parse_version, podman_info, podman_info_error
from spotidoctor.probes.fs import StatInfo
from spotidoctor.testing import DEFAULT_USER, FakeCommand, FakeCommandRunner, FakeFS, make_context

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DATA = Path(__file__).parent.parent / "data" / "podman_info_4.3.1_rootless_runc.json"
ROOTFS = "/run/user/1600/spotidoctor/podman-probe-rootfs"
PROBE = probe_argv(ROOTFS)
HYBRID_ERROR = ("Error: OCI runtime error: crun: cgroups in hybrid mode not supported, "
                "drop all controllers from cgroupv2")


def info_json(**changes: Any) -> str:
    """The real `podman info --format json` of the test VM, with dotted-path changes."""
    data = json.loads(DATA.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return json.dumps(data)


CRUN = {"host.ociRuntime.name": "crun", "host.ociRuntime.path": "/usr/bin/crun"}


def context(tmp_path: Path, commands: Sequence[FakeCommand] = (), *, info: str | None = None,
            missing: Sequence[str] = ("dnf", "zypper", "pacman"), files: Mapping[str, str] | None = None,
            env: Mapping[str, str] | None = None, config: Config | None = None,
            user: UserInfo = DEFAULT_USER, fs: FakeFS | None = None) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    base = [FakeCommand(("podman", "--version"), "podman version 4.3.1\n"),
            FakeCommand(("buildah", "--version"), "buildah version 1.28.2 (image-spec 1.1.0-rc2)\n"),
            FakeCommand(("podman", "info", "--format", "json"), info_json() if info is None else info)]
    base = [c for c in base if c.argv[0] not in missing]
    runner = FakeCommandRunner([*commands, *base], repeat=True, missing=missing)
    return make_context(root, files=files, commands=runner, env=env, config=config, user=user, fs=fs)


def runner_of(ctx: Context) -> FakeCommandRunner:
    assert isinstance(ctx.probes.cmd, FakeCommandRunner)
    return ctx.probes.cmd


# -- podman info ----------------------------------------------------------------------------

def test_parse_real_podman_info():
    info = parse_podman_info(DATA.read_text())
    assert info.facts() == {
        "podman_version": "4.3.1", "rootless": True, "runtime": "runc", "runtime_path": "/usr/bin/runc",
        "keep_groups_supported": False, "cgroup_version": "v1", "cgroup_manager": "cgroupfs",
        "log_driver": "k8s-file", "network_backend": "netavark", "default_network": "slirp4netns",
        "graph_driver": "vfs"}
    assert info.uid_map is not None and info.uid_map.to_host(1500) == 101499
    assert info.slirp4netns_path == "/usr/bin/slirp4netns" and info.pasta_path == ""
    assert not info.pasta_supported and info.at_least(4, 3) and not info.at_least(4, 4)


def test_podman_5_defaults_to_pasta():
    info = parse_podman_info(info_json(**{"version.Version": "5.0.1"}))
    assert info.default_network == "pasta" and info.pasta_supported
    said = parse_podman_info(info_json(**{"version.Version": "5.2.0", "host.rootlessNetworkCmd": "slirp4netns"}))
    assert said.default_network == "slirp4netns"


@pytest.mark.parametrize("text, message", [
    ("", "did not print JSON"),
    ("[]", "no 'host' object"),
    ('{"host": {}}', "no version.Version"),
    ('{"host": 1, "version": {}}', "no 'host' object"),
    ("[" * 100000, "did not print JSON"),
])
def test_bad_podman_info(text, message):
    with pytest.raises(ParseError, match=message):
        parse_podman_info(text)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                         lambda c: st.lists(c) | st.dictionaries(st.text(), c)).map(json.dumps)))
def test_podman_info_parser_raises_only_parse_error(text):
    try:
        parse_podman_info(text)
    except ParseError:
        pass


@pytest.mark.parametrize("text, version", [
    ("podman version 4.3.1\n", (4, 3, 1)),
    ("podman version 5.0.0-dev\n", (5, 0, 0)),
    ("buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)\n", (1, 28, 2)),
    ("garbage", None),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_podman_info_runs_once_per_run(tmp_path):
    ctx = context(tmp_path, [FakeCommand(PROBE, "tini version 0.1.7_catatonit\n")])
    for check in (PodmanRootless(), OciRuntimeStarts(), PodmanRootless()):
        check.run(ctx)
    assert runner_of(ctx).calls.count(("podman", "info", "--format", "json")) == 1


def test_podman_info_error_is_kept(tmp_path):
    ctx = context(tmp_path, [FakeCommand(("podman", "info", "--format", "json"), "", "Error: boom", 125)])
    assert podman_info(ctx) is None
    assert podman_info_error(ctx) == "`podman info` failed: Error: boom"


# -- id maps and the mapped owner -------------------------------------------------------------

UNSHARE_UID = ("podman", "unshare", "cat", "/proc/self/uid_map")
UNSHARE_GID = ("podman", "unshare", "cat", "/proc/self/gid_map")


def test_mapped_owner_profiles(tmp_path):
    maps = [FakeCommand(UNSHARE_UID, "0 1600 1\n1 100000 65536\n"),
            FakeCommand(UNSHARE_GID, "0 1600 1\n1 200000 65536\n")]
    ctx = context(tmp_path, maps)
    assert mapped_owner(ctx) == (101499, 201499)
    assert mapped_owner(ctx, 1) == (100000, 200000)
    assert mapped_owner(ctx, profile="keep-id") == (1600, 1600)
    keep = context(tmp_path, maps, config=Config(profile="keep-id"))
    assert mapped_owner(keep) == (1600, 1600)
    assert namespace_owner("keep-id", 1500) == (0, 0)
    assert namespace_owner("isolated", 1500) == (1500, 1500)


@pytest.mark.parametrize("uid_answer, gid_answer, reason", [
    (FakeCommand(UNSHARE_UID, "", "newuidmap: write to uid_map failed", 125), None,
     "`podman unshare cat /proc/self/uid_map` failed: newuidmap: write to uid_map failed"),
    (FakeCommand(UNSHARE_UID, "junk\n"), None, "cannot read /proc/self/uid_map from `podman unshare`: line 1:"),
    (FakeCommand(UNSHARE_UID, "0 1600 1\n1 100000 1000\n"), FakeCommand(UNSHARE_GID, "0 1600 1\n1 100000 1000\n"),
     "container uid 1500 is not mapped by podman's user namespace (uid_map 0 1600 1 / 1 100000 1000)"),
])
def test_mapped_owner_unavailable(tmp_path, uid_answer, gid_answer, reason):
    ctx = context(tmp_path, [uid_answer, *([gid_answer] if gid_answer else [])])
    with pytest.raises(ProbeUnavailable) as info:
        mapped_owner(ctx)
    assert info.value.reason.startswith(reason)


def test_id_maps_memoised(tmp_path):
    ctx = context(tmp_path, [FakeCommand(UNSHARE_UID, "0 1600 1\n"), FakeCommand(UNSHARE_GID, "0 1600 1\n")])
    assert id_maps(ctx) is id_maps(ctx)
    assert runner_of(ctx).calls.count(UNSHARE_UID) == 1


# -- containers.conf --------------------------------------------------------------------------

@pytest.mark.parametrize("before, after", [
    pytest.param("", '[engine]\nruntime = "runc"\n', id="empty"),
    pytest.param('[engine]\nruntime = "crun"\n', '[engine]\nruntime = "runc"\n', id="replace"),
    pytest.param('[engine]\n  runtime="crun"  # mine\nevents_logger = "file"\n',
                 '[engine]\n  runtime = "runc"\nevents_logger = "file"\n', id="replace-indented"),
    pytest.param('# my settings\n[containers]\nlog_driver = "k8s-file"\n',
                 '# my settings\n[containers]\nlog_driver = "k8s-file"\n\n[engine]\nruntime = "runc"\n',
                 id="append-table"),
    pytest.param('[engine]\nevents_logger = "file"',
                 '[engine]\nruntime = "runc"\nevents_logger = "file"', id="insert-no-final-newline"),
    pytest.param('[engine] # comment\n#runtime = "crun"\n[engine.runtimes]\nrunc = ["/usr/sbin/runc"]\n',
                 '[engine] # comment\nruntime = "runc"\n#runtime = "crun"\n'
                 '[engine.runtimes]\nrunc = ["/usr/sbin/runc"]\n',
                 id="commented-and-subtable"),
    pytest.param('[network]\nx = 1\n[engine]\nruntime_supports_json = ["crun"]\n[machine]\ncpus = 2\n',
                 '[network]\nx = 1\n[engine]\nruntime = "runc"\nruntime_supports_json = ["crun"]\n'
                 '[machine]\ncpus = 2\n',
                 id="between-tables"),
])
def test_with_engine_runtime(before, after):
    assert with_engine_runtime(before, "runc") == after


@pytest.mark.parametrize("text", [
    pytest.param("[engine\n", id="invalid-toml"),
    pytest.param('engine.runtime = "crun"\n', id="dotted-key"),
    pytest.param('engine = "x"\n', id="engine-not-a-table"),
    pytest.param('[engine]\n"runtime" = "crun"\n', id="quoted-key"),
])
def test_with_engine_runtime_refuses(text):
    with pytest.raises(ParseError):
        with_engine_runtime(text, "runc")


@settings(max_examples=300)
@given(st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z"], include_characters="\n[]=\"#")))
def test_engine_runtime_edit_is_safe_or_refused(text):
    try:
        new = with_engine_runtime(text, "runc")
    except ParseError:
        return
    assert tomllib.loads(new)["engine"]["runtime"] == "runc"


def test_containers_conf_path(tmp_path):
    assert containers_conf_path(context(tmp_path)) == "/home/alice/.config/containers/containers.conf"
    xdg = context(tmp_path, env={"XDG_CONFIG_HOME": "/tmp/cfg"})
    assert containers_conf_path(xdg) == "/tmp/cfg/containers/containers.conf"
    conf = context(tmp_path, env={"CONTAINERS_CONF": "/srv/c.conf", "XDG_CONFIG_HOME": "/tmp/cfg"})
    assert containers_conf_path(conf) == "/srv/c.conf"


# -- podman.installed / podman.rootless --------------------------------------------------------

def test_installed(tmp_path):
    result = PodmanInstalled().run(context(tmp_path))
    assert (result.status, result.summary) == (Status.OK, "podman 4.3.1, buildah 1.28.2")
    assert result.facts == {"podman_version": "4.3.1", "buildah_version": "1.28.2"}


def test_podman_missing(tmp_path):
    ctx = context(tmp_path, missing=("podman", "dnf", "zypper", "pacman"))
    result = PodmanInstalled().run(ctx)
    assert (result.status, result.summary) == (Status.FAIL, NO_PODMAN)
    assert result.fixes[0].steps[0].effective_argv == ("sudo", "--", "apt-get", "install", "-y", "podman")  # type: ignore[attr-defined]


def test_buildah_missing_warns(tmp_path):
    result = PodmanInstalled().run(context(tmp_path, missing=("buildah",)))
    assert (result.status, result.summary) == (Status.WARN, NO_BUILDAH)


def test_keep_id_needs_podman_4_3(tmp_path):
    old = [FakeCommand(("podman", "--version"), "podman version 4.2.0\n")]
    result = PodmanInstalled().run(context(tmp_path, old, config=Config(profile="keep-id")))
    assert result.summary == KEEP_ID_TOO_OLD.format(version="4.2.0")
    fix = result.fixes[0]
    assert fix.applicability is Applicability.UNSAFE
    assert fix.steps == (SetConfig("Set profile = isolated in spotidoctor's config", key="profile", value="isolated"),)


def test_rootless(tmp_path):
    result = PodmanRootless().run(context(tmp_path, info=info_json(**{"store.graphDriverName": "overlay"})))
    assert result.status is Status.OK
    assert result.summary == "rootless podman 4.3.1 (runtime runc, cgroups v1, storage overlay)"
    assert result.facts["runtime"] == "runc" and result.facts["rootless"] is True


def test_rootless_with_the_vfs_driver_warns_and_says_how_to_use_overlay(tmp_path):
    result = PodmanRootless().run(context(tmp_path))  # the recorded podman 4.3.1 uses vfs
    assert (result.status, result.summary) == (
        Status.WARN, "rootless podman 4.3.1 (runtime runc, cgroups v1, storage vfs): the vfs storage driver copies "
                     "every image layer in full")
    assert result.messages[0] == Message.hint(VFS_DRIVER, *VFS_ADVICE)
    assert result.facts["graph_driver"] == "vfs"


def test_rootless_as_root(tmp_path):
    result = PodmanRootless().run(context(tmp_path, user=UserInfo(0, 0, "root", "/root")))
    assert (result.status, result.summary) == (Status.FAIL, AS_ROOT)


def test_not_rootless(tmp_path):
    result = PodmanRootless().run(context(tmp_path, info=info_json(**{"host.security.rootless": False})))
    assert (result.status, result.summary) == (Status.FAIL, NOT_ROOTLESS)


def test_podman_info_failure_points_at_userns(tmp_path):
    failing = [FakeCommand(("podman", "info", "--format", "json"), "", "newuidmap: write to uid_map failed", 125)]
    result = PodmanRootless().run(context(tmp_path, failing))
    assert result.summary == "`podman info` failed"
    assert result.messages[0].advice == ("See `spotidoctor check userns`.",)


# -- podman.runtime ---------------------------------------------------------------------------

def test_classify():
    assert classify(HYBRID_ERROR) is Failure.HYBRID_CGROUPS
    assert classify('Error: default OCI runtime "crun" not found: invalid argument') is Failure.RUNTIME_MISSING
    no_init = "container-init binary not found on the host: stat /usr/libexec/podman/catatonit"
    assert classify(no_init) is Failure.NO_INIT
    assert classify('Error: /usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): Permission denied') is Failure.TUN
    assert classify("unable to find network with name or ID pasta: network not found") is Failure.PASTA_UNSUPPORTED
    assert classify("runc create failed: unable to setup user: setgroups: invalid argument") is Failure.USERNS
    assert classify("", timed_out=True) is Failure.TIMEOUT
    assert classify("weird") is Failure.OTHER


def test_runtime_starts_a_container(tmp_path):
    ctx = context(tmp_path, [FakeCommand(PROBE, "tini version 0.1.7_catatonit\n")])
    result = OciRuntimeStarts().run(ctx)
    assert (result.status, result.summary) == (Status.OK, RUNTIME_OK.format(runtime="runc"))
    assert result.messages[0].text == KEEP_GROUPS_NOTE
    assert result.facts == {"runtime": "runc", "runtime_path": "/usr/bin/runc", "keep_groups_supported": False,
                            "containers_conf": "/home/alice/.config/containers/containers.conf"}
    assert (tmp_path / "root" / ROOTFS.lstrip("/")).is_dir()
    assert PROBE == ("podman", "run", "--rm", "--network", "none", "--init", "--rootfs", ROOTFS,
                     "/run/podman-init", "--version")


def hybrid_context(tmp_path: Path, **kwargs: Any) -> Context:
    return context(tmp_path, [FakeCommand(PROBE, "", HYBRID_ERROR, 126)], info=info_json(**CRUN), **kwargs)


def test_crun_hybrid_offers_safe_runc_config_and_applies_it(tmp_path):
    ctx = hybrid_context(tmp_path, files={"/usr/sbin/runc": ""})
    result = OciRuntimeStarts().run(ctx)
    assert (result.status, result.summary) == (Status.FAIL, HYBRID)
    fix = result.fixes[0]
    assert (fix.id, fix.applicability, fix.privilege) == (RUNC_FIX_ID, Applicability.SAFE, Privilege.USER)
    conf = "/home/alice/.config/containers/containers.conf"
    assert fix.steps == (WriteFile(f"Set the OCI runtime in {conf}", path=conf,
                                   content='[engine]\nruntime = "runc"\n', mode=0o644, backup=True),)
    assert KEEP_GROUPS_NOTE in fix.notes and FixPolicy().allows(fix)
    applied = apply(Candidate(result, fix), StepEnvironment.from_context(ctx))
    assert applied.ok
    assert (tmp_path / "root" / conf.lstrip("/")).read_text() == '[engine]\nruntime = "runc"\n'


def test_runc_config_merges_and_backs_up(tmp_path):
    conf = "/home/alice/.config/containers/containers.conf"
    old = '# mine\n[containers]\nlog_driver = "journald"\n[engine]\nruntime = "crun"\n'
    ctx = hybrid_context(tmp_path, files={"/usr/bin/runc": "", conf: old})
    os.chmod(tmp_path / "root" / conf.lstrip("/"), 0o600)
    fix = OciRuntimeStarts().run(ctx).fixes[0]
    env = StepEnvironment.from_context(ctx)
    assert apply(Candidate(OciRuntimeStarts().run(ctx), fix), env).ok
    target = tmp_path / "root" / conf.lstrip("/")
    assert target.read_text() == '# mine\n[containers]\nlog_driver = "journald"\n[engine]\nruntime = "runc"\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    backups = env.backups.entries()
    assert [b.original for b in backups] == [conf]
    assert (tmp_path / "root" / backups[0].copy.lstrip("/")).read_text() == old


def test_runc_fix_honours_containers_conf_and_xdg(tmp_path):
    ctx = hybrid_context(tmp_path, files={"/usr/bin/runc": ""}, env={"CONTAINERS_CONF": "/home/alice/my.conf"})
    step = OciRuntimeStarts().run(ctx).fixes[0].steps[0]
    assert isinstance(step, WriteFile) and step.path == "/home/alice/my.conf"
    xdg = hybrid_context(tmp_path, files={"/usr/bin/runc": ""}, env={"XDG_CONFIG_HOME": "/home/alice/cfg"})
    step = OciRuntimeStarts().run(xdg).fixes[0].steps[0]
    assert isinstance(step, WriteFile) and step.path == "/home/alice/cfg/containers/containers.conf"


def test_runc_fix_refuses_a_broken_conf(tmp_path):
    conf = "/home/alice/.config/containers/containers.conf"
    ctx = hybrid_context(tmp_path, files={"/usr/bin/runc": "", conf: "[engine\n"})
    fix = OciRuntimeStarts().run(ctx).fixes[0]
    assert fix.applicability is Applicability.MANUAL
    assert isinstance(fix.steps[0], Instruction) and "not valid TOML" in fix.steps[0].description


def test_no_runc_means_installing_it(tmp_path):
    ctx = hybrid_context(tmp_path, missing=("runc", "dnf", "zypper", "pacman"))
    fix = OciRuntimeStarts().run(ctx).fixes[0]
    assert (fix.id, fix.applicability) == ("podman.install-runc", Applicability.MANUAL)
    step = fix.steps[0]
    assert isinstance(step, RunCommand) and step.effective_argv == ("sudo", "--", "apt-get", "install", "-y", "runc")


@pytest.mark.parametrize("answer, status, summary", [
    (FakeCommand(PROBE, "", "Error: container-init binary not found on the host: stat /usr/libexec/podman/catatonit",
                 125),
     Status.WARN, NO_INIT),
    (FakeCommand(PROBE, "", 'Error: default OCI runtime "crun" not found: invalid argument', 125),
     Status.FAIL, RUNTIME_MISSING.format(runtime="crun")),
    (FakeCommand(PROBE, "", "Error: runc create failed: setgroups: invalid argument", 126), Status.FAIL, USERNS_BROKEN),
    (FakeCommand(PROBE, timed_out=True), Status.FAIL, HUNG.format(timeout=60)),
    (FakeCommand(PROBE, "", "Error: something new", 126), Status.FAIL, "runc could not start a container"),
])
def test_runtime_failures(tmp_path, answer, status, summary):
    result = OciRuntimeStarts().run(context(tmp_path, [answer]))
    assert (result.status, result.summary) == (status, summary)


# -- podman.network ---------------------------------------------------------------------------

class TunFS(FakeFS):
    """A sysroot where /dev/net/tun is a character device (a test cannot mknod one)."""

    def __init__(self, root: Path, mode: int = 0o666, readable: bool = True) -> None:
        super().__init__(root)
        self._mode, self._readable = mode, readable

    def stat(self, path: str) -> StatInfo | None:
        if path == "/dev/net/tun":
            return StatInfo(0, 0, stat.S_IFCHR | self._mode, 0, 0.0, 5, 200)
        return super().stat(path)

    def access(self, path: str, mode: int) -> bool:
        return self._readable if path == "/dev/net/tun" else super().access(path, mode)


def network_context(tmp_path: Path, answer: FakeCommand | None = None, fs: FakeFS | None = None,
                    **kwargs: Any) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    commands = [answer] if answer else []
    return context(tmp_path, commands, fs=fs if fs is not None else TunFS(root), **kwargs)


def test_network_slirp4netns_works(tmp_path):
    result = RootlessNetwork().run(network_context(tmp_path, FakeCommand(probe_argv(ROOTFS, "slirp4netns"))))
    assert (result.status, result.summary) == (Status.OK, NETWORK_OK.format(mode="slirp4netns"))
    assert result.facts == {"network_mode": "slirp4netns", "pasta_available": False, "tun_available": True}


def test_tun_missing(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    result = RootlessNetwork().run(network_context(tmp_path, fs=FakeFS(root)))
    assert (result.status, result.summary) == (Status.FAIL, NO_TUN.format(problem="missing"))
    assert result.fixes[0].steps[0].effective_argv == ("sudo", "--", "modprobe", "tun")  # type: ignore[attr-defined]


def test_tun_without_access(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    result = RootlessNetwork().run(network_context(tmp_path, fs=TunFS(root, 0o600, readable=False)))
    assert result.summary == NO_TUN.format(problem=TUN_NO_ACCESS)
    assert result.fixes[0].steps[0].effective_argv == ("sudo", "--", "chmod", "0666", "/dev/net/tun")  # type: ignore[attr-defined]


def test_tun_failure_at_run_time(tmp_path):
    error = 'Error: /usr/bin/slirp4netns failed: "open(\\"/dev/net/tun\\"): No such file or directory"'
    answer = FakeCommand(probe_argv(ROOTFS, "slirp4netns"), "", error, 126)
    result = RootlessNetwork().run(network_context(tmp_path, answer))
    assert result.summary == NO_TUN.format(problem="not usable")


def test_slirp4netns_missing(tmp_path):
    info = info_json(**{"host.slirp4netns.executable": ""})
    result = RootlessNetwork().run(network_context(tmp_path, info=info, missing=("slirp4netns",)))
    assert (result.status, result.summary) == (Status.FAIL, NO_SLIRP)


def test_pasta_needs_podman_4_4(tmp_path):
    result = RootlessNetwork().run(network_context(tmp_path, config=Config(network="pasta")))
    assert result.summary == PASTA_TOO_OLD.format(version="4.3.1")
    fix = result.fixes[0]
    assert fix.applicability is Applicability.UNSAFE and fix.steps[0] == SetConfig(
        "Clear network in spotidoctor's config", key="network", value="")


def test_pasta_without_the_program(tmp_path):
    info = info_json(**{"version.Version": "4.9.3"})
    result = RootlessNetwork().run(network_context(tmp_path, info=info, config=Config(network="pasta"),
                                                   missing=("pasta",)))
    assert result.summary == NO_PASTA


def test_pasta_works_on_new_podman(tmp_path):
    info = info_json(**{"version.Version": "5.0.1", "host.pasta.executable": "/usr/bin/pasta"})
    result = RootlessNetwork().run(network_context(tmp_path, FakeCommand(probe_argv(ROOTFS, "pasta")), info=info))
    assert (result.status, result.facts["pasta_available"]) == (Status.OK, True)


def test_network_none_needs_no_helper(tmp_path):
    result = RootlessNetwork().run(network_context(tmp_path, config=Config(network="none")))
    assert (result.status, result.summary) == (Status.OK, "network mode none: no helper needed")


class ReadOnlyFS(FakeFS):
    def makedirs(self, path: str, *, mode: int = 0o700) -> None:
        raise PermissionError(13, "Permission denied", path)

    def make_private_dirs(self, path: str, *, top: str | None = None) -> None:
        raise PermissionError(13, "Permission denied", path)


def test_probe_dir_that_cannot_be_created(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    ctx = context(tmp_path, fs=ReadOnlyFS(root))
    result = OciRuntimeStarts().run(ctx)
    assert (result.status, result.summary) == (Status.FAIL, NO_PROBE_DIR.format(error="Permission denied"))
    assert PROBE not in runner_of(ctx).calls


def _notes(result: Any) -> str:
    return " ".join(note for fix in result.fixes for note in fix.notes)


def test_tun_advice_offers_pasta_only_where_podman_supports_it(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    old = RootlessNetwork().run(network_context(tmp_path, fs=FakeFS(root)))  # podman 4.3.1
    assert "pasta" not in _notes(old) and "modprobe" in old.fixes[0].steps[0].effective_argv  # type: ignore[attr-defined]
    newer = RootlessNetwork().run(network_context(tmp_path, fs=FakeFS(root),
                                                  info=info_json(**{"version.Version": "4.4.0"})))
    assert "Or use `network = \"pasta\"`" in _notes(newer)
