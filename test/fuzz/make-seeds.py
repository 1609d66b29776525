#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora test/fuzz/request/, test/fuzz/result/ and test/fuzz/token/.

request/: client request frames (fmx_request_decode); result/: entity-array frames
(fmx_entity_list_decode_frame); token/: attribution tokens (fmx_token_verify) signed with
fuzz_token.c's fixed key, and 'P'-prefixed payloads that target signs itself. Each holds valid
samples and hand-made malformed ones.
Deterministic: rerunning rewrites the same bytes. Needs only the standard library (a tiny
msgpack encoder is below, so the seeds do not depend on which msgpack package is installed).

    python3 test/fuzz/make-seeds.py
"""
import base64
import hashlib
import hmac
import os
import struct
import sys


def pack(o):
    """Encodes o with the shortest msgpack format, as msgpack-c does."""
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o <= 0x7F:
            return bytes([o])
        if -32 <= o < 0:
            return struct.pack(">b", o)
        if o >= 0:
            for tag, fmt, hi in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF), (0xCE, ">I", 0xFFFFFFFF),
                                 (0xCF, ">Q", 0xFFFFFFFFFFFFFFFF)):
                if o <= hi:
                    return bytes([tag]) + struct.pack(fmt, o)
        for tag, fmt, lo in ((0xD0, ">b", -0x80), (0xD1, ">h", -0x8000), (0xD2, ">i", -0x80000000),
                             (0xD3, ">q", -0x8000000000000000)):
            if o >= lo:
                return bytes([tag]) + struct.pack(fmt, o)
        raise ValueError(o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode()
        n = len(b)
        if n <= 31:
            return bytes([0xA0 | n]) + b
        if n <= 0xFF:
            return b"\xd9" + struct.pack(">B", n) + b
        if n <= 0xFFFF:
            return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(o, bytes):
        n = len(o)
        if n <= 0xFF:
            return b"\xc4" + struct.pack(">B", n) + o
        if n <= 0xFFFF:
            return b"\xc5" + struct.pack(">H", n) + o
        return b"\xc6" + struct.pack(">I", n) + o
    if isinstance(o, list):
        n = len(o)
        head = bytes([0x90 | n]) if n <= 15 else (b"\xdc" + struct.pack(">H", n) if n <= 0xFFFF
                                                  else b"\xdd" + struct.pack(">I", n))
        return head + b"".join(pack(x) for x in o)
    if isinstance(o, Pairs):  # a map that may repeat keys
        n = len(o.items)
        head = bytes([0x80 | n]) if n <= 15 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(pack(k) + pack(v) for k, v in o.items)
    if isinstance(o, dict):
        return pack(Pairs(list(o.items())))
    raise TypeError(type(o))


class Pairs:
    def __init__(self, items):
        self.items = items


def nested(levels, inner=None):
    o = inner
    for _ in range(levels):
        o = [o]
    return o


CONTEXT = {"geo": "DE", "platform": "ios", "time": 1700000000, "session_id": "s-1",
           "tags": ["a", 1, None], "ab": {"x": 1.5}}

REQUEST = {
    # valid
    "ok-minimal": pack({"feed": "home", "user_id": "42"}),
    "ok-full": pack({"feed": "home", "user_id": "42", "request_id": "r-1", "context": CONTEXT,
                     "limit": 10, "deadline_ms": 150, "debug": True, "params": {"ranker_model": "linear_v1"}}),
    "ok-int-user": pack({"feed": "home", "user_id": 42}),
    "ok-int64-min-user": pack({"feed": "explore", "user_id": -0x8000000000000000, "limit": 1000}),
    "ok-uint64-max-user": pack({"feed": "home", "user_id": 0xFFFFFFFFFFFFFFFF}),
    "ok-event": pack({"event": "click", "token": "tok.v1.abc", "request_id": "e-1", "user_id": 7}),
    "ok-unknown-keys": pack({"feed": "home", "user_id": "1", "future": [1, {"a": None}], "x": b"\x00"}),
    # malformed
    "bad-empty": b"",
    "bad-c1": b"\xc1",
    "bad-not-map": pack(["feed", "home"]),
    "bad-str": pack("home"),
    "bad-neither": pack({"user_id": "1"}),
    "bad-both": pack({"feed": "home", "event": "click", "token": "t", "user_id": "1"}),
    "bad-no-user": pack({"feed": "home"}),
    "bad-no-token": pack({"event": "click"}),
    "bad-feed-type": pack({"feed": 1, "user_id": "1"}),
    "bad-feed-chars": pack({"feed": "../home", "user_id": "1"}),
    "bad-user-float": pack({"feed": "home", "user_id": 1.5}),
    "bad-limit-zero": pack({"feed": "home", "user_id": "1", "limit": 0}),
    "bad-limit-big": pack({"feed": "home", "user_id": "1", "limit": 1001}),
    "bad-deadline-neg": pack({"feed": "home", "user_id": "1", "deadline_ms": -5}),
    "bad-debug-int": pack({"feed": "home", "user_id": "1", "debug": 1}),
    "bad-context-intkey": pack({"feed": "home", "user_id": "1", "context": Pairs([(1, "x")])}),
    "bad-context-bin": pack({"feed": "home", "user_id": "1", "context": {"b": b"zz"}}),
    "bad-dup-feed": pack(Pairs([("feed", "home"), ("user_id", "1"), ("feed", "other")])),
    "bad-long-feed": pack({"feed": "f" * 129, "user_id": "1"}),
    "bad-depth": pack({"feed": "home", "user_id": "1", "context": {"deep": nested(20)}}),
    "bad-huge-array": b"\xdd\xff\xff\xff\xff" + b"\xc0" * 8,
    "bad-huge-map": b"\xdf\xff\xff\xff\xff" + b"\xc0" * 8,
    "bad-huge-str": b"\xdb\xff\xff\xff\xff" + b"x" * 8,
    "bad-ext": b"\x82" + pack("feed") + pack("home") + pack("x") + b"\xd4\x01\x02",
    "bad-trailing": pack({"feed": "home", "user_id": "1"}) + b"\xc0",
    "bad-truncated": pack({"feed": "home", "user_id": "1", "context": CONTEXT})[:-3],
}

LIVE = {"id": "ls-1", "type": "livestream", "score": 0.9, "position": 0, "source": "follows",
        "token": "tok:1", "fields": {"viewers": 1200, "title": "live now", "seller_id": "s-7"}}

RESULT = {
    # valid
    "ok-empty": pack([]),
    "ok-one": pack([{"id": "p-1", "type": "product"}]),
    "ok-full": pack([LIVE, {"id": "p-2", "type": "product", "score": 3, "position": -1}]),
    "ok-carousel": pack([LIVE, {"id": "new", "type": "carousel", "position": 1,
                                "items": [{"id": "st-1", "type": "store"},
                                          {"id": "c2", "type": "carousel", "items": []}]}]),
    "ok-nil-optionals": pack([{"id": "a", "type": "t", "score": None, "fields": None, "items": None, "x": 1}]),
    "ok-depth-4": pack([{"id": "1", "type": "carousel", "items": [
        {"id": "2", "type": "carousel", "items": [
            {"id": "3", "type": "carousel", "items": [{"id": "4", "type": "leaf"}]}]}]}]),
    # malformed
    "bad-empty": b"",
    "bad-not-array": pack({"id": "a", "type": "t"}),
    "bad-element": pack([{"id": "a", "type": "t"}, 4]),
    "bad-no-id": pack([{"type": "t"}]),
    "bad-score-str": pack([{"id": "a", "type": "t", "score": "high"}]),
    "bad-fields-array": pack([{"id": "a", "type": "t", "fields": [1]}]),
    "bad-depth-5": pack([{"id": "1", "type": "c", "items": [{"id": "2", "type": "c", "items": [
        {"id": "3", "type": "c", "items": [{"id": "4", "type": "c", "items": [{"id": "5", "type": "t"}]}]}]}]}]),
    "bad-depth-bomb": b"\x91" * 200 + b"\xc0",
    "bad-huge-array": b"\xdd\x7f\xff\xff\xff" + b"\x80" * 16,
    "bad-ext": b"\x91\xd6\x01\x00\x00\x00\x00",
    "bad-c1": b"\x92\x80\xc1",
    "bad-trailing": pack([]) + b"\x90",
    "bad-truncated": pack([LIVE])[:-5],
}


# fuzz_token.c's key: bytes 0..31. A token is "v2." b64url(payload) "." b64url(HMAC-SHA256[:16]).
TOKEN_KEY = bytes(range(32))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def token(payload):
    body = b"v2." + b64url(payload)
    return body + b"." + b64url(hmac.new(TOKEN_KEY, body, hashlib.sha256).digest()[:16])


TOP = ["rk-1a2b000000000007", [3], "home", "follows", "linear_v1", {"ranker_test": "control"}, 1767225600]
CHILD = ["rk-1a2b000000000007", [2, 1], "home", "sub", "", {}, 1767225600]
TOKEN = {
    "ok-top": token(pack(TOP)),
    "ok-child": token(pack(CHILD)),
    "ok-deep": token(pack(["r", [0, 1, 2, 3, 4], "f", "s", "m", {"a": "b", "c": "d"}, 0])),
    "payload-top": b"P" + pack(TOP),
    "payload-child": b"P" + pack(CHILD),
    # malformed
    "bad-empty": b"",
    "bad-v1": b"v1.rk-1.-.0",
    "bad-forged": token(pack(TOP))[:-2] + b"AA",
    "bad-truncated": token(pack(TOP))[:-5],
    "bad-no-tag": b"v2." + b64url(pack(TOP)),
    "bad-std-b64": b"v2.A+/A.AAAAAAAAAAAAAAAAAAAAAA",
    "bad-long": b"v2." + b"A" * 1100 + b".AAAAAAAAAAAAAAAAAAAAAA",
    "payload-short": b"P" + pack(TOP[:6]),
    "payload-deep": b"P" + pack(["r", [0] * 6, "f", "s", "m", {}, 0]),
    "payload-negative": b"P" + pack(["r", [-1], "f", "s", "m", {}, 0]),
    "payload-variant-int": b"P" + pack(["r", [0], "f", "s", "m", {"a": 1}, 0]),
    "payload-trailing": b"P" + pack(TOP) + b"\xc0",
    "payload-huge-map": b"P\x97\xa1r\x91\x00\xa0\xa0\xa0\xdf\x7f\xff\xff\xff",
}


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    for sub, seeds in (("request", REQUEST), ("result", RESULT), ("token", TOKEN)):
        d = os.path.join(root, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name + ".mp"), "wb") as f:
                f.write(data)
        print(f"{sub}: {len(seeds)} seeds in {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
