#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/corpus/<target>/seed-*, from the examples below.

Run from anywhere: `python3 fuzz/seeds.py`. It is deterministic and only (re)writes seed-* files,
so the committed corpus is reviewable here rather than as binary blobs. The input layouts are
documented at the top of each fuzz target.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def mask(payload, key, offset=0):
    return bytes(b ^ key[(offset + i) % 4] for i, b in enumerate(payload))


def frame(op, payload=b"", fin=True, key=None, rsv=0):
    """One frame with the minimal length encoding."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload)
    m = 0x80 if key else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if key:
        return head + key + mask(payload, key)
    return head + payload


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- RFC 6455 §5.7, byte for byte -------------------------------------------------------------
RFC = {
    "unmasked-hello": bytes.fromhex("810548656c6c6f"),
    "masked-hello": bytes.fromhex("818537fa213d7f9f4d5158"),
    "fragment-hel": bytes.fromhex("010348656c"),
    "fragment-lo": bytes.fromhex("80026c6f"),
    "ping-hello": bytes.fromhex("890548656c6c6f"),
    "masked-pong-hello": bytes.fromhex("8a8537fa213d7f9f4d5158"),
    "binary-256": bytes.fromhex("827e0100") + bytes(range(256)),
    "binary-64k-header": bytes.fromhex("827f0000000000010000"),
}

# --- Autobahn 6.x-style UTF-8 cases (case number in the name) ----------------------------------
KOSME = "κόσμε".encode()
UTF8 = {
    "6.2-valid": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "6.3-invalid-surrogate": KOSME + b"\xed\xa0\x80edited",
    "6.4.1-fail-fast": KOSME + b"\xf4\x90\x80\x80edited",
    "6.4.2-fail-fast": KOSME + b"\xf4\x90\x80\x80",
    "6.4.3-fail-fast": KOSME + b"\xed\xa0\x80",
    "6.5-kosme": KOSME,
    "6.7-first-of-each-length": b"\x00\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80",
    "6.8-first-impossible-5": b"\xf8\x88\x80\x80\x80",
    "6.8-first-impossible-6": b"\xfc\x84\x80\x80\x80\x80",
    "6.9-last-of-each-length": b"\x7f\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf",
    "6.10-last-impossible": b"\xf7\xbf\xbf\xbf",
    "6.11-boundaries": b"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf",
    "6.11-above-max": b"\xf4\x90\x80\x80",
    "6.12-continuations": b"\x80\xbf\x80\xbf",
    "6.13-lonely-starts": b"\xc0\x20\xc1\x20\xe0\x20\xf0\x20",
    "6.14-last-continuation-missing": b"\xe0\x80",
    "6.14-truncated-4": b"\xf0\x9d\x84",
    "6.16-fe-ff": b"\xfe\xfe\xff\xff",
    "6.17-overlong-slash": b"\xe0\x80\xaf",
    "6.18-max-overlong": b"\xf0\x8f\xbf\xbf",
    "6.19-overlong-nul": b"\xc0\x80",
    "6.20-lone-surrogate": b"\xed\xbf\xbf",
    "6.21-paired-surrogates": b"\xed\xa0\x80\xed\xb0\x80",
    "6.22-noncharacter": b"\xef\xbf\xbe\xef\xbf\xbf",
    "6.23-replacement": b"\xef\xbf\xbd",
}


def header_decode():
    t = "frame_header_decode"
    for name, f in RFC.items():
        write(t, "rfc-" + name, f)
    write(t, "nonminimal-16", bytes.fromhex("827e007d"))
    write(t, "nonminimal-64", bytes.fromhex("827f000000000000ffff"))
    write(t, "length-top-bit", bytes.fromhex("827f8000000000000000"))
    write(t, "reserved-opcode", bytes.fromhex("8300"))
    write(t, "rsv1-text", bytes.fromhex("c18537fa213d"))
    write(t, "control-too-long", bytes.fromhex("897e0100"))
    write(t, "fragmented-ping", bytes.fromhex("0900"))
    write(t, "masked-64bit", bytes.fromhex("82ff0000000000010000") + KEY)


def decoder_split():
    t = "frame_decoder_split"

    def knobs(client=False, rsv=0, no_utf8=False, limits=0, max_frame=0, max_msg=0, frags=0,
              splits=b""):
        flags = (1 if client else 0) | (rsv << 1) | (0x10 if no_utf8 else 0)
        return struct.pack("<BBHHBB", flags, limits, max_frame, max_msg, frags, len(splits)) + splits

    bytewise = bytes([1] * 255)
    odd = bytes([1, 2, 3, 5, 7, 11, 13, 0, 1, 17, 2, 19])
    # server side: masked frames from a client
    hello = frame(TEXT, b"Hello", key=KEY)
    close = frame(CLOSE, b"\x03\xe8bye", key=KEY)
    frag = (frame(TEXT, "Hé".encode(), fin=False, key=KEY) + frame(PING, b"p", key=KEY)
            + frame(CONT, b"", fin=False, key=KEY) + frame(CONT, "llo".encode(), key=KEY))
    write(t, "server-rfc-hello-close", knobs() + hello + close)
    write(t, "server-fragmented-bytewise", knobs(splits=bytewise) + frag + close)
    write(t, "server-fragmented-odd", knobs(splits=odd) + frag + frame(PONG, b"", key=KEY) + close)
    utf8 = KOSME + b"\xf4\x90\x80\x80edited"
    write(t, "server-6.4.1-fail-fast", knobs(splits=odd) + frame(TEXT, utf8, key=KEY))
    split_cp = frame(TEXT, KOSME[:3], fin=False, key=KEY) + frame(CONT, KOSME[3:], key=KEY)
    write(t, "server-codepoint-across-fragments", knobs(splits=bytewise) + split_cp + close)
    write(t, "server-rsv1-owned", knobs(rsv=0b100) + frame(TEXT, b"\xff\x00", key=KEY, rsv=0b100)
          + frame(TEXT, b"ok", key=KEY) + close)
    write(t, "server-limits", knobs(limits=0b111, max_frame=16, max_msg=24, frags=3, splits=odd)
          + frame(BINARY, bytes(10), fin=False, key=KEY) + frame(CONT, bytes(10), fin=False, key=KEY)
          + frame(CONT, bytes(10), key=KEY))
    write(t, "server-close-then-more", knobs() + frame(CLOSE, b"", key=KEY) + hello)
    write(t, "server-no-utf8-check", knobs(no_utf8=True) + frame(TEXT, b"\xff", key=KEY) + close)
    # client side: unmasked frames from a server, RFC 6455 §5.7 examples in one stream
    stream = (RFC["unmasked-hello"] + RFC["fragment-hel"] + RFC["ping-hello"] + RFC["fragment-lo"]
              + RFC["binary-256"] + frame(CLOSE, b"\x03\xe8"))
    write(t, "client-rfc-stream", knobs(client=True) + stream)
    write(t, "client-rfc-stream-odd", knobs(client=True, splits=odd) + stream)
    write(t, "client-long-text-16bit-length", knobs(client=True, splits=bytes([200, 1, 57]))
          + frame(TEXT, ("é" * 150).encode()) + frame(CLOSE, b""))
    write(t, "client-masked-frame", knobs(client=True) + hello)


def header_roundtrip():
    t = "frame_header_roundtrip"

    # Spec fields in order: fin, rsv, extra_rsv, opcode index, mask (bool + key), len_class,
    # len (u64 LE), tight_limit, trailing[3]
    def spec(fin, rsv, extra, op, key, cls, n, tight=0):
        m = b"\x01" + key if key else b"\x00"
        return bytes([fin, rsv, extra, op]) + m + bytes([cls]) + struct.pack("<Q", n) \
            + bytes([tight]) + b"\xaa\xbb\xcc"

    write(t, "rfc-masked-hello", spec(1, 0, 0, 1, KEY, 0, 5))
    write(t, "rfc-binary-256", spec(1, 0, 0, 2, None, 3, 2))  # edge 126
    write(t, "rfc-binary-64k", spec(1, 0, 0, 2, None, 3, 5, 1))  # edge 0x10000, tight limit
    write(t, "ping-125", spec(1, 0, 0, 4, KEY, 0, 125))
    write(t, "continuation-rsv", spec(0, 7, 0, 0, None, 1, 1000))
    write(t, "max-length", spec(0, 4, 3, 1, KEY, 3, 7))


def utf8_chunked():
    t = "frame_utf8_chunked"
    for name, text in UTF8.items():
        write(t, name + "-whole", b"\x00" + text)
        write(t, name + "-bytewise", b"\x01\x01" + text)
    write(t, "6.4.1-chunks-of-3-then-1", b"\x02\x03\x01" + UTF8["6.4.1-fail-fast"])


def close_parse():
    t = "frame_close_parse"
    cases = {
        "empty": b"",
        "one-byte": b"\x03",
        "1000": b"\x03\xe8",
        "1001-reason": b"\x03\xe9bye \xce\xba",
        "1005-not-on-wire": b"\x03\xed",
        "1006-not-on-wire": b"\x03\xee",
        "1014": b"\x03\xf6",
        "1015-not-on-wire": b"\x03\xf7",
        "2999": b"\x0b\xb7",
        "3000": b"\x0b\xb8",
        "4999": b"\x13\x87",
        "5000": b"\x13\x88",
        "bad-utf8-reason": b"\x03\xe8\xff",
        "truncated-reason": b"\x03\xe8\xce",
        "max-reason": b"\x0f\xa0" + ("é" * 61 + "x").encode(),
    }
    for name, p in cases.items():
        write(t, name, p)


def mask_seeds():
    t = "frame_mask"

    # key, offset (u64 LE), align, n, sizes, payload
    def m(key, offset, align, sizes, payload):
        return key + struct.pack("<Q", offset) + bytes([align, len(sizes)]) + sizes + payload

    write(t, "rfc-hello", m(KEY, 0, 0, b"", b"Hello"))
    write(t, "rfc-hello-2-3", m(KEY, 0, 0, b"\x02\x03", b"Hello"))
    write(t, "avx2-sized-unaligned", m(b"\x01\x02\x03\xff", 3, 1, b"\x21\x01\x40", bytes(range(200))))
    write(t, "huge-offset", m(KEY, 2**64 - 1, 7, b"\x05\x00\x3f", bytes(range(256)) * 4))


if __name__ == "__main__":
    header_decode()
    decoder_split()
    header_roundtrip()
    utf8_chunked()
    close_parse()
    mask_seeds()
