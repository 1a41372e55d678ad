"""wiremesh: describe a WireGuard network once; get every node's config, proven reachable.

The pipeline is ``Mesh`` (what you declare) -> ``plan()`` -> ``Plan`` (every node's interface and
peers) -> ``verify()`` (hop-by-hop proof) -> ``write_configs()`` / ``Plan.render()``::

    import wiremesh

    mesh = wiremesh.Mesh("demo", ["10.88.0.0/24"])
    mesh.add_node("hub", endpoint="192.0.2.1:51820", relay=True)
    mesh.add_node("node-1")
    mesh.add_node("node-2")
    mesh.generate_missing()              # keys and addresses, in memory
    plan = wiremesh.plan(mesh)
    wiremesh.verify(plan)                # raises VerifyError with .problems
    wiremesh.write_configs(plan, "out")  # out/<node>.conf, 0600, atomically

Every error is a ``WiremeshError`` with a stable ``.code`` (see ``ERROR_CODES``); file errors are
also the matching built-in ``OSError`` subclasses. Secret keys never appear in ``repr()``/``str()``:
read them with ``to_base64()`` / ``to_hex()`` / ``to_bytes()`` or ``WgConfig.to_dict(reveal_secrets=True)``.

Running devices are read and changed over the UAPI (what ``wg`` speaks to userspace WireGuard)::

    with wiremesh.UapiClient.connect("wg0") as device:     # /var/run/wireguard/wg0.sock
        state = device.get()                                # DeviceState: peers, handshakes, bytes
        device.set(wiremesh.DeviceUpdate(listen_port=51821, peers=[
            wiremesh.PeerUpdate(peer_key, endpoint="192.0.2.7:51820", allowed_ips=["10.88.0.7/32"]),
        ]))

On Linux a WireGuard interface can also run inside this process (root; the packet path runs in native
threads, never in Python)::

    with wiremesh.Device.start_node(plan, "node-1", "wm0") as device:   # peers' DNS names resolved now
        state = device.state()                                          # DeviceState, as wg show sees it
        device.apply(wiremesh.DeviceUpdate(peers=[...]))                 # the UAPI set semantics
    # stopped: interface and /var/run/wireguard/wm0.sock deleted

Live reconfiguration: ``diff(plan, node, state)`` is the minimal update turning a device into a plan
node (untouched peers keep their sessions), ``describe()`` lists it without secrets, and
``apply(plan, node, client, dry_run=...)`` does get, diff and set in one call.
"""

import sys as _sys

from ._native import (
    Agent,
    ERROR_CODES,
    FORMATS,
    KEY_LEN,
    MAX_NAME_LEN,
    PROBLEM_CODES,
    UAPI_MAX_LINE_BYTES,
    UAPI_MAX_MESSAGE_BYTES,
    UAPI_SOCKET_DIR,
    AlreadyExistsError,
    ConfigError,
    DeviceState,
    DeviceUpdate,
    IpamError,
    KeyFormatError,
    Mesh,
    MeshError,
    Node,
    NodePlan,
    NotFoundError,
    PeerPlan,
    PeerState,
    PeerUpdate,
    PermissionDeniedError,
    Plan,
    PlanError,
    Pool,
    PresharedKey,
    PrivateKey,
    Problem,
    Proof,
    PublicKey,
    UapiClient,
    UapiError,
    VerifyError,
    WgConfig,
    WiremeshError,
    WiremeshOSError,
    __version__,
    apply,
    apply_update,
    check,
    check_failover,
    check_name,
    describe,
    diff,
    import_meshconf,
    import_wg_quick,
    is_safe_value,
    parse_endpoint,
    parse_reservation,
    parse_setconf,
    parse_uapi_get_response,
    parse_uapi_set_request,
    parse_uapi_set_response,
    parse_wg_quick,
    plan,
    plan_with_relays_down,
    render_dot,
    render_setconf,
    render_uapi_errno,
    render_uapi_get_response,
    render_uapi_set_request,
    render_wg_quick,
    uapi_socket_path,
    verify,
    verify_failover,
    write_configs,
    write_mesh_configs,
    write_mesh_configs_lean,
    write_proven_configs,
)

__all__ = [
    "Agent",
    "ERROR_CODES",
    "FORMATS",
    "KEY_LEN",
    "MAX_NAME_LEN",
    "PROBLEM_CODES",
    "UAPI_MAX_LINE_BYTES",
    "UAPI_MAX_MESSAGE_BYTES",
    "UAPI_SOCKET_DIR",
    "AlreadyExistsError",
    "ConfigError",
    "DeviceState",
    "DeviceUpdate",
    "IpamError",
    "KeyFormatError",
    "Mesh",
    "MeshError",
    "Node",
    "NodePlan",
    "NotFoundError",
    "PeerPlan",
    "PeerState",
    "PeerUpdate",
    "PermissionDeniedError",
    "Plan",
    "PlanError",
    "Pool",
    "PresharedKey",
    "PrivateKey",
    "Problem",
    "Proof",
    "PublicKey",
    "UapiClient",
    "UapiError",
    "VerifyError",
    "WgConfig",
    "WiremeshError",
    "WiremeshOSError",
    "__version__",
    "apply",
    "apply_update",
    "check",
    "check_failover",
    "check_name",
    "describe",
    "diff",
    "import_meshconf",
    "import_wg_quick",
    "is_safe_value",
    "parse_endpoint",
    "parse_reservation",
    "parse_setconf",
    "parse_uapi_get_response",
    "parse_uapi_set_request",
    "parse_uapi_set_response",
    "parse_wg_quick",
    "plan",
    "plan_with_relays_down",
    "render_dot",
    "render_setconf",
    "render_uapi_errno",
    "render_uapi_get_response",
    "render_uapi_set_request",
    "render_wg_quick",
    "uapi_socket_path",
    "verify",
    "verify_failover",
    "write_configs",
    "write_mesh_configs",
    "write_mesh_configs_lean",
    "write_proven_configs",
]

if _sys.platform == "linux":
    from ._native import Device

    __all__ += ["Device"]

# Status, health, probes and the status server (issue 6).
from ._native import (  # noqa: E402
    HEALTH_CODES,
    Prober,
    Status,
    StatusServer,
    device_status,
    parse_wg_dump,
    parse_wg_dump_all,
    render_prometheus,
)

__all__ += [
    "HEALTH_CODES",
    "Prober",
    "Status",
    "StatusServer",
    "device_status",
    "parse_wg_dump",
    "parse_wg_dump_all",
    "render_prometheus",
]
