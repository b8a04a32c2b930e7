//! Sign-in sessions. A session is a signed cookie (`livedash_session`, a JWT with a `sid`), so
//! any instance holding the secret can check it without shared state; it expires after the idle
//! lifetime unless renewed by use (a request renews a cookie older than a minute) and after the
//! absolute lifetime whatever happens. A session is tied to the password it was made with
//! (`pwd`, a fingerprint of the user's hash): a changed password ends it. Signing out records
//! the `sid` as revoked until the last moment any cookie of that session could live (its
//! absolute end: a renewal issued a moment before sign-out outlives the cookie presented),
//! in the history store's file too (`REVOCATIONS_SCHEMA`) so that a restart keeps it, and
//! closes every stream opened with it at once (`LiveSessions`).

use super::jwt::{Claims, Keys, AUDIENCE};
use cookie::{Cookie, SameSite};
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// The cookie's name (PROTOCOL.md).
pub const COOKIE: &str = "livedash_session";

/// A cookie this old (seconds) is re-issued with a fresh idle expiry on the next request.
const RENEW_AFTER_SECS: u64 = 60;

/// How long sessions last.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    /// Since the last use.
    pub idle: Duration,
    /// Since sign-in.
    pub absolute: Duration,
}

/// The table of signed-out sessions, kept in the history store's file
/// (`StoreOptions::tables`): a sign-out outlives a restart.
pub const REVOCATIONS_SCHEMA: &str = "
-- Signed-out sessions (`auth::session`): refused until `until` (seconds).
CREATE TABLE IF NOT EXISTS auth_revocations (
    sid   TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
";

/// Issues, renews and ends sessions.
pub struct Sessions {
    lifetimes: Lifetimes,
    /// `Secure` cookies: the public URL is https.
    secure: bool,
    /// Signed-out session ids, with the last moment a cookie of theirs could be valid (seconds).
    revoked: Mutex<HashMap<String, u64>>,
    /// Where revocations are kept across restarts (the history store's file), if anywhere.
    kept: Option<Mutex<Connection>>,
    live: LiveSessions,
}

/// A fingerprint of a user's password hash, carried by their sessions: when the configured
/// hash changes, sessions made with the old password no longer check. (Of the salted hash,
/// so it says nothing of the password.)
pub fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..8])
}

impl Sessions {
    pub fn new(lifetimes: Lifetimes, secure: bool) -> Self {
        Sessions { lifetimes, secure, revoked: Mutex::default(), kept: None, live: LiveSessions::default() }
    }

    /// Keeps revocations in `path` (the history store's file, its table made by the store)
    /// and reads those still in force at `now_secs`.
    pub fn keep_revocations_in(mut self, path: &Path, now_secs: u64) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.execute("DELETE FROM auth_revocations WHERE until <= ?1", params![now_secs as i64])?;
        let revoked: HashMap<String, u64> = {
            let mut select = connection.prepare("SELECT sid, until FROM auth_revocations")?;
            let rows = select.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        self.revoked = Mutex::new(revoked);
        self.kept = Some(Mutex::new(connection));
        Ok(self)
    }

    /// A new session for `user` (a fresh id every sign-in), signed in with the password whose
    /// hash has `fingerprint`, as a cookie value.
    pub fn start(&self, keys: &Keys, user: &str, fingerprint: String, now_secs: u64) -> String {
        let sid = hex::encode(rand::random::<[u8; 16]>());
        let claims = Claims {
            sub: user.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: 0,
            scope: None,
            dashboards: None,
            sid: Some(sid),
            auth_time: Some(now_secs),
            iat: None,
            pwd: Some(fingerprint),
        };
        self.issue(keys, claims, now_secs)
    }

    /// The last moment (seconds) any cookie of a session signed into at `auth_time` can be
    /// valid: renewals never pass the absolute lifetime.
    pub fn last_valid(&self, auth_time: u64) -> u64 {
        auth_time.saturating_add(self.lifetimes.absolute.as_secs())
    }

    /// The renewed cookie value, when `claims` (a checked session) is old enough to renew.
    pub fn renewal(&self, keys: &Keys, claims: &Claims, now_secs: u64) -> Option<String> {
        let issued = claims.iat.unwrap_or(0);
        (now_secs.saturating_sub(issued) >= RENEW_AFTER_SECS).then(|| self.issue(keys, claims.clone(), now_secs))
    }

    fn issue(&self, keys: &Keys, mut claims: Claims, now_secs: u64) -> String {
        let started = claims.auth_time.unwrap_or(now_secs);
        claims.iat = Some(now_secs);
        claims.exp = (now_secs + self.lifetimes.idle.as_secs()).min(started + self.lifetimes.absolute.as_secs());
        keys.mint(&claims)
    }

    pub fn is_revoked(&self, sid: &str) -> bool {
        self.revoked.lock().expect("revocations poisoned").contains_key(sid)
    }

    /// Signs `sid` out: refused from now on until `until` (the session's `last_valid`; past
    /// it every cookie of it is expired anyway), and its streams closed.
    pub fn end(&self, sid: &str, until: u64, now_secs: u64) {
        let mut revoked = self.revoked.lock().expect("revocations poisoned");
        revoked.retain(|_, &mut kept_until| kept_until > now_secs);
        let until = revoked.get(sid).map_or(until, |&known| known.max(until));
        revoked.insert(sid.to_owned(), until);
        drop(revoked);
        self.live.end(sid);
    }

    /// Writes a sign-out where it outlives a restart, if revocations are kept; blocking
    /// (SQLite): call it off the async workers.
    pub fn keep_revocation(&self, sid: &str, until: u64, now_secs: u64) -> rusqlite::Result<()> {
        let Some(connection) = &self.kept else { return Ok(()) };
        let connection = connection.lock().expect("revocations store poisoned");
        connection.execute(
            "INSERT INTO auth_revocations (sid, until) VALUES (?1, ?2)
             ON CONFLICT (sid) DO UPDATE SET until = max(until, excluded.until)",
            params![sid, until as i64],
        )?;
        connection.execute("DELETE FROM auth_revocations WHERE until <= ?1", params![now_secs as i64])?;
        Ok(())
    }

    /// Watches `sid` for sign-out while a stream is open.
    pub fn watch(&self, sid: &str) -> SignOutWatch {
        self.live.watch(sid)
    }

    /// The `Set-Cookie` value carrying `value`, or clearing the cookie when `None`.
    pub fn cookie(&self, value: Option<String>) -> String {
        let max_age = match value {
            Some(_) => self.lifetimes.idle.min(self.lifetimes.absolute),
            None => Duration::ZERO,
        };
        Cookie::build((COOKIE, value.unwrap_or_default()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build()
            .to_string()
    }
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(name, _)| *name == COOKIE).map(|(_, v)| v)
}

/// Streams open per session, each holding a token cancelled when the session signs out.
#[derive(Default, Clone)]
struct LiveSessions {
    open: Arc<Mutex<HashMap<String, (CancellationToken, usize)>>>,
}

impl LiveSessions {
    fn watch(&self, sid: &str) -> SignOutWatch {
        let mut open = self.open.lock().expect("live sessions poisoned");
        let (token, streams) = open.entry(sid.to_owned()).or_insert_with(|| (CancellationToken::new(), 0));
        *streams += 1;
        SignOutWatch { signed_out: token.clone(), sid: sid.to_owned(), live: self.clone() }
    }

    fn end(&self, sid: &str) {
        if let Some((token, _)) = self.open.lock().expect("live sessions poisoned").remove(sid) {
            token.cancel();
        }
    }
}

/// One stream's view of its session; cancelled when the session signs out.
pub struct SignOutWatch {
    pub signed_out: CancellationToken,
    sid: String,
    live: LiveSessions,
}

impl Drop for SignOutWatch {
    fn drop(&mut self) {
        let mut open = self.live.open.lock().expect("live sessions poisoned");
        if let Some((_, streams)) = open.get_mut(&self.sid) {
            *streams -= 1;
            if *streams == 0 {
                open.remove(&self.sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIMES: Lifetimes = Lifetimes { idle: Duration::from_secs(600), absolute: Duration::from_secs(1000) };

    #[test]
    fn sessions_renew_within_the_absolute_lifetime() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let sessions = Sessions::new(LIFETIMES, false);
        let now = 1_800_000_000;
        let first = keys.verify(&sessions.start(&keys, "alice", "fp".into(), now), now).unwrap();
        assert_eq!(first.exp, now + 600);
        assert!(sessions.renewal(&keys, &first, now + 30).is_none(), "too fresh to renew");
        let renewed = keys.verify(&sessions.renewal(&keys, &first, now + 500).unwrap(), now).unwrap();
        assert_eq!((renewed.exp, renewed.sid.as_ref()), (now + 1000, first.sid.as_ref()), "capped by the absolute");
        let other = keys.verify(&sessions.start(&keys, "alice", "fp".into(), now), now).unwrap();
        assert_ne!(other.sid, first.sid, "a fresh id at each sign-in");
    }

    #[test]
    fn signing_out_revokes_and_cancels_its_streams_only() {
        let sessions = Sessions::new(LIFETIMES, true);
        let (a, b) = (sessions.watch("a"), sessions.watch("b"));
        let a2 = sessions.watch("a");
        sessions.end("a", 2000, 1000);
        assert!(a.signed_out.is_cancelled() && a2.signed_out.is_cancelled());
        assert!(!b.signed_out.is_cancelled());
        assert!(sessions.is_revoked("a") && !sessions.is_revoked("b"));
        drop(b);
        assert!(sessions.live.open.lock().unwrap().is_empty());
    }

    #[test]
    fn cookies() {
        let sessions = Sessions::new(LIFETIMES, true);
        let set = sessions.cookie(Some("v".into()));
        for part in ["livedash_session=v", "HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=600"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(Sessions::new(LIFETIMES, false).cookie(None).contains("Max-Age=0"));
        assert_eq!(from_cookie_header("theme=dark; livedash_session=abc.def"), Some("abc.def"));
        assert_eq!(from_cookie_header("livedash_session_x=1"), None);
    }
}
