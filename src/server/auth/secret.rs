//! The HS256 secret when none is configured: 32 random bytes made once in the data directory
//! (`auth_secret`, mode 0600) and reused, so sessions and tokens survive restarts. Instances
//! that share sessions set the same `--auth-secret` instead.

use crate::server::config::Secret;
use std::{
    io::{ErrorKind, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// Shortest secret accepted, configured or read back.
pub const MIN_SECRET_BYTES: usize = 32;

/// The HS256 secret: `--auth-secret` if set, else the one kept beside `--data`.
pub fn signing_secret(configured: Option<&Secret>, data: &Path) -> Result<Vec<u8>, String> {
    match configured {
        Some(secret) => Ok(secret.expose().as_bytes().to_vec()),
        None => load_or_create(&path_beside(data)),
    }
}

/// Where the made secret lives: beside the history store's file.
pub fn path_beside(data: &Path) -> PathBuf {
    data.parent().unwrap_or(Path::new(".")).join("auth_secret")
}

/// The secret at `path`, made there first if there is none.
pub fn load_or_create(path: &Path) -> Result<Vec<u8>, String> {
    let describe = |error: std::io::Error| format!("auth secret {}: {error}", path.display());
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(describe)?;
    }
    let secret: [u8; MIN_SECRET_BYTES] = rand::random();
    // `create_new`: of two processes starting at once, one writes and both read its bytes.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(&secret).and_then(|()| file.sync_all()).map_err(describe)?;
            tracing::info!(path = %path.display(), "made a new auth secret");
            Ok(secret.to_vec())
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(path).map_err(describe)?;
            if bytes.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "auth secret {}: only {} bytes (at least {MIN_SECRET_BYTES}); delete it to make a new one",
                    path.display(),
                    bytes.len()
                ));
            }
            Ok(bytes)
        }
        Err(error) => Err(describe(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_private_then_reused() {
        let folder = tempfile::tempdir().unwrap();
        let path = path_beside(&folder.path().join("sub/livedash.sqlite"));
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), MIN_SECRET_BYTES);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create(&path).unwrap_err().contains("only 5 bytes"));
    }
}
