//! Auth through the real binary: it refuses to serve an open non-loopback address unless told
//! to, its tools make hashes, API tokens and JWTs the server accepts, and nothing it logs (at
//! debug level) contains a password, token, cookie or secret.

use livedash::server::auth::{api_tokens::sha256_hex, jwt::Keys, users::check_password_hash, Scope};
use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, Stdio},
};

fn livedash() -> Command {
    Command::new(env!("CARGO_BIN_EXE_livedash"))
}

/// What the server prints after it listens (its log goes to stdout), collected until it exits.
type Printed = std::thread::JoinHandle<String>;

/// Starts the server and returns it with its address, once it listens.
fn spawn_listening(command: &mut Command) -> (Child, String, Vec<String>, Printed) {
    // Waited for by the caller, which gets the child.
    #[allow(clippy::zombie_processes)]
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited before listening: {lines:?}");
        if let Some(addr) = line.trim().strip_prefix("livedash listening on http://") {
            let addr = addr.to_owned();
            lines.push(line);
            // Keep draining, so the server never blocks on a full pipe.
            let printed = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stdout.read_to_string(&mut text);
                text
            });
            return (child, addr, lines, printed);
        }
        lines.push(line);
    }
}

#[test]
fn an_open_server_off_loopback_refuses_to_start_unless_told() {
    let output = livedash().args(["--addr", "0.0.0.0:0", "--persist", "false"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to serve 0.0.0.0:0 without sign-in"), "{stderr}");
    assert!(stderr.contains("livedash hash-password") && stderr.contains("--insecure-open"), "{stderr}");

    let (mut child, _, lines, _) =
        spawn_listening(livedash().args(["--addr", "0.0.0.0:0", "--persist", "false", "--insecure-open"]));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(lines.iter().any(|line| line.contains("OPEN TO EVERYONE")), "{lines:?}");
}

#[test]
fn the_tools_make_what_the_server_accepts() {
    let mut hashing = livedash().arg("hash-password").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    hashing.stdin.take().unwrap().write_all(b"correct horse\n").unwrap();
    let output = hashing.wait_with_output().unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap();
    check_password_hash(hash.trim()).unwrap();

    let output = livedash()
        .args(["token", "create", "--name", "ci", "--scope", "write", "--dashboards", "shop, servers"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let token = text.lines().next().unwrap();
    assert!(token.starts_with("ldt_"), "{text}");
    assert!(text.contains(&format!("sha256 = \"{}\"", sha256_hex(token))), "{text}");
    assert!(text.contains("scope = \"write\"") && text.contains(r#"dashboards = ["shop", "servers"]"#), "{text}");

    let secret = "a secret shared with the server, 32+ bytes";
    let output = livedash()
        .args(["token", "jwt", "--sub", "alice", "--scope", "read", "--dashboards", "main", "--ttl", "10m"])
        .env("LIVEDASH_AUTH_SECRET", secret)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let now = livedash::server::Clock::system().now_secs();
    let claims = Keys::new(secret.as_bytes()).verify(String::from_utf8(output.stdout).unwrap().trim(), now).unwrap();
    assert_eq!((claims.sub.as_str(), claims.scope), ("alice", Some(Scope::Read)));
    assert!(claims.dashboards.unwrap().covers("main"));
    let lifetime = claims.exp - now;
    assert!((590..=600).contains(&lifetime), "{lifetime}");
}

#[tokio::test]
async fn logs_never_contain_a_password_token_cookie_or_secret() {
    let folder = tempfile::tempdir().unwrap();
    let secret = "the-auth-secret-that-must-stay-out-of-logs";
    let password = "the-password-that-must-stay-out-of-logs";
    let api_token = "ldt_the-api-token-that-must-stay-out-of-logs";
    let config = folder.path().join("livedash.toml");
    std::fs::write(
        &config,
        format!(
            "auth_secret = \"{secret}\"\n[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\nrole = \"admin\"\n\
             [[tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscope = \"admin\"\n",
            livedash::server::auth::users::hash_password(password),
            sha256_hex(api_token),
        ),
    )
    .unwrap();
    let (mut child, addr, _, printed) = spawn_listening(
        livedash()
            .args(["--addr", "127.0.0.1:0", "--simulator", "false", "--host-metrics", "false"])
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(folder.path().join("livedash.sqlite"))
            .env("RUST_LOG", "debug"),
    );
    let mut stderr = child.stderr.take().unwrap();
    let logged = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    let form = |password: &str| format!("username=alice&password={password}&next=/");
    let login = |body: String| {
        client.post(url("/login")).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    assert_eq!(login(form("wrong-password-also-secret")).await.unwrap().status(), 401);
    let signed_in = login(form(password)).await.unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session = cookie.trim_start_matches("livedash_session=").to_owned();
    assert_eq!(client.get(url("/api/v1/dashboards")).header("cookie", &cookie).send().await.unwrap().status(), 200);
    assert_eq!(client.get(url("/api/v1/dashboards")).bearer_auth(api_token).send().await.unwrap().status(), 200);
    let query = url(&format!("/api/v1/dashboards?access_token={api_token}"));
    assert_eq!(client.get(query).send().await.unwrap().status(), 200);
    assert_eq!(
        client.get(url("/api/v1/dashboards")).bearer_auth("a-bad-token-also-secret").send().await.unwrap().status(),
        401
    );
    assert_eq!(client.post(url("/logout")).header("cookie", &cookie).send().await.unwrap().status(), 303);

    terminate(&child);
    let _ = child.wait();
    let log = printed.join().unwrap() + &logged.join().unwrap();
    assert!(log.contains("signed in") && log.contains("GET"), "the log was captured at debug level:\n{log}");
    for leak in [secret, password, api_token, &session, "wrong-password-also-secret", "a-bad-token-also-secret"] {
        assert!(!log.contains(leak), "the log contains {leak:?}:\n{log}");
    }
}

/// SIGTERM, so the server shuts down (and logs) as it would in production (`kill(1)`: the
/// crate forbids unsafe code, tests included).
fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM {}", child.id());
}
