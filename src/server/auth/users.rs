//! People who sign in: `[[users]]` in the config file, each with an argon2id password hash
//! (`livedash hash-password` makes one), a role and the dashboards they see. Checking a
//! password runs on the blocking pool (argon2 takes tens of milliseconds by design), an unknown
//! user costs the same as a wrong password (a dummy hash is checked), a password over
//! `MAX_PASSWORD_BYTES` is refused before hashing, and `LoginLimiter` refuses a user's sixth
//! failure within five minutes.

use super::{patterns::DashboardPatterns, Scope};
use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use serde::Deserialize;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};
use tokio::time::Instant;

/// Longer passwords are refused unhashed: hashing cost grows with the input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Failed sign-ins a user may have within `FAILURE_WINDOW` before the next attempt gets 429.
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
}

impl Users {
    pub fn new(users: &[UserConfig]) -> Self {
        let by_name = users.iter().map(|user| (user.name.clone(), user.clone())).collect();
        Users { by_name, dummy_hash: OnceLock::new() }
    }

    pub fn get(&self, name: &str) -> Option<&UserConfig> {
        self.by_name.get(name)
    }

    /// The user, if `password` is theirs. Runs argon2 on the blocking pool whether or not the
    /// user exists. The caller refuses over-long passwords first.
    pub async fn check(self: &Arc<Self>, name: &str, password: &str) -> Option<UserConfig> {
        let (users, name, password) = (self.clone(), name.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
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

/// Failed sign-ins per user name, for the 429 after `MAX_FAILURES` within `FAILURE_WINDOW`.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Names tracked at most; past it, names whose failures have all aged out are forgotten.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    /// `Err(wait)` when `name` may not try again for `wait`.
    pub fn check(&self, name: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("login limiter poisoned");
        let Some(times) = failures.get_mut(&key(name)) else { return Ok(()) };
        while times.front().is_some_and(|&at| now.duration_since(at) >= FAILURE_WINDOW) {
            times.pop_front();
        }
        match times.front() {
            Some(&oldest) if times.len() >= MAX_FAILURES => Err(FAILURE_WINDOW - now.duration_since(oldest)),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, name: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("login limiter poisoned");
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, times| times.back().is_some_and(|&at| now.duration_since(at) < FAILURE_WINDOW));
        }
        let times = failures.entry(key(name)).or_default();
        times.push_back(now);
        if times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    pub fn succeeded(&self, name: &str) {
        self.failures.lock().expect("login limiter poisoned").remove(&key(name));
    }
}

/// Names are compared as typed but bounded, so a flood of long names costs little memory.
fn key(name: &str) -> String {
    name.chars().take(64).collect()
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
        assert_eq!(users.check("alice", "correct horse").await, Some(alice));
        assert_eq!(users.check("alice", "wrong").await, None);
        assert_eq!(users.check("mallory", "correct horse").await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sixth_failure_in_five_minutes_waits() {
        let limiter = LoginLimiter::default();
        for _ in 0..MAX_FAILURES {
            assert_eq!(limiter.check("alice"), Ok(()));
            limiter.failed("alice");
        }
        assert_eq!(limiter.check("alice"), Err(FAILURE_WINDOW));
        assert_eq!(limiter.check("bob"), Ok(()), "per user");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(limiter.check("alice"), Err(FAILURE_WINDOW - Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(240)).await;
        assert_eq!(limiter.check("alice"), Ok(()), "the oldest failure aged out");
        limiter.succeeded("alice");
        assert!(limiter.failures.lock().unwrap().is_empty());
    }

    #[test]
    fn roles_and_default_dashboards() {
        let user = |role| UserConfig { name: "x".into(), password_hash: String::new(), role, dashboards: None };
        assert!(user(Role::Admin).dashboards().covers("anything"));
        assert!(!user(Role::Viewer).dashboards().covers("main"));
    }
}
