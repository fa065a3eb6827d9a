"""Key material for the gateways: the RSA helpers both gateways sign and verify
with, loading configured PEM files, and the sandbox's keys, generated once
into DATA_DIR/gateways/ so that signatures stay valid across restarts."""
import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

# Identities of the sandbox: no real merchant, so fixed and recognisable.
SANDBOX_WECHAT_MCHID = "1900000001"
SANDBOX_WECHAT_APPID = "wxsandbox00000001"
SANDBOX_WECHAT_MERCHANT_SERIAL = "SANDBOX-MERCHANT-SERIAL"
SANDBOX_WECHAT_PLATFORM_SERIAL = "PUB_KEY_ID_SANDBOX"
SANDBOX_ALIPAY_APP_ID = "2021000000000001"


def sign_sha256(key: RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA, PKCS#1 v1.5, base64: what both gateways call RSA2 / RSA."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_sha256(key: RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature.encode(), validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (BadSignature, binascii.Error, ValueError, UnicodeError):
        return False
    return True


def load_private_key(path: str) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def load_public_key(path: str) -> RSAPublicKey:
    """A PEM public key, or the key of a PEM certificate (WeChat's platform
    certificates and Alipay's public-key certificates are both accepted)."""
    data = Path(path).read_bytes()
    if b"CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{path}: not an RSA public key")
    return key


def private_pem(key: RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SandboxKeys:
    """Both sides of both gateways: ours (merchant, app) and theirs (platform)."""
    wechat_merchant: RSAPrivateKey
    wechat_platform: RSAPrivateKey
    wechat_apiv3_key: bytes
    alipay_app: RSAPrivateKey
    alipay_platform: RSAPrivateKey


def sandbox_keys(data_dir: Path) -> SandboxKeys:
    """Generated on first use, read back afterwards. Every file is 0600 and
    appears whole or not at all; when two processes race, both use the
    first one's file."""
    folder = Path(data_dir) / "gateways"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def rsa_key(name: str) -> RSAPrivateKey:
        def new() -> bytes:
            return private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return serialization.load_pem_private_key(_kept(folder / name, new), password=None)

    apiv3 = _kept(folder / "wechat_apiv3_key", lambda: secrets.token_hex(16).encode())
    return SandboxKeys(rsa_key("wechat_merchant_key.pem"), rsa_key("wechat_platform_key.pem"), apiv3.strip(),
                       rsa_key("alipay_app_key.pem"), rsa_key("alipay_platform_key.pem"))


def _kept(path: Path, make) -> bytes:
    if path.exists():
        return path.read_bytes()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
        try:
            os.link(draft, path)  # never replaces: the first writer wins
        except FileExistsError:
            pass
    finally:
        draft.unlink()
    return path.read_bytes()
