"""Failed builds explained from real logs: one cause, the line that shows it, advice for the command run.

tests/data/buildlogs/ holds real output: buildah 1.28 and apt 2.6 in Debian bookworm against
a local repository made to fail one way at a time (closed port, no DNS with --network none,
a wrong URL, a package that is not there, a 407 proxy, a self-signed TLS server, a changed
index, a Release dated in the future, an unqualified base image, a key URL that 404s), and
excerpts of users' logs from public issues (a full disk, a captive portal, a CONNECT 403,
an x509 failure), each naming its source in its first line.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from spotidoctor.backend.failures import BuildFailure, Command, FailureKind, classify, explain, fix_failure_text

LOGS = Path(__file__).resolve().parents[1] / "data" / "buildlogs"
REBUILD = ("spotidoctor", "build", "--image", "spotify_pod", "--network", "host",
           "--build-arg", "SPOTIFY_KEY_URL=https://download.spotify.com/debian/pubkey_5384CE82BA52C83A.asc")


def from_log(name: str, returncode: int = 100, rebuild: tuple[str, ...] = REBUILD) -> BuildFailure:
    return classify((LOGS / name).read_text().splitlines(), returncode, rebuild=rebuild)


@pytest.mark.parametrize("log, kind, summary, evidence", [
    ("apt-connection-refused.log", FailureKind.NETWORK, "the build could not connect to 127.0.0.1:9",
     "W: Failed to fetch http://127.0.0.1:9/dists/stable/InRelease  Could not connect to 127.0.0.1:9"),
    ("key-url-connection-refused.log", FailureKind.NETWORK, "the build could not connect to 127.0.0.1 port 9",
     "curl: (7) Failed to connect to 127.0.0.1 port 9"),
    ("apt-dns.log", FailureKind.DNS, "the build could not resolve deb.debian.org: DNS gave no address for it",
     "Temporary failure resolving 'deb.debian.org'"),
    ("base-registry-dns.log", FailureKind.DNS, "the build could not resolve nonexistent.invalid",
     "lookup nonexistent.invalid on 10.255.255.53:53: no such host"),
    ("apt-404-repository.log", FailureKind.REPOSITORY,
     "there is no apt repository at http://127.0.0.1:36225/nothing (HTTP 404): the repository URL is wrong",
     "E: The repository 'http://127.0.0.1:36225/nothing stable Release' does not have a Release file."),
    ("apt-missing-package.log", FailureKind.MISSING_PACKAGE,
     "the repository offers no package spotify-client for this computer's architecture",
     "E: Unable to locate package spotify-client"),
    ("apt-proxy-407.log", FailureKind.PROXY, "a proxy between the build and the repository refused the request",
     "407  Proxy Authentication Required"),
    ("apt-proxy-connect-407.log", FailureKind.PROXY, "a proxy", "Invalid response from proxy: HTTP/1.0 407"),
    ("apt-proxy-connect-403.log", FailureKind.PROXY, "a proxy", "Received HTTP code 403 from proxy after CONNECT"),
    ("apt-tls.log", FailureKind.TLS, "a server's TLS certificate was not trusted",
     "Certificate verification failed: The certificate is NOT trusted."),
    ("base-x509.log", FailureKind.TLS, "TLS certificate was not trusted",
     "x509: certificate signed by unknown authority"),
    ("apt-hash-mismatch.log", FailureKind.HASH_MISMATCH, "did not match its signed index",
     "File has unexpected size (586 != 585). Mirror sync in progress?"),
    ("apt-clock.log", FailureKind.CLOCK, "dated 8425d 21h 3min 31s in the future for this computer: the system clock "
     "is behind", "is not valid yet (invalid for another 8425d 21h 3min 31s)"),
    ("base-short-name.log", FailureKind.BASE_IMAGE, "the base image nosuchbaseimage-sd:latest could not be found",
     "short-name \"nosuchbaseimage-sd:latest\" did not resolve to an alias"),
    ("key-url-404.log", FailureKind.SIGNING_KEY, "the Spotify signing key URL does not exist any more",
     "curl: (22) The requested URL returned error: 404"),
    ("disk-full-commit.log", FailureKind.DISK, "the disk holding /var/tmp is full",
     "write /var/tmp/storage3185272525/1: no space left on device"),
    ("disk-full-pull.log", FailureKind.DISK, "the disk holding /var/tmp is full", "no space left on device"),
    ("apt-captive-portal.log", FailureKind.NETWORK, "a captive portal", "(does the network require authentication?)"),
])
def test_each_real_log_names_its_cause_and_quotes_it(log: str, kind: FailureKind, summary: str, evidence: str) -> None:
    failure = from_log(log)
    assert failure.kind is kind, failure
    assert summary in failure.summary
    assert evidence in failure.evidence and len(failure.evidence) <= 302
    assert len(failure.advice_for(Command.LAUNCH)) >= 1


def test_the_fetch_that_failed_wins_over_what_followed_from_it() -> None:
    """apt-get update only warns; "Unable to locate package" and "is not signed" come after."""
    text = (LOGS / "apt-connection-refused.log").read_text()
    assert "E: Unable to locate package spotify-client" in text
    assert from_log("apt-connection-refused.log").kind is FailureKind.NETWORK
    proxy = (LOGS / "apt-proxy-407.log").read_text()
    assert "is not signed" in proxy and from_log("apt-proxy-407.log").kind is FailureKind.PROXY


def test_advice_names_the_command_the_user_ran() -> None:
    failure = from_log("apt-connection-refused.log")
    assert failure.advice_for(Command.LAUNCH) == (
        "Check that this computer reaches it (and its DNS), then run `spotidoctor launch`.",)
    assert failure.advice_for(Command.FIX)[0].endswith("then run `spotidoctor fix image`.")
    assert failure.advice_for(Command.BUILD)[0].endswith(f"then run `{shlex.join(REBUILD)}`.")


def test_advice_fills_in_what_the_log_named() -> None:
    assert from_log("apt-dns.log").advice_for(Command.LAUNCH)[0].startswith("`getent hosts deb.debian.org` must print")
    assert "`df -h /var/tmp` shows it" in from_log("disk-full-commit.log").advice_for(Command.FIX)[0]


def test_a_build_without_network_is_told_so() -> None:
    failure = from_log("apt-dns.log", rebuild=("spotidoctor", "build", "--network", "none"))
    assert failure.kind is FailureKind.DNS
    assert failure.advice_for(Command.BUILD) == (
        "The build ran with --network none, so its RUN steps had no network at all: build without that option.",)


def test_key_advice_is_a_command_for_build_and_config_for_launch_and_fix() -> None:
    failure = from_log("key-url-404.log", 22)
    build = failure.advice_for(Command.BUILD)
    assert shlex.split(build[1]) == ["spotidoctor", "build", "--image", "spotify_pod", "--network", "host",
                                     "--build-arg", "SPOTIFY_KEY_URL=https://download.spotify.com/debian/"
                                     "pubkey_<KEYID>.gpg"]  # the key URL it used is replaced, not repeated
    launch = failure.advice_for(Command.LAUNCH)
    assert launch == ("Take the new key's URL from Spotify's official download page, https://www.spotify.com/us/"
                      "download/linux/, put it into config.toml as build_args = [\"SPOTIFY_KEY_URL=https://download."
                      "spotify.com/debian/pubkey_<KEYID>.gpg\"], then run `spotidoctor launch`.",)
    assert failure.advice_for(Command.FIX)[0].endswith("then run `spotidoctor fix image`.")


def test_explain_is_the_same_text_for_every_command_but_the_advice() -> None:
    failure = from_log("apt-missing-package.log")
    lines = {c: explain(failure, c, "spotify_pod", "/s/builds/1.log") for c in Command}
    for text in lines.values():
        assert text[0] == ("Build of spotify_pod failed: the repository offers no package spotify-client for this "
                           "computer's architecture")
        assert text[1] == "  E: Unable to locate package spotify-client"
        assert text[2].startswith("  → Check the repository URL (spotify_repo in config.toml")
        assert text[-1] == "Full log: /s/builds/1.log"
    assert lines[Command.LAUNCH][2].endswith("then run `spotidoctor launch`.")


def test_fix_failure_text_is_indented_under_the_step() -> None:
    text = fix_failure_text(from_log("apt-dns.log"), "spotify_pod", "/s/builds/1.log")
    first, *rest = text.split("\n")
    assert first == "the build could not resolve deb.debian.org: DNS gave no address for it"
    assert all(line.startswith("      ") for line in rest)
    assert rest[-1].strip() == "Full log: /s/builds/1.log"
    assert "then run `spotidoctor fix image`." in rest[1]


def test_a_failing_step_of_the_users_own_recipe_is_theirs_and_of_the_bundled_one_ours() -> None:
    lines = ["STEP 2/2: RUN false", "# kept", 'Error: building at STEP "RUN false": while running runtime: '
             "exit status 1", "# exit status 1"]
    own = classify(lines, 1, rebuild=("spotidoctor", "build", "--containerfile", "/src/Containerfile"))
    assert own.kind is FailureKind.RECIPE and own.summary == "the build failed at RUN false"
    assert own.evidence.startswith("Error: building at STEP")  # our own "# ..." lines are never quoted
    assert own.advice_for(Command.LAUNCH)[0].startswith("The log shows the failing command's output: fix your")
    bundled = classify(lines, 1)
    assert "spotidoctor's own recipe" in bundled.advice_for(Command.BUILD)[0]


def test_the_recipes_own_argument_check_is_explained() -> None:
    failure = classify(["SPOTIFY_REPO must be an http:// or https:// URL"], 2)
    assert failure.kind is FailureKind.BAD_ARGUMENT
    assert failure.summary == "the build argument SPOTIFY_REPO must be an http:// or https:// URL"


def test_apts_message_glued_to_a_progress_line_is_quoted_from_where_it_starts() -> None:
    """apt writes "Reading package lists..." to stdout without a newline and "E: ..." to stderr;
    the build log can join them on one line (seen in a real build)."""
    lines = ["STEP 4/9: RUN apt-get update; apt-get install -y spotify-client", "Reading package lists...",
             "Reading package lists...E: Unable to locate package spotify-client", "", "Building dependency tree..."]
    failure = classify(lines, 100)
    assert failure.kind is FailureKind.MISSING_PACKAGE
    assert failure.evidence == "E: Unable to locate package spotify-client"
    indented = classify(["  E: Unable to locate package spotify-client"], 100)
    assert indented.evidence == "E: Unable to locate package spotify-client"
