#!/usr/bin/env python3
"""Recreates tests/data/csr/, the TEST-ONLY corpus of hostile CSRs (see tests/data/README.md).

Python 3 standard library and the `openssl` command only. Every key is made in a temporary
directory that is removed at the end: no private key is ever written into the repository.
Keys are random, so the bytes change from one run to the next, but each file's structure
(subject, extensions, framing, the one defect it carries) is the same on every run; review a
file with `openssl req -in F -noout -text` (add `-inform DER` for .der files) or
`openssl asn1parse -in F`.

What OpenSSL cannot make (a CN longer than 64 characters, a 3-letter country, a NUL inside a
name, a 1 MiB subject, a modulus with a small factor, a broken signature, trailing bytes) is
built here by encoding the PKCS#10 structure with a small DER writer and signing it with
`openssl dgst -sha256 -sign`. Keys whose modulus has a factor 2 or 3 cannot be held by OpenSSL,
so those two CSRs are signed here with textbook RSA (PKCS#1 v1.5, SHA-256): test data only,
nothing in edgeca does this.

Usage: tests/data/make-csr-corpus.py [--out DIR] [--only NAME ...]
"""
import argparse
import base64
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ONE_MIB = 1024 * 1024

# --- a small DER writer and reader (enough for PKCS#10) -------------------------------------


def der_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, content):
    return bytes([tag]) + der_length(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    return tlv(0x31, b"".join(sorted(items)))


def integer(value):
    length = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(0x02, value.to_bytes(length, "big", signed=True))


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def null():
    return b"\x05\x00"


def bit_string(data):
    return tlv(0x03, b"\x00" + data)


def utf8_string(value):
    return tlv(0x0C, value if isinstance(value, bytes) else value.encode())


def printable_string(value):
    return tlv(0x13, value.encode("ascii"))


def read_tlv(data, at=0):
    """(tag, start of content, end of content) of the DER object at `at`."""
    tag = data[at]
    first = data[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[at + 2:at + 2 + count], "big")
    start = at + 2 + count
    return tag, start, start + length


def children(data):
    """The DER objects inside `data` (the content of a constructed object), as bytes."""
    out = []
    at = 0
    while at < len(data):
        _, _, end = read_tlv(data, at)
        out.append(data[at:end])
        at = end
    return out


def content(obj):
    _, start, end = read_tlv(obj)
    return obj[start:end]


# Attribute types of a Name.
CN, C, O, EMAIL = "2.5.4.3", "2.5.4.6", "2.5.4.10", "1.2.840.113549.1.9.1"
SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def name(*attributes):
    """A Name of one attribute per RDN, in the order given: (type OID, encoded value)."""
    return seq(*(set_of(seq(oid(t), value)) for t, value in attributes))


def request_info(subject, spki):
    # version 0, subject, SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF (empty).
    return seq(integer(0), subject, spki, tlv(0xA0, b""))


def certification_request(info, signature):
    return seq(info, seq(oid(SHA256_WITH_RSA), null()), bit_string(signature))


def to_pem(der):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def from_pem(text):
    lines = [l for l in text.strip().splitlines() if not l.startswith("-----")]
    return base64.b64decode("".join(lines))


# --- OpenSSL, in a directory that is thrown away ---------------------------------------------

OPENSSL_CONFIG = """\
# Only what `openssl req -new -subj ...` needs; independent of the system's openssl.cnf.
[ req ]
distinguished_name = req_dn
string_mask = utf8only
[ req_dn ]
"""


class Keys:
    def __init__(self, tmp):
        self.tmp = tmp
        self.count = 0
        self.config = os.path.join(tmp, "openssl.cnf")
        with open(self.config, "w") as f:
            f.write(OPENSSL_CONFIG)

    def openssl(self, *args, input=None):
        result = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=300)
        if result.returncode != 0:
            raise SystemExit(f"openssl {' '.join(args)} failed:\n{result.stderr.decode(errors='replace')}")
        return result.stdout

    def new(self, algorithm="RSA", **options):
        """A new key in the temporary directory; returns its path."""
        self.count += 1
        path = os.path.join(self.tmp, f"key{self.count}.pem")
        args = ["genpkey", "-algorithm", algorithm, "-out", path]
        for name_, value in options.items():
            args += ["-pkeyopt", f"{name_}:{value}"]
        self.openssl(*args)
        return path

    def rsa(self, bits=2048, exponent=None):
        options = {"rsa_keygen_bits": bits}
        if exponent is not None:
            options["rsa_keygen_pubexp"] = exponent
        for _ in range(5):
            key = self.new("RSA", **options)
            if self.rsa_numbers(key)[0].bit_length() == bits:
                return key
        raise SystemExit(f"openssl makes keys of another size when asked for {bits} bits")

    def spki(self, key):
        return self.openssl("pkey", "-in", key, "-pubout", "-outform", "DER")

    def sign(self, key, data):
        return self.openssl("dgst", "-sha256", "-sign", key, input=data)

    def request(self, key, subject, *addext, digest=True, sigopt=()):
        """A CSR made by `openssl req`, as a device would make it: PEM text."""
        args = ["req", "-new", "-config", self.config, "-key", key, "-subj", subject]
        if digest:
            args.append("-sha256")
        for option in sigopt:
            args += ["-sigopt", option]
        for extension in addext:
            args += ["-addext", extension]
        return self.openssl(*args).decode()

    def signed(self, key, subject_der):
        """A CSR with the given encoded subject, signed properly by `key`: DER."""
        info = request_info(subject_der, self.spki(key))
        return certification_request(info, self.sign(key, info))

    def rsa_numbers(self, key):
        """n, e, p, q of an RSA key, read from its DER (RSAPrivateKey, or PKCS#8 around one)."""
        top = children(content(self.openssl("pkey", "-in", key, "-outform", "DER")))
        if top[1][0] == 0x30:  # PKCS#8: version, AlgorithmIdentifier, OCTET STRING
            top = children(content(content(top[2])))
        fields = [int.from_bytes(content(c), "big") for c in top]
        _, n, e, _, p, q = fields[:6]
        return n, e, p, q


# --- CSRs whose key OpenSSL cannot hold ------------------------------------------------------

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_pkcs1v15_sha256(n, d, message):
    """Textbook RSA signature, PKCS#1 v1.5 with SHA-256 (RFC 8017 section 8.2)."""
    k = (n.bit_length() + 7) // 8
    t = DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def rsa_spki(n, e):
    return seq(seq(oid(RSA_ENCRYPTION), null()), bit_string(seq(integer(n), integer(e))))


def csr_from_primes(primes, e, subject_cn):
    """A CSR for the modulus n = product of `primes`, correctly signed with it: the signature
    verifies (s^e = m mod n), so only a check of the key itself can refuse the request."""
    modulus = math.prod(primes)
    d = pow(e, -1, math.lcm(*(p - 1 for p in primes)))
    info = request_info(name((CN, utf8_string(subject_cn))), rsa_spki(modulus, e))
    signature = rsa_pkcs1v15_sha256(modulus, d, info)
    padded = rsa_pkcs1v15_sha256(modulus, 1, info)  # d = 1: the encoded message itself
    assert pow(int.from_bytes(signature, "big"), e, modulus) == int.from_bytes(padded, "big")
    return certification_request(info, signature)


def modulus_with_small_factor(keys, factor):
    """Primes [factor, p, q] whose product has exactly 2048 bits (p, q from an OpenSSL key)."""
    for _ in range(50):
        n, _, p, q = keys.rsa_numbers(keys.rsa(2049 - factor.bit_length()))
        if (factor * n).bit_length() == 2048:
            return [factor, p, q]
    raise SystemExit(f"could not make a 2048-bit modulus with the factor {factor}")


def modulus_of_2049_bits(keys):
    """OpenSSL 3 makes a 2048-bit key when asked for 2049 bits (both primes get 1024 bits), so
    take a 1025-bit prime from a 2050-bit key and a 1024-bit one from a 2048-bit key."""
    for _ in range(50):
        _, _, p, _ = keys.rsa_numbers(keys.rsa(2050))
        _, _, q, _ = keys.rsa_numbers(keys.rsa(2048))
        if (p * q).bit_length() == 2049:
            return [p, q]
    raise SystemExit("could not make a 2049-bit modulus")


def next_prime(keys, start):
    """The first prime after the odd `start`, by `openssl prime` over batches of 1,000 odd
    numbers (1024-bit primes are some 700 apart on average)."""
    for batch in range(10):
        candidates = [start + 2 + 2 * i for i in range(batch * 1000, (batch + 1) * 1000)]
        out = keys.openssl("prime", *(str(c) for c in candidates)).decode().splitlines()
        for candidate, line in zip(candidates, out):
            if line.endswith(" is prime"):
                return candidate
    raise SystemExit("no prime among 10,000 odd numbers")


def fermat_close_primes(keys):
    """p from an OpenSSL key and q, the next prime after it: n = pq falls to the first step of
    Fermat's method (and has exactly 2048 bits, as p has its top two bits set)."""
    _, _, p, _ = keys.rsa_numbers(keys.rsa(2048))
    return [p, next_prime(keys, p)]


# --- the corpus ------------------------------------------------------------------------------
# Each maker returns the bytes of one file. Common names are distinct across files so that the
# "tamed" cases can all be issued by one CA without tripping the duplicate-subject rule.


def make_corpus(keys):
    k = keys
    files = {}

    def add(filename, data):
        files[filename] = data.encode() if isinstance(data, str) else data

    plain_key = k.rsa()
    plain_pem = k.request(plain_key, "/CN=hostile-control/O=edgeca tests/C=CN")
    plain_der = from_pem(plain_pem)

    # Controls: well-formed CSRs that must be issued, so that each refusal below is due to its
    # one defect and not to something the corpus gets wrong in general.
    add("control-rsa2048.csr.pem", plain_pem)
    add("control-hub-san-allowed.csr.pem",
        k.request(k.rsa(), "/CN=hostile-hub-control", "subjectAltName=DNS:mqtt.hub.test.example,DNS:localhost"))
    add("subject-cn-64-chars.csr.der",
        k.signed(k.rsa(), name((CN, utf8_string("hostile-cn-64-" + "x" * 50)))))
    # 64 characters of two bytes each: the limit counts characters, not bytes.
    add("subject-cn-64-chars-utf8.csr.der", k.signed(k.rsa(), name((CN, utf8_string("\u00e9" * 64)))))

    # Keys.
    add("rsa1024.csr.pem", k.request(k.rsa(1024), "/CN=hostile-rsa1024"))
    add("rsa2047.csr.pem", k.request(k.rsa(2047), "/CN=hostile-rsa2047"))
    add("rsa2049.csr.pem", to_pem(csr_from_primes(modulus_of_2049_bits(k), 65537, "hostile-rsa2049")))
    add("rsa4096.csr.pem", k.request(k.rsa(4096), "/CN=hostile-rsa4096"))
    add("rsa2048-exponent3.csr.pem", k.request(k.rsa(2048, exponent=3), "/CN=hostile-exponent3"))
    add("rsa2048-even-modulus.csr.der", csr_from_primes(modulus_with_small_factor(k, 2), 65537, "hostile-even-modulus"))
    add("rsa2048-modulus-divisible-by-3.csr.der", csr_from_primes(modulus_with_small_factor(k, 3), 65537, "hostile-modulus-div3"))
    # Weak keys as Let's Encrypt's goodkey finds them: a factor below 752, primes close together.
    add("rsa2048-modulus-divisible-by-53.csr.der",
        csr_from_primes(modulus_with_small_factor(k, 53), 65537, "hostile-modulus-div53"))
    add("rsa2048-fermat-close-primes.csr.der", csr_from_primes(fermat_close_primes(k), 65537, "hostile-fermat"))
    add("ec-p256.csr.pem", k.request(k.new("EC", ec_paramgen_curve="P-256"), "/CN=hostile-ec-p256"))
    add("ed25519.csr.pem", k.request(k.new("ED25519"), "/CN=hostile-ed25519", digest=False))

    # Signatures (proof of possession).
    broken = bytearray(from_pem(k.request(k.rsa(), "/CN=hostile-bad-signature")))
    broken[-1] ^= 0x01  # the last byte of the signature BIT STRING
    add("bad-signature.csr.der", bytes(broken))
    altered = from_pem(k.request(k.rsa(), "/CN=hostile-signed-as-A"))
    assert altered.count(b"hostile-signed-as-A") == 1
    add("bad-signature-altered-subject.csr.der", altered.replace(b"hostile-signed-as-A", b"hostile-signed-as-B"))
    holder, signer = k.rsa(), k.rsa()
    info = request_info(name((CN, utf8_string("hostile-other-key"))), k.spki(holder))
    add("bad-signature-other-key.csr.der", certification_request(info, k.sign(signer, info)))

    # RSASSA-PSS: a valid signature, in a scheme edgeca does not take (RSASSA-PKCS1-v1_5 only).
    add("rsa-pss-signature.csr.pem",
        k.request(k.rsa(), "/CN=hostile-rsa-pss", sigopt=("rsa_padding_mode:pss", "rsa_pss_saltlen:32")))

    # Requested extensions that must never reach a certificate (tamed on the edge profile).
    add("ca-flag.csr.pem", k.request(k.rsa(), "/CN=hostile-ca-flag", "basicConstraints=critical,CA:TRUE"))
    add("path-length.csr.pem",
        k.request(k.rsa(), "/CN=hostile-path-length", "basicConstraints=critical,CA:TRUE,pathlen:5"))
    add("name-constraints.csr.pem",
        k.request(k.rsa(), "/CN=hostile-name-constraints", "basicConstraints=critical,CA:TRUE",
                  "nameConstraints=critical,permitted;DNS:.evil.example"))
    add("key-usage-certsign.csr.pem",
        k.request(k.rsa(), "/CN=hostile-key-usage", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"))
    add("eku-codesigning.csr.pem",
        k.request(k.rsa(), "/CN=hostile-eku", "extendedKeyUsage=codeSigning,serverAuth,OCSPSigning"))
    add("edge-with-san.csr.pem",
        k.request(k.rsa(), "/CN=hostile-edge-san", "subjectAltName=DNS:*.evil.example,IP:10.0.0.1,email:a@evil.example"))
    add("unknown-critical-extension.csr.pem",
        k.request(k.rsa(), "/CN=hostile-unknown-ext", "1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:must not be copied"))

    # Hub names (hub profile; allowed domains in the tests: localhost, hub.test.example).
    add("san-outside-domains.csr.pem", k.request(k.rsa(), "/CN=hostile-hub-outside", "subjectAltName=DNS:mqtt.evil.example"))
    add("san-lookalike-domain.csr.pem",
        k.request(k.rsa(), "/CN=hostile-hub-lookalike", "subjectAltName=DNS:evilhub.test.example"))
    add("san-wildcard.csr.pem", k.request(k.rsa(), "/CN=hostile-hub-wildcard", "subjectAltName=DNS:*.hub.test.example"))
    add("san-ip.csr.pem", k.request(k.rsa(), "/CN=hostile-hub-ip", "subjectAltName=DNS:localhost,IP:127.0.0.1"))
    add("san-ipv6.csr.pem", k.request(k.rsa(), "/CN=hostile-hub-ipv6", "subjectAltName=DNS:localhost,IP:::1"))
    add("san-email.csr.pem",
        k.request(k.rsa(), "/CN=hostile-hub-email", "subjectAltName=DNS:localhost,email:ops@hub.test.example"))
    add("san-uri.csr.pem",
        k.request(k.rsa(), "/CN=hostile-hub-uri", "subjectAltName=DNS:localhost,URI:https://hub.test.example/"))
    add("san-missing.csr.pem", k.request(k.rsa(), "/CN=hostile-hub-no-san"))

    # Subjects.
    add("subject-email-attribute.csr.pem", k.request(k.rsa(), "/CN=hostile-email/emailAddress=dev@evil.example"))
    add("subject-serialnumber-attribute.csr.pem", k.request(k.rsa(), "/CN=hostile-serialnumber/serialNumber=SN-1"))
    add("subject-cn-65-chars-utf8.csr.der", k.signed(k.rsa(), name((CN, utf8_string("\u00e9" * 65)))))
    add("subject-cn-65-chars.csr.der",
        k.signed(k.rsa(), name((CN, utf8_string("hostile-cn-65-" + "x" * 51)))))
    add("subject-country-3-letters.csr.der",
        k.signed(k.rsa(), name((C, printable_string("CHN")), (CN, utf8_string("hostile-country")))))
    # A two-letter limit counted in bytes would cut this UTF-8 country inside a character.
    add("subject-country-utf8.csr.der",
        k.signed(k.rsa(), name((C, utf8_string("a" * 15 + "\u00e9")), (CN, utf8_string("hostile-country-utf8")))))
    # "hostile-space " would read as "hostile-space", another device's name.
    add("subject-cn-trailing-space.csr.der", k.signed(k.rsa(), name((CN, utf8_string("hostile-space ")))))
    add("subject-no-cn.csr.pem", k.request(k.rsa(), "/O=edgeca tests/C=CN"))
    add("subject-two-cns.csr.pem", k.request(k.rsa(), "/CN=hostile-two-cns-a/CN=hostile-two-cns-b"))
    add("subject-embedded-nul.csr.der",
        k.signed(k.rsa(), name((CN, utf8_string(b"hostile-nul.hub.test.example\x00.evil.example")))))
    add("subject-bad-utf8.csr.der", k.signed(k.rsa(), name((CN, utf8_string(b"hostile-bad-utf8-\xc3\x28\xff")))))
    # Invisible and direction-changing characters: "hostile-rlo-\u202etxt.exe" shows as
    # "hostile-rlo-exe.txt"; a zero-width space makes a second name that reads as the first.
    add("subject-cn-bidi-override.csr.der", k.signed(k.rsa(), name((CN, utf8_string("hostile-rlo-\u202etxt.exe")))))
    add("subject-cn-zero-width-space.csr.der", k.signed(k.rsa(), name((CN, utf8_string("hostile\u200bzwsp")))))
    add("subject-o-bidi-isolate.csr.der",
        k.signed(k.rsa(), name((O, utf8_string("edgeca \u2067tests\u2069")), (CN, utf8_string("hostile-isolate")))))
    add("subject-cn-noncharacter.csr.der", k.signed(k.rsa(), name((CN, utf8_string("hostile-nonchar-\ufdd0")))))
    add("subject-cn-40000-chars.csr.der", k.signed(k.rsa(), name((CN, utf8_string("y" * 40000)))))
    add("subject-1mb.csr.der", k.signed(k.rsa(), name((O, utf8_string("edgeca tests")), (CN, utf8_string("z" * ONE_MIB)))))

    # Framing.
    add("trailing-garbage.csr.der", plain_der + b"GARBAGE\n")
    add("truncated.csr.der", plain_der[:len(plain_der) // 2])
    add("spki-instead-of-csr.csr.der", k.spki(k.rsa()))
    add("pem-trailing-text.csr.pem", plain_pem + "this line follows the END line\n")
    add("pem-text-before.csr.pem", k.openssl("req", "-in", "/dev/stdin", "-text", input=plain_pem.encode()).decode())
    lines = plain_pem.splitlines(keepends=True)
    add("pem-with-headers.csr.pem",
        lines[0] + "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n" + "".join(lines[1:]))
    add("pem-two-blocks.csr.pem", plain_pem + k.request(k.rsa(), "/CN=hostile-second-block"))
    add("pem-wrong-label.csr.pem",
        plain_pem.replace("CERTIFICATE REQUEST", "CERTIFICATE"))
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "csr"))
    parser.add_argument("--only", nargs="*", help="write only these file names")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="edgeca-csr-corpus-")
    try:
        files = make_corpus(Keys(tmp))
    finally:
        shutil.rmtree(tmp, True)  # every private key goes with it
    os.makedirs(args.out, exist_ok=True)
    for filename, data in sorted(files.items()):
        if args.only and filename not in args.only:
            continue
        with open(os.path.join(args.out, filename), "wb") as f:
            f.write(data)
        print(f"{len(data):>9}  {filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
