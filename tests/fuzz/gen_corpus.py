#!/usr/bin/env python3
"""Writes the committed seed corpora in tests/fuzz/corpus/<target>/.

Re-run after changing a target's input layout:  python3 tests/fuzz/gen_corpus.py
Each seed is small and names what it covers; libFuzzer grows from these.
"""
import hashlib
import hmac
import base64
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(opcode, payload=b"", fin=True, rsv=0, mask=b"\x37\xfa\x21\x3d", masked=True, ext=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if masked else 0
    if ext == 8 or n > 0xFFFF:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    elif ext == 2 or n > 125:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | n])
    if not masked:
        return head + payload
    return head + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(payload))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames():
    # byte 0: max_message_size selector (13 -> 1 MiB, 10 -> 1000), byte 1: chunking
    sub = b'{"type":"subscribe","channels":["positions"]}'
    seeds = {
        "text": frame(1, b'{"type":"ping"}'),
        "text_empty": frame(1),
        "text_ext16": frame(1, b"a" * 200),
        "text_ext64_short": frame(1, b"hi", ext=8),
        "fragmented": frame(1, sub[:10], fin=False) + frame(0, sub[10:30], fin=False) + frame(0, sub[30:]),
        "ping_between_fragments": frame(1, b"ab", fin=False) + frame(9, b"p") + frame(0, b"cd"),
        "ping_125": frame(9, b"x" * 125),
        "ping_126": frame(9, b"x" * 126),
        "pong": frame(10, b"unsolicited"),
        "close_1000": frame(8, struct.pack(">H", 1000) + b"bye"),
        "close_empty": frame(8),
        "close_1byte": frame(8, b"\x03"),
        "close_bad_code": frame(8, struct.pack(">H", 1004)),
        "close_bad_utf8": frame(8, struct.pack(">H", 1000) + b"\xff"),
        "rsv1": frame(1, b"x", rsv=4),
        "opcode3": frame(3, b"x"),
        "opcode11": frame(11),
        "binary": frame(2, b"\x00\x01"),
        "unmasked": frame(1, b"x", masked=False),
        "orphan_cont": frame(0, b"x"),
        "text_in_fragmented": frame(1, b"a", fin=False) + frame(1, b"b"),
        "utf8_valid": frame(1, "κόσμε€𝄞".encode()),
        "utf8_split": frame(1, "€".encode()[:1], fin=False) + frame(0, "€".encode()[1:]),
        "utf8_invalid": frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        "utf8_overlong": frame(1, b"\xc0\xaf"),
        "len64_msb": bytes([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + b"\x00" * 4,
        "fragmented_ping_control": frame(9, b"x", fin=False),
        "after_close": frame(8, struct.pack(">H", 1000)) + frame(1, b"x"),
        "many": b"".join(frame(9, bytes([i])) for i in range(10)) + frame(1, b"{}"),
    }
    for name, data in seeds.items():
        write("frame_parser", name, bytes([13, 3]) + data)
    write("frame_parser", "too_big", bytes([10, 1]) + frame(1, b"z" * 1001))
    write("frame_parser", "limit_fragments", bytes([6, 2]) + frame(1, b"a" * 10, fin=False) + frame(0, b"b" * 7))


def handshakes():
    base = [
        b"GET",
        b"Host: example.com",
        b"Upgrade: websocket",
        b"Connection: keep-alive, Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        b"Origin: https://example.com",
    ]
    write("ws_handshake", "valid", b"\x01" + b"\n".join(base))
    write("ws_handshake", "http10", b"\x00" + b"\n".join(base))
    write("ws_handshake", "dup_key", b"\x01" + b"\n".join(base + [b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]))
    write("ws_handshake", "version8", b"\x01" + b"\n".join(base[:5] + [b"Sec-WebSocket-Version: 8"]))
    write("ws_handshake", "post", b"\x01" + b"\n".join([b"POST"] + base[1:]))
    write("ws_handshake", "short_key", b"\x01" + b"\n".join(base[:4] + [b"Sec-WebSocket-Key: abc"] + base[5:]))
    write("ws_handshake", "null_origin", b"\x01" + b"\n".join(base[:6] + [b"Origin: null"]))
    write("ws_handshake", "origin_port", b"\x01" + b"\n".join([b"GET", b"Host: EXAMPLE.com:443", b"Origin: https://example.com:443/"]))
    write("ws_handshake", "long_key", b"\x01" + b"GET\nSec-WebSocket-Key: " + b"A" * 100)


def cookies():
    sid = b"w1kZ3rI9cX2u_8Q4f0fJ-4P6vC5q0tAr"
    sig = base64.b64encode(hmac.new(b"keyboard cat", sid, hashlib.sha256).digest()).rstrip(b"=")
    signed = b"s%3A" + sid + b"." + sig.replace(b"+", b"%2B").replace(b"/", b"%2F")
    # byte 0: name length (0 -> connect.sid), byte 1: secrets selector (4 -> "keyboard cat" only)
    write("session_cookie", "spec_vector", b"\x00\x04" + b"connect.sid=" + signed)
    write("session_cookie", "among_others", b"\x00\x04" + b"a=1; connect.sid=" + signed + b"; b=2")
    write("session_cookie", "quoted", b"\x00\x04" + b'connect.sid="' + signed + b'"')
    write("session_cookie", "bad_escape", b"\x00\x04" + b"connect.sid=s%3Ax%2")
    write("session_cookie", "bad_hex", b"\x00\x04" + b"connect.sid=s%3Ax%zz.abc")
    write("session_cookie", "wrong_sig", b"\x00\x04" + b"connect.sid=s%3A" + sid + b"." + b"A" * 43)
    write("session_cookie", "rotation", b"\x00\x08" + b"connect.sid=s%3A" + sid + b"." + sig)
    write("session_cookie", "unsigned", b"\x00\x00" + b"connect.sid=" + sid)
    write("session_cookie", "custom_name", b"\x03\x04" + b"sidsid=abc; flag; =x; sid=" + signed)
    write("session_cookie", "dup", b"\x00\x04" + b"connect.sid=; connect.sid=" + signed)


def sessions():
    v = b'{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"userId":"u123"}'
    write("session_json", "spec", b"\x00" + v)
    write("session_json", "passport", b"\x01" + b'{"passport":{"user":"u123"}}')
    write("session_json", "integer", b"\x00" + b'{"userId":42}')
    write("session_json", "float", b"\x00" + b'{"userId":4.2}')
    write("session_json", "control", b"\x00" + b'{"userId":"a\\u0001b"}')
    write("session_json", "nul", b"\x00" + b'{"userId":"a\\u0000b"}')
    write("session_json", "deep", b"\x02" + b'{"a":' * 300 + b"1" + b"}" * 300)
    write("session_json", "array", b"\x00" + b'[{"userId":"x"}]')
    write("session_json", "garbage", b"\x00" + b'{"userId":"x"} trailing')
    write("session_json", "dup_keys", b"\x00" + b'{"userId":"a","userId":"b"}')
    # issue 14: numbers of any magnitude are valid JSON
    write("session_json", "big_integer_id", b"\x00" + b'{"userId":12345678901234567890}')
    write("session_json", "huge_integer_id", b"\x01" + b'{"passport":{"user":-1234567890123456789012345678901234567890}}')
    write("session_json", "integer_id_over_256", b"\x00" + b'{"userId":' + b"1" * 300 + b"}")
    write("session_json", "big_numbers_elsewhere", b"\x00" + b'{"cookie":{"originalMaxAge":1e400,"n":-0,"m":1E+2,'
          b'"k":0.5e-10,"big":12345678901234567890},"userId":"u1"}')
    write("session_json", "exponent_id", b"\x00" + b'{"userId":1e400}')


def events():
    # byte 0: max_event_size selector (5 -> 256 KiB, 3 -> 256)
    e = {
        "position": b'{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":10},"ts":1732400000000}',
        "position_symbol": b'{"type":"position_update","data":{"symbol":"MSFT"}}',
        "position_intkey": b'{"type":"position_update","key":7}',
        "account": b'{"type":"account_update","data":{"cash":1.5}}',
        "order": b'{"type":"order_update","data":{"id":"o1"}}',
        "trade": b'{"type":"trade_executed","ts":-1}',
        "unknown": b'{"type":"nope"}',
        "scalar": b"42",
        "invalid": b'{"type":"order_update"',
        "nul": b'{"type":"order_update","s":"\\u0000"}',
        "deep": b"[" * 1000 + b"]" * 1000,
        "binary": bytes(range(256)),
        # issue 14: numbers of any magnitude are valid JSON
        "big_numbers": b'{"type":"account_update","big":12345678901234567890,"data":{"cash":1e400,'
                       b'"tiny":-1e-400,"z":-0,"e":1E+2,"f":0.5e-10}}',
        "big_intkey": b'{"type":"position_update","key":1234567890123456789012345678901234567890}',
        "big_ts": b'{"type":"order_update","ts":9223372036854775808}',
        "exponent_key": b'{"type":"position_update","key":1e400,"data":{"symbol":"AAPL"}}',
    }
    for name, data in e.items():
        write("envelope", name, b"\x05" + data)
    write("envelope", "too_large", b"\x03" + b'{"type":"order_update","pad":"' + b"x" * 300 + b'"}')


def client_messages():
    m = {
        "ping": b'{"type":"ping"}',
        "subscribe": b'{"type":"subscribe","channels":["positions","orders"]}',
        "unsubscribe": b'{"type":"unsubscribe","channels":["account","trades"]}',
        "unknown_channel": b'{"type":"subscribe","channels":["' + "é".encode() * 40 + b'"]}',
        "unknown_type": b'{"type":"' + "€".encode() * 30 + b'"}',
        "not_array": b'{"type":"subscribe","channels":"positions"}',
        "not_object": b"[1,2]",
        "invalid": b"{",
        "nul_name": b'{"type":"subscribe","channels":["a\\u0000b"]}',
        "escaped": b'{"type":"\\u00e9\\ud83d\\ude00"}',
        "deep": b'{"type":"ping","x":' + b"[" * 300 + b"]" * 300 + b"}",
    }
    for name, data in m.items():
        write("client_message", name, data)


def json_documents():
    # the whole input is the document (compared against jansson)
    d = {
        "event": b'{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":10,"px":101.23},'
                 b'"ts":1732400000000}',
        "numbers": b"[0,-0,7,-7,1E+2,1e-2,0.5e-10,1.5,-0.0,9223372036854775807,-9223372036854775808]",
        "big_numbers": b"[12345678901234567890,-12345678901234567890,1234567890123456789012345678901234567890,"
                       b"1e400,-1e400,1e-400]",
        "bad_numbers": b"[01,1.,.5,+1,1e,-,NaN,Infinity,0x10]",
        "escapes": b'["\\"\\\\\\/\\b\\f\\n\\r\\t","\\u0041\\u00e9\\u20ac\\ud83d\\ude00","\\u0000"]',
        "bad_surrogates": b'["\\ud800","\\udc00","\\ud800\\u0041"]',
        "utf8": '["κόσμε€𝄞"]'.encode(),
        "bad_utf8": b'["\xc0\xaf","\xed\xa0\x80","\xf4\x90\x80\x80"]',
        "control": b'["a\x01b"]',
        "duplicate_keys": b'{"a":1,"a":"x","b":{"c":1,"c":[2]},"\\u0061":true}',
        "nul_key": b'{"a\\u0000b":1}',
        "whitespace": b' \t\r\n{ "a" : [ 1 , { } , [ ] , true , false , null ] } \n',
        "trailing": b'{"a":1} x',
        "depth_256": b"[" * 256 + b"]" * 256,
        "depth_257": b"[" * 257 + b"]" * 257,
        "literals": b"[true,false,null]",
        "empty": b"",
    }
    for name, data in d.items():
        write("json_scan", name, data)


def deflate_offers():
    # byte 0: flags (bit 0: the server answers client_no_context_takeover only
    # when offered; bit 1: model mode); raw mode: header values split at "\n"
    raw = {
        "chrome": b"permessage-deflate; client_max_window_bits",  # Chrome, Edge, ws, websockets
        "firefox": b"permessage-deflate",  # Firefox, Safari
        "ws_all_options": b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                          b"server_max_window_bits=10; client_max_window_bits=10",
        "safari_old": b"x-webkit-deflate-frame",
        "two_offers": b"permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits",
        "two_headers": b"foo; bar=1\npermessage-deflate; server_max_window_bits=12",
        "quoted": b'permessage-deflate; server_max_window_bits="1\\3"; client_max_window_bits="15"',
        "quoted_comma": b'foo; a="x,permessage-deflate", permessage-deflate; server_max_window_bits=9',
        "unterminated": b'foo; a="x, permessage-deflate',
        "ows_case": b" \t PerMessage-Deflate \t;  Client_Max_Window_Bits = 15 ;SERVER_NO_CONTEXT_TAKEOVER ",
        "empty_elements": b",, ,permessage-deflate,",
        "duplicate": b"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "bad_values": b"permessage-deflate; server_max_window_bits=08, permessage-deflate; server_max_window_bits",
        "unknown_param": b"permessage-deflate; mystery=1",
        "value_on_flag": b"permessage-deflate; server_no_context_takeover=1",
        "nul": b"permessage-deflate\x00; client_max_window_bits",
    }
    for name, data in raw.items():
        write("deflate_negotiate", name, b"\x00" + data)
    write("deflate_negotiate", "policy_offered", b"\x01permessage-deflate; client_no_context_takeover")
    write("deflate_negotiate", "policy_not_offered", b"\x01permessage-deflate; client_max_window_bits")
    # model mode: offer head (name, param count, separators), then per param a
    # kind and a variant byte plus whitespace/case bytes
    write("deflate_negotiate", "model_one", b"\x02" + bytes([0x08, 0, 0, 3, 0x06, 0, 0, 0]))
    write("deflate_negotiate", "model_mixed", b"\x03" + bytes([0x9a, 1, 0, 2, 0x37, 2, 0, 0, 1, 0x50, 3, 0,
                                                              0x10, 0, 0xff, 2, 0x28, 0, 0, 1, 0x45, 0, 0]))


def raw_deflate(data, level=6, wbits=15, final=False, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, 8, strategy)
    out = c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
    if not final:
        assert out.endswith(b"\x00\x00\xff\xff")
        out = out[:-4]
    return out


def far_distance():
    # compressed against a preset dictionary the inflater does not have:
    # "invalid distance too far back"
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=b'{"type":"subscribe"')
    return (c.compress(b'{"type":"subscribe","channels":[]}') + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def inflates():
    # byte 0: max_size selector (9 -> 100, 10 -> 1000, 14 -> 4096, 15 -> 65535),
    # byte 1: round-trip parameters (bits 0-2 window 9 + n, 3-4 shape: once,
    # 3x, 40x, around a window-sized filler; 5-6 level, 7 context takeover); the rest is a compressed payload and the
    # round trip's plain text at once
    tick = (b'{"type":"position_update","key":"AAPL","data":{"symbol":"AAPL","qty":10,'
            b'"px":101.23},"ts":1717000000100}')
    sub = b'{"type":"subscribe","channels":["positions","orders"]}'
    seeds = {
        "client_subscribe": (15, 0x06, raw_deflate(sub)),
        "client_ping": (10, 0x06, raw_deflate(b'{"type":"ping"}')),
        "tick_level1": (15, 0x26, raw_deflate(tick, level=1)),
        "final_block": (15, 0x06, raw_deflate(tick, final=True)),
        "data_after_final": (15, 0x06, raw_deflate(tick, final=True) + b"xyz"),
        "truncated": (15, 0x06, raw_deflate(tick * 20)[:60]),
        "fixed_huffman": (15, 0x06, raw_deflate(b"ab" * 10, strategy=zlib.Z_FIXED)),
        "stored": (15, 0x06, raw_deflate(b"stored \xe2\x82\xac", level=0)),
        "empty_strict": (15, 0x06, b"\x00"),
        "empty_final": (15, 0x06, b"\x03\x00"),
        "window9": (15, 0x00, raw_deflate(tick * 30, wbits=9)),
        "far_distance": (15, 0x06, far_distance()),
        "reserved_block": (15, 0x06, b"\xff\xff\xff\xff"),
        "invalid_utf8": (15, 0x06, raw_deflate(b'{"a":"\xc3\x28"}')),
        "split_code_point": (15, 0x06, raw_deflate(b"ends mid code point \xe2\x82")),
        "at_limit": (9, 0x06, raw_deflate(b"x" * 100)),
        "over_limit": (9, 0x06, raw_deflate(b"x" * 101)),
        "final_over_limit": (9, 0x06, raw_deflate(b"x" * 101, final=True)),
        "tiny_limit": (1, 0x06, raw_deflate(b"ab", final=True)),
        "bomb": (14, 0x06, raw_deflate(b"\x00" * (1 << 20), level=9)),
        "bomb_spaces_65535": (15, 0x06, raw_deflate(b" " * (4 << 20), level=9)),
        "round_trip_takeover": (15, 0x86, tick),
        "round_trip_repeat": (12, 0x53, sub),
        "round_trip_window9": (15, 0x70, tick + sub),
        "round_trip_window_edge9": (15, 0x18, tick),
        "round_trip_window_edge12": (15, 0x1b, sub),
        "round_trip_window_edge15": (15, 0x1e, tick),
    }
    for name, (limit, params, data) in seeds.items():
        write("inflate", name, bytes([limit, params]) + data)


def resume_queries():
    # byte 0: replay limit selector (5 -> 1000), byte 1: StreamId seed; then
    # the rest as a query, event bytes, a stream id, and split at "\n" as
    # [query, reply items...] (history.h)
    seeds = {
        "query_valid": (5, 0, b"since=1732400000000-3&epoch=0hoqeoojg9b1"),
        "query_encoded": (5, 1, b"%73ince=17%2D3&EPOCH=ab%3Acd&x=1"),
        "query_dup": (5, 2, b"since=1-1&since=1-1&epoch=e"),
        "query_bad_escape": (5, 3, b"since=1-1&epoch=%zz%"),
        "event_published": (5, 4, b'{"offset":"1732400000000-7","type":"order_update","data":{"symbol":"AAPL"}}'),
        "event_empty": (5, 5, b" \t{ }"),
        "event_plain": (5, 6, b'{"type":"trade_executed","offset":"1-1"}'),
        "stream_id_max": (5, 7, b"18446744073709551615-18446744073709551615"),
        "resume_ok": (4, 8, b'since=5-0&epoch=E\nE\n9-0\n0-0\n6-0\n{"a":1}\n7-0\n{}\n9-0\n{ }'),
        "resume_odd_entries": (2, 9, b'since=5-0&epoch=E\nE\n20-0\n0-0\n4-0\n{}\n6-0\n{}\n6-0\n{}\n20-0\n{"x":[1]}'),
        "resume_too_old": (5, 10, b"since=1-0&epoch=E\nE\n9-0\n3-0\n4-0\n{}"),
        "resume_epoch": (5, 11, b"since=1-0&epoch=E\nF\n9-0\n0-0\n4-0\n{}"),
        "resume_over_limit": (1, 12, b"since=1-0&epoch=E\nE\n9-0\n0-0\n4-0\n{}\n5-0\n{}"),
    }
    for name, (limit, seed, data) in seeds.items():
        write("resume_query", name, bytes([limit, seed]) + data)


def resp_streams():
    # byte 0: max_bulk (% 32), byte 1: max_line (% 64), byte 2: chunking seed
    def bulk(b):
        return b"$%d\r\n%s\r\n" % (len(b), b)

    def message(ch, payload):
        return b"*3\r\n" + bulk(b"message") + bulk(ch) + bulk(payload)

    seeds = {
        "message_passes": (31, 63, 1, message(b"portfolio:user:1", b'{"type":"order_update"}')),
        "message_discarded": (8, 63, 2, message(b"ch", b"x" * 40) + message(b"ch", b"ok")),
        "boundary": (8, 63, 3, bulk(b"a" * 8) + bulk(b"b" * 9)),
        "subscribe_reply": (31, 63, 4, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"),
        "scalars": (4, 20, 5, b"+OK\r\n-ERR x\r\n:0\r\n:-9223372036854775808\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n"),
        "nested": (4, 8, 6, b"*1\r\n" * 8 + b":1\r\n" + b"*2\r\n*1\r\n$5\r\nabcde\r\n$1\r\nz\r\n"),
        "too_deep": (4, 8, 7, b"*1\r\n" * 9 + b":1\r\n"),
        "lines_with_cr": (4, 8, 8, b"+a\rb\r\r\n-\n\r\r\n"),
        "huge_length": (4, 8, 9, b"$9223372036854775807\r\nabc"),
        "overflow": (4, 8, 10, b"$9223372036854775808\r\n"),
        "no_crlf_after_payload": (4, 8, 11, b"$2\r\nabXY"),
        "bad_numbers": (4, 8, 12, b":01\r\n"),
        "cut_message": (8, 63, 13, message(b"ch", b"y" * 30)[:-7]),
    }
    for name, (bulk_limit, line_limit, seed, data) in seeds.items():
        write("resp_guard", name, bytes([bulk_limit, line_limit, seed]) + data)


def cluster_replies():
    # byte 0: flags (bit 0: start from a full map), then one RESP2 reply
    # (CLUSTER SLOTS / CLUSTER SHARDS as redis-server 7.0 sends them), then
    # '\n'-separated error lines and channel names
    def resp(v):
        if v is None:
            return b"$-1\r\n"
        if isinstance(v, int):
            return b":%d\r\n" % v
        if isinstance(v, bytes):
            return b"$%d\r\n%s\r\n" % (len(v), v)
        if isinstance(v, str):
            return resp(v.encode())
        return b"*%d\r\n" % len(v) + b"".join(resp(x) for x in v)

    ids = [b"%040x" % (0x1531EF99462FE758D63B91DD24E00644BE0BDBD3 + i) for i in range(6)]
    ports = [7000, 7001, 7002, 7003, 7004, 7005]
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]

    def node(i):
        return ["127.0.0.1", ports[i], ids[i], []]

    slots = [[a, b, node(i), node(i + 3)] for i, (a, b) in enumerate(ranges)]

    def shard_node(i, role, health="online", endpoint="127.0.0.1"):
        return ["id", ids[i], "port", ports[i], "ip", "127.0.0.1", "endpoint", endpoint, "role", role,
                "replication-offset", 14, "health", health]

    shards = [["slots", [a, b], "nodes", [shard_node(i, "master"), shard_node(i + 3, "replica")]]
              for i, (a, b) in enumerate(ranges)]
    failover = [["slots", [], "nodes", [shard_node(1, "master", "fail")]]] + [
        ["slots", [a, b], "nodes", [shard_node(4 if i == 1 else i, "master")]] for i, (a, b) in enumerate(ranges)]
    resharded = [[0, 99, node(2)], [100, 5460, node(0)], [5461, 10922, node(1)], [10923, 16383, node(2)]]
    lonely = [[0, 16383, ["", 7000, ids[0], []]]]
    tail = b"MOVED 12182 127.0.0.1:7002\nASK 3999 ::1:7001\nTRYAGAIN x\nCLUSTERDOWN down\nportfolio:user:u1\n{user1000}.a"
    seeds = {
        "slots": (0, resp(slots) + tail),
        "slots_owned": (1, resp(slots)),
        "shards": (0, resp(shards) + tail),
        "shards_failover": (1, resp(failover) + tail),
        "slots_reshard": (0, resp(resharded)),
        "slots_lonely": (0, resp(lonely) + b"MOVED 1 :7001\nMOVED 2 [::1]:7002\nASK 3 ?:7003"),
        "shards_unknown_endpoint": (0, resp([["slots", [0, 16383], "nodes", [shard_node(0, "master", endpoint="?")]]])),
        "error": (0, b"-ERR This instance has cluster support disabled\r\n"),
        "smessage": (0, resp(["smessage", "{t}a", b'he"llo\r\n'])),
        "sunsubscribe": (1, resp(["sunsubscribe", "{t}b", 1])),
        "redirects_only": (1, b":1\r\n" + b"\n".join([b"MOVED %d 10.0.0.%d:%d" % (i * 1000, i, 7000 + i) for i in range(8)])),
    }
    for name, (flags, data) in seeds.items():
        write("cluster_map", name, bytes([flags]) + data)


if __name__ == "__main__":
    frames()
    handshakes()
    cookies()
    sessions()
    events()
    client_messages()
    json_documents()
    deflate_offers()
    inflates()
    resume_queries()
    resp_streams()
    cluster_replies()
