"""
C{python -m pptwisted.probe URL}: send one HTTP request through a PROXY
header (with treq) and print the status and the body, to check that a
backend honours the header.

Exit status: 0 for a response below 400, 1 for 400 and above, 2 when no
response came (connection refused or reset, timeout, TLS failure).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime

from ..codec import ProxyHeader
from ._cli import parse_address, parse_tlv, version_line

__all__ = ["main"]

DEFAULT_SOURCE_V4 = "203.0.113.1:40000"
DEFAULT_SOURCE_V6 = "[2001:db8::1]:40000"


class _Insecure:
    """TLS without certificate checks, for backends with internal certificates."""

    def creatorForNetloc(self, hostname: bytes, port: int) -> object:
        from twisted.internet.ssl import CertificateOptions

        return CertificateOptions(verify=False)


def _parser() -> argparse.ArgumentParser:
    """
    The command line of C{python -m pptwisted.probe}: the URL to request,
    the header to send (addresses, version, TLVs, CRC32C) and the request's
    method, timeout and TLS check. Only parsing: L{build_header} turns the
    result into a L{ProxyHeader}, which validates the addresses and TLVs.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pptwisted.probe",
        description="Send an HTTP request through a PROXY header; print status and body.",
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("url", help="http:// or https:// URL of the backend")
    parser.add_argument(
        "--source",
        help=f"client address to claim, ADDR:PORT or [IPv6]:PORT (default {DEFAULT_SOURCE_V4},"
        f" or {DEFAULT_SOURCE_V6} for an IPv6 destination)",
    )
    parser.add_argument(
        "--destination",
        help="destination address to claim (default: the URL's host address and port)",
    )
    parser.add_argument(
        "--header-version",
        type=int,
        choices=(1, 2),
        default=2,
        help="PROXY header version (default 2)",
    )
    parser.add_argument(
        "--tlv",
        action="append",
        default=[],
        metavar="TYPE=VALUE",
        help="add a TLV (v2): TYPE a number or alpn/authority/unique_id/netns/noop",
    )
    parser.add_argument("--crc32c", action="store_true", help="add a CRC32C TLV (v2)")
    parser.add_argument("--method", default="GET", help="HTTP method (default GET)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument(
        "--insecure", action="store_true", help="do not check the backend's TLS certificate"
    )
    return parser


def build_header(args: argparse.Namespace) -> ProxyHeader:
    """The header described by the command line."""
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"{args.url!r} is not an http:// or https:// URL")
    if args.destination:
        destination = parse_address(args.destination)
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        info = socket.getaddrinfo(url.hostname, port, type=socket.SOCK_STREAM)
        family, _, _, _, sockaddr = info[0]
        cls = IPv6Address if family == socket.AF_INET6 else IPv4Address
        destination = cls("TCP", str(sockaddr[0]), port)
    default = DEFAULT_SOURCE_V6 if isinstance(destination, IPv6Address) else DEFAULT_SOURCE_V4
    source = parse_address(args.source or default)
    if type(source) is not type(destination):
        raise ValueError("--source and --destination must both be IPv4 or both IPv6")
    tlvs = [parse_tlv(t) for t in args.tlv]
    if args.header_version == 1 and (tlvs or args.crc32c):
        raise ValueError("--tlv and --crc32c need --header-version 2")
    return ProxyHeader.proxy(source, destination, version=args.header_version, tlvs=tlvs)


async def _probe(reactor: IReactorTime, args: argparse.Namespace, header: ProxyHeader) -> int:
    import treq

    from ..http import proxied_treq

    policy = _Insecure() if args.insecure else None
    client = proxied_treq(
        reactor,
        header,
        contextFactory=policy,  # type: ignore[arg-type]
        connectTimeout=args.timeout,
        crc32c=args.crc32c,
    )
    try:
        response = await client.request(args.method, args.url, timeout=args.timeout)
        body = await treq.content(response)
    except Exception as e:  # any failure to get a response is reported, not raised
        print(f"no response from {args.url}: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 2
    phrase = response.phrase.decode("latin-1") if response.phrase else ""
    print(f"HTTP {response.code} {phrase}".rstrip())
    sys.stdout.write(body.decode("utf-8", "replace"))
    if body and not body.endswith(b"\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0 if response.code < 400 else 1


def _missing_dependency(url: str) -> str | None:
    """What the probe cannot do without, in one line naming the extra; or C{None}."""
    try:
        import treq  # noqa: F401
    except ImportError:
        return (
            "needs treq, which is not installed: pip install treq (or apt-get install python3-treq)"
        )
    if urlsplit(url).scheme.lower() == "https":
        try:
            import OpenSSL  # noqa: F401
        except ImportError:
            return (
                "https needs pyOpenSSL, which is not installed:"
                " pip install pyOpenSSL (or apt-get install python3-openssl)"
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        header = build_header(args)
    except (ValueError, OSError) as e:
        print(f"probe: {e}", file=sys.stderr)
        return 2
    missing = _missing_dependency(args.url)
    if missing is not None:
        print(f"probe: {missing}", file=sys.stderr)
        return 2
    print(f"sending {header.to_bytes(crc32c=args.crc32c)!r}", file=sys.stderr)
    result: list[int] = []

    def run(reactor: IReactorTime) -> Deferred[None]:
        return ensureDeferred(_probe(reactor, args, header)).addCallback(result.append)

    from twisted.internet.task import react

    try:
        react(run)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    return result[0] if result else 2


if __name__ == "__main__":
    sys.exit(main())
