//! The command-line tools beside the server: `livedash hash-password` (a password from stdin
//! to the argon2id hash `[[users]]` takes), `livedash token create` (a new API token, printed
//! once, and the `[[tokens]]` entry to paste) and `livedash token jwt` (a JWT signed with the
//! configured secret, for integrations and tests).

use super::auth::{
    api_tokens,
    jwt::{Claims, Keys, AUDIENCE},
    patterns::DashboardPatterns,
    secret::signing_secret,
    users::{hash_password, MAX_PASSWORD_BYTES},
    Scope,
};
use super::settings::Settings;
use clap::{Parser, Subcommand};
use std::{ffi::OsString, io::Read, path::PathBuf, process::ExitCode, time::Duration};

#[derive(Parser)]
#[command(name = "livedash", about = "livedash's credential tools")]
enum Tool {
    /// Reads a password from stdin and prints its argon2id hash, for `password_hash` in
    /// `[[users]]`: `printf '%s' "$PASSWORD" | livedash hash-password`.
    HashPassword,
    /// API tokens and JWTs.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Makes a new API token; prints it (once: only its hash is kept) and its `[[tokens]]` entry.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        scope: Scope,
        /// Comma-separated names or `*` patterns (`shop,ops-*`); every one for an admin token
        /// when left out.
        #[arg(long)]
        dashboards: Option<String>,
    },
    /// Mints a JWT signed with the server's secret (`--auth-secret`, the config file's
    /// `auth_secret`, or the one kept beside `--data`).
    Jwt {
        #[arg(long)]
        sub: String,
        #[arg(long, value_enum, default_value = "read")]
        scope: Scope,
        #[arg(long)]
        dashboards: Option<String>,
        /// How long it is valid (`10m`, `24h`).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[arg(long, env = "LIVEDASH_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "LIVEDASH_AUTH_SECRET", hide_env_values = true)]
        auth_secret: Option<String>,
        #[arg(long, env = "LIVEDASH_DATA")]
        data: Option<PathBuf>,
    },
}

/// Whether the first argument names a tool rather than a server flag.
pub fn is_tool(first: &str) -> bool {
    matches!(first, "hash-password" | "token")
}

pub fn run(args: &[OsString]) -> ExitCode {
    let tool = match Tool::try_parse_from(args) {
        Ok(tool) => tool,
        Err(error) => error.exit(),
    };
    let result = match tool {
        Tool::HashPassword => read_password().map(|password| hash_password(&password)),
        Tool::Token(TokenCommand::Create { name, scope, dashboards }) => Ok(create_token(&name, scope, dashboards)),
        Tool::Token(TokenCommand::Jwt { sub, scope, dashboards, ttl, config, auth_secret, data }) => {
            mint_jwt(sub, scope, dashboards, ttl, config, auth_secret, data)
        }
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("livedash: {error}");
            ExitCode::from(2)
        }
    }
}

/// One password from stdin, without its line ending.
fn read_password() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_PASSWORD_BYTES as u64 + 3)
        .read_to_string(&mut input)
        .map_err(|error| format!("cannot read the password from stdin: {error}"))?;
    let password = input.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&input);
    match password.len() {
        0 => Err("no password on stdin".into()),
        n if n > MAX_PASSWORD_BYTES => Err(format!("passwords are at most {MAX_PASSWORD_BYTES} bytes")),
        _ => Ok(password.to_owned()),
    }
}

fn create_token(name: &str, scope: Scope, dashboards: Option<String>) -> String {
    let token = api_tokens::create();
    let dashboards = dashboards.map(|list| DashboardPatterns::from_list(&list));
    let listed = dashboards.map_or(String::new(), |patterns| {
        let quoted: Vec<String> = patterns.as_slice().iter().map(|p| format!("{p:?}")).collect();
        format!("\ndashboards = [{}]", quoted.join(", "))
    });
    let scope = format!("{scope:?}").to_lowercase();
    format!(
        "{token}\n\n# The token above is shown only now. Add this to the config file:\n[[tokens]]\nname = {name:?}\nsha256 = \"{}\"\nscope = \"{scope}\"{listed}",
        api_tokens::sha256_hex(&token)
    )
}

fn mint_jwt(
    sub: String,
    scope: Scope,
    dashboards: Option<String>,
    ttl: Duration,
    config: Option<PathBuf>,
    auth_secret: Option<String>,
    data: Option<PathBuf>,
) -> Result<String, String> {
    // The server's own settings, so that the secret is found exactly where the server finds it.
    let mut args: Vec<OsString> = vec!["livedash".into()];
    for (flag, value) in [("--config", config.map(OsString::from)), ("--data", data.map(OsString::from))] {
        if let Some(value) = value {
            args.extend([flag.into(), value]);
        }
    }
    if let Some(secret) = auth_secret {
        args.extend(["--auth-secret".into(), secret.into()]);
    }
    let settings = Settings::load(args).map_err(|error| error.to_string())?;
    let keys = Keys::new(&signing_secret(settings.auth_secret.as_ref(), &settings.data)?);
    let exp = crate::server::clock::Clock::system().now_secs() + ttl.as_secs();
    let claims = Claims {
        sub,
        aud: AUDIENCE.to_owned(),
        exp,
        scope: Some(scope),
        dashboards: dashboards.map(|list| DashboardPatterns::from_list(&list)),
        sid: None,
        auth_time: None,
        iat: None,
        pwd: None,
    };
    Ok(keys.mint(&claims))
}
