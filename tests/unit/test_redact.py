"""The redactor: tokens per kind, consistency across texts and file names, word boundaries
for short names, secrets withheld even with --no-redact, the token map on disk."""
from __future__ import annotations

import json
import os
import stat

import pytest

from spotidoctor.bundle.identity import Identity
from spotidoctor.bundle.redact import Redactor, TokenMap, default_map_path, word_pattern
from spotidoctor.bundle.secrets import WITHHELD, scrub
from spotidoctor.probes.fs import RealFS

IDENTITY = Identity(
    login_names=("al",),
    other_users=("bob",),
    full_names=("Al Smith",),
    homes=("/home/al", "/srv/users/al-home"),
    hostnames=("vm.example.com", "vm"),
    machine_ids=("0123456789abcdef0123456789abcdef",),
    spotify_users=("canaryuser",),
)


def fresh(identity: Identity = IDENTITY, *, identity_on: bool = True) -> Redactor:
    return Redactor(identity, TokenMap(), identity_on=identity_on)


@pytest.mark.parametrize(("line", "expected"), [
    # home directories: as whole path prefixes, before the user name inside them
    pytest.param("/home/al/.config/pulse/cookie", "/home/homedir0/.config/pulse/cookie", id="home"),
    pytest.param("HOME=/home/al", "HOME=/home/homedir0", id="home-at-end"),
    pytest.param("/srv/users/al-home/x", "/home/homedir0/x", id="home-not-under-home"),
    pytest.param("/home/alice/x", "/home/alice/x", id="other-home-prefix"),
    pytest.param("/home/al.bak/x", "/home/obfuscateduser0.bak/x", id="home-dot-suffix-is-user"),
    # user names: whole words only; _ - . / @ separate words
    pytest.param("al@vm: ok", "obfuscateduser0@host0: ok", id="user-at-host"),
    pytest.param("alsa mal almost al", "alsa mal almost obfuscateduser0", id="short-name-inside-words"),
    pytest.param("SI:localuser:al", "SI:localuser:obfuscateduser0", id="xhost-acl"),
    pytest.param("al_backup al-laptop pytest-of-al", "obfuscateduser0_backup obfuscateduser0-laptop "
                 "pytest-of-obfuscateduser0", id="separators"),
    pytest.param("AL is not al", "AL is not obfuscateduser0", id="user-names-case-sensitive"),
    pytest.param("bob and bobby", "obfuscateduser0 and bobby", id="other-real-user"),
    pytest.param("owner: Al Smith (al)", "owner: obfuscateduser0 (obfuscateduser1)", id="full-name"),
    # host names: case-insensitive, FQDN first, sysctl spellings are not host names
    pytest.param("Host Name: VM.example.com", "Host Name: host0", id="fqdn"),
    pytest.param('"hostname": "vm",', '"hostname": "host0",', id="short-host-json"),
    pytest.param("kvm vmware vm2", "kvm vmware vm2", id="host-inside-words"),
    pytest.param("vm.overcommit_memory = 2", "vm.overcommit_memory = 2", id="sysctl-key"),
    pytest.param("/proc/sys/vm/overcommit_memory", "/proc/sys/vm/overcommit_memory", id="proc-sys-path"),
    pytest.param("ssh vm.example.com.", "ssh host0.", id="fqdn-end-of-sentence"),
    # machine id
    pytest.param("id 0123456789ABCDEF0123456789ABCDEF", "id machineid0", id="machine-id-upper"),
    pytest.param("~/.config/pulse/0123456789abcdef0123456789abcdef-runtime",
                 "~/.config/pulse/machineid0-runtime", id="machine-id-in-path"),
    pytest.param("sha 0123456789abcdef0123456789abcdef00", "sha 0123456789abcdef0123456789abcdef00",
                 id="machine-id-inside-longer-hex"),
    # IPv4
    pytest.param("inet 192.168.1.20/24 brd 192.168.1.255", "inet ip4addr0/24 brd ip4addr1", id="ipv4"),
    pytest.param("127.0.0.1 0.0.0.0 255.255.255.0", "127.0.0.1 0.0.0.0 255.255.255.0", id="ipv4-public"),
    pytest.param("Spotify 1.2.86.202.g8cd7fb22", "Spotify 1.2.86.202.g8cd7fb22", id="spotify-version"),
    pytest.param("podman 4.3.1 kernel 6.18.44", "podman 4.3.1 kernel 6.18.44", id="versions"),
    pytest.param("1.2.3.4.5", "1.2.3.4.5", id="five-parts"),
    pytest.param("via 10.0.2.100.", "via ip4addr0.", id="ipv4-end-of-sentence"),
    pytest.param("dump-10.0.2.100.txt", "dump-ip4addr0.txt", id="ipv4-in-file-name"),
    # IPv6
    pytest.param("fe80::1ff:fe23:4567:890a%eth0", "ip6addr0", id="ipv6-link-local-scope"),
    pytest.param("[2001:db8::1]:8080", "[ip6addr0]:8080", id="ipv6-bracketed"),
    pytest.param("2001:0db8:0000:0000:0000:0000:0000:0001", "ip6addr0", id="ipv6-full-form"),
    pytest.param("::ffff:192.0.2.128", "ip6addr0", id="ipv6-mapped-ipv4"),
    pytest.param("::1 and ::", "::1 and ::", id="ipv6-loopback-unspecified"),
    pytest.param("12:34:56 std::string Gtk::Window dead::beef::1", "12:34:56 std::string Gtk::Window dead::beef::1",
                 id="not-ipv6"),
    pytest.param("fe80::1.", "ip6addr0.", id="ipv6-end-of-sentence"),
    # MAC
    pytest.param("link/ether 52:54:00:ab:cd:ef brd ff:ff:ff:ff:ff:ff", "link/ether macaddr0 brd ff:ff:ff:ff:ff:ff",
                 id="mac"),
    pytest.param("52-54-00-AB-CD-EF", "macaddr0", id="mac-dashes-upper"),
    pytest.param("52:54-00:ab:cd:ef", "52:54-00:ab:cd:ef", id="mac-mixed-separators"),
    # Spotify account names (always)
    pytest.param("Users/canaryuser-user/prefs", "Users/spotifyuser0-user/prefs", id="spotify-account"),
])
def test_line_table(line: str, expected: str) -> None:
    assert fresh().text(line) == expected


def test_same_value_same_token_across_texts_and_names() -> None:
    redactor = fresh()
    first = redactor.text("user al on vm at 10.1.2.3")
    second = redactor.text("10.1.2.3 served al; bob; vm")
    name = redactor.name("facts/checks/x11.acl/al-vm_10.1.2.3.txt")
    assert first == "user obfuscateduser0 on host0 at ip4addr0"
    assert second == "ip4addr0 served obfuscateduser0; obfuscateduser1; host0"
    assert name == "facts/checks/x11.acl/obfuscateduser0-host0_ip4addr0.txt"


def test_names_are_redacted_per_component_and_stay_paths() -> None:
    redactor = fresh()
    # A component holding a home path cannot grow a new "/" (that would move the file).
    assert redactor.name("facts/home_al_.config_pulse/x") == "facts/home_obfuscateduser0_.config_pulse/x"
    assert redactor.name("logs/20261129-1/container.log") == "logs/20261129-1/container.log"


def test_token_map_persists_and_keeps_tokens(tmp_path) -> None:
    fs = RealFS("/")
    path = default_map_path(str(tmp_path / "state"))
    first = Redactor(IDENTITY, TokenMap())
    first.text("bob then al")  # bob gets 0 in this map
    first.tokens.save(fs, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = Redactor(IDENTITY, TokenMap.load(fs, path))
    assert again.text("al, bob, and a new 10.9.9.9") == "obfuscateduser1, obfuscateduser0, and a new ip4addr0"
    saved = json.loads(open(path).read())
    assert saved["map"]["user"] == {"bob": "obfuscateduser0", "al": "obfuscateduser1"}


@pytest.mark.parametrize("content", ["", "not json", '{"map": 5}', '{"map": {"user": ["x"]}}', "[1,2]"])
def test_damaged_map_starts_afresh(tmp_path, content: str) -> None:
    path = tmp_path / "map.json"
    path.write_text(content)
    assert fresh().tokens.entries() == {}
    assert Redactor(IDENTITY, TokenMap.load(RealFS("/"), str(path))).text("al") == "obfuscateduser0"


def test_counts_are_per_kind_and_never_values() -> None:
    redactor = fresh()
    redactor.text("al al bob vm 10.0.0.1 password=hunter2")
    summary = redactor.summary()
    assert summary["replaced"] == {"IPv4 addresses": 1, "host names": 1, "user names": 3}
    assert summary["distinct_values"] == {"IPv4 addresses": 1, "host names": 1, "user names": 2}
    assert summary["withheld"] == {"credential value": 1}
    assert "hunter2" not in json.dumps(summary) and "al" not in json.dumps(summary["replaced"])


def test_no_redact_keeps_identity_but_still_withholds_secrets() -> None:
    redactor = fresh(identity_on=False)
    text = ("al@vm 10.0.0.1 /home/al\nautologin.saved_credentials=\"CANARYSECRET\"\n"
            "Users/canaryuser-user MIT-MAGIC-COOKIE-1 00112233445566778899aabbccddeeff")
    assert redactor.text(text) == ("al@vm 10.0.0.1 /home/al\n"
                                   "# spotidoctor: 1 autologin.* line(s) withheld (credentials)\n"
                                   f"Users/spotifyuser0-user MIT-MAGIC-COOKIE-1 {WITHHELD}")


def test_no_names_means_nothing_to_match() -> None:
    assert word_pattern([], ignore_case=False) is None
    assert fresh(Identity()).text("al@vm 10.0.0.1") == "al@vm ip4addr0"


def test_single_letter_user_only_as_a_word() -> None:
    redactor = fresh(Identity(login_names=("x",)))
    assert redactor.text("1280x800 x /home/x/.config x86_64 x-y") == (
        "1280x800 obfuscateduser0 /home/obfuscateduser0/.config x86_64 obfuscateduser0-y")


@pytest.mark.parametrize(("text", "expected", "rule"), [
    pytest.param('autologin.username="canary"\nstorage.size=1024\nautologin.blob=AbC\n',
                 "# spotidoctor: 2 autologin.* line(s) withheld (credentials)\nstorage.size=1024\n",
                 "spotify autologin line", id="prefs-lines"),
    pytest.param('  "autologin.username": "x",', f'  "autologin.username": "{WITHHELD}",',
                 "spotify autologin value", id="autologin-in-json"),
    pytest.param("MIT-MAGIC-COOKIE-1  0123456789abcdef0123456789abcdef", f"MIT-MAGIC-COOKIE-1  {WITHHELD}",
                 "X cookie", id="xauth-list"),
    pytest.param("0100 0002 766d 0002 3731 0012 4d49542d4d414749432d434f4f4b49452d31 0010 29b1aa",
                 f"0100 0002 766d 0002 3731 0012 4d49542d4d414749432d434f4f4b49452d31 0010 {WITHHELD}",
                 "X cookie", id="xauth-nlist"),
    pytest.param("Cookie: 1a2b:3c4d", f"Cookie: {WITHHELD}", "pulse server cookie", id="pactl-cookie"),
    pytest.param('{"api_key": "abc", "x": 1}', f'{{"api_key": "{WITHHELD}", "x": 1}}', "credential value",
                 id="json-api-key"),
    pytest.param("password=hunter2", f"password={WITHHELD}", "credential value", id="password"),
    pytest.param("Authorization: Bearer abc.def", f"Authorization: Bearer {WITHHELD}", "authorization header",
                 id="bearer"),
    pytest.param("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
                 f"-----BEGIN OPENSSH PRIVATE KEY----- {WITHHELD} -----END OPENSSH PRIVATE KEY-----",
                 "private key", id="pem"),
    pytest.param("-e SPOTIFY_TOKEN=abc -e DISPLAY=:0", f"-e SPOTIFY_TOKEN={WITHHELD} -e DISPLAY=:0",
                 "credential value", id="env-assignment-in-argv"),
    pytest.param("XAUTHORITY=/run/x", f"XAUTHORITY={WITHHELD}", "secret environment value", id="env-auth-name"),
    pytest.param("The cookie has mode 0644; socket=pulse-socket auth-cookie=pulse-cookie",
                 "The cookie has mode 0644; socket=pulse-socket auth-cookie=pulse-cookie", None, id="no-secret"),
])
def test_secret_scrub_table(text: str, expected: str, rule: str | None) -> None:
    result = scrub(text)
    assert result.text == expected
    assert (rule in result.counts) if rule else not result.counts


def test_scrub_is_idempotent() -> None:
    once = scrub("password=x\nautologin.a=b\nFOO_SECRET=1\nMIT-MAGIC-COOKIE-1 00112233445566778899aabbccddeeff")
    assert scrub(once.text).text == once.text and not scrub(once.text).counts
