//! Signed customer identity: the shop's server, which knows who is signed in, vouches for the
//! shopper; the browser only carries the token.
//!
//! A token is `base64url(payload) + "." + base64url(HMAC-SHA256(secret, base64url(payload)))`:
//! the MAC covers the first part exactly as sent (its ASCII text), base64url is RFC 4648 §5
//! (padding optional), and the payload is a JSON object
//! `{"id", "name"?, "tags"?, "vip"?, "exp"}` with `exp` in Unix seconds. Unknown fields are
//! refused: a shop that signs something Baton would ignore is told so instead of being
//! silently half-understood.
//!
//! [`verify`] is pure — the token, the accepted secrets (the current one and, while keys are
//! rotated, the previous one) and the time in; a checked [`Identity`] out. The MAC is
//! checked (in constant time) before anything in the payload is read.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Longest accepted token, in bytes (a payload of about 3 KB).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// How far past `exp` a token is still accepted: clocks of the shop's servers and Baton's
/// may disagree a little.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longest `id`, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most `tags`, and the longest tag in characters.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 64;

/// base64url; padding is written by some libraries and left out by others, so both decode.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Who the shop's server says the shopper is, after the signature and expiry were checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The shop's own customer id.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub vip: bool,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused. The messages name the field and are safe to show the client: they
/// never repeat the token or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// No secret is configured, so nothing can be verified.
    #[error(
        "customer_token cannot be verified: identity verification is not configured on this server (identity.secret)"
    )]
    NotConfigured,
    #[error("customer_token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("customer_token is malformed: {0}")]
    Malformed(String),
    #[error("customer_token signature does not match")]
    BadSignature,
    #[error("customer_token expired at {0} (Unix seconds)")]
    Expired(i64),
}

impl IdentityError {
    /// Whether the token was well-formed but not acceptable (wrong signature, expired), as
    /// opposed to a request that could never have been right.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            IdentityError::BadSignature | IdentityError::Expired(_)
        )
    }
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// Signs a JSON payload the way the shop's server does (for Rust servers and tests).
pub fn sign(payload_json: &[u8], secret: &[u8]) -> String {
    let body = BASE64URL.encode(payload_json);
    let mut m = mac(secret);
    m.update(body.as_bytes());
    let signature = BASE64URL.encode(m.finalize().into_bytes());
    format!("{body}.{signature}")
}

/// Checks `token` against `secrets` (any one may have signed it) at `now_ms` (Unix
/// milliseconds, from [`crate::clock::Clock`]).
pub fn verify(token: &str, secrets: &[&[u8]], now_ms: i64) -> Result<Identity, IdentityError> {
    if secrets.is_empty() {
        return Err(IdentityError::NotConfigured);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdentityError::TooLarge);
    }
    let malformed = |why: &str| IdentityError::Malformed(why.to_string());
    let token = token.trim();
    let (body, signature) = token
        .split_once('.')
        .ok_or_else(|| malformed("expected <payload>.<signature>"))?;
    if body.is_empty() || signature.is_empty() || signature.contains('.') {
        return Err(malformed("expected <payload>.<signature>"));
    }
    let signature = BASE64URL
        .decode(signature)
        .map_err(|_| malformed("the signature is not base64url"))?;
    let signed = secrets.iter().any(|secret| {
        let mut m = mac(secret);
        m.update(body.as_bytes());
        // Constant-time comparison.
        m.verify_slice(&signature).is_ok()
    });
    if !signed {
        return Err(IdentityError::BadSignature);
    }
    let payload = BASE64URL
        .decode(body)
        .map_err(|_| malformed("the payload is not base64url"))?;
    let identity: Identity = serde_json::from_slice(&payload)
        .map_err(|e| IdentityError::Malformed(format!("payload: {e}")))?;
    check_fields(&identity)?;
    if now_ms.div_euclid(1000) > identity.exp.saturating_add(CLOCK_SKEW_SECS) {
        return Err(IdentityError::Expired(identity.exp));
    }
    Ok(identity)
}

fn check_fields(identity: &Identity) -> Result<(), IdentityError> {
    let malformed = |why: String| Err(IdentityError::Malformed(why));
    let id = identity.id.trim();
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return malformed(format!(
            "payload: id must be 1–{MAX_ID_CHARS} printable characters"
        ));
    }
    if identity
        .name
        .as_deref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return malformed(format!(
            "payload: name must be at most {MAX_NAME_CHARS} characters"
        ));
    }
    if identity.tags.len() > MAX_TAGS
        || identity
            .tags
            .iter()
            .any(|t| t.chars().count() > MAX_TAG_CHARS)
    {
        return malformed(format!(
            "payload: at most {MAX_TAGS} tags of {MAX_TAG_CHARS} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-current";
    const OLD: &[u8] = b"0123456789abcdef0123456789abcdef-previous";
    /// 2026-11-11T02:00:00Z.
    const NOW_MS: i64 = 1_794_362_400_000;
    const NOW: i64 = NOW_MS / 1000;

    fn payload(exp: i64) -> String {
        format!(r#"{{"id":"u1","name":"李雷","tags":["gold"],"vip":true,"exp":{exp}}}"#)
    }

    fn token(exp: i64) -> String {
        sign(payload(exp).as_bytes(), SECRET)
    }

    #[test]
    fn a_valid_token_gives_the_identity() {
        let id = verify(&token(NOW + 3600), &[SECRET], NOW_MS).unwrap();
        assert_eq!(
            id,
            Identity {
                id: "u1".into(),
                name: Some("李雷".into()),
                tags: vec!["gold".into()],
                vip: true,
                exp: NOW + 3600,
            }
        );
        let minimal = sign(
            format!(r#"{{"id":"u2","exp":{}}}"#, NOW + 1).as_bytes(),
            SECRET,
        );
        let id = verify(&minimal, &[SECRET], NOW_MS).unwrap();
        assert!(!id.vip && id.name.is_none() && id.tags.is_empty());
    }

    /// The format exactly as the README documents it, built by hand (not with [`sign`]):
    /// base64url without padding of the JSON, a dot, base64url of the HMAC-SHA256 of the
    /// first part's text. Padded parts (Python's `urlsafe_b64encode` as is) are accepted too.
    #[test]
    fn the_documented_format_is_accepted() {
        use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
        let json = payload(NOW + 60);
        for engine in [URL_SAFE_NO_PAD, URL_SAFE] {
            let body = engine.encode(json.as_bytes());
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(SECRET).unwrap();
            m.update(body.as_bytes());
            let sig = engine.encode(m.finalize().into_bytes());
            let id = verify(&format!("{body}.{sig}"), &[SECRET], NOW_MS).unwrap();
            assert_eq!(id.id, "u1");
        }
        assert_eq!(
            token(NOW + 60).matches('=').count(),
            0,
            "sign writes no padding"
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let t = token(NOW + 3600);
        let (_, sig) = t.split_once('.').unwrap();
        let forged = BASE64URL.encode(payload(NOW + 3600).replace("u1", "u9"));
        assert_eq!(
            verify(&format!("{forged}.{sig}"), &[SECRET], NOW_MS),
            Err(IdentityError::BadSignature)
        );
        // One flipped character of the encoded payload.
        let mut bytes = t.into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(
            verify(&flipped, &[SECRET], NOW_MS),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let t = token(NOW + 3600);
        let (body, sig) = t.split_once('.').unwrap();
        let mut raw = BASE64URL.decode(sig).unwrap();
        raw[0] ^= 1;
        let bad = format!("{body}.{}", BASE64URL.encode(&raw));
        assert_eq!(
            verify(&bad, &[SECRET], NOW_MS),
            Err(IdentityError::BadSignature)
        );
        let short = format!("{body}.{}", BASE64URL.encode(&raw[..16]));
        assert_eq!(
            verify(&short, &[SECRET], NOW_MS),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn expiry_allows_a_little_clock_skew() {
        assert!(verify(&token(NOW), &[SECRET], NOW_MS).is_ok());
        assert!(verify(&token(NOW - CLOCK_SKEW_SECS), &[SECRET], NOW_MS).is_ok());
        assert_eq!(
            verify(&token(NOW - CLOCK_SKEW_SECS - 1), &[SECRET], NOW_MS),
            Err(IdentityError::Expired(NOW - CLOCK_SKEW_SECS - 1))
        );
        assert!(IdentityError::Expired(0).is_rejection());
    }

    #[test]
    fn a_wrong_secret_is_refused_and_rotation_accepts_both_keys() {
        let t = token(NOW + 3600);
        assert_eq!(verify(&t, &[OLD], NOW_MS), Err(IdentityError::BadSignature));
        // During a rotation Baton accepts the new key and the previous one.
        let old = sign(payload(NOW + 3600).as_bytes(), OLD);
        assert!(verify(&old, &[SECRET, OLD], NOW_MS).is_ok());
        assert!(verify(&t, &[SECRET, OLD], NOW_MS).is_ok());
        // Once the previous key is dropped, its tokens stop working.
        assert_eq!(
            verify(&old, &[SECRET], NOW_MS),
            Err(IdentityError::BadSignature)
        );
        assert_eq!(verify(&t, &[], NOW_MS), Err(IdentityError::NotConfigured));
    }

    #[test]
    fn malformed_oversized_and_unknown_fields_are_refused() {
        let malformed = |t: &str| {
            matches!(
                verify(t, &[SECRET], NOW_MS),
                Err(IdentityError::Malformed(_))
            )
        };
        assert!(malformed(""));
        assert!(malformed("no-dot"));
        assert!(malformed("a.b.c"));
        assert!(malformed(".sig"));
        assert!(malformed("abc.***"));
        // Signed, but not what Baton reads.
        let signed = |json: &str| sign(json.as_bytes(), SECRET);
        let exp = NOW + 60;
        let unknown = signed(&format!(r#"{{"id":"u1","exp":{exp},"admin":true}}"#));
        let Err(IdentityError::Malformed(why)) = verify(&unknown, &[SECRET], NOW_MS) else {
            panic!("an unknown field must be refused");
        };
        assert!(why.contains("admin"), "{why}");
        assert!(malformed(&signed(r#"{"id":"u1"}"#)), "exp is required");
        assert!(malformed(&signed(&format!(r#"{{"exp":{exp}}}"#))));
        assert!(malformed(&signed(&format!(r#"{{"id":" ","exp":{exp}}}"#))));
        assert!(malformed(&signed(&format!(
            r#"{{"id":"u1","vip":"yes","exp":{exp}}}"#
        ))));
        assert!(malformed(&signed("[1,2]")));
        assert!(malformed(&signed("not json")));
        let tags: Vec<String> = (0..51).map(|i| format!("\"t{i}\"")).collect();
        assert!(malformed(&signed(&format!(
            r#"{{"id":"u1","tags":[{}],"exp":{exp}}}"#,
            tags.join(",")
        ))));

        let big = signed(&format!(
            r#"{{"id":"u1","name":"{}","exp":{exp}}}"#,
            "x".repeat(MAX_TOKEN_BYTES)
        ));
        assert_eq!(
            verify(&big, &[SECRET], NOW_MS),
            Err(IdentityError::TooLarge)
        );
        assert!(!IdentityError::TooLarge.is_rejection());
    }
}
