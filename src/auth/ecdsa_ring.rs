//! ECDSA signature checks (ES256, ES384) through ring instead of the pure-Rust backend: about ten
//! times faster, and builtin tokens are ES256, so every authenticated request pays for one. The
//! rest (signing, RSA, key utilities) stays with jsonwebtoken's RustCrypto provider.

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils, rust_crypto};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

struct RingEcdsa {
    alg: Algorithm,
    /// The public key as an uncompressed SEC1 point.
    point: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingEcdsa {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let params = match self.alg {
            Algorithm::ES384 => &ring::signature::ECDSA_P384_SHA384_FIXED,
            _ => &ring::signature::ECDSA_P256_SHA256_FIXED,
        };
        ring::signature::UnparsedPublicKey::new(params, &self.point)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingEcdsa {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if matches!(alg, Algorithm::ES256 | Algorithm::ES384) && key.family() == AlgorithmFamily::Ec {
        return Ok(Box::new(RingEcdsa {
            alg: *alg,
            point: key.try_get_as_bytes()?.to_vec(),
        }));
    }
    (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key)
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: RC.rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key: RC.rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key: RC.ec_pub_components_from_private_key,
        ed_pub_components_from_private_key: RC.ed_pub_components_from_private_key,
        compute_digest: RC.compute_digest,
    },
};

const RC: &KeyUtils = &rust_crypto::DEFAULT_PROVIDER.key_utils;

/// Makes jsonwebtoken verify ECDSA with ring, process-wide. Must run before the first JWT
/// operation; later calls (or after one) change nothing, and the RustCrypto default stays correct.
pub fn install() {
    let _ = PROVIDER.install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};

    #[test]
    fn ring_checks_what_rustcrypto_signed() {
        let rng = ring::rand::SystemRandom::new();
        for (alg, curve) in [
            (
                Algorithm::ES256,
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            ),
            (
                Algorithm::ES384,
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            ),
        ] {
            let der = ring::signature::EcdsaKeyPair::generate_pkcs8(curve, &rng).unwrap();
            let key = EncodingKey::from_ec_der(der.as_ref());
            let public =
                DecodingKey::from_jwk(&Jwk::from_encoding_key(&key, alg).unwrap()).unwrap();
            let jwt = jsonwebtoken::encode(&Header::new(alg), &serde_json::json!({"a": 1}), &key)
                .unwrap();
            let (message, sig) = jwt.rsplit_once('.').unwrap();
            use base64::Engine;
            let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .unwrap();
            let v = verifier(&alg, &public).unwrap();
            assert!(v.verify(message.as_bytes(), &sig).is_ok(), "{alg:?}");
            assert!(v.verify(b"other message", &sig).is_err(), "{alg:?}");
            sig[5] ^= 1;
            assert!(v.verify(message.as_bytes(), &sig).is_err(), "{alg:?}");
        }
    }
}
