"""Content negotiation of Accept-Encoding (RFC 9110 §12.5.3), at its edges."""

import zlib

import brotli
import pytest
import zstandard

from contactql.compression import CODECS, negotiate


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("", None),  # no header: as is
        ("identity", None),
        ("deflate, compress", None),  # none of ours
        ("GZIP", "gzip"),  # names are case-insensitive
        ("  br  ;  q=0.9 ,gzip;q=0.8", "br"),  # whitespace anywhere
        ("gzip;q=1, br;q=1, zstd;q=1", "zstd"),  # a tie goes to our order
        ("zstd;q=0.1, br;q=0.2, gzip;q=0.3", "gzip"),
        ("gzip;q=0", None),  # refused
        ("gzip;q=abc", None),  # an unreadable weight refuses rather than guesses
        ("gzip;q=nan, br;q=-1", None),
        ("gzip;q=1e309", "gzip"),  # an overflowing weight is still a yes
        ("*", "zstd"),
        ("*;q=0", None),
        ("*;q=0, gzip", "gzip"),
        ("br, *;q=0", "br"),
        (",,,;;;=,", None),
    ],
)
def test_the_encoding_chosen(header: str, chosen: str | None) -> None:
    assert negotiate(header) == chosen


def test_a_huge_header_is_read_in_one_pass() -> None:
    assert negotiate(", ".join(f"x-{i};q=0.{i % 10}" for i in range(20_000)) + ", gzip;q=0.01") == "gzip"


@pytest.mark.parametrize("name", list(CODECS))
def test_each_codec_round_trips_streamed_parts(name: str) -> None:
    parts = [b'{"data": ', "unicode ✓ \x00 control".encode() * 500, b"", b"}"]
    codec = CODECS[name]()
    packed = b"".join(codec.chunk(part, last=i == len(parts) - 1) for i, part in enumerate(parts))
    unpack = {"gzip": lambda b: zlib.decompress(b, 16 + zlib.MAX_WBITS), "br": brotli.decompress, "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)}
    assert unpack[name](packed) == b"".join(parts)
