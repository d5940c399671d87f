"""
Tests for the fast IPv4Address/IPv6Address construction used by the parser.
"""

from __future__ import annotations

import attr
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.trial.unittest import SynchronousTestCase

from pptwisted.codec import _addresses
from pptwisted.codec._addresses import ipv4_address, ipv6_address


class FastAddressTests(SynchronousTestCase):
    def test_ipv4_same_as_constructor(self) -> None:
        for kind in ("TCP", "UDP"):
            fast = ipv4_address(kind, "203.0.113.9", 443)  # type: ignore[arg-type]
            real = IPv4Address(kind, "203.0.113.9", 443)  # type: ignore[arg-type]
            self.assertIsInstance(fast, IPv4Address)
            self.assertEqual(fast, real)
            self.assertEqual(hash(fast), hash(real))
            self.assertEqual(repr(fast), repr(real))

    def test_ipv6_same_as_constructor(self) -> None:
        for kind in ("TCP", "UDP"):
            fast = ipv6_address(kind, "2001:db8::9", 443)  # type: ignore[arg-type]
            real = IPv6Address(kind, "2001:db8::9", 443)  # type: ignore[arg-type]
            self.assertIsInstance(fast, IPv6Address)
            self.assertEqual(fast, real)
            self.assertEqual(hash(fast), hash(real))
            self.assertEqual(repr(fast), repr(real))
            self.assertEqual((fast.flowInfo, fast.scopeID), (0, 0))

    def test_falls_back_when_class_changes(self) -> None:
        """A differently shaped IPv4Address (e.g. slotted) gets the real constructor."""

        @attr.s(slots=True, frozen=True, auto_attribs=True)
        class SlottedAddress:
            type: str
            host: str
            port: int

        self.patch(_addresses, "IPv4Address", SlottedAddress)
        chosen = _addresses._choose(
            SlottedAddress,  # type: ignore[arg-type]
            _addresses._direct4,
            "192.0.2.1",
        )
        self.assertIs(chosen, SlottedAddress)

    def test_falls_back_on_any_error(self) -> None:
        def broken(kind: str, host: str, port: int) -> IPv6Address:
            raise TypeError("changed")

        chosen = _addresses._choose(IPv6Address, broken, "2001:db8::1")  # type: ignore[arg-type]
        self.assertIs(chosen, IPv6Address)
