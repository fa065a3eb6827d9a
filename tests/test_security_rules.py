"""Pure rules of the edge: phone numbers, the client's address behind
proxies, what a per-address limit counts, the safe default of the SMS
sandbox, and the redaction of tokens from log lines."""
import logging

import pytest

from domain import phones
from domain.errors import OutOfRange
from domain.ratelimit import address_key
from handlers.edge import client_address, networks
from server.logs import RedactTokens
from server.settings import load_settings


@pytest.mark.parametrize("written", [
    "13900000009", "+86 139 0000 0009", "013900000009", "8613900000009", "0086-139-0000-0009", "+86(139)00000009",
    " 139 0000 0009 ",
])
def test_a_mobile_number_written_any_usual_way_is_the_same_number(written):
    assert phones.normalise(written) == "13900000009"


@pytest.mark.parametrize("written", [
    "", "12345", "abc", "+1 415 555 0100", "23900000009", "1390000000", "139000000099", "１３９００００００09",
    "13900000009\x00", "+8713900000009", "86-",
])
def test_what_is_not_a_mainland_mobile_number_is_out_of_range(written):
    with pytest.raises(OutOfRange):
        phones.normalise(written)


TRUSTED = networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),                      # an untrusted peer names itself only
    ("127.0.0.1", "", "127.0.0.1"),                                       # a trusted peer with no header
    ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
    ("127.0.0.1", "1.1.1.1, 198.51.100.1", "198.51.100.1"),               # the left part is the client's own claim
    ("127.0.0.1", "198.51.100.1, 10.0.0.5", "198.51.100.1"),              # trusted hops are skipped, right to left
    ("127.0.0.1", "10.0.0.7, 10.0.0.5", "10.0.0.7"),                      # all trusted: the farthest one
    ("127.0.0.1", "198.51.100.1, not-an-ip", "127.0.0.1"),               # garbage: the proxy that passed it on
    ("127.0.0.1", "198.51.100.1, 10.0.0.5, garbage", "127.0.0.1"),
    ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
])
def test_the_client_is_the_right_most_untrusted_address_only_behind_a_trusted_peer(peer, forwarded, client):
    assert client_address(peer, forwarded, TRUSTED) == client


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"


def test_an_ipv6_client_is_limited_by_its_64_block():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert address_key("198.51.100.1") == "198.51.100.1"


def test_the_default_sandbox_keeps_to_loopback_and_an_explicit_one_may_listen_anywhere():
    default = load_settings([], {})
    assert default.sandbox_sms and default.listen_host == "127.0.0.1"
    assert load_settings([], {"SMS_SANDBOX": "1"}).listen_host == "0.0.0.0"
    assert load_settings([], {"SMS_SANDBOX": "0"}).listen_host == "0.0.0.0"
    assert not load_settings([], {"MONGODB_URL": "mongodb://db/x"}).sandbox_sms
    assert load_settings([], {"HOST": "127.0.0.1"}).listen_host == "127.0.0.1"
    with pytest.raises(SystemExit, match="SMS_SANDBOX=1"):
        load_settings([], {"HOST": "0.0.0.0"})
    with pytest.raises(SystemExit, match="SMS_SANDBOX=1"):
        load_settings(["--host", "192.0.2.1"], {})


def test_a_bad_proxy_or_metrics_address_stops_the_start():
    with pytest.raises(SystemExit, match="trusted_proxies"):
        load_settings([], {"TRUSTED_PROXIES": "10.0.0.0/8, proxy.example"})
    with pytest.raises(SystemExit, match="metrics_allow"):
        load_settings([], {"METRICS_ALLOW": "10.0.0.300"})


def record(msg, *args, exc=None) -> logging.LogRecord:
    return logging.LogRecord("tornado.general", logging.WARNING, __file__, 1, msg, args, exc)


def test_a_token_in_any_log_line_is_redacted_in_message_arguments_and_traceback():
    formatter = logging.Formatter("%(message)s")
    line = record("403 %s: %s", "GET /ws?token=SECRET1&x=1", "uri=/a?b=1&access_token=SECRET2")
    assert RedactTokens().filter(line)
    text = formatter.format(line)
    assert "SECRET" not in text and "token=[redacted]&x=1" in text
    try:
        raise ValueError("bad uri /ws?Token=SECRET3")
    except ValueError:
        import sys
        line = record("Uncaught exception", exc=sys.exc_info())
    RedactTokens().filter(line)
    text = formatter.format(line)
    assert "SECRET3" not in text and "Token=[redacted]" in text
