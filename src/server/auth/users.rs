//! People who sign in: `[[users]]` in the config file, each with an argon2id password hash
//! (`livedash hash-password` makes one), a role and the dashboards they see. Checking a
//! password runs on the blocking pool (argon2 takes tens of milliseconds by design), an unknown
//! user costs the same as a wrong password (a dummy hash is checked), a password over
//! `MAX_PASSWORD_BYTES` is refused before hashing, and `LoginLimiter` refuses a sixth attempt
//! within five minutes for one user from one address.
//!
//! Hashing is what an attacker can make the server do for free, so it is bounded: at most one
//! check per core but one at a time (`Users::hashing_permit`; past it the caller answers 503), each
//! attempt counted before it is hashed (so parallel guesses cannot all slip under the limit),
//! and none at all when no users are configured.

use super::{patterns::DashboardPatterns, Scope};
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use serde::Deserialize;
use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

/// Longer passwords are refused unhashed: hashing cost grows with the input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Sign-in attempts a user may make from one address within `FAILURE_WINDOW` without
/// succeeding before the next gets 429.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the dashboards listed.
    Viewer,
    /// Reads and writes everything listed, and `/metrics`.
    Admin,
}

impl Role {
    pub fn scope(self) -> Scope {
        match self {
            Role::Viewer => Scope::Read,
            Role::Admin => Scope::Admin,
        }
    }
}

/// One `[[users]]` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// An argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    pub role: Role,
    /// Names or `*` patterns; absent: every dashboard for an admin, none for a viewer.
    #[serde(default)]
    pub dashboards: Option<DashboardPatterns>,
}

impl UserConfig {
    /// The dashboards this user may use.
    pub fn dashboards(&self) -> DashboardPatterns {
        DashboardPatterns::listed_or_default(self.dashboards.as_ref(), self.role == Role::Admin)
    }
}

/// Why a configured hash is unusable, for the configuration error.
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|_| {
        "not a PHC password hash; make one with `livedash hash-password` (a plaintext password is never accepted)"
            .to_owned()
    })?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("hash algorithm '{}' is not argon2id", parsed.algorithm));
    }
    Ok(())
}

/// Hashes `password` with argon2id's default parameters (what `livedash hash-password` prints).
pub fn hash_password(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

/// The configured users, by name.
pub struct Users {
    by_name: HashMap<String, UserConfig>,
    /// Checked for unknown names, so that they take as long as known ones; made at the first
    /// sign-in (hashing takes a moment, and most servers never need it).
    dummy_hash: OnceLock<String>,
    /// One permit per password check running (argon2: about 19 MiB and a core each).
    hashing: Arc<Semaphore>,
}

impl Users {
    pub fn new(users: &[UserConfig]) -> Self {
        let by_name = users.iter().map(|user| (user.name.clone(), user.clone())).collect();
        Users { by_name, dummy_hash: OnceLock::new(), hashing: Arc::new(Semaphore::new(hashing_places())) }
    }

    pub fn get(&self, name: &str) -> Option<&UserConfig> {
        self.by_name.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// A place to check one password, unless `hashing_places` are checking one already.
    pub fn hashing_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.hashing.clone().try_acquire_owned().ok()
    }

    /// The user, if `password` is theirs. Runs argon2 on the blocking pool (holding
    /// `permit`) whether or not the user exists. The caller refuses over-long passwords first.
    pub async fn check(
        self: &Arc<Self>,
        name: &str,
        password: &str,
        permit: OwnedSemaphorePermit,
    ) -> Option<UserConfig> {
        let (users, name, password) = (self.clone(), name.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            let _hashing = permit;
            let user = users.by_name.get(&name);
            let dummy = || users.dummy_hash.get_or_init(|| hash_password("not anyone's password")).as_str();
            let hash = user.map_or_else(dummy, |user| user.password_hash.as_str());
            let matches = PasswordHash::new(hash)
                .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok());
            user.filter(|_| matches).cloned()
        })
        .await
        .ok()
        .flatten()
    }
}

/// How many passwords may be checked at once: one per core but one, which stays free for
/// everything else (streams, history reads, store writes) whatever a flood of sign-ins asks;
/// on one core, one.
fn hashing_places() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from).saturating_sub(1).max(1)
}

/// Sign-in attempts not (yet) successful, per user name and client address, for the 429
/// after `MAX_FAILURES` within `FAILURE_WINDOW`. By address too, so that nobody can keep
/// someone else locked out by failing in their name from elsewhere.
#[derive(Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<(String, IpAddr), VecDeque<Instant>>>,
}

/// Keys tracked at most; past it, those whose attempts have all aged out are forgotten.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    /// Counts an attempt of `name` from `client` before its password is checked, or
    /// `Err(wait)` when it may not try again for `wait`. Counted first, so that parallel
    /// guesses see each other.
    pub fn begin(&self, name: &str, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut attempts = self.attempts.lock().expect("login limiter poisoned");
        if attempts.len() >= MAX_TRACKED {
            attempts.retain(|_, times| times.back().is_some_and(|&at| now.duration_since(at) < FAILURE_WINDOW));
        }
        let times = attempts.entry(key(name, client)).or_default();
        while times.front().is_some_and(|&at| now.duration_since(at) >= FAILURE_WINDOW) {
            times.pop_front();
        }
        if let (Some(&oldest), true) = (times.front(), times.len() >= MAX_FAILURES) {
            return Err(FAILURE_WINDOW - now.duration_since(oldest));
        }
        times.push_back(now);
        Ok(())
    }

    /// The attempt was right: its count starts again.
    pub fn succeeded(&self, name: &str, client: IpAddr) {
        self.attempts.lock().expect("login limiter poisoned").remove(&key(name, client));
    }
}

/// Names are compared as typed but bounded, so a flood of long names costs little memory.
fn key(name: &str, client: IpAddr) -> (String, IpAddr) {
    (name.chars().take(64).collect(), client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_check_against_their_hash_only() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        check_password_hash(&hash).unwrap();
        assert!(check_password_hash("correct horse").unwrap_err().contains("plaintext"));
        let alice = UserConfig { name: "alice".into(), password_hash: hash, role: Role::Viewer, dashboards: None };
        let users = Arc::new(Users::new(std::slice::from_ref(&alice)));
        let check = async |name, password| users.check(name, password, users.hashing_permit().unwrap()).await;
        assert_eq!(check("alice", "correct horse").await, Some(alice));
        assert_eq!(check("alice", "wrong").await, None);
        assert_eq!(check("mallory", "correct horse").await, None);
    }

    #[test]
    fn one_password_check_per_core_at_a_time() {
        let users = Users::new(&[]);
        let held: Vec<_> = (0..hashing_places()).map(|_| users.hashing_permit().expect("a place")).collect();
        assert!(users.hashing_permit().is_none(), "every place is taken");
        drop(held);
        assert!(users.hashing_permit().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_sixth_attempt_in_five_minutes_waits_for_that_user_from_that_address() {
        let limiter = LoginLimiter::default();
        let (here, elsewhere): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "203.0.113.5".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.begin("alice", here), Ok(()));
        }
        assert_eq!(limiter.begin("alice", here), Err(FAILURE_WINDOW));
        assert_eq!(limiter.begin("bob", here), Ok(()), "per user");
        assert_eq!(limiter.begin("alice", elsewhere), Ok(()), "per address: alice is not locked out elsewhere");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(limiter.begin("alice", here), Err(FAILURE_WINDOW - Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(240)).await;
        assert_eq!(limiter.begin("alice", here), Ok(()), "the oldest attempt aged out");
        limiter.succeeded("alice", here);
        assert!(!limiter.attempts.lock().unwrap().contains_key(&key("alice", here)));
    }

    #[test]
    fn roles_and_default_dashboards() {
        let user = |role| UserConfig { name: "x".into(), password_hash: String::new(), role, dashboards: None };
        assert!(user(Role::Admin).dashboards().covers("anything"));
        assert!(!user(Role::Viewer).dashboards().covers("main"));
    }
}
