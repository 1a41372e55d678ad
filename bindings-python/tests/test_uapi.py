"""The UAPI (get=1 / set=1): the shared transcripts, render/parse round trips, values from Python,
secrets kept out of repr/str, and UapiClient against a fake device served by a Python thread."""

from __future__ import annotations

import errno
import ipaddress
import json
import pickle
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import pytest

import wiremesh

if TYPE_CHECKING:
    from conftest import FakeDevice

REPO = Path(__file__).resolve().parents[2]
NANOS = 1_000_000_000


def transcripts(vectors: Path) -> dict[str, Any]:
    return json.loads((vectors / "uapi" / "transcripts.json").read_text())  # type: ignore[no-any-return]


# The transcripts' `parsed` shape: keys as hex, absent fields omitted, `preshared_key: null` removes. ----


def set_shape(update: wiremesh.DeviceUpdate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if update.remove_private_key:
        out["private_key"] = None
    elif update.private_key is not None:
        out["private_key"] = update.private_key.to_hex()
    if update.listen_port is not None:
        out["listen_port"] = update.listen_port
    if update.fwmark is not None:
        out["fwmark"] = update.fwmark
    if update.replace_peers:
        out["replace_peers"] = True
    peers = []
    for peer in update.peers:
        p: dict[str, Any] = {"public_key": peer.public_key.to_hex()}
        for flag in ("remove", "update_only", "replace_allowed_ips"):
            if getattr(peer, flag):
                p[flag] = True
        if peer.remove_preshared_key:
            p["preshared_key"] = None
        elif peer.preshared_key is not None:
            p["preshared_key"] = peer.preshared_key.to_hex()
        for name in ("endpoint", "persistent_keepalive_interval", "protocol_version"):
            if getattr(peer, name) is not None:
                p[name] = getattr(peer, name)
        if peer.allowed_ips:
            p["allowed_ips"] = peer.allowed_ips
        peers.append(p)
    out["peers"] = peers
    return out


def update_from_shape(shape: dict[str, Any]) -> wiremesh.DeviceUpdate:
    """The keyword arguments a transcript's `parsed` stands for (keys given as hex text)."""
    kwargs = {k: v for k, v in shape.items() if k != "peers"}
    if "private_key" in kwargs and kwargs["private_key"] is None:
        del kwargs["private_key"]
        kwargs["remove_private_key"] = True
    peers = []
    for p in shape.get("peers", []):
        p = dict(p)
        if "preshared_key" in p and p["preshared_key"] is None:
            del p["preshared_key"]
            p["remove_preshared_key"] = True
        peers.append(wiremesh.PeerUpdate(**p))
    return wiremesh.DeviceUpdate(peers=peers, **kwargs)


def get_shape(state: wiremesh.DeviceState) -> dict[str, Any]:
    peers = []
    for peer in state.peers:
        ns = peer.last_handshake_ns
        peers.append(
            {
                "public_key": peer.public_key.to_hex(),
                "preshared_key": None if peer.preshared_key is None else peer.preshared_key.to_hex(),
                "endpoint": peer.endpoint,
                "last_handshake": None if ns is None else list(divmod(ns, NANOS)),
                "tx_bytes": peer.tx_bytes,
                "rx_bytes": peer.rx_bytes,
                "persistent_keepalive_interval": peer.persistent_keepalive_interval,
                "allowed_ips": peer.allowed_ips,
            }
        )
    shape: dict[str, Any] = {
        "private_key": None if state.private_key is None else state.private_key.to_hex(),
        "listen_port": state.listen_port,
        "fwmark": state.fwmark,
        "peers": peers,
    }
    if state.own_public_key is not None:
        shape["own_public_key"] = state.own_public_key.to_hex()
    return shape


# Transcripts ---------------------------------------------------------------------------------------


def test_transcript_set_requests(vectors: Path) -> None:
    cases = transcripts(vectors)["set_requests"]
    assert cases
    for case in cases:
        name, text = case["name"], case["text"]
        canonical = case.get("canonical", text)
        update = wiremesh.parse_uapi_set_request(text)
        assert set_shape(update) == case["parsed"], name
        assert wiremesh.render_uapi_set_request(update) == canonical, name
        # The same update built from Python (keys as hex text) renders the same bytes.
        built = update_from_shape(case["parsed"])
        assert built == update, name
        assert wiremesh.render_uapi_set_request(built) == canonical, name
        # And through dicts, with secrets as objects and as revealed text.
        assert wiremesh.DeviceUpdate.from_dict(update.to_dict()) == update, name
        assert wiremesh.render_uapi_set_request(update.to_dict(reveal_secrets=True)) == canonical, name
        json.dumps(update.to_dict(reveal_secrets=True))


def test_transcript_get_responses(vectors: Path) -> None:
    cases = transcripts(vectors)["get_responses"]
    assert cases
    for case in cases:
        name, text = case["name"], case["text"]
        state = wiremesh.parse_uapi_get_response(text)
        canonical = case.get("canonical", text)
        assert get_shape(state) == case["parsed"], name
        assert all(peer.protocol_version == 1 for peer in state.peers), name
        assert state.public_key is not None, name
        assert wiremesh.render_uapi_get_response(state) == canonical, name
        assert wiremesh.DeviceState.from_dict(state.to_dict()) == state, name
        assert wiremesh.render_uapi_get_response(state.to_dict(reveal_secrets=True)) == canonical, name
        json.dumps(state.to_dict(reveal_secrets=True))


def test_get_response_attributes(vectors: Path) -> None:
    import datetime

    state = wiremesh.parse_uapi_get_response(transcripts(vectors)["get_responses"][0]["text"])
    assert state.private_key is not None and state.public_key == state.private_key.public_key()
    assert (state.listen_port, state.fwmark, len(state.peers)) == (51820, 0, 1)
    peer = state.peers[0]
    assert state.peer(peer.public_key) == peer
    assert state.peer(peer.public_key.to_hex()) == peer
    assert state.peer(str(peer.public_key)) == peer
    assert state.peer(wiremesh.PrivateKey.generate().public_key()) is None
    assert peer.endpoint == "192.0.2.1:51820"
    assert peer.preshared_key is None
    assert peer.last_handshake_ns == 1_700_000_000_123_456_789
    assert peer.last_handshake == datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.timezone.utc)
    assert (peer.rx_bytes, peer.tx_bytes, peer.persistent_keepalive_interval) == (2068, 1184, 0)
    assert peer.allowed_ips == ["10.88.0.0/24", "fd88::/64"]
    never = wiremesh.PeerState(peer.public_key)
    assert never.last_handshake is None and never.last_handshake_ns is None
    assert wiremesh.PeerState(peer.public_key, last_handshake_ns=0) == never


# Round trips ---------------------------------------------------------------------------------------


def key(byte: int) -> wiremesh.PublicKey:
    return wiremesh.PublicKey.from_bytes(bytes([byte]) * 32)


def test_set_request_round_trip_from_keyword_arguments() -> None:
    psk = wiremesh.PresharedKey.generate()
    update = wiremesh.DeviceUpdate(
        private_key=wiremesh.PrivateKey.generate(),
        listen_port=51820,
        fwmark=0x51,
        replace_peers=True,
        peers=[
            wiremesh.PeerUpdate(
                key(1),
                preshared_key=psk,
                endpoint="[2001:db8::1]:51820",
                persistent_keepalive_interval=25,
                replace_allowed_ips=True,
                allowed_ips=["10.88.0.1/32", ipaddress.ip_network("fd88::/64"), "-10.0.0.0/8"],
                protocol_version=1,
            ),
            {"public_key": str(key(2)), "update_only": True, "remove_preshared_key": True},
            wiremesh.PeerUpdate(key(3).to_hex(), remove=True),
        ],
    )
    text = wiremesh.render_uapi_set_request(update)
    assert text.startswith("set=1\nprivate_key=") and text.endswith("\n\n")
    assert f"public_key={key(3).to_hex()}\nremove=true\n" in text
    assert "preshared_key=" + "0" * 64 in text
    assert "allowed_ip=-10.0.0.0/8\n" in text
    parsed = wiremesh.parse_uapi_set_request(text)
    assert parsed == update
    assert parsed.peers[0].preshared_key == psk
    assert parsed.peers[0].allowed_ips == ["10.88.0.1/32", "fd88::/64", "-10.0.0.0/8"]
    assert parsed.peers[1].remove_preshared_key and parsed.peers[1].preshared_key is None
    assert wiremesh.DeviceUpdate(remove_private_key=True).to_dict()["remove_private_key"] is True
    assert wiremesh.render_uapi_set_request(wiremesh.DeviceUpdate()) == "set=1\n\n"
    assert wiremesh.render_uapi_set_request({"listen_port": 0}) == "set=1\nlisten_port=0\n\n"


def test_get_response_round_trip_from_keyword_arguments() -> None:
    state = wiremesh.DeviceState(
        private_key=wiremesh.PrivateKey.generate(),
        listen_port=51820,
        fwmark=7,
        peers=[
            wiremesh.PeerState(
                key(1),
                preshared_key=wiremesh.PresharedKey.generate(),
                endpoint="192.0.2.1:51820",
                last_handshake_ns=1_700_000_000 * NANOS + 5,
                rx_bytes=2**64 - 1,
                tx_bytes=1,
                persistent_keepalive_interval=25,
                allowed_ips=["10.88.0.0/24", ipaddress.ip_network("fd88::/64")],
            ),
            {"public_key": key(2).to_hex()},
        ],
    )
    text = wiremesh.render_uapi_get_response(state)
    assert text.endswith("errno=0\n\n")
    assert wiremesh.parse_uapi_get_response(text) == state
    assert wiremesh.DeviceState.from_dict(state.to_dict()) == state
    assert wiremesh.PeerState.from_dict(state.peers[0].to_dict()) == state.peers[0]
    assert wiremesh.render_uapi_get_response(wiremesh.DeviceState()) == "errno=0\n\n"


def random_prefix(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{ipaddress.IPv4Address(rng.getrandbits(32))}/{rng.randint(0, 32)}"
    return f"{ipaddress.IPv6Address(rng.getrandbits(128))}/{rng.randint(0, 128)}"


def random_endpoint(rng: random.Random) -> str:
    port = rng.randint(0, 65535)
    if rng.random() < 0.5:
        return f"{ipaddress.IPv4Address(rng.getrandbits(32))}:{port}"
    return f"[{ipaddress.IPv6Address(rng.getrandbits(128))}]:{port}"


def random_secret(rng: random.Random) -> bytes:
    return bytes([rng.randint(1, 255)]) + rng.randbytes(31)


def maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.5 else None


def test_random_round_trips() -> None:
    rng = random.Random(20261124)
    for _ in range(300):
        peers = [
            wiremesh.PeerState(
                wiremesh.PublicKey.from_bytes(rng.randbytes(32)),
                preshared_key=maybe(rng, wiremesh.PresharedKey.from_bytes(random_secret(rng))),
                endpoint=maybe(rng, random_endpoint(rng)),
                last_handshake_ns=maybe(rng, rng.randint(1, 2**62) * NANOS + rng.randint(0, NANOS - 1)),
                rx_bytes=rng.getrandbits(64),
                tx_bytes=rng.getrandbits(64),
                persistent_keepalive_interval=rng.randint(0, 65535),
                allowed_ips=[random_prefix(rng) for _ in range(rng.randint(0, 5))],
            )
            for _ in range(rng.randint(0, 4))
        ]
        state = wiremesh.DeviceState(
            private_key=maybe(rng, wiremesh.PrivateKey.from_bytes(rng.randbytes(32))),
            listen_port=rng.randint(0, 65535),
            fwmark=rng.getrandbits(32),
            peers=peers,
        )
        assert wiremesh.parse_uapi_get_response(wiremesh.render_uapi_get_response(state)) == state

        peer_updates = []
        for _ in range(rng.randint(0, 4)):
            public_key = wiremesh.PublicKey.from_bytes(rng.randbytes(32))
            if rng.random() < 0.2:
                peer_updates.append(wiremesh.PeerUpdate(public_key, remove=True))
                continue
            psk_choice = rng.randint(0, 2)
            peer_updates.append(
                wiremesh.PeerUpdate(
                    public_key,
                    update_only=rng.random() < 0.5,
                    preshared_key=wiremesh.PresharedKey.from_bytes(random_secret(rng)) if psk_choice == 1 else None,
                    remove_preshared_key=psk_choice == 2,
                    endpoint=maybe(rng, random_endpoint(rng)),
                    persistent_keepalive_interval=maybe(rng, rng.randint(0, 65535)),
                    replace_allowed_ips=rng.random() < 0.5,
                    allowed_ips=[
                        ("-" if rng.random() < 0.3 else "") + random_prefix(rng) for _ in range(rng.randint(0, 5))
                    ],
                    protocol_version=maybe(rng, 1),
                )
            )
        key_choice = rng.randint(0, 2)
        update = wiremesh.DeviceUpdate(
            private_key=wiremesh.PrivateKey.from_bytes(rng.randbytes(32)) if key_choice == 1 else None,
            remove_private_key=key_choice == 2,
            listen_port=maybe(rng, rng.randint(0, 65535)),
            fwmark=maybe(rng, rng.getrandbits(32)),
            replace_peers=rng.random() < 0.5,
            peers=peer_updates,
        )
        assert wiremesh.parse_uapi_set_request(wiremesh.render_uapi_set_request(update)) == update
        assert wiremesh.DeviceUpdate.from_dict(update.to_dict(reveal_secrets=True)) == update


def test_errno_replies() -> None:
    assert wiremesh.render_uapi_errno(0) == "errno=0\n\n"
    assert wiremesh.render_uapi_errno(errno.EINVAL) == "errno=-22\n\n"
    assert wiremesh.render_uapi_errno(-errno.EINVAL) == "errno=-22\n\n"
    wiremesh.parse_uapi_set_response("errno=0\n\n")  # returns None: success
    with pytest.raises(wiremesh.UapiError) as info:
        wiremesh.parse_uapi_set_response(wiremesh.render_uapi_errno(errno.EADDRINUSE))
    assert (info.value.code, info.value.errno) == ("uapi_errno", errno.EADDRINUSE)
    with pytest.raises(wiremesh.UapiError) as refused:
        wiremesh.parse_uapi_get_response("errno=71\n\n")
    assert (refused.value.code, refused.value.errno) == ("uapi_errno", 71)


def test_parse_errors_name_line_key_and_the_errno_to_answer() -> None:
    a = key(1).to_hex()
    cases = [
        ("get=1\n\n", "uapi_syntax", 1, None, errno.EPROTO),
        (f"set=1\npublic_key={a}\nlisten_port=1\n\n", "uapi_unknown_key", 3, "listen_port", errno.EINVAL),
        ("set=1\nreplace_peers=yes\n\n", "uapi_invalid_value", 2, "replace_peers", errno.EINVAL),
        (f"set=1\npublic_key={a}\nprotocol_version=2\n\n", "uapi_invalid_value", 3, "protocol_version", errno.EINVAL),
        ("set=1\nfwmark=1\n", "uapi_syntax", 3, None, errno.EPROTO),
        ("set=1\nlisten_port=" + "1" * 600 + "\n\n", "uapi_too_large", None, None, errno.EMSGSIZE),
    ]
    for text, code, line, key_name, answer in cases:
        with pytest.raises(wiremesh.UapiError) as info:
            wiremesh.parse_uapi_set_request(text)
        err = info.value
        assert (err.code, err.line, err.key, err.errno) == (code, line, key_name, answer), text
        assert isinstance(err, wiremesh.WiremeshError)
        # A device written in Python answers a bad request with the error's errno.
        assert wiremesh.render_uapi_errno(err.errno) == f"errno=-{answer}\n\n"


def test_a_bad_secret_is_not_echoed_in_the_error() -> None:
    almost_a_key = "ab" * 31 + "zz"
    for text in (
        f"set=1\nprivate_key={almost_a_key}\n\n",
        f"set=1\npublic_key={key(1).to_hex()}\npreshared_key={almost_a_key}\n\n",
    ):
        with pytest.raises(wiremesh.UapiError) as info:
            wiremesh.parse_uapi_set_request(text)
        assert info.value.code == "uapi_invalid_value"
        assert almost_a_key not in str(info.value)


# Values from Python ----------------------------------------------------------------------------------


def test_keys_as_objects_base64_or_hex() -> None:
    private = wiremesh.PrivateKey.generate()
    psk = wiremesh.PresharedKey.generate()
    Form = tuple[Union[wiremesh.PrivateKey, str], Union[wiremesh.PresharedKey, str], Union[wiremesh.PublicKey, str]]
    forms: list[Form] = [
        (private, psk, private.public_key()),
        (private.to_base64(), psk.to_base64(), private.public_key().to_base64()),
        (private.to_hex(), psk.to_hex(), private.public_key().to_hex()),
    ]
    updates = {
        wiremesh.render_uapi_set_request(
            wiremesh.DeviceUpdate(private_key=sk, peers=[wiremesh.PeerUpdate(pk, preshared_key=ps)])
        )
        for sk, ps, pk in forms
    }
    assert len(updates) == 1
    with pytest.raises(wiremesh.KeyFormatError):
        wiremesh.PeerUpdate("not a key")
    with pytest.raises(wiremesh.KeyFormatError) as info:
        wiremesh.DeviceUpdate(private_key="zz" * 32)
    assert info.value.code == "key_invalid_hex"
    with pytest.raises(TypeError):
        wiremesh.DeviceUpdate(private_key=private.public_key())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wiremesh.PeerUpdate(private)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wiremesh.PeerUpdate(key(1), preshared_key=private)  # type: ignore[arg-type]


def test_values_the_protocol_refuses_raise_uapi_errors() -> None:
    for kwargs, key_name in (
        ({"endpoint": "example.com:51820"}, "endpoint"),
        ({"endpoint": "192.0.2.1"}, "endpoint"),
        ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ip"),
        ({"allowed_ips": ["10.0.0.1"]}, "allowed_ip"),
        ({"protocol_version": 2}, "protocol_version"),
    ):
        with pytest.raises(wiremesh.UapiError) as info:
            wiremesh.PeerUpdate(key(1), **kwargs)
        err = info.value
        assert (err.code, err.key, err.line, err.errno) == ("uapi_invalid_value", key_name, None, errno.EINVAL)
        assert str(err).startswith(f"UAPI: invalid {key_name}: "), str(err)
    with pytest.raises(wiremesh.UapiError):
        wiremesh.PeerState(key(1), endpoint="nowhere")
    with pytest.raises(wiremesh.UapiError):
        wiremesh.PeerState(key(1), last_handshake_ns=2**63 * NANOS)


def test_contradictions_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="not both"):
        wiremesh.PeerUpdate(key(1), preshared_key=wiremesh.PresharedKey.generate(), remove_preshared_key=True)
    with pytest.raises(ValueError, match="not both"):
        wiremesh.DeviceUpdate(private_key=wiremesh.PrivateKey.generate(), remove_private_key=True)
    with pytest.raises(ValueError, match="remove=True"):
        wiremesh.PeerUpdate(key(1), remove=True, endpoint="192.0.2.1:1")
    with pytest.raises(TypeError, match="not a str"):
        wiremesh.PeerUpdate(key(1), allowed_ips="10.0.0.0/8")
    with pytest.raises(TypeError):
        wiremesh.DeviceUpdate(peers=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        wiremesh.DeviceUpdate.from_dict({"listen_prot": 1})
    with pytest.raises(TypeError):
        wiremesh.render_uapi_set_request(42)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        wiremesh.DeviceUpdate(listen_port=65536)
    with pytest.raises(OverflowError):
        wiremesh.DeviceState(fwmark=-1)


def test_values_are_immutable() -> None:
    update = wiremesh.DeviceUpdate(listen_port=1)
    with pytest.raises(AttributeError):
        update.listen_port = 2  # type: ignore[misc]
    state = wiremesh.DeviceState()
    with pytest.raises(AttributeError):
        state.peers = []  # type: ignore[misc]


# Secrets ---------------------------------------------------------------------------------------------


def test_secrets_never_in_repr_or_str(vectors: Path) -> None:
    private = wiremesh.PrivateKey.generate()
    psk = wiremesh.PresharedKey.generate()
    peer_state = wiremesh.PeerState(key(1), preshared_key=psk, endpoint="192.0.2.1:1", allowed_ips=["10.0.0.0/8"])
    state = wiremesh.DeviceState(private_key=private, listen_port=1, peers=[peer_state])
    peer_update = wiremesh.PeerUpdate(key(1), preshared_key=psk)
    update = wiremesh.DeviceUpdate(private_key=private, peers=[peer_update])
    parsed_state = wiremesh.parse_uapi_get_response(wiremesh.render_uapi_get_response(state))
    parsed_update = wiremesh.parse_uapi_set_request(wiremesh.render_uapi_set_request(update))
    secrets = [private.to_base64(), private.to_hex(), psk.to_base64(), psk.to_hex()]
    holders: list[object] = [
        state,
        peer_state,
        update,
        peer_update,
        parsed_state,
        parsed_update,
        state.peers,
        update.peers,
        state.to_dict(),
        update.to_dict(),
        peer_state.to_dict(),
        peer_update.to_dict(),
    ]
    for holder in holders:
        for shown in (repr(holder), str(holder), f"{holder}", f"{holder!r}"):
            for secret in secrets:
                assert secret not in shown, type(holder).__name__
    assert "redacted" in repr(state) and "redacted" in repr(peer_state)
    assert "redacted" in repr(update) and "redacted" in repr(peer_update)
    assert private.public_key().to_base64() in repr(state)  # the public half is fine to show
    # The explicit accessors, and only they, give the values.
    assert state.private_key is not None and state.private_key.to_base64() == private.to_base64()
    assert parsed_state.private_key is not None and parsed_state.private_key.to_hex() == private.to_hex()
    assert parsed_state.peers[0].preshared_key == psk
    revealed = state.to_dict(reveal_secrets=True)
    assert revealed["private_key"] == private.to_base64()
    assert revealed["peers"][0]["preshared_key"] == psk.to_base64()
    with pytest.raises(TypeError):
        json.dumps(state.to_dict())  # secrets stay objects unless revealed


def test_values_holding_secrets_cannot_be_pickled() -> None:
    for value in (
        wiremesh.DeviceState(private_key=wiremesh.PrivateKey.generate()),
        wiremesh.DeviceUpdate(private_key=wiremesh.PrivateKey.generate()),
        wiremesh.PeerUpdate(key(1), preshared_key=wiremesh.PresharedKey.generate()),
    ):
        with pytest.raises(TypeError):
            pickle.dumps(value)


# The client against a fake device (conftest.py: FakeDevice, fake_device) ---------------------------


@pytest.fixture()
def device_text(vectors: Path) -> str:
    return transcripts(vectors)["get_responses"][0]["text"]  # type: ignore[no-any-return]


def test_client_get_and_set(fake_device: Callable[..., FakeDevice], device_text: str) -> None:
    device = fake_device(device_text)
    try:
        with wiremesh.UapiClient.connect_path(device.path) as client:
            assert client.path == str(device.path)
            assert not client.closed
            assert repr(client) == f"UapiClient(path='{device.path}')"
            with open("/proc/self/comm") as comm:  # the fake device is a thread of this process
                assert client.program == comm.read().strip()
            state = client.get()
            assert state == wiremesh.parse_uapi_get_response(device_text)
            update = wiremesh.DeviceUpdate(
                listen_port=51821,
                peers=[wiremesh.PeerUpdate(key(9), endpoint="192.0.2.9:51820", allowed_ips=["10.88.0.9/32"])],
            )
            client.set(update)
            client.set({"fwmark": 5})
            assert client.get() == state  # several requests (a connection each)
        assert client.closed
        assert "closed" in repr(client)
        assert device.requests == [wiremesh.render_uapi_set_request(update), "set=1\nfwmark=5\n\n"]
        assert wiremesh.parse_uapi_set_request(device.requests[0]) == update
        assert device.connections == 1
        with pytest.raises(ValueError, match="closed"):
            client.get()
        client.close()  # twice is fine
    finally:
        device.stop()


def test_client_set_refused_with_errno(fake_device: Callable[..., FakeDevice], device_text: str) -> None:
    device = fake_device(device_text, set_reply="errno=-22\n\n")
    try:
        client = wiremesh.UapiClient.connect_path(str(device.path))
        with pytest.raises(wiremesh.UapiError) as info:
            client.set(wiremesh.DeviceUpdate(listen_port=1))
        err = info.value
        assert (err.code, err.errno, err.line, err.key) == ("uapi_errno", errno.EINVAL, None, None)
        assert "errno 22" in str(err)
        assert client.get().listen_port == 51820  # the connection is still in step
        client.close()
    finally:
        device.stop()


def test_client_reports_a_device_that_hangs_up_mid_answer(fake_device: Callable[..., FakeDevice], device_text: str) -> None:
    device = fake_device(device_text, cut_answers=True)
    try:
        with wiremesh.UapiClient.connect_path(device.path) as client:
            with pytest.raises(wiremesh.UapiError) as info:
                client.get()
        assert (info.value.code, info.value.line) == ("uapi_syntax", None)
        assert str(info.value).startswith("UAPI: ")
    finally:
        device.stop()


def test_client_connection_errors(socket_dir: Path) -> None:
    missing = socket_dir / "missing.sock"
    with pytest.raises(FileNotFoundError) as info:
        wiremesh.UapiClient.connect_path(missing)
    assert isinstance(info.value, wiremesh.NotFoundError)
    assert info.value.code == "io_not_found"
    assert info.value.filename == str(missing)
    stale = socket_dir / "stale.sock"  # a socket file nobody listens on any more
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale))
    listener.close()
    with pytest.raises(wiremesh.WiremeshOSError) as refused:
        wiremesh.UapiClient.connect_path(stale)
    assert refused.value.code == "io_other"
    assert "connect" in str(refused.value) and "None" not in str(refused.value)
    for bad in ("", "a/b", "x" * 16, "..", "wg 0"):
        with pytest.raises(wiremesh.WiremeshOSError) as bad_name:
            wiremesh.UapiClient.connect(bad)
        assert bad_name.value.code == "io_other", bad


def test_socket_paths() -> None:
    assert wiremesh.UAPI_SOCKET_DIR == "/var/run/wireguard"
    assert wiremesh.uapi_socket_path("wg0") == "/var/run/wireguard/wg0.sock"
    with pytest.raises(wiremesh.WiremeshOSError) as info:
        wiremesh.uapi_socket_path("wg/0")
    assert info.value.code == "io_other"
    assert "not an interface name" in str(info.value)
    assert wiremesh.UAPI_MAX_LINE_BYTES == 512
    assert wiremesh.UAPI_MAX_MESSAGE_BYTES == 64 << 20


def test_client_releases_the_gil_and_serialises_threads(fake_device: Callable[..., FakeDevice], device_text: str) -> None:
    # The fake device is Python code: it can only answer while the caller has released the GIL. With a
    # slow device, several threads sharing one client take turns on the connection.
    device = fake_device(device_text, delay=0.05)
    try:
        with wiremesh.UapiClient.connect_path(device.path) as client:
            results: list[Optional[wiremesh.DeviceState]] = []
            errors: list[BaseException] = []
            ticks = 0
            done = threading.Event()

            def count() -> None:
                nonlocal ticks
                while not done.is_set():
                    ticks += 1
                    time.sleep(0.001)

            def work() -> None:
                try:
                    results.append(client.get())
                    client.set(wiremesh.DeviceUpdate(listen_port=1))
                except BaseException as err:  # pragma: no cover - reported below
                    errors.append(err)

            counter = threading.Thread(target=count)
            counter.start()
            started = time.monotonic()
            workers = [threading.Thread(target=work) for _ in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(30)
            done.set()
            counter.join()
            elapsed = time.monotonic() - started
        assert not errors, errors
        expected = wiremesh.parse_uapi_get_response(device_text)
        assert results == [expected] * 4
        assert len(device.requests) == 4 and device.connections == 1
        assert elapsed < 20
        assert ticks > 10, "another Python thread ran while the client waited for the device"
    finally:
        device.stop()


def test_uapi_show_example(fake_device: Callable[..., FakeDevice], device_text: str) -> None:
    device = fake_device(device_text)
    try:
        result = subprocess.run(
            [sys.executable, "-I", str(REPO / "examples" / "python" / "uapi_show.py"), "--socket", str(device.path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        device.stop()
    assert result.returncode == 0, result.stderr
    state = wiremesh.parse_uapi_get_response(device_text)
    assert state.public_key is not None
    out = result.stdout
    assert f"public key: {state.public_key}" in out
    assert "private key: (hidden)" in out
    assert state.private_key is not None and state.private_key.to_base64() not in out
    assert "listening port: 51820" in out
    assert f"peer: {state.peers[0].public_key}" in out
    assert "allowed ips: 10.88.0.0/24, fd88::/64" in out
    assert "latest handshake: 2023-11-14 22:13:20 UTC" in out
    assert "transfer: 2.02 KiB received, 1.16 KiB sent" in out


def test_every_uapi_name_is_exported() -> None:
    for name in (
        "DeviceState",
        "PeerState",
        "DeviceUpdate",
        "PeerUpdate",
        "UapiClient",
        "UapiError",
        "parse_uapi_get_response",
        "parse_uapi_set_request",
        "parse_uapi_set_response",
        "render_uapi_get_response",
        "render_uapi_set_request",
        "render_uapi_errno",
        "uapi_socket_path",
        "UAPI_SOCKET_DIR",
        "UAPI_MAX_MESSAGE_BYTES",
        "UAPI_MAX_LINE_BYTES",
    ):
        assert name in wiremesh.__all__, name
        assert getattr(wiremesh, name).__doc__ or name.isupper(), name
    readme = (REPO / "bindings-python" / "README.md").read_text()
    for name in ("UapiClient", "DeviceUpdate", "parse_uapi_set_request", "UapiError"):
        assert name in readme, name
