"""
Tests for the fast IPv4Address construction used by the parser.
"""

from __future__ import annotations

import attr
from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import _addresses
from pptwisted._addresses import ipv4_address


class FastIPv4AddressTests(SynchronousTestCase):
    def test_same_as_constructor(self) -> None:
        for kind in ("TCP", "UDP"):
            fast = ipv4_address(kind, "203.0.113.9", 443)  # type: ignore[arg-type]
            real = IPv4Address(kind, "203.0.113.9", 443)  # type: ignore[arg-type]
            self.assertIsInstance(fast, IPv4Address)
            self.assertEqual(fast, real)
            self.assertEqual(hash(fast), hash(real))
            self.assertEqual(repr(fast), repr(real))

    def test_falls_back_when_class_changes(self) -> None:
        """A differently shaped IPv4Address (e.g. slotted) gets the real constructor."""

        @attr.s(slots=True, frozen=True, auto_attribs=True)
        class SlottedAddress:
            type: str
            host: str
            port: int

        self.patch(_addresses, "IPv4Address", SlottedAddress)
        self.assertIs(_addresses._choose(), SlottedAddress)
