//! Who may do what. Every request passes `gate::require` (after `origin::check_origin`), which
//! turns its credential into an `Access` before any handler, upgrade or body; every path then
//! asks the one `authorize(access, dashboard, action)`.
//!
//! Two modes (docs/security.md): **local open** when no secret, user or API token is
//! configured (reads open, writes open unless `--ingest-token`), **secured** otherwise (every
//! read and write needs a credential). Credentials, in PROTOCOL.md's order: `Authorization:
//! Bearer|Token`, the `access_token` query parameter, the `livedash_session` cookie. A bearer
//! is the ingest token, an API token (`api_tokens`) or a JWT (`jwt`); a JWT with a `sid` is a
//! sign-in session (`session`) of a configured user (`users`), checked against sign-outs.

pub mod api_tokens;
pub mod gate;
pub mod jwt;
pub mod login;
pub mod origin;
pub mod patterns;
pub mod secret;
pub mod session;
pub mod sign_outs;
pub mod users;

use crate::protocol::Millis;
use crate::server::{clock::Clock, config::Secret, http::ApiError};
use api_tokens::{ApiTokens, TokenConfig};
use jwt::{Claims, Keys};
use patterns::DashboardPatterns;
use serde::{Deserialize, Serialize};
pub use session::Lifetimes;
use session::{Sessions, SignOutWatch};
use std::{future::Future, sync::Arc, time::Duration};
use users::{LoginLimiter, UserConfig, Users};

/// What a credential may do (a JWT's `scope`, an API token's `scope`, a user's role).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// View dashboards.
    Read,
    /// Ingest into dashboards.
    Write,
    /// Everything, `/metrics` included.
    Admin,
}

/// What a request wants to do with a dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    /// Silence or ack its alerts: `admin` only, so that an agent's `write` token cannot mute
    /// them (in local open mode, everyone, as everyone reads).
    Control,
}

impl Scope {
    fn allows(self, action: Action) -> bool {
        matches!((self, action), (Scope::Admin, _) | (Scope::Read, Action::Read) | (Scope::Write, Action::Write))
    }
}

/// Someone a credential names.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The user, the JWT's `sub`, or the API token's name.
    pub name: String,
    pub scope: Scope,
    pub dashboards: DashboardPatterns,
    /// When the credential stops being valid (milliseconds); `None` for API tokens.
    pub expires_at: Option<Millis>,
    /// The sign-in session it comes from, if any.
    pub session: Option<SessionRef>,
}

/// A sign-in session, as a checked cookie names it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRef {
    pub id: String,
    /// The last moment any cookie of it can be valid (seconds): how long a sign-out is kept.
    pub last_valid: u64,
}

/// What a request may do, decided once by the gate.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// Local open mode: everyone reads; writes need the ingest token when one is set.
    Open {
        writes: bool,
    },
    /// Secured mode, no credential: only the public paths (sign-in, health, assets).
    Anonymous,
    Granted(Arc<Principal>),
}

impl Access {
    pub fn is_admin(&self) -> bool {
        matches!(self, Access::Granted(principal) if principal.scope == Scope::Admin)
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Access::Granted(principal) => Some(principal),
            _ => None,
        }
    }
}

/// Whether `access` may do `action` on `dashboard`: `401 unauthorized` without a credential,
/// `403 forbidden` when the credential does not cover it.
pub fn authorize(access: &Access, dashboard: &str, action: Action) -> Result<(), ApiError> {
    match access {
        Access::Open { writes } if action != Action::Write || *writes => Ok(()),
        Access::Open { .. } => Err(ApiError::Unauthorized(
            "a valid ingest token is required (Authorization: Bearer <token> or Token <token>)".into(),
        )),
        Access::Anonymous => Err(ApiError::Unauthorized("sign in or send a token".into())),
        Access::Granted(principal) if principal.scope.allows(action) && principal.dashboards.covers(dashboard) => {
            Ok(())
        }
        Access::Granted(principal) => {
            let verb = match action {
                Action::Read => "read",
                Action::Write => "write to",
                Action::Control => "silence or ack alerts of",
            };
            Err(ApiError::Forbidden(format!("'{}' may not {verb} dashboard '{dashboard}'", principal.name)))
        }
    }
}

/// Whether `access` may write at all, asked before an ingest body is read: `401` without a
/// credential (or the ingest token, in open mode), `403` for a read-only one.
pub fn authorize_writing(access: &Access) -> Result<(), ApiError> {
    match access {
        Access::Granted(principal) if !principal.scope.allows(Action::Write) => {
            Err(ApiError::Forbidden(format!("'{}' may not write (scope is read)", principal.name)))
        }
        Access::Granted(_) | Access::Open { writes: true } => Ok(()),
        // The same refusal `authorize` gives, whatever the dashboard.
        Access::Open { writes: false } | Access::Anonymous => authorize(access, "", Action::Write),
    }
}

/// How a stream's credential can end while the stream is open: at its expiry, or when its
/// session signs out. Streams select on `ended` (WebSocket: close 4001; SSE: end).
pub struct Lease {
    expires_at: Option<Millis>,
    sign_out: Option<SignOutWatch>,
    clock: Clock,
}

/// Why a lease ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LeaseEnd {
    Expired,
    SignedOut,
}

impl LeaseEnd {
    /// The close reason sent with 4001.
    pub fn reason(self) -> &'static str {
        match self {
            LeaseEnd::Expired => "token expired",
            LeaseEnd::SignedOut => "signed out",
        }
    }
}

/// How long a lease waits for its expiry before reading the clock again (ms).
const EXPIRY_RECHECK_MS: Millis = 1000;

impl Lease {
    pub fn new(access: &Access, auth: &Auth) -> Self {
        let principal = access.principal();
        Lease {
            expires_at: principal.and_then(|p| p.expires_at),
            sign_out: principal.and_then(|p| p.session.as_ref()).map(|session| auth.sessions.watch(&session.id)),
            clock: auth.clock.clone(),
        }
    }

    /// A refreshed credential's lease replaces this one.
    pub fn renew(&mut self, access: &Access, auth: &Auth) {
        *self = Lease::new(access, auth);
    }

    /// Resolves when the credential ends; never, for one without expiry or session. It owns
    /// what it watches: a connection keeps one across its wake-ups, its timer and sign-out
    /// waiter armed once rather than at each of them.
    pub fn ended(&self) -> impl Future<Output = LeaseEnd> + Send + 'static {
        let (expires_at, clock) = (self.expires_at, self.clock.clone());
        let signed_out = self.sign_out.as_ref().map(|watch| watch.signed_out.clone());
        async move {
            let expiry = async {
                let Some(at) = expires_at else { return std::future::pending().await };
                loop {
                    let left = at - clock.now_millis();
                    if left <= 0 {
                        return;
                    }
                    // The wall clock is read again at least every second: a machine that slept (a
                    // laptop's lid), a clock that was set, or a test's moved clock, ends it on time.
                    tokio::time::sleep(Duration::from_millis(left.min(EXPIRY_RECHECK_MS) as u64)).await;
                }
            };
            let signed_out = async {
                match signed_out {
                    Some(token) => token.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = signed_out => LeaseEnd::SignedOut,
                () = expiry => LeaseEnd::Expired,
            }
        }
    }
}

/// A credential as presented, before it is checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Presented<'a> {
    /// From `Authorization` or `access_token`.
    Bearer(&'a str),
    /// The session cookie.
    Cookie(&'a str),
}

/// A checked credential: its access, and a renewed session cookie to send back, if due.
pub struct Checked {
    pub access: Access,
    pub renewed_cookie: Option<String>,
}

/// The configured ways in: keys, users, API tokens, the ingest token, sessions.
pub struct Auth {
    /// Secured mode's keys; `None` in local open mode.
    keys: Option<Keys>,
    pub users: Arc<Users>,
    tokens: ApiTokens,
    ingest_token: Option<String>,
    pub sessions: Sessions,
    pub logins: LoginLimiter,
    /// What time it is: expiries, renewals and sign-outs are read on it.
    pub clock: Clock,
}

/// What auth is configured with (`Settings::auth_options`).
pub struct AuthOptions<'a> {
    /// Sign-in required (users, tokens or `--auth-secret` configured).
    pub secured: bool,
    /// `--auth-secret`; without it, the secret kept beside `data`.
    pub auth_secret: Option<&'a Secret>,
    pub data: &'a std::path::Path,
    /// Served over https: cookies are `Secure`.
    pub secure_cookies: bool,
    pub lifetimes: Lifetimes,
    pub users: &'a [UserConfig],
    pub tokens: &'a [TokenConfig],
    pub ingest_token: Option<&'a Secret>,
    /// Where sign-outs are kept across restarts: the history store's file, when persisting.
    pub revocations: Option<&'a std::path::Path>,
}

/// Name of the principal the ingest token stands for.
const INGEST_TOKEN_NAME: &str = "ingest-token";

impl Auth {
    /// From its options; in secured mode without `--auth-secret`, the secret kept in the data
    /// directory (made on first start).
    pub fn new(options: &AuthOptions<'_>, clock: Clock) -> Result<Self, String> {
        let keys = match options.secured {
            true => Some(Keys::new(&secret::signing_secret(options.auth_secret, options.data)?)),
            false => None,
        };
        Ok(Auth {
            keys,
            users: Arc::new(Users::new(options.users)),
            tokens: ApiTokens::new(options.tokens),
            ingest_token: options.ingest_token.map(|token| token.expose().to_owned()),
            // Sessions exist only with sign-in.
            sessions: match options.revocations.filter(|_| options.secured) {
                Some(path) => Sessions::new(options.lifetimes, options.secure_cookies)
                    .keep_revocations_in(path, clock.now_secs())
                    .map_err(|error| format!("signed-out sessions unreadable: {error}"))?,
                None => Sessions::new(options.lifetimes, options.secure_cookies),
            },
            logins: LoginLimiter::default(),
            clock,
        })
    }

    pub fn is_secured(&self) -> bool {
        self.keys.is_some()
    }

    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_ref()
    }

    /// What `presented` (if anything) may do, now.
    pub fn check(&self, presented: Option<Presented<'_>>) -> Result<Checked, ApiError> {
        let now_secs = self.clock.now_secs();
        let unrenewed = |access| Checked { access, renewed_cookie: None };
        let Some(keys) = &self.keys else {
            let writes = match (&self.ingest_token, presented) {
                (None, _) => true,
                (Some(expected), Some(Presented::Bearer(token))) => constant_time_eq(token, expected),
                (Some(_), _) => false,
            };
            return Ok(unrenewed(Access::Open { writes }));
        };
        let token = match presented {
            None => return Ok(unrenewed(Access::Anonymous)),
            Some(Presented::Bearer(token) | Presented::Cookie(token)) => token,
        };
        if let Some(expected) = &self.ingest_token {
            if constant_time_eq(token, expected) {
                return Ok(unrenewed(Access::Granted(Arc::new(Principal {
                    name: INGEST_TOKEN_NAME.into(),
                    scope: Scope::Write,
                    dashboards: DashboardPatterns::all(),
                    expires_at: None,
                    session: None,
                }))));
            }
        }
        if let Some(entry) = self.tokens.find(token) {
            return Ok(unrenewed(Access::Granted(Arc::new(Principal {
                name: entry.name.clone(),
                scope: entry.scope,
                dashboards: entry.dashboards(),
                expires_at: None,
                session: None,
            }))));
        }
        let claims = keys.verify(token, now_secs).map_err(|error| ApiError::Unauthorized(error.to_string()))?;
        let renewed_cookie = match presented {
            Some(Presented::Cookie(_)) if claims.sid.is_some() => self.sessions.renewal(keys, &claims, now_secs),
            _ => None,
        };
        Ok(Checked { access: Access::Granted(Arc::new(self.principal(claims)?)), renewed_cookie })
    }

    /// Whom checked `claims` name: a session's user as configured now, or the JWT's own claims.
    fn principal(&self, claims: Claims) -> Result<Principal, ApiError> {
        let expires_at = Some(Millis::try_from(claims.exp.saturating_mul(1000)).unwrap_or(Millis::MAX));
        let Some(sid) = claims.sid else {
            let scope = claims.scope.unwrap_or(Scope::Read);
            let dashboards = DashboardPatterns::listed_or_default(claims.dashboards.as_ref(), scope == Scope::Admin);
            return Ok(Principal { name: claims.sub, scope, dashboards, expires_at, session: None });
        };
        if self.sessions.is_revoked(&sid) {
            return Err(ApiError::Unauthorized("signed out; sign in again".into()));
        }
        let user = self.users.get(&claims.sub).ok_or_else(|| ApiError::Unauthorized("no such user any more".into()))?;
        if claims.pwd.as_deref() != Some(session::password_fingerprint(&user.password_hash).as_str()) {
            return Err(ApiError::Unauthorized("the password changed; sign in again".into()));
        }
        let last_valid = self.sessions.last_valid(claims.auth_time.unwrap_or(claims.exp));
        Ok(Principal {
            name: user.name.clone(),
            scope: user.role.scope(),
            dashboards: user.dashboards(),
            expires_at,
            session: Some(SessionRef { id: sid, last_valid }),
        })
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a token.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(scope: Scope, dashboards: &[&str]) -> Access {
        Access::Granted(Arc::new(Principal {
            name: "alice".into(),
            scope,
            dashboards: DashboardPatterns::new(dashboards.iter().map(|d| d.to_string()).collect()),
            expires_at: None,
            session: None,
        }))
    }

    #[test]
    fn authorize_by_scope_and_dashboard() {
        let code = |result: Result<(), ApiError>| result.map_err(|error| error.code().as_str());
        assert_eq!(code(authorize(&granted(Scope::Read, &["main"]), "main", Action::Read)), Ok(()));
        assert_eq!(code(authorize(&granted(Scope::Read, &["main"]), "host", Action::Read)), Err("forbidden"));
        assert_eq!(code(authorize(&granted(Scope::Read, &["*"]), "main", Action::Write)), Err("forbidden"));
        assert_eq!(code(authorize(&granted(Scope::Write, &["shop"]), "shop", Action::Write)), Ok(()));
        assert_eq!(code(authorize(&granted(Scope::Write, &["shop"]), "shop", Action::Read)), Err("forbidden"));
        assert_eq!(code(authorize(&granted(Scope::Admin, &["*"]), "any", Action::Write)), Ok(()));
        assert_eq!(code(authorize(&Access::Anonymous, "main", Action::Read)), Err("unauthorized"));
        assert_eq!(code(authorize(&Access::Open { writes: false }, "main", Action::Read)), Ok(()));
        assert_eq!(code(authorize(&Access::Open { writes: false }, "main", Action::Write)), Err("unauthorized"));
        assert_eq!(code(authorize(&Access::Open { writes: true }, "main", Action::Write)), Ok(()));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq("secret", "secret"));
        assert!(!constant_time_eq("secret", "secreT"));
        assert!(!constant_time_eq("secret", "secret2"));
    }
}
