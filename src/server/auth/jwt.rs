//! JWTs (PROTOCOL.md "Auth"): HS256 with the server's secret, `aud` always `livedash`, `sub`
//! and `exp` required, no clock leeway, expiry read on the server's `Clock`. Any other `alg` (`none`, RS256, HS512) is refused, as
//! is a token over `MAX_TOKEN_BYTES`. Session cookies are JWTs too, told apart by their `sid`.

use super::{patterns::DashboardPatterns, Scope};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The audience every livedash token names.
pub const AUDIENCE: &str = "livedash";

/// Longer tokens are refused unread: no honest token comes near it.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What a token says (PROTOCOL.md's claims, plus the session fields of a sign-in cookie).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    /// Seconds since the Unix epoch.
    pub exp: u64,
    #[serde(default)]
    pub scope: Option<Scope>,
    #[serde(default)]
    pub dashboards: Option<DashboardPatterns>,
    /// A sign-in session's id: the token is a session cookie, checked against sign-outs, and
    /// its scope comes from the user's current configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the session was signed into (seconds); the absolute lifetime counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// When this token was issued (seconds): a session cookie is renewed once it is a minute old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// A session's password fingerprint (`session::password_fingerprint`): a session made
    /// with another password than the user's current one is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
}

/// Why a token was refused; the message is safe to send back (it never quotes the token).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("token signed with another algorithm than HS256")]
    Algorithm,
    #[error("token audience is not '{AUDIENCE}'")]
    Audience,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The server's HS256 keys and the one validation every token goes through.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 0;
        // Expiry is checked against the server's clock in `verify`, not the library's.
        validation.validate_exp = false;
        Keys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// Checks `token`'s signature, algorithm, audience and expiry (at `now_secs`: a token is
    /// refused from its `exp` on).
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        let claims = self.decode(token)?;
        match claims.exp > now_secs {
            true => Ok(claims),
            false => Err(TokenError::Expired),
        }
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(
            |error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
                ErrorKind::InvalidAudience => TokenError::Audience,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::MissingRequiredClaim(claim) => TokenError::Invalid(format!("missing claim '{claim}'")),
                ErrorKind::InvalidClaimFormat(claim) => TokenError::Invalid(format!("malformed claim '{claim}'")),
                ErrorKind::Json(_) => TokenError::Invalid("malformed claims".into()),
                _ => TokenError::Invalid("not a JWT".into()),
            },
        )
    }

    /// Signs `claims` (HS256).
    pub fn mint(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of serializable claims cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            aud: AUDIENCE.into(),
            exp,
            scope: Some(Scope::Read),
            dashboards: Some(DashboardPatterns::new(vec!["main".into()])),
            sid: None,
            auth_time: None,
            iat: None,
            pwd: None,
        }
    }

    /// The tests' present, in seconds.
    const NOW: u64 = 1_800_000_000;

    fn in_an_hour() -> u64 {
        NOW + 3600
    }

    #[test]
    fn round_trip() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let minted = claims(in_an_hour());
        assert_eq!(keys.verify(&keys.mint(&minted), NOW), Ok(minted));
    }

    #[test]
    fn refusals() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let other = Keys::new(b"another secret, another server!!");
        assert_eq!(keys.verify(&keys.mint(&claims(1000)), NOW), Err(TokenError::Expired));
        assert_eq!(keys.verify(&keys.mint(&claims(NOW)), NOW), Err(TokenError::Expired), "refused from its exp on");
        assert!(keys.verify(&keys.mint(&claims(NOW + 1)), NOW).is_ok());
        assert!(matches!(keys.verify(&other.mint(&claims(in_an_hour())), NOW), Err(TokenError::Invalid(_))));
        let mut foreign = claims(in_an_hour());
        foreign.aud = "grafana".into();
        assert_eq!(keys.verify(&keys.mint(&foreign), NOW), Err(TokenError::Audience));
        assert_eq!(keys.verify(&"a".repeat(MAX_TOKEN_BYTES + 1), NOW), Err(TokenError::TooLong));
        assert!(keys.verify("garbage", NOW).is_err());
    }
}
