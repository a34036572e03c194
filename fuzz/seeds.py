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
    _, hello, close, _, frag = client_stream_parts()
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


# --- opening handshakes (RFC 6455 §1.3, §4) -----------------------------------------------------
# Requests as real clients send them, byte for byte as in crates/zerows-upgrade/tests/real_world.rs.
def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


REAL_REQUESTS = {
    "chromium-131": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080", "Connection: Upgrade", "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: http://localhost:8080", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd", "Accept-Language: en-US,en;q=0.9",
        "Cookie: session=4f2a9c1e; theme=dark", "Sec-WebSocket-Key: HtgQOeqG6cH+bLix+RfLAw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Protocol: chat.v2, chat.v1"),
    "firefox-133": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Accept: */*", "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br, zstd",
        "Sec-WebSocket-Version: 13", "Origin: http://localhost:8080", "Sec-WebSocket-Protocol: chat.v1",
        "Sec-WebSocket-Extensions: permessage-deflate", "Sec-WebSocket-Key: 0Z93vQbTeMUEy060wVIrqw==",
        "DNT: 1", "Connection: keep-alive, Upgrade", "Sec-Fetch-Dest: empty",
        "Sec-Fetch-Mode: websocket", "Sec-Fetch-Site: same-origin", "Pragma: no-cache",
        "Cache-Control: no-cache", "Upgrade: websocket"),
    "safari-18": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080", "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Key: ijtrBPOVY6kQQAEIoB3V8A==", "Sec-WebSocket-Version: 13", "Upgrade: websocket",
        "Origin: http://localhost:8080",
        "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Connection: Upgrade", "Pragma: no-cache", "Cache-Control: no-cache",
        "Accept-Language: en-GB,en;q=0.9", "Accept-Encoding: gzip, deflate"),
    "curl-8.11": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080", "User-Agent: curl/8.11.1", "Accept: */*",
        "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: w5rf6Klm026EXBO/ag/BCA==",
        "Connection: Upgrade"),
    "python-websockets-13": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8765", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: kM35p3ybHGKn4gdrICGmkg==", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Python/3.12 websockets/13.1"),
    "node-ws-8": crlf(
        "GET /chat HTTP/1.1", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: 2g4rf31il9CfNxiEkF6NKw==",
        "Connection: Upgrade", "Upgrade: websocket",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Protocol: chat.v1", "Host: localhost:8080"),
    "gorilla-1.5": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080", "User-Agent: Go-http-client/1.1",
        "Connection: Upgrade", "Sec-WebSocket-Key: Lt5dTW206upC/9zXAiexlw==",
        "Sec-WebSocket-Version: 13", "Upgrade: websocket"),
    "tungstenite-0.30": crlf(
        "GET /chat HTTP/1.1", "Host: localhost:8080", "Connection: Upgrade", "Upgrade: websocket",
        "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: ZL+QQchCRWac5ECdsbliBQ=="),
}

# RFC 6455 §1.2, the sample handshake
RFC_REQUEST = crlf(
    "GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Version: 13")
MIN = ["GET /chat HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]


def with_line(i, line):
    lines = list(MIN)
    lines[i] = line
    return crlf(*lines)


BAD_REQUESTS = {
    "post-405": with_line(0, "POST /chat HTTP/1.1"),
    "http10-505": with_line(0, "GET /chat HTTP/1.0"),
    "version-8-426": with_line(5, "Sec-WebSocket-Version: 8"),
    "no-key": crlf(*MIN[:4], MIN[5]),
    "key-noncanonical": with_line(4, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="),
    "key-15-bytes": with_line(4, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"),
    "two-keys": crlf(*MIN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    "two-hosts": crlf(*MIN, "Host: other"),
    "no-upgrade": with_line(2, "Upgrade: h2c"),
    "connection-list": with_line(3, "Connection: keep-alive , upgrade,"),
    "bad-protocol": crlf(*MIN, "Sec-WebSocket-Protocol: chat, a b"),
    "bad-extensions": crlf(*MIN, "Sec-WebSocket-Extensions: permessage-deflate; =1"),
    "obs-fold": crlf(*MIN, "X-A: a", " b"),
    "space-before-colon": crlf(*MIN, "X-A : a"),
    "bare-cr": with_line(1, "Host: h\rx"),
    "lf-only": ("\n".join(MIN) + "\n\n").encode(),
    "leading-empty-lines": b"\r\n\r\n" + crlf(*MIN),
    "absolute-target": with_line(0, "GET ws://h:80/chat?x=1 HTTP/1.1"),
    "asterisk-target": with_line(0, "GET * HTTP/1.1"),
    "obs-text-value": crlf(*MIN, "X-A: caf\xe9").replace(b"caf\xc3\xa9", b"caf\xe9"),
    "frame-behind": crlf(*MIN) + bytes.fromhex("818537fa213d7f9f4d5158"),
    "partial": crlf(*MIN)[:-2],
}


def parse_request_seeds():
    t = "upgrade_parse_request"

    # flags, max_head_size, max_headers, max_line_length, out (u16 LE each but max_headers: u8), n
    def knobs(flags=0, head=0, headers=0, line=0, out=0, splits=b""):
        return struct.pack("<BHBHHB", flags, head, headers, line, out, len(splits)) + splits

    odd = bytes([1, 2, 3, 5, 7, 11, 13, 0, 17, 19, 23, 29])
    for name, r in REAL_REQUESTS.items():
        write(t, name, knobs() + r)
    write(t, "chromium-131-odd-splits", knobs(splits=odd) + REAL_REQUESTS["chromium-131"])
    write(t, "rfc-1.2", knobs() + RFC_REQUEST)
    write(t, "rfc-1.2-bytewise", knobs(splits=bytes([1] * 64)) + RFC_REQUEST)
    for name, r in BAD_REQUESTS.items():
        write(t, name, knobs(splits=odd) + r)
    # limits: 431 head, 431 headers, 414 line; an output buffer too small for the 101
    write(t, "small-head-431", knobs(1, 64, 64, 4096) + RFC_REQUEST)
    write(t, "few-headers-431", knobs(1, 8192, 3, 4096) + RFC_REQUEST)
    write(t, "short-lines-414", knobs(1, 8192, 64, 10) + RFC_REQUEST)
    write(t, "short-header-line-431", knobs(1, 8192, 64, 20) + RFC_REQUEST)
    write(t, "out-too-small", knobs(2, out=100) + RFC_REQUEST)


RFC_RESPONSE = crlf(
    "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol: chat")
RESP = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]


def parse_response_seeds():
    t = "upgrade_parse_response"

    # flags (bit 0 offer chat/superchat, bit 1 offer permessage-deflate, bit 2 limits), limits, n
    def knobs(flags=3, head=0, headers=0, line=0, splits=b""):
        return struct.pack("<BHBHB", flags, head, headers, line, len(splits)) + splits

    odd = bytes([1, 2, 3, 5, 7, 11, 13, 0, 17, 19, 23, 29])
    cases = {
        "rfc-1.3": RFC_RESPONSE,
        "minimal": crlf(*RESP),
        "no-reason": crlf("HTTP/1.1 101", *RESP[1:]),
        "deflate": crlf(*RESP, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"),
        "unoffered-extension": crlf(*RESP, "Sec-WebSocket-Extensions: x-webkit-deflate-frame"),
        "two-protocols": crlf(*RESP, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: superchat"),
        "wrong-accept": crlf(*RESP[:3], "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ=="),
        "two-accepts": crlf(*RESP, RESP[3]),
        "no-upgrade": crlf(RESP[0], *RESP[2:]),
        "http10": crlf("HTTP/1.0 101 Switching Protocols", *RESP[1:]),
        "426": crlf("HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13", "Content-Length: 0"),
        "nginx-400": crlf("HTTP/1.1 400 Bad Request", "Server: nginx/1.27.3", "Content-Type: text/html",
                          "Content-Length: 157", "Connection: close") + b"<html>...",
        "lf-only": ("\n".join(RESP) + "\n\n").encode(),
        "frame-behind": RFC_RESPONSE + b"\x81\x02hi",
        "bad-status": crlf("HTTP/1.1 1O1 x", *RESP[1:]),
        "obs-fold": crlf(*RESP, "X-A: a", "\tb"),
    }
    for name, r in cases.items():
        write(t, name, knobs() + r)
    write(t, "rfc-1.3-odd-splits", knobs(splits=odd) + RFC_RESPONSE)
    write(t, "rfc-1.3-nothing-offered", knobs(flags=0) + RFC_RESPONSE)
    write(t, "small-head", knobs(flags=7, head=100, headers=64, line=4096) + RFC_RESPONSE)
    write(t, "few-headers", knobs(flags=7, head=8192, headers=2, line=4096) + RFC_RESPONSE)


def extensions_seeds():
    t = "upgrade_extensions_parse"
    values = {
        "chromium": "permessage-deflate; client_max_window_bits",
        "firefox": "permessage-deflate",
        "rfc7692-offers": 'permessage-deflate; client_max_window_bits, '
                          'permessage-deflate; server_max_window_bits="10"',
        "server-answer": "permessage-deflate; server_no_context_takeover;client_max_window_bits=15",
        "legacy-webkit": "x-webkit-deflate-frame",
        "escaped-quoted": 'foo; a="1\\0"; b="x\\-y"',
        "empty-elements": " , ,foo ,\t, bar;baz = qux ,",
        "u32-max": "a; b=4294967295; c=4294967296; d=007",
        "bad-trailing-semicolon": "foo;",
        "bad-empty-quoted": 'foo; a=""',
        "bad-value-space": "foo; a=b c",
        "bad-quote-unterminated": 'foo; a="1',
        "bad-nonascii": "foo; a=caf\xe9",
    }
    for name, v in values.items():
        write(t, name, v.encode("utf-8"))


def client_stream_parts():
    """Odd read sizes and masked client frames: hello, close 1000, ping, a fragmented "Héllo"
    with a ping between its frames."""
    odd = bytes([1, 2, 3, 5, 7, 0, 11, 13, 17])
    hello = frame(TEXT, b"Hello", key=KEY)
    close = frame(CLOSE, b"\x03\xe8bye", key=KEY)
    ping = frame(PING, b"are you there", key=KEY)
    frag = (frame(TEXT, "Hé".encode(), fin=False, key=KEY) + frame(PING, b"p", key=KEY)
            + frame(CONT, b"", fin=False, key=KEY) + frame(CONT, "llo".encode(), key=KEY))
    return odd, hello, close, ping, frag


def util_reader_seeds():
    t = "util_reader"

    # flags, read_buffer_size selector, max_message_size (u16 LE), max_frame/16, leftover, n
    def knobs(flags=0, read_buf=0, max_msg=0, max_frame=0, leftover=0, sizes=b""):
        return struct.pack("<BBHBBB", flags, read_buf, max_msg, max_frame, leftover, len(sizes)) + sizes

    CLIENT = 1
    odd, hello, close, ping, frag = client_stream_parts()
    # server side: masked frames from a client
    write(t, "server-rfc-hello-ping-close", knobs(leftover=11) + hello + ping + close)
    write(t, "server-fragmented-odd-reads", knobs(sizes=odd) + frag + frame(PONG, b"", key=KEY) + close)
    write(t, "server-close-no-code", knobs() + hello + frame(CLOSE, b"", key=KEY))
    write(t, "server-eof-mid-frame", knobs(sizes=b"\x03") + hello + close[:4])
    write(t, "server-unmasked-1002", knobs() + RFC["unmasked-hello"])
    write(t, "server-6.4.1-fail-fast-1007", knobs(sizes=odd)
          + frame(TEXT, KOSME + b"\xf4\x90\x80\x80edited", key=KEY))
    write(t, "server-too-big-1009", knobs(0x10, max_msg=100) + frame(BINARY, bytes(101), key=KEY))
    write(t, "server-fragments-1009", knobs(0x40) + b"".join(
        frame(BINARY if i == 0 else CONT, b"x", fin=False, key=KEY) for i in range(5)))
    write(t, "server-bad-close-code-1002", knobs() + frame(CLOSE, b"\x03\xed", key=KEY))
    write(t, "server-auto-pong-off", knobs(0x02) + ping + close)
    write(t, "server-direct-read", knobs(0, read_buf=0, sizes=bytes([255] * 3))
          + frame(BINARY, bytes(range(256)) * 17, key=KEY) + close)
    xor = bytes(b ^ 0x55 for b in b"Hello")
    write(t, "server-extension-rsv1", knobs(0x04) + frame(TEXT, xor, key=KEY, rsv=0b100) + hello + close)
    write(t, "server-extension-fails", knobs(0x04) + frame(BINARY, b"\xaa", key=KEY, rsv=0b100))
    write(t, "server-rsv1-unowned", knobs() + frame(TEXT, b"x", key=KEY, rsv=0b100))
    # client side: unmasked frames from a server (RFC 6455 §5.7)
    stream = (RFC["unmasked-hello"] + RFC["fragment-hel"] + RFC["ping-hello"] + RFC["fragment-lo"]
              + RFC["binary-256"] + frame(CLOSE, b"\x03\xe8"))
    write(t, "client-rfc-stream", knobs(CLIENT) + stream)
    write(t, "client-rfc-stream-bytewise", knobs(CLIENT, sizes=b"\x01") + stream)
    write(t, "client-masked-1002", knobs(CLIENT) + hello)
    write(t, "client-eof", knobs(CLIENT, leftover=3) + stream[:20])


def util_helpers_seeds():
    t = "util_helpers"

    # flags, max_message_size (u16 LE), max_frame/16, n, read sizes, stream
    def knobs(flags=0, max_msg=0, max_frame=0, sizes=b""):
        return struct.pack("<BHBB", flags, max_msg, max_frame, len(sizes)) + sizes

    CLIENT = 1
    odd, hello, close, ping, frag = client_stream_parts()
    write(t, "server-hello-ping-close", knobs() + hello + ping + hello + close)
    write(t, "server-fragmented-odd-reads", knobs(sizes=odd) + frag + frame(PONG, b"", key=KEY) + close)
    write(t, "server-eof-in-header", knobs() + hello + frame(BINARY, bytes(300), key=KEY)[:3])
    write(t, "server-eof-in-payload", knobs(sizes=b"\x04") + hello + close[:7])
    write(t, "server-unmasked-1002", knobs() + RFC["unmasked-hello"])
    write(t, "server-6.4.1-fail-fast-1007", knobs(sizes=odd)
          + frame(TEXT, KOSME + b"\xf4\x90\x80\x80edited", key=KEY))
    write(t, "server-too-big-1009", knobs(0x02, max_msg=100) + frame(BINARY, bytes(101), key=KEY))
    write(t, "server-claims-64-bits", knobs() + bytes.fromhex("82ff7fffffffffffffff") + KEY)
    write(t, "server-fragments-1009", knobs(0x08) + b"".join(
        frame(BINARY if i == 0 else CONT, b"x", fin=False, key=KEY) for i in range(5)))
    write(t, "server-bad-close-code-1002", knobs() + frame(CLOSE, b"\x03\xed", key=KEY))
    write(t, "server-large-payload", knobs(0x04, max_frame=255, sizes=bytes([255] * 3))
          + frame(BINARY, bytes(range(256)) * 15, key=KEY) + close)
    stream = (RFC["unmasked-hello"] + RFC["fragment-hel"] + RFC["ping-hello"] + RFC["fragment-lo"]
              + RFC["binary-256"] + frame(CLOSE, b"\x03\xe8"))
    write(t, "client-rfc-stream", knobs(CLIENT) + stream)
    write(t, "client-rfc-stream-bytewise", knobs(CLIENT, sizes=b"\x01") + stream)
    write(t, "client-masked-1002", knobs(CLIENT) + hello)
    write(t, "client-close-no-code", knobs(CLIENT) + RFC["unmasked-hello"] + frame(CLOSE, b""))


def util_deflate_seeds():
    import zlib

    t = "util_deflate"
    TAIL = b"\x00\x00\xff\xff"

    def deflater():
        return zlib.compressobj(6, zlib.DEFLATED, -15)

    def pmd(c, msg):
        """One permessage-deflate message from compressor `c`: sync flush, tail removed."""
        out = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]

    # mode 0: negotiation -- flags (bit 0 no_context_takeover, bit 1 ask the peer), window bits
    def neg(value, flags=0, bits=15):
        return bytes([0, flags, bits]) + value
    offers = {
        "plain": b"permessage-deflate",
        "chrome": b"permessage-deflate; client_max_window_bits",
        "firefox": b"permessage-deflate",
        "rfc7692-8.2.1": b"permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
        "both-takeover": b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "windows": b"permessage-deflate; server_max_window_bits=8; client_max_window_bits=12",
        "quoted": b'permessage-deflate; server_max_window_bits="10"',
        "leading-zero": b"permessage-deflate; server_max_window_bits=09, permessage-deflate",
        "too-big": b"permessage-deflate; client_max_window_bits=16",
        "duplicate": b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "unknown": b"x-webkit-deflate-frame, permessage-deflate; foo=1, PerMessage-Deflate",
        "twice": b"permessage-deflate, permessage-deflate",
        "response": b"permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
        "bad-syntax": b"permessage-deflate; =; client_max_window_bits",
    }
    for name, value in offers.items():
        write(t, "neg-" + name, neg(value))
    write(t, "neg-config", neg(offers["chrome"], flags=3, bits=10))

    # mode 1: inflating -- flags, read_buffer selector, max_message (u16 LE), read sizes, frames
    def inf(flags, frames, sizes=b"", max_msg=0, read_buf=0):
        return bytes([1, flags, read_buf]) + struct.pack("<H", max_msg) + bytes([len(sizes)]) + sizes + frames

    def fr(payload, text=False, fin=True, kind=0, plain=False, bad_rsv=False):
        k = kind | (4 if text else 0) | (8 if fin else 0) | (0x10 if plain else 0) | (0x40 if bad_rsv else 0)
        if len(payload) > 255:
            return bytes([k | 0x20]) + struct.pack("<H", len(payload)) + payload
        return bytes([k, len(payload)]) + payload

    CLIENT, NO_TAKEOVER, LIMIT, CLOSE = 1, 2, 4, 8
    READ_INTO, STREAM = 0x10, 0x20
    c = deflater()
    hello1, hello2 = pmd(c, b"Hello"), pmd(c, b"Hello")
    write(t, "inf-rfc7692-7.2.3.1-hello", inf(CLOSE, fr(bytes.fromhex("f248cdc9c90700"), text=True)))
    write(t, "inf-context-takeover", inf(CLOSE, fr(hello1, text=True) + fr(hello2, text=True)))
    c = deflater()
    lorem = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40
    big = pmd(c, lorem)
    half = len(big) // 2
    write(t, "inf-fragmented-ping-between", inf(CLOSE, fr(big[:half], fin=False)
          + fr(b"ping", kind=2) + fr(big[half:], kind=1) + fr(pmd(c, lorem[:100]), text=True),
          sizes=bytes([3, 0, 50, 7])))
    write(t, "inf-no-takeover", inf(CLOSE | NO_TAKEOVER, fr(pmd(deflater(), b"abcabcabc"))
          + fr(pmd(deflater(), b"abcabcabc"))))
    write(t, "inf-empty-message", inf(CLOSE, fr(b"\x00") + fr(b"", text=True)))
    fin = zlib.compressobj(6, zlib.DEFLATED, -15)
    ended = fin.compress(b"final block") + fin.flush(zlib.Z_FINISH)
    write(t, "inf-bfinal-then-more", inf(CLOSE, fr(ended) + fr(pmd(deflater(), b"next"))))
    write(t, "inf-bytes-after-end-1007", inf(CLOSE, fr(ended + b"\x00")))
    write(t, "inf-invalid-data-1007", inf(CLOSE, fr(b"\xff\xff\xff\xff")))
    write(t, "inf-invalid-utf8-1007", inf(CLOSE, fr(pmd(deflater(), "κόσμε".encode() + b"\xed\xa0\x80"), text=True)))
    bomb = pmd(deflater(), bytes(20000))
    write(t, "inf-bomb-1009", inf(CLOSE | LIMIT, fr(bomb), max_msg=1000))
    write(t, "inf-bomb-streamed-1009", inf(CLOSE | LIMIT | STREAM, fr(bomb), max_msg=1000, sizes=b"\x05"))
    write(t, "inf-client-read-into", inf(CLIENT | CLOSE | READ_INTO, fr(hello1, text=True) + fr(b"ping", kind=2)
          + fr(hello2, text=True)))
    write(t, "inf-client-stream-big", inf(CLIENT | CLOSE | STREAM, fr(big) + fr(lorem[:300], plain=True),
          read_buf=0, sizes=bytes([200])))
    write(t, "inf-plain-and-compressed", inf(CLOSE, fr(b"plain text", text=True, plain=True) + fr(hello1, text=True)))
    write(t, "inf-rsv1-on-continuation-1002", inf(CLOSE, fr(big[:half], fin=False) + fr(big[half:], kind=1, bad_rsv=True)))
    write(t, "inf-eof-mid-message", inf(0, fr(big[:half], fin=False)))

    # mode 2: deflating -- flags, level, min_size, window bits - 8, messages (length byte, bytes)
    def dfl(flags, level, min_size, bits, msgs):
        out = bytes([2, flags, level, min_size, bits - 8])
        for m in msgs:
            assert len(m) < 128
            out += bytes([len(m)]) + m
        return out
    msgs = [b"Hello", b"Hello", b"Hello, Hello, Hello", b"", bytes(range(100)), b"x" * 127]
    write(t, "dfl-server-15", dfl(0, 6, 0, 15, msgs))
    write(t, "dfl-server-9-no-takeover", dfl(2, 9, 0, 9, msgs))
    write(t, "dfl-client-8-plain", dfl(1, 6, 0, 8, msgs))
    write(t, "dfl-client-feed-text-min-size", dfl(1 | 4 | 8, 1, 10, 12, msgs))
    write(t, "dfl-level-0", dfl(0, 0, 0, 15, msgs))


def net_url_seeds():
    t = "net_url_parse"
    urls = {
        "rfc-6455-1.3": "ws://server.example.com/chat",
        "no-path": "wss://example.com",
        "query-no-path": "ws://example.com?room=7",
        "ipv6-port-query": "wss://[::1]:9443/chat?room=7",
        "ipv6-embedded-ipv4": "ws://[2001:db8::ffff:192.0.2.1]/",
        "ipv6-full-upper": "ws://[2001:0DB8:0000:0000:0000:0000:0000:0001]:80/",
        "ipv4-autobahn": "ws://127.0.0.1:9001/runCase?case=1&agent=zerows",
        "upper-scheme-pct": "WSS://Example.COM:443/a/b%20c;p?q=%2F&x=:@/?",
        "empty-port": "ws://h:/",
        "max-port": "ws://h:65535",
        "lenient-path": "ws://h/{a}|b^c?x=\"y\"",
        "userinfo": "ws://user:pw@h/",
        "fragment": "ws://h/#frag",
        "port-too-big": "ws://h:65536/",
        "port-six-digits": "ws://h:000080/",
        "http-scheme": "http://example.com/",
        "zone-id": "ws://[fe80::1%25eth0]/",
        "ipvfuture": "ws://[v1.x]/",
        "space-in-host": "ws://exa mple.com/",
        "sub-delim-in-host": "ws://a!b/",
        "leading-zero-ipv4": "ws://01.2.3.4/",
        "proxy-credentials": "http://alice:s%40cret@127.0.0.1:3128",
        "proxy-socks5h-ipv6": "socks5h://u:p%3Aq@[::1]",
        "proxy-socks5-slash": "socks5://proxy.example:1080/",
        # url NUL no_proxy
        "no-proxy-suffix": "wss://api.example.com/\0localhost,127.0.0.1,.example.com",
        "no-proxy-ipv6": "ws://[::1]:9001/\0[::1]:80 *.internal",
        "no-proxy-ipv4-port": "ws://10.0.0.5/\010.0.0.5:8080,example.org",
        "no-proxy-miss": "ws://badexample.com/\0example.com:443",
    }
    for name, u in urls.items():
        write(t, name, u.encode())


def net_proxy_seeds():
    t = "net_proxy_reply"

    # flags (bits 0-1 target: name, IPv4, IPv6, 255-byte name; bit 2 CONNECT credentials; bit 3
    # long SOCKS5 credentials), port (LE), write size, n, read sizes
    def knobs(flags=0, port=443, write=0, sizes=b""):
        return struct.pack("<BHBB", flags, port, write, len(sizes)) + sizes

    odd = bytes([1, 3, 7, 2, 11])
    http = {
        "http-200": crlf("HTTP/1.1 200 Connection established"),
        "http-10-200-agent": crlf("HTTP/1.0 200 Connection established", "Proxy-agent: Apache/2.4.62"),
        "http-407": crlf("HTTP/1.1 407 Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="proxy"',
                         "Content-Length: 0"),
        "http-500": crlf("HTTP/1.1 500 Internal Server Error", "Content-Type: text/plain", "Content-Length: 5") + b"error",
        "http-403": crlf("HTTP/1.1 403 Forbidden", "Server: squid/6.10", "Content-Length: 0"),
        "http-200-tunnel-data": crlf("HTTP/1.1 200 OK") + b"\x16\x03\x03\x00\x02",
        "http-lf-only": b"HTTP/1.1 204 No Content\nVia: 1.1 p\n\n",
        "http-2": crlf("HTTP/2 200"),
    }
    for name, r in http.items():
        write(t, name, knobs() + r)
    write(t, "http-200-headers-odd", knobs(flags=1 | 4, write=5, sizes=odd)
          + crlf("HTTP/1.1 200 OK", "Via: 1.1 squid", "Proxy-Agent: x"))
    write(t, "http-407-ipv6-bytewise", knobs(flags=2 | 4, port=9001, sizes=b"\x01")
          + crlf("HTTP/1.1 407 Proxy Authentication Required"))
    big = ["X-Filler-%d: %s" % (i, "a" * 2750) for i in range(3)]
    write(t, "http-head-over-8k", knobs(flags=3) + crlf("HTTP/1.1 200 OK", *big))

    v4 = bytes([5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90])
    name = bytes([5, 0, 0, 3, 11]) + b"proxy.local" + bytes([0x04, 0x38])
    v6 = bytes([5, 0, 0, 4]) + bytes(15) + bytes([1, 0, 80])
    socks = {
        "socks5-noauth-v4": b"\x05\x00" + v4,
        "socks5-noauth-name": b"\x05\x00" + name,
        "socks5-noauth-v6": b"\x05\x00" + v6,
        "socks5-noauth-empty-name": b"\x05\x00" + bytes([5, 0, 0, 3, 0, 0, 80]),
        "socks5-auth-ok-v4": b"\x05\x02\x01\x00" + v4,
        "socks5-auth-failed": b"\x05\x02\x01\x01",
        "socks5-no-acceptable": b"\x05\xff",
        "socks5-refused-5": b"\x05\x00" + bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
        "socks5-bad-atyp": b"\x05\x00" + bytes([5, 0, 0, 9, 0, 0, 0]),
        "socks5-tunnel-data": b"\x05\x00" + v4 + b"\x16\x03\x03",
        "socks4-reply": bytes([0, 0x5A, 0, 80, 127, 0, 0, 1]),
    }
    for n, r in socks.items():
        write(t, n, knobs(flags=1) + r)
    write(t, "socks5-name-bytewise-write-1", knobs(flags=0, write=1, sizes=b"\x01") + b"\x05\x00" + name)
    write(t, "socks5-long-auth-v6-odd", knobs(flags=2 | 8, write=7, sizes=odd) + b"\x05\x02\x01\x00" + v6)
    write(t, "socks5-long-name-auth-name", knobs(flags=3, sizes=b"\x03") + b"\x05\x02\x01\x00" + name)


# --- poll_loop: scripts for the event loop (layout at the top of fuzz_targets/poll_loop.rs) -----
def poll_conn(messages, read=(0, 0), write=(0, 0), corrupt=None):
    """One connection: messages as (text, payload, cuts, pings), pings None or bytes (< 32)."""
    out = bytes([len(messages)])
    for text, payload, cuts, pings in messages:
        out += bytes([int(text) | len(cuts) << 1 | len(pings) << 3])
        out += struct.pack("<H", len(payload)) + payload
        for c in cuts:
            out += struct.pack("<H", c)
        for p in pings:
            out += b"\xff" if p is None else bytes([len(p)]) + p
    out += struct.pack("<HHHH", read[0], read[1], write[0], write[1])
    if corrupt is not None:
        out += bytes(corrupt)
    return out


DELIVER, DRAIN, SPURIOUS, TICK = 0, 1, 2, 3


def poll_script(flags, window, conns, garbage=None, steps=()):
    out = bytes([flags | (len(conns) - 1), window])
    for c in conns:
        out += c
    if garbage is not None:
        out += bytes([len(garbage)]) + garbage
    for kind, conn, amount in steps:
        out += bytes([kind, conn, amount])
    return out


def poll_loop_seeds():
    t = "poll_loop"
    hello = (True, b"Hello", [], [])
    write(t, "one-text-at-the-end", poll_script(0, 255, [poll_conn([hello])]))
    frag = (False, bytes(range(200)), [50, 120], [b"p1", None, b"p3"])
    write(
        t,
        "fragments-pings-bytewise",
        poll_script(0, 0, [poll_conn([frag, hello], read=(1, 3), write=(1, 2))],
                    steps=[(DELIVER, 0, 30), (DRAIN, 0, 20), (DELIVER, 0, 5), (TICK, 0, 4),
                           (DRAIN, 0, 1), (SPURIOUS, 0, 3), (DELIVER, 0, 255), (DRAIN, 0, 255)]),
    )
    kosme = "κόσμε".encode()
    three = [
        poll_conn([(True, kosme * 20, [3, 7], [b"a"]), (False, b"\x00" * 700, [], [])]),
        poll_conn([hello, hello], read=(17, 0)),
        poll_conn([(False, b"x" * 3000, [1000], [b"big", b"bigger"])], write=(333, 7)),
    ]
    write(
        t,
        "three-connections-interleaved",
        poll_script(0, 40, three,
                    steps=[(DELIVER, 0, 10), (DELIVER, 1, 30), (DELIVER, 2, 100), (DRAIN, 2, 50),
                           (TICK, 0, 10), (DELIVER, 2, 200), (DRAIN, 0, 9), (DRAIN, 1, 9),
                           (SPURIOUS, 2, 2), (DELIVER, 0, 255), (TICK, 0, 40), (DRAIN, 2, 255)]),
    )
    # byte 3 of the request ("GET " -> "GEz ") and a header name
    write(t, "corrupt-request-method", poll_script(4, 255, [poll_conn([hello], corrupt=(3, 0x5A))]))
    write(t, "corrupt-request-key", poll_script(4, 255, [poll_conn([hello], corrupt=(100, 0x01))]))
    # an unmasked frame from the client (1002), then more bytes
    write(t, "garbage-unmasked-frame", poll_script(8, 255, [poll_conn([hello])], garbage=frame(TEXT, b"no mask") + b"junk"))
    # a reserved opcode
    write(t, "garbage-reserved-opcode", poll_script(8, 9, [poll_conn([hello], write=(5, 0))], garbage=frame(0x3, b"", key=KEY)))
    write(t, "keepalive-ticks", poll_script(32, 255, [poll_conn([hello])],
                                            steps=[(DELIVER, 0, 100), (TICK, 0, 41), (TICK, 0, 41),
                                                   (TICK, 0, 41), (DELIVER, 0, 255)]))
    write(t, "idle-timeout-no-close", poll_script(64 | 16, 255, [poll_conn([hello])],
                                                  steps=[(DELIVER, 0, 100), (TICK, 0, 200)]))
    write(t, "message-too-big-1009", poll_script(128, 255, [poll_conn([(False, b"y" * 2000, [], [])])]))
    # the pong order bug: the window lets the 101 and one byte through, writes one byte at a time
    abc = [(False, bytes([1]) * 100, [], [b"A"]), (False, bytes([2]) * 100, [], [b"B"]),
           (False, bytes([3]) * 60, [], [b"C"])]
    write(t, "pongs-in-order-blocked", poll_script(16, 130 // 4 + 1, [poll_conn(abc, write=(1, 0))],
                                                   steps=[(DELIVER, 0, 25)] + [(DRAIN, 0, 0)] * 5 + [(DELIVER, 0, 255)] * 3))
    big = [(False, bytes([i]) * 4000, [], []) for i in range(4)]
    write(t, "backpressure-pause", poll_script(1 | 16, 0, [poll_conn(big), poll_conn(big, write=(700, 0))],
                                               steps=[(DELIVER, 0, 255)] * 10 + [(SPURIOUS, 0, 1), (DELIVER, 1, 255)] * 10
                                               + [(DRAIN, 0, 255), (DRAIN, 1, 100), (SPURIOUS, 1, 1)] * 5))
    write(t, "eof-without-close", poll_script(16, 0, [poll_conn([hello, hello])], steps=[(DELIVER, 0, 255)]))


if __name__ == "__main__":
    header_decode()
    decoder_split()
    header_roundtrip()
    utf8_chunked()
    close_parse()
    mask_seeds()
    parse_request_seeds()
    parse_response_seeds()
    extensions_seeds()
    util_reader_seeds()
    util_helpers_seeds()
    util_deflate_seeds()
    net_url_seeds()
    net_proxy_seeds()
    poll_loop_seeds()
