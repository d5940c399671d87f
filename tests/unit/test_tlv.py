"""
TLVs of PROXY protocol v2 (spec 2.2.1-2.2.8) and the cloud vendors' ones:
typed accessors on parsed headers, raw access by type, the builders, and
L{ProxyHeader.to_bytes} byte for byte.
"""

from __future__ import annotations

import gc
import pickle
import sys

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from pptwisted import TLV, HeaderParser, InvalidHeader, ProxyHeader, TLVType, parse_header
from pptwisted.codec import Command, Family, Rule, Transport
from pptwisted.codec._tlv import DEFAULT_MAX_TLVS, TLVs
from pptwisted.tlv import SSLInfo, aws_vpce_tlv, azure_link_id_tlv, gcp_psc_tlv, ssl_tlv

from ..helpers import (
    V2_SIG,
    assert_accepts,
    assert_rejects,
    assert_rejects_at_last_byte,
    inet4,
    seal_crc32c,
    v2,
)

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
# 1.2.3.4:1 -> 5.6.7.8:2, TCP.
ADDR4 = b"\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"
SRC4 = IPv4Address("TCP", "192.168.0.1", 56324)
DST4 = IPv4Address("TCP", "192.168.0.11", 443)

# An SSL record with every flag and every sub-TLV, written out field by field.
SSL_FULL = (
    b"\x20\x00\x77"  # PP2_TYPE_SSL, 119 bytes
    b"\x07"  # client: SSL | CERT_CONN | CERT_SESS
    b"\x00\x00\x00\x00"  # verify: 0, verified
    b"\x21\x00\x07TLSv1.3"  # VERSION
    b"\x22\x00\x0eclient.example"  # CN
    b"\x23\x00\x16TLS_AES_128_GCM_SHA256"  # CIPHER
    b"\x24\x00\x0aRSA-SHA256"  # SIG_ALG
    b"\x25\x00\x07RSA2048"  # KEY_ALG
    b"\x26\x00\x06X25519"  # GROUP
    b"\x27\x00\x13rsa_pss_rsae_sha256"  # SIG_SCHEME
    b"\x28\x00\x05\x30\x03\x02\x01\x01"  # CLIENT_CERT (DER)
)


def with_tlvs(*tlvs: bytes) -> bytes:
    """A v2 PROXY TCP4 header carrying the given encoded TLVs."""
    body = ADDR4 + b"".join(tlvs)
    return SIG + b"\x21\x11" + len(body).to_bytes(2, "big") + body


def parsed(case: SynchronousTestCase, *tlvs: bytes) -> ProxyHeader:
    """Parse a header carrying C{tlvs} (whole and byte by byte)."""
    header, rest = assert_accepts(case, with_tlvs(*tlvs))
    case.assertEqual(rest, b"")
    return header


class StandardTLVTests(SynchronousTestCase):
    def test_alpn(self) -> None:
        header = parsed(self, b"\x01\x00\x02h2")
        self.assertEqual(header.alpn, b"h2")
        header = parsed(self, b"\x01\x00\x08http/1.1")
        self.assertEqual(header.alpn, b"http/1.1")

    def test_authority(self) -> None:
        self.assertEqual(parsed(self, b"\x02\x00\x0bexample.com").authority, "example.com")
        utf8 = "b\u00fccher.example".encode()
        self.assertEqual(utf8, b"b\xc3\xbccher.example")
        header = parsed(self, b"\x02\x00\x0f" + utf8)
        self.assertEqual(header.authority, "b\u00fccher.example")

    def test_authority_not_utf8(self) -> None:
        """Bad UTF-8 makes the accessor say None; the header still parses."""
        header = parsed(self, b"\x02\x00\x02\xff\xfe")
        self.assertIsNone(header.authority)
        self.assertEqual(header.get_tlv(0x02), b"\xff\xfe")

    def test_unique_id(self) -> None:
        uid = bytes(range(128))
        header = parsed(self, b"\x05\x00\x80" + uid)
        self.assertEqual(header.unique_id, uid)

    def test_netns(self) -> None:
        self.assertEqual(parsed(self, b"\x30\x00\x04blue").netns, "blue")
        self.assertIsNone(parsed(self, b"\x30\x00\x01\x80").netns)

    def test_noop(self) -> None:
        self.assertEqual(parsed(self, b"\x04\x00\x00").noop, b"")
        self.assertEqual(parsed(self, b"\x04\x00\x03\x00\x00\x00").noop, b"\x00\x00\x00")

    def test_crc32c(self) -> None:
        data = (
            SIG + b"\x21\x11\x00\x13" + b"\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
            b"\x03\x00\x04\x1c\x1a\xe9\xc6"
        )
        header, _ = assert_accepts(self, data)
        self.assertEqual(header.crc32c, 0x1C1AE9C6)

    def test_absent(self) -> None:
        header = parsed(self)
        self.assertEqual(header.tlvs, ())
        for name in (
            "alpn",
            "authority",
            "unique_id",
            "netns",
            "noop",
            "crc32c",
            "ssl",
            "aws_vpce_id",
            "azure_link_id",
            "gcp_psc_connection_id",
        ):
            self.assertIsNone(getattr(header, name), name)
        self.assertIsNone(header.get_tlv(0x01))
        self.assertEqual(header.get_tlvs(0x01), [])

    def test_first_of_several(self) -> None:
        header = parsed(self, b"\x01\x00\x02h2", b"\x01\x00\x02h3")
        self.assertEqual(header.alpn, b"h2")
        self.assertEqual(header.get_tlvs(TLVType.ALPN), [b"h2", b"h3"])


class SSLTests(SynchronousTestCase):
    def test_full(self) -> None:
        header = parsed(self, SSL_FULL)
        ssl = header.ssl
        assert ssl is not None
        self.assertEqual(ssl.client, 0x07)
        self.assertTrue(ssl.client_ssl)
        self.assertTrue(ssl.client_cert_conn)
        self.assertTrue(ssl.client_cert_sess)
        self.assertEqual(ssl.verify, 0)
        self.assertTrue(ssl.verified)
        self.assertEqual(ssl.version, "TLSv1.3")
        self.assertEqual(ssl.cn, "client.example")
        self.assertEqual(ssl.cipher, "TLS_AES_128_GCM_SHA256")
        self.assertEqual(ssl.sig_alg, "RSA-SHA256")
        self.assertEqual(ssl.key_alg, "RSA2048")
        self.assertEqual(ssl.group, "X25519")
        self.assertEqual(ssl.sig_scheme, "rsa_pss_rsae_sha256")
        self.assertEqual(ssl.client_cert, b"\x30\x03\x02\x01\x01")
        self.assertEqual([t.type for t in ssl.tlvs], list(range(0x21, 0x29)))
        self.assertEqual(ssl.get(0x21), b"TLSv1.3")
        self.assertEqual(ssl.get(0x23), b"TLS_AES_128_GCM_SHA256")
        self.assertIsNone(ssl.get(0x29))

    def test_flags_one_by_one(self) -> None:
        for client, flags in (
            (0x00, (False, False, False)),
            (0x01, (True, False, False)),
            (0x02, (False, True, False)),
            (0x04, (False, False, True)),
            (0x05, (True, False, True)),
        ):
            ssl = parsed(self, b"\x20\x00\x05" + bytes([client]) + b"\x00\x00\x00\x00").ssl
            assert ssl is not None
            self.assertEqual((ssl.client_ssl, ssl.client_cert_conn, ssl.client_cert_sess), flags)

    def test_not_verified(self) -> None:
        for verify in (b"\x00\x00\x00\x01", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff"):
            ssl = parsed(self, b"\x20\x00\x05\x03" + verify).ssl
            assert ssl is not None
            self.assertFalse(ssl.verified)
            self.assertEqual(ssl.verify, int.from_bytes(verify, "big"))

    def test_minimal(self) -> None:
        ssl = parsed(self, b"\x20\x00\x05\x01\x00\x00\x00\x00").ssl
        self.assertEqual(ssl, SSLInfo(1, 0, ()))
        assert ssl is not None
        for name in ("version", "cn", "cipher", "sig_alg", "key_alg", "group", "sig_scheme"):
            self.assertIsNone(getattr(ssl, name), name)
        self.assertIsNone(ssl.client_cert)

    def test_cn_utf8(self) -> None:
        value = b"\x01\x00\x00\x00\x00" + b"\x22\x00\x06J\xc3\xb6rg\x21"
        ssl = parsed(self, b"\x20\x00" + bytes([len(value)]) + value).ssl
        assert ssl is not None
        self.assertEqual(ssl.cn, "J\u00f6rg!")

    def test_non_ascii_version(self) -> None:
        value = b"\x01\x00\x00\x00\x00" + b"\x21\x00\x01\xff"
        ssl = parsed(self, b"\x20\x00\x09" + value).ssl
        assert ssl is not None
        self.assertIsNone(ssl.version)
        self.assertEqual(ssl.get(0x21), b"\xff")

    def test_unknown_sub_tlv_kept(self) -> None:
        value = b"\x01\x00\x00\x00\x00" + b"\x29\x00\x01x" + b"\x21\x00\x07TLSv1.2"
        ssl = parsed(self, b"\x20\x00" + bytes([len(value)]) + value).ssl
        assert ssl is not None
        self.assertEqual(ssl.tlvs, (TLV(0x29, b"x"), TLV(0x21, b"TLSv1.2")))
        self.assertEqual(ssl.version, "TLSv1.2")


class VendorTLVTests(SynchronousTestCase):
    def test_aws(self) -> None:
        header = parsed(self, b"\xea\x00\x17\x01vpce-08d2bf15fac5001c9")
        self.assertEqual(header.aws_vpce_id, "vpce-08d2bf15fac5001c9")

    def test_azure(self) -> None:
        header = parsed(self, b"\xee\x00\x05\x01\x78\x56\x34\x12")
        self.assertEqual(header.azure_link_id, 0x12345678)
        header = parsed(self, b"\xee\x00\x05\x01\xff\xff\xff\xff")
        self.assertEqual(header.azure_link_id, 0xFFFFFFFF)

    def test_gcp(self) -> None:
        header = parsed(self, b"\xe0\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08")
        self.assertEqual(header.gcp_psc_connection_id, 0x0102030405060708)
        header = parsed(self, b"\xe0\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff")
        self.assertEqual(header.gcp_psc_connection_id, 2**64 - 1)

    def test_wrong_shapes(self) -> None:
        """A vendor record of the wrong shape: accessor None, header fine."""
        for record, name in (
            (b"\xee\x00\x04\x01\x78\x56\x34", "azure_link_id"),
            (b"\xee\x00\x06\x01\x78\x56\x34\x12\x00", "azure_link_id"),
            (b"\xee\x00\x05\x02\x78\x56\x34\x12", "azure_link_id"),
            (b"\xee\x00\x00", "azure_link_id"),
            (b"\xe0\x00\x07\x01\x02\x03\x04\x05\x06\x07", "gcp_psc_connection_id"),
            (b"\xe0\x00\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09", "gcp_psc_connection_id"),
            (b"\xea\x00\x05\x02vpce", "aws_vpce_id"),
            (b"\xea\x00\x01\x01", "aws_vpce_id"),
            (b"\xea\x00\x00", "aws_vpce_id"),
            (b"\xea\x00\x03\x01\xff\xfe", "aws_vpce_id"),
        ):
            header = parsed(self, record)
            self.assertIsNone(getattr(header, name), record)
            self.assertEqual(len(header.tlvs), 1)
            self.assertEqual(header.tlvs[0].to_bytes(), record)

    def test_aws_other_subtype_first(self) -> None:
        header = parsed(self, b"\xea\x00\x03\x02xy", b"\xea\x00\x06\x01vpce-")
        self.assertEqual(header.aws_vpce_id, "vpce-")

    def test_all_together(self) -> None:
        header = parsed(
            self,
            b"\x01\x00\x02h2",
            b"\x02\x00\x0bexample.com",
            SSL_FULL,
            b"\xea\x00\x17\x01vpce-08d2bf15fac5001c9",
            b"\xee\x00\x05\x01\x78\x56\x34\x12",
            b"\xe0\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08",
        )
        self.assertEqual(header.alpn, b"h2")
        self.assertEqual(header.authority, "example.com")
        assert header.ssl is not None
        self.assertEqual(header.ssl.cn, "client.example")
        self.assertEqual(header.aws_vpce_id, "vpce-08d2bf15fac5001c9")
        self.assertEqual(header.azure_link_id, 0x12345678)
        self.assertEqual(header.gcp_psc_connection_id, 0x0102030405060708)


class RawTLVTests(SynchronousTestCase):
    def test_reserved_ranges(self) -> None:
        """Custom (E0-EF), experimental (F0-F7) and future (F8-FF) types stay raw."""
        for t in (0xE1, 0xEF, 0xF0, 0xF7, 0xF8, 0xFF, 0x06, 0x31, 0x00):
            header = parsed(self, bytes([t]) + b"\x00\x03abc")
            self.assertEqual(header.get_tlv(t), b"abc")
            self.assertEqual(header.get_tlvs(t), [b"abc"])
            self.assertEqual(header.tlvs, (TLV(t, b"abc"),))

    def test_order_preserved(self) -> None:
        header = parsed(
            self,
            b"\xf0\x00\x01a",
            b"\x01\x00\x02h2",
            b"\xe5\x00\x00",
            b"\xf0\x00\x01b",
            b"\x04\x00\x01\x00",
            b"\xff\x00\x02zz",
        )
        self.assertEqual(
            header.tlvs,
            (
                TLV(0xF0, b"a"),
                TLV(0x01, b"h2"),
                TLV(0xE5, b""),
                TLV(0xF0, b"b"),
                TLV(0x04, b"\x00"),
                TLV(0xFF, b"zz"),
            ),
        )
        self.assertEqual(header.get_tlvs(0xF0), [b"a", b"b"])
        self.assertEqual(header.get_tlv(0xF0), b"a")
        self.assertEqual([t.type for t in header.tlvs], [0xF0, 0x01, 0xE5, 0xF0, 0x04, 0xFF])

    def test_large_value(self) -> None:
        value = bytes(range(256)) * 20
        header = parsed(self, b"\xe7\x14\x00" + value)
        self.assertEqual(header.get_tlv(0xE7), value)

    def test_tlv_type_values(self) -> None:
        self.assertEqual(
            {t.name: t.value for t in TLVType},
            {
                "ALPN": 0x01,
                "AUTHORITY": 0x02,
                "CRC32C": 0x03,
                "NOOP": 0x04,
                "UNIQUE_ID": 0x05,
                "SSL": 0x20,
                "SSL_VERSION": 0x21,
                "SSL_CN": 0x22,
                "SSL_CIPHER": 0x23,
                "SSL_SIG_ALG": 0x24,
                "SSL_KEY_ALG": 0x25,
                "SSL_GROUP": 0x26,
                "SSL_SIG_SCHEME": 0x27,
                "SSL_CLIENT_CERT": 0x28,
                "NETNS": 0x30,
                "GCP": 0xE0,
                "AWS": 0xEA,
                "AZURE": 0xEE,
            },
        )


class BuilderTests(SynchronousTestCase):
    def test_tlv_to_bytes(self) -> None:
        self.assertEqual(TLV(0xE5, b"x").to_bytes(), b"\xe5\x00\x01x")
        self.assertEqual(TLV(0x04, b"").to_bytes(), b"\x04\x00\x00")
        self.assertEqual(TLV(0x01, bytes(0x1234)).to_bytes()[:3], b"\x01\x12\x34")
        self.assertRaises(ValueError, TLV(0x100, b"").to_bytes)
        self.assertRaises(ValueError, TLV(-1, b"").to_bytes)
        self.assertRaises(ValueError, TLV(0x01, bytes(0x10000)).to_bytes)

    def test_ssl_tlv_full(self) -> None:
        record = ssl_tlv(
            0x07,
            0,
            version="TLSv1.3",
            cn="client.example",
            cipher="TLS_AES_128_GCM_SHA256",
            sig_alg="RSA-SHA256",
            key_alg="RSA2048",
            group="X25519",
            sig_scheme="rsa_pss_rsae_sha256",
            client_cert=b"\x30\x03\x02\x01\x01",
        )
        self.assertEqual(record.to_bytes(), SSL_FULL)

    def test_ssl_tlv_default(self) -> None:
        self.assertEqual(ssl_tlv().to_bytes(), b"\x20\x00\x05\x01\x00\x00\x00\x00")
        self.assertEqual(
            ssl_tlv(0x03, 0x0A, cn="x").to_bytes(),
            b"\x20\x00\x09\x03\x00\x00\x00\x0a\x22\x00\x01x",
        )

    def test_ssl_info_round_trip(self) -> None:
        info = SSLInfo(0x05, 7, (TLV(0x21, b"TLSv1.2"), TLV(0x29, b"?")))
        self.assertEqual(
            info.to_tlv().to_bytes(),
            b"\x20\x00\x13\x05\x00\x00\x00\x07\x21\x00\x07TLSv1.2\x29\x00\x01?",
        )
        self.assertEqual(SSLInfo.from_value(info.to_tlv().value), info)

    def test_aws(self) -> None:
        self.assertEqual(
            aws_vpce_tlv("vpce-08d2bf15fac5001c9").to_bytes(),
            b"\xea\x00\x17\x01vpce-08d2bf15fac5001c9",
        )

    def test_azure(self) -> None:
        self.assertEqual(
            azure_link_id_tlv(0x12345678).to_bytes(), b"\xee\x00\x05\x01\x78\x56\x34\x12"
        )

    def test_gcp(self) -> None:
        self.assertEqual(
            gcp_psc_tlv(0x0102030405060708).to_bytes(),
            b"\xe0\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08",
        )


class ToBytesTests(SynchronousTestCase):
    """L{ProxyHeader.to_bytes}, byte for byte."""

    def test_v1_tcp4(self) -> None:
        header = ProxyHeader.proxy(SRC4, DST4, version=1)
        self.assertEqual(header.to_bytes(), b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")

    def test_v1_tcp6_canonical(self) -> None:
        header = ProxyHeader.proxy(
            IPv6Address("TCP", "2001:DB8:0:0:0:0:0:1", 0),
            IPv6Address("TCP", "::FFFF:1.2.3.4", 65535),
            version=1,
        )
        self.assertEqual(header.to_bytes(), b"PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 0 65535\r\n")

    def test_v1_unknown(self) -> None:
        self.assertEqual(ProxyHeader.local(version=1).to_bytes(), b"PROXY UNKNOWN\r\n")
        unknown, _ = assert_accepts(self, b"PROXY UNKNOWN a b c\r\n")
        self.assertEqual(unknown.to_bytes(), b"PROXY UNKNOWN\r\n")

    def test_v1_refuses(self) -> None:
        self.assertRaises(
            ValueError,
            ProxyHeader.proxy,
            IPv4Address("UDP", "1.2.3.4", 1),
            IPv4Address("UDP", "1.2.3.4", 2),
            version=1,
        )
        self.assertRaises(ValueError, ProxyHeader.proxy, SRC4, DST4, version=1, tlvs=[ssl_tlv()])
        self.assertRaises(
            ValueError, ProxyHeader.proxy, UNIXAddress(b"/a"), UNIXAddress(b"/b"), version=1
        )
        self.assertRaises(
            ValueError, ProxyHeader.proxy, SRC4, IPv6Address("TCP", "::1", 1), version=1
        )
        self.assertRaises(ValueError, ProxyHeader.proxy, SRC4, IPv4Address("UDP", "1.2.3.4", 1))
        self.assertRaises(ValueError, ProxyHeader.proxy, SRC4, DST4, version=3)
        self.assertRaises(
            ValueError,
            ProxyHeader.proxy(IPv4Address("TCP", "example.com", 1), DST4, version=1).to_bytes,
        )
        self.assertRaises(
            ValueError,
            ProxyHeader.proxy(IPv4Address("TCP", "1.2.3.4", 65536), DST4, version=1).to_bytes,
        )

    def test_v2_tcp4(self) -> None:
        self.assertEqual(
            ProxyHeader.proxy(SRC4, DST4).to_bytes(),
            SIG + b"\x21\x11\x00\x0c\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb",
        )

    def test_v2_tcp4_crc32c(self) -> None:
        data = ProxyHeader.proxy(SRC4, DST4).to_bytes(crc32c=True)
        self.assertEqual(
            data,
            SIG + b"\x21\x11\x00\x13\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
            b"\x03\x00\x04\x1c\x1a\xe9\xc6",
        )
        self.assertEqual(assert_accepts(self, data)[0].crc32c, 0x1C1AE9C6)

    def test_v2_tlvs_crc32c(self) -> None:
        header = ProxyHeader.proxy(SRC4, DST4, tlvs=[TLV(0x01, b"h2")])
        self.assertEqual(
            header.to_bytes(),
            SIG + b"\x21\x11\x00\x11\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb\x01\x00\x02h2",
        )
        self.assertEqual(
            header.to_bytes(crc32c=True),
            SIG + b"\x21\x11\x00\x18\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
            b"\x01\x00\x02h2\x03\x00\x04\x76\x32\x3a\x48",
        )

    def test_v2_crc32c_recomputed_in_place(self) -> None:
        """A CRC32C TLV already present is recomputed where it stands."""
        header = ProxyHeader.proxy(
            SRC4, DST4, tlvs=[TLV(0x03, b"\xde\xad\xbe\xef"), TLV(0x01, b"h2")]
        )
        data = header.to_bytes()
        self.assertEqual(data, header.to_bytes(crc32c=True))
        self.assertEqual(data[28:35], b"\x03\x00\x04" + data[31:35])
        self.assertEqual(data[35:], b"\x01\x00\x02h2")
        self.assertNotEqual(data[31:35], b"\xde\xad\xbe\xef")
        parsed_header, _ = assert_accepts(self, data)
        self.assertEqual(parsed_header.alpn, b"h2")

    def test_v2_udp6(self) -> None:
        header = ProxyHeader.proxy(
            IPv6Address("UDP", "2001:db8::1", 53), IPv6Address("UDP", "::1", 0x1234)
        )
        self.assertEqual(
            header.to_bytes(),
            SIG
            + bytes.fromhex(
                "2122 0024"
                "20010db8000000000000000000000001"  # 2001:db8::1
                "00000000000000000000000000000001"  # ::1
                "0035 1234"
            ),
        )

    def test_v2_unix(self) -> None:
        header = ProxyHeader.proxy(UNIXAddress(b"/tmp/a"), UNIXAddress(b"\0abstract"))
        self.assertIs(header.family, Family.UNIX)
        self.assertIs(header.transport, Transport.STREAM)
        self.assertEqual(
            header.to_bytes(),
            SIG + b"\x21\x31\x00\xd8" + b"/tmp/a" + bytes(102) + b"\x00abstract" + bytes(99),
        )
        self.assertRaises(
            ValueError,
            ProxyHeader.proxy(UNIXAddress(b"/" * 109), UNIXAddress(b"/b")).to_bytes,
        )

    def test_v2_local(self) -> None:
        local = ProxyHeader.local()
        self.assertEqual(
            local, ProxyHeader(2, Command.LOCAL, Family.UNSPEC, Transport.UNSPEC, None, None, ())
        )
        self.assertEqual(local.to_bytes(), SIG + b"\x20\x00\x00\x00")

    def test_v2_proxy_unspec(self) -> None:
        header = ProxyHeader(
            2, Command.PROXY, Family.UNSPEC, Transport.UNSPEC, None, None, (TLV(0x01, b"h2"),)
        )
        self.assertEqual(header.to_bytes(), SIG + b"\x21\x00\x00\x05\x01\x00\x02h2")

    def test_v2_vendor_tlvs(self) -> None:
        header = ProxyHeader.proxy(
            SRC4,
            DST4,
            tlvs=[aws_vpce_tlv("vpce-1"), azure_link_id_tlv(1), gcp_psc_tlv(2)],
        )
        self.assertEqual(
            header.to_bytes(),
            SIG + b"\x21\x11\x00\x29\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
            b"\xea\x00\x07\x01vpce-1"
            b"\xee\x00\x05\x01\x01\x00\x00\x00"
            b"\xe0\x00\x08\x00\x00\x00\x00\x00\x00\x00\x02",
        )

    def test_v2_too_long(self) -> None:
        header = ProxyHeader.proxy(SRC4, DST4, tlvs=[TLV(0xE0, bytes(0xFFFF - 12 - 2))])
        self.assertRaises(ValueError, header.to_bytes)


class TLVCapTests(SynchronousTestCase):
    """
    The cap on the number of TLV records (issue 12: no amplification),
    counted during the walk, SSL sub-TLVs included.
    """

    def test_default_cap_accepts_64(self) -> None:
        header = parsed(self, *([b"\x04\x00\x00"] * 64))
        self.assertEqual(len(header.tlvs), 64)
        self.assertEqual(DEFAULT_MAX_TLVS, 64)

    def test_default_cap_rejects_65(self) -> None:
        error = assert_rejects_at_last_byte(
            self, with_tlvs(*([b"\x04\x00\x00"] * 65)), Rule.V2_TOO_MANY_TLVS
        )
        self.assertIn("more than 64", error.detail)

    def test_flood_of_empty_records(self) -> None:
        """The 16 KiB header of 5,452 empty TLVs from issue 12 is refused."""
        data = with_tlvs(*([b"\x04\x00\x00"] * 5452))
        self.assertEqual(len(data), 16384)
        error = self.assertRaises(InvalidHeader, parse_header, data)
        self.assertEqual(error.rule, Rule.V2_TOO_MANY_TLVS)

    def test_keyword(self) -> None:
        three = with_tlvs(b"\x01\x00\x02h2", b"\x04\x00\x00", b"\x05\x00\x01u")
        header, _ = assert_accepts(self, three, max_tlvs=3)
        self.assertEqual(len(header.tlvs), 3)
        assert_rejects(self, three, Rule.V2_TOO_MANY_TLVS, max_tlvs=2)
        assert_rejects(self, with_tlvs(b"\x04\x00\x00"), Rule.V2_TOO_MANY_TLVS, max_tlvs=0)
        self.assertRaises(ValueError, HeaderParser, max_tlvs=-1)

    def test_ssl_sub_tlvs_count(self) -> None:
        """An SSL record with two sub-TLVs is three records against the cap."""
        record = b"\x20\x00\x0b\x01\x00\x00\x00\x00" + b"\x21\x00\x00" + b"\x22\x00\x00"
        header, _ = assert_accepts(self, with_tlvs(record), max_tlvs=3)
        self.assertEqual(len(header.tlvs), 1)
        ssl = header.ssl
        assert ssl is not None
        self.assertEqual(len(ssl.tlvs), 2)
        error = assert_rejects(self, with_tlvs(record), Rule.V2_TOO_MANY_TLVS, max_tlvs=2)
        self.assertIn("more than 2", error.detail)

    def test_cap_is_checked_during_the_walk(self) -> None:
        """Past the cap, a later truncation is not reached: the walk stopped."""
        data = with_tlvs(*([b"\x04\x00\x00"] * 3), b"\x04\x00\x09")
        assert_rejects(self, data, Rule.V2_TOO_MANY_TLVS, max_tlvs=2)
        assert_rejects(self, data, Rule.V2_TLV_TRUNCATED, max_tlvs=3)


class HeldMemoryTests(SynchronousTestCase):
    """
    A parsed header holds its TLVs as the bytes they came in: at most twice
    its size on the wire plus a small constant (issue 12).
    """

    def test_tlvs_hold_their_wire_bytes(self) -> None:
        records = [b"\x04\x00\x02ab"] * 63 + [b"\x01\x00\x02h2"]
        data = with_tlvs(*records)
        header, _ = parse_header(data + b"payload")
        tlvs = header.tlvs
        self.assertIsInstance(tlvs, TLVs)
        assert isinstance(tlvs, TLVs)
        self.assertEqual(tlvs.raw, b"".join(records))

        def held() -> int:
            # No record objects, not the read buffer: the raw bytes, and the
            # index of types and offsets once a lookup has built it.
            objects = [
                r for r in gc.get_referents(tlvs) if not isinstance(r, (int, type, type(None)))
            ]
            self.assertIn(tlvs.raw, objects)
            self.assertLessEqual(len(objects), 3)
            return sys.getsizeof(tlvs) + sum(sys.getsizeof(r) for r in objects)

        self.assertLessEqual(held(), len(data) + 256)
        self.assertEqual(header.alpn, b"h2")
        self.assertIsNone(header.authority)
        self.assertLessEqual(held(), 2 * len(data) + 256)

    def test_view_behaves_like_a_tuple(self) -> None:
        records = (TLV(0x01, b"h2"), TLV(0x04, b""), TLV(0xE5, b"abc"))
        header = parsed(self, *(r.to_bytes() for r in records))
        tlvs = header.tlvs
        self.assertEqual(tlvs, records)
        self.assertEqual(records, tuple(tlvs))
        self.assertEqual(list(tlvs), list(records))
        self.assertEqual(tlvs[1], TLV(0x04, b""))
        self.assertEqual(tlvs[-1], TLV(0xE5, b"abc"))
        self.assertEqual(tlvs[:2], records[:2])
        self.assertEqual(len(tlvs), 3)
        self.assertEqual(hash(tlvs), hash(records))
        self.assertEqual(repr(tlvs), repr(records))
        self.assertNotEqual(tlvs, records[:2])
        self.assertEqual(pickle.loads(pickle.dumps(header)), header)
        self.assertEqual(header, ProxyHeader.proxy(*_addresses(header), tlvs=records))
        self.assertEqual(TLVs.of(records), tlvs)
        # Concatenation gives tuples, as it did when parsed TLVs were tuples.
        extra = (TLV(0x04, b"x"),)
        self.assertEqual(tlvs + extra, records + extra)
        self.assertEqual(extra + tlvs, extra + records)


def _addresses(header: ProxyHeader) -> tuple[IPv4Address, IPv4Address]:
    assert isinstance(header.source, IPv4Address)
    assert isinstance(header.destination, IPv4Address)
    return header.source, header.destination


# HAProxy 2.6's health check with `check send-proxy-v2 proxy-v2-options
# crc32c`, captured on the wire: LOCAL, family 00, one CRC32C TLV.
HAPROXY_LOCAL_CRC = bytes.fromhex("0d0a0d0a000d0a515549540a20000007030004a9b87e8f")


class CRC32CTests(SynchronousTestCase):
    """CRC32C (spec 2.2.3): the mismatch message, and require_crc32c (issue 13)."""

    def test_mismatch_message_names_each_value(self) -> None:
        good = seal_crc32c(with_tlvs(b"\x03\x00\x04\0\0\0\0"), 31)
        bad = good[:-1] + bytes([good[-1] ^ 0xFF])
        error = assert_rejects(self, bad, Rule.V2_CRC32C_MISMATCH)
        said = int.from_bytes(bad[-4:], "big")
        computed = int.from_bytes(good[-4:], "big")
        self.assertIn(f"CRC32C TLV says 0x{said:08X}", error.detail)
        self.assertIn(f"computed over the header is 0x{computed:08X}", error.detail)

    def test_required_and_missing(self) -> None:
        data = with_tlvs(b"\x01\x00\x02h2")
        assert_accepts(self, data)
        error = assert_rejects_at_last_byte(
            self, data, Rule.V2_CRC32C_REQUIRED, require_crc32c=True
        )
        self.assertIn("crc32c", error.hint)
        assert_rejects(self, with_tlvs(), Rule.V2_CRC32C_REQUIRED, require_crc32c=True)
        assert_rejects(self, v2(0x21, 0x00, b""), Rule.V2_CRC32C_REQUIRED, require_crc32c=True)

    def test_required_and_present(self) -> None:
        data = seal_crc32c(with_tlvs(b"\x01\x00\x02h2", b"\x03\x00\x04\0\0\0\0"), 36)
        header, _ = assert_accepts(self, data, require_crc32c=True)
        self.assertEqual(header.crc32c, int.from_bytes(data[-4:], "big"))
        bad = data[:-1] + bytes([data[-1] ^ 1])
        assert_rejects(self, bad, Rule.V2_CRC32C_MISMATCH, require_crc32c=True)

    def test_required_does_not_touch_v1(self) -> None:
        line = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
        header, _ = assert_accepts(self, line, require_crc32c=True)
        self.assertEqual(header.version, 1)

    def test_haproxy_local_health_check(self) -> None:
        """
        HAProxy's health checks carry the CRC32C: LOCAL headers are accepted
        with it when it is required, and its checksum is verified then.
        """
        for required in (False, True):
            header, _ = assert_accepts(self, HAPROXY_LOCAL_CRC, require_crc32c=required)
            self.assertEqual(header, ProxyHeader.local())
            self.assertTrue(header.uses_real_addresses)
        corrupt = HAPROXY_LOCAL_CRC[:-1] + b"\x00"
        # A receiver that supports CRC32C rejects a mismatch (spec 2.2.3),
        # whether or not it requires the checksum to be there.
        for required in (False, True):
            assert_rejects(self, corrupt, Rule.V2_CRC32C_MISMATCH, require_crc32c=required)

    def test_local_without_crc(self) -> None:
        """A bare LOCAL (dnsdist's, AWS NLB's health checks) is refused when required."""
        local = v2(0x20, 0x00, b"")
        self.assertEqual(local, V2_SIG + b"\x20\x00\x00\x00")
        assert_accepts(self, local)
        assert_rejects(self, local, Rule.V2_CRC32C_REQUIRED, require_crc32c=True)
        # LOCAL with an address family: the CRC32C follows the address block.
        body = inet4("1.2.3.4", "5.6.7.8", 1, 2) + b"\x03\x00\x04\0\0\0\0"
        sealed = seal_crc32c(v2(0x20, 0x11, body), 31)
        header, _ = assert_accepts(self, sealed, require_crc32c=True)
        self.assertIsNone(header.source)


#: An AWS NLB health check, all 100 bytes (kubernetes/kubernetes#57250): v2
#: LOCAL, family 0x11, length 84, but no address block: a CRC32C TLV and a
#: NOOP TLV of 74 zero bytes start right after the 16 fixed bytes.
NLB_HEALTH_CHECK = bytes.fromhex("0d0a0d0a000d0a515549540a20110054030004bce5951f04004a") + bytes(74)


class LocalLayoutTests(SynchronousTestCase):
    """
    The TLVs of a LOCAL header, in either layout senders use (issue 18):
    after the family's address block (HAProxy) or right after the 16 fixed
    bytes (AWS NLB); a CRC32C found in either is verified.
    """

    def test_nlb_capture_is_100_bytes_with_a_valid_crc32c(self) -> None:
        self.assertEqual(len(NLB_HEALTH_CHECK), 100)
        self.assertEqual(NLB_HEALTH_CHECK, seal_crc32c(NLB_HEALTH_CHECK, 19))

    def test_nlb_capture_accepted(self) -> None:
        """The capture is a health check: accepted, with and without require_crc32c."""
        for required in (False, True):
            header, rest = assert_accepts(
                self, NLB_HEALTH_CHECK + b"after", require_crc32c=required
            )
            self.assertEqual(header, ProxyHeader.local())
            self.assertTrue(header.uses_real_addresses)
            self.assertEqual(rest, b"after")

    def test_nlb_capture_corrupted_crc32c_rejected(self) -> None:
        """Its checksum is verified: one bit off is a mismatch, required or not."""
        corrupt = NLB_HEALTH_CHECK[:19] + b"\xbc\xe5\x95\x1e" + NLB_HEALTH_CHECK[23:]
        for required in (False, True):
            error = assert_rejects(self, corrupt, Rule.V2_CRC32C_MISMATCH, require_crc32c=required)
            self.assertIn("0xBCE5951E", str(error))
        # A byte of the padding changed: the checksum no longer matches either.
        padded = NLB_HEALTH_CHECK[:-1] + b"\x01"
        assert_rejects(self, padded, Rule.V2_CRC32C_MISMATCH)

    def test_haproxy_local_family_unspec(self) -> None:
        """HAProxy's LOCAL with CRC32C: family 0x00, the TLV at byte 16."""
        self.assertEqual(HAPROXY_LOCAL_CRC[12:16], b"\x20\x00\x00\x07")
        for required in (False, True):
            header, _ = assert_accepts(self, HAPROXY_LOCAL_CRC, require_crc32c=required)
            self.assertEqual(header, ProxyHeader.local())

    def test_zero_address_block_then_crc32c(self) -> None:
        """
        LOCAL, family 0x11, a zeroed 12-byte address block, then a CRC32C:
        both layouts tile (the zeros read as four empty records); the
        family's wins, and the checksum is verified.
        """
        body = bytes(12) + b"\x03\x00\x04\0\0\0\0"
        sealed = seal_crc32c(v2(0x20, 0x11, body), 31)
        for required in (False, True):
            header, _ = assert_accepts(self, sealed, require_crc32c=required)
            self.assertEqual(header, ProxyHeader.local())
        corrupt = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
        for required in (False, True):
            assert_rejects(self, corrupt, Rule.V2_CRC32C_MISMATCH, require_crc32c=required)

    def test_family_layout_wins_when_both_tile(self) -> None:
        """
        A real IPv4 block whose bytes also read as TLVs from byte 16: the
        family's layout is the one whose CRC32C is verified.
        """
        # 00 00 00 | 00 00 00 | 00 00 00 | 00 00 00: four empty records from
        # byte 16; from byte 28, a CRC32C TLV. Both tile.
        body = inet4("0.0.0.0", "0.0.0.0", 0, 0) + b"\x03\x00\x04\0\0\0\0"
        sealed = seal_crc32c(v2(0x20, 0x11, body), 31)
        header, _ = assert_accepts(self, sealed, require_crc32c=True)
        self.assertEqual(header, ProxyHeader.local())

    def test_neither_layout_tiles(self) -> None:
        """
        A LOCAL whose bytes are TLVs in no layout: its block is ignored, as
        the spec says, unless a CRC32C is required.
        """
        for fam in (0x00, 0x11, 0x21, 0x31):
            data = v2(0x20, fam, b"\xff" * 40)
            header, _ = assert_accepts(self, data)
            self.assertEqual(header, ProxyHeader.local())
            error = assert_rejects(self, data, Rule.V2_CRC32C_REQUIRED, require_crc32c=True)
            self.assertIn("no CRC32C TLV", str(error))

    def test_local_tlvs_without_crc32c(self) -> None:
        """TLVs that tile but hold no CRC32C: accepted, refused when one is required."""
        data = v2(0x20, 0x11, b"\x04\x00\x02ab")
        assert_accepts(self, data)
        assert_rejects(self, data, Rule.V2_CRC32C_REQUIRED, require_crc32c=True)

    def test_proxy_block_too_short_stays_an_error(self) -> None:
        """The NLB layout with PROXY instead of LOCAL: the block must fit its family."""
        proxy = bytearray(NLB_HEALTH_CHECK)
        proxy[12] = 0x21
        # 84 bytes: the block fits, and its TLV bytes are read as addresses.
        header, _ = parse_header(bytes(proxy))
        self.assertEqual(header.source, IPv4Address("TCP", "3.0.4.188", 74))
        self.assertEqual(header.destination, IPv4Address("TCP", "229.149.31.4", 0))
        short = v2(0x21, 0x11, b"\x03\x00\x04\0\0\0\0")
        assert_rejects(self, short, Rule.V2_LENGTH_SHORT)

    def test_proxy_crc32c_mismatch_rejected_by_default(self) -> None:
        """A PROXY header's CRC32C is verified without require_crc32c, as before."""
        body = inet4("1.2.3.4", "5.6.7.8", 1, 2) + b"\x03\x00\x04\0\0\0\0"
        sealed = seal_crc32c(v2(0x21, 0x11, body), 31)
        assert_accepts(self, sealed)
        assert_rejects(self, sealed[:-1] + bytes([sealed[-1] ^ 1]), Rule.V2_CRC32C_MISMATCH)


class PolicyFieldTests(SynchronousTestCase):
    """The policy fields and C{proxy:} options for the two codec knobs."""

    def test_defaults(self) -> None:
        from pptwisted import ProxyProtocolPolicy

        policy = ProxyProtocolPolicy()
        self.assertEqual((policy.max_tlvs, policy.require_crc32c), (64, False))
        self.assertRaises(ValueError, ProxyProtocolPolicy, max_tlvs=-1)

    def test_options(self) -> None:
        from pptwisted.endpoints._server import policy_from_options

        policy = policy_from_options({"proxyMaxTLVs": "8", "proxyRequireCrc32c": "yes"})
        self.assertEqual((policy.max_tlvs, policy.require_crc32c), (8, True))
        policy = policy_from_options({"proxyRequireCrc32c": "no"})
        self.assertFalse(policy.require_crc32c)
        for options, word in (
            ({"proxyMaxTLVs": "many"}, "proxyMaxTLVs"),
            ({"proxyMaxTLVs": "70000"}, "max_tlvs"),
            ({"proxyRequireCrc32c": "perhaps"}, "proxyRequireCrc32c"),
        ):
            error = self.assertRaises(ValueError, policy_from_options, options)
            self.assertIn(word, str(error))


class TLVsLookupTests(SynchronousTestCase):
    """Lookups by type on a parsed header, with and without the index."""

    def test_first_of_each_type(self) -> None:
        for count in (3, 8, 9, 20, 64):
            records = [TLV(0xE0 + (i * 7) % 11, b"v%d" % i) for i in range(count)]
            header = parsed(self, *(r.to_bytes() for r in records))
            for t in range(0xDE, 0xF0):
                expected = next((r.value for r in records if r.type == t), None)
                self.assertEqual(header.get_tlv(t), expected, (count, t))
                self.assertEqual(header.get_tlvs(t), [r.value for r in records if r.type == t])
            self.assertEqual(list(header.tlvs), records)
