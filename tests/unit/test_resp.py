"""Reading and writing the Redis protocol (quarry/adapters/resp.py), including replies that arrive in
pieces, as they do from a socket."""

from __future__ import annotations

import pytest

from quarry.adapters.resp import _INCOMPLETE, RespError, encode, parse


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert (
        encode("EVALSHA", "ab", 1, b"k\r\n")
        == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        (b"+PONG\r\n", "PONG"),
        (b":42\r\n", 42),
        (b":-3\r\n", -3),
        (b"$5\r\nhello\r\n", b"hello"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"*3\r\n:1\r\n:0\r\n*2\r\n$1\r\na\r\n:7\r\n", [1, 0, [b"a", 7]]),
        (b"*0\r\n", []),
    ],
)
def test_replies_are_read_whole_and_only_when_complete(reply: bytes, value: object) -> None:
    assert parse(reply, 0) == (value, len(reply))
    for cut in range(1, len(reply)):  # any prefix is incomplete and consumes nothing
        assert parse(reply[:cut], 0) == (_INCOMPLETE, 0), reply[:cut]


def test_an_error_reply_is_an_error_value_and_the_stream_goes_on() -> None:
    buffer = b"-NOSCRIPT No matching script\r\n:1\r\n"
    error, position = parse(buffer, 0)
    assert isinstance(error, RespError) and str(error).startswith("NOSCRIPT")
    assert parse(buffer, position) == (1, len(buffer))


def test_something_other_than_redis_is_refused() -> None:
    with pytest.raises(RespError):
        parse(b"HTTP/1.1 400 Bad Request\r\n", 0)
