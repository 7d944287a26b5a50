"""A certificate chain shaped like Apple's: root -> intermediate -> signing leaf.

Like Apple Root CA G3 -> WWDR G6 -> "Prod ECC Mac App Store and iTunes Store Receipt
Signing": P-384 CA keys, a P-256 leaf, key identifiers, basicConstraints and keyUsage, and
Apple's marker extensions (1.2.840.113635.100.6.2.1 on the intermediate,
1.2.840.113635.100.6.11.1 on the leaf). Validity windows and the marker extensions are
parameters, so tests can build expired leaves and chains that must be refused.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
# The marker extensions carry an ASN.1 NULL, as Apple's do.
_NULL = b"\x05\x00"


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iap-engine emulator"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _signing_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Authority:
    """A CA certificate and its key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class SigningChain:
    """What signs App Store data: the leaf key and the x5c that vouches for it."""

    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    root: x509.Certificate

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    @property
    def x5c(self) -> list[str]:
        return [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for cert in (self.leaf, self.intermediate, self.root)
        ]


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    issuer_key: ec.EllipticCurvePublicKey,
    marker: x509.ObjectIdentifier | None,
    key_identifiers: bool,
    serial: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer != subject else None),
            critical=True,
        )
        .add_extension(_ca_usage() if ca else _signing_usage(), critical=True)
    )
    if key_identifiers:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        if issuer != subject:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
            )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, _NULL), critical=False)
    # Both CA keys are P-384, signing with ecdsa-with-SHA384 as Apple's do.
    return builder.sign(signer, hashes.SHA384())


class CertificateAuthority:
    """A root and an intermediate; `issue_leaf` makes signing chains under them."""

    def __init__(
        self,
        now: datetime,
        *,
        root_validity: tuple[timedelta, timedelta] = (timedelta(days=3650), timedelta(days=7300)),
        intermediate_validity: tuple[timedelta, timedelta] = (
            timedelta(days=1825),
            timedelta(days=3650),
        ),
        intermediate_marker: bool = True,
        key_identifiers: bool = True,
        name: str = "Emulated Apple Root CA",
    ) -> None:
        self._key_identifiers = key_identifiers
        self._serial = 1
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = _name(name, "Apple Certification Authority")
        self.root = Authority(
            _certificate(
                subject=root_name,
                issuer=root_name,
                public_key=root_key.public_key(),
                signer=root_key,
                not_before=now - root_validity[0],
                not_after=now + root_validity[1],
                ca=True,
                issuer_key=root_key.public_key(),
                marker=None,
                key_identifiers=key_identifiers,
                serial=self._next_serial(),
            ),
            root_key,
        )
        intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = Authority(
            _certificate(
                subject=_name("Emulated Apple Worldwide Developer Relations CA", "G6"),
                issuer=root_name,
                public_key=intermediate_key.public_key(),
                signer=root_key,
                not_before=now - intermediate_validity[0],
                not_after=now + intermediate_validity[1],
                ca=True,
                issuer_key=root_key.public_key(),
                marker=INTERMEDIATE_OID if intermediate_marker else None,
                key_identifiers=key_identifiers,
                serial=self._next_serial(),
            ),
            intermediate_key,
        )

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def issue_leaf(
        self,
        not_before: datetime,
        not_after: datetime,
        *,
        marker: bool = True,
        common_name: str = "Emulated Prod ECC Mac App Store and iTunes Store Receipt Signing",
    ) -> SigningChain:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(
            subject=_name(common_name, "Apple Worldwide Developer Relations"),
            issuer=self.intermediate.certificate.subject,
            public_key=key.public_key(),
            signer=self.intermediate.key,
            not_before=not_before,
            not_after=not_after,
            ca=False,
            issuer_key=self.intermediate.key.public_key(),
            marker=LEAF_OID if marker else None,
            key_identifiers=self._key_identifiers,
            serial=self._next_serial(),
        )
        return SigningChain(
            leaf=leaf,
            leaf_key=key,
            intermediate=self.intermediate.certificate,
            root=self.root.certificate,
        )


def apple_like_chain(now: datetime, *, leaf_days: int = 730) -> SigningChain:
    """A fresh authority and a leaf valid from a day ago for `leaf_days` days."""
    authority = CertificateAuthority(now)
    return authority.issue_leaf(now - timedelta(days=1), now + timedelta(days=leaf_days))
