//! The client bundle (`{site_root}/pkg`), also served under a path named after the build that
//! made it: `/build/{id}/pkg/...`. A page's hydration scripts load from its build's path, and
//! the split modules load relative to their loader, so a page left open across a redeploy
//! fetches its own build's modules or a 404, which each split point answers
//! (`components::lazily`), and never another build's module, which would link against a main
//! module it was not cut from. The id is a digest of the files, the same on every instance
//! running one build. Files under a build's path never change, so browsers keep them a year.
//! `/pkg/...` still serves everything linked without a build (the sign-in page's stylesheet).
//! A page asks `/build/{id}` when its connection comes back (`client::redeploy`): a 404 says it
//! runs a build no longer served, and it loads itself again.

use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use leptos::prelude::use_context;
use sha2::{Digest, Sha256};
use std::{path::Path, sync::Arc};
use tower_http::services::ServeDir;

/// The build whose bundle this server serves, provided to every page rendering as context.
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    /// None without a bundle on disk (`cargo run`, the router tests): pages then load from
    /// `/pkg`.
    id: Option<Arc<str>>,
}

impl Bundle {
    /// Names the bundle in `{site_root}/pkg` by a digest of its files' names and contents (the
    /// `.br` and `.gz` copies left out: they follow from the rest).
    pub async fn open(site_root: &str) -> Self {
        let pkg = Path::new(site_root).join("pkg");
        let id = tokio::task::spawn_blocking(move || digest(&pkg)).await.ok().flatten();
        Bundle { id: id.map(Arc::from) }
    }

    /// The build's id, which a page names in its `livedash-build` meta.
    pub fn id(&self) -> Option<String> {
        self.id.as_deref().map(str::to_owned)
    }

    /// What the page's stylesheet and scripts load from, before `/pkg`: `/build/{id}`, or
    /// nothing.
    pub fn root(&self) -> String {
        self.id.as_deref().map(|id| format!("/build/{id}")).unwrap_or_default()
    }

    /// `/build/{id}/pkg/...` for this build's files, cached for good, and `/build/{id}` itself,
    /// a 204 a page asks to learn whether its build is still served (`client::redeploy`); any
    /// other build's path is a 404 (its files are gone).
    pub fn routes<S: Clone + Send + Sync + 'static>(&self, site_root: &str) -> Router<S> {
        let answer = |status| any(move || async move { (status, [(header::CACHE_CONTROL, "no-store")]) });
        let router = Router::new().route("/build/{*path}", answer(StatusCode::NOT_FOUND));
        let Some(id) = &self.id else { return router };
        let files = ServeDir::new(Path::new(site_root).join("pkg")).precompressed_br().precompressed_gzip();
        router
            .route(&format!("/build/{id}"), answer(StatusCode::NO_CONTENT))
            .nest_service(&format!("/build/{id}/pkg"), files)
            .layer(middleware::from_fn(kept_for_good))
    }
}

/// The bundle of the page being rendered (call from the shell).
pub fn of_page() -> Bundle {
    use_context::<Bundle>().unwrap_or_default()
}

fn digest(pkg: &Path) -> Option<String> {
    let mut files: Vec<_> = std::fs::read_dir(pkg)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && !path.extension().is_some_and(|ext| ext == "br" || ext == "gz"))
        .collect();
    if files.is_empty() {
        return None;
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.file_name()?.as_encoded_bytes());
        hasher.update(std::fs::read(&file).ok()?);
    }
    Some(hex::encode(&hasher.finalize()[..8]))
}

/// A build's file never changes under its path.
async fn kept_for_good(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await.into_response();
    if response.status().is_success() {
        let forever = HeaderValue::from_static("public, max-age=31536000, immutable");
        response.headers_mut().insert(header::CACHE_CONTROL, forever);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_follows_the_files_not_their_compressed_copies() {
        let site = tempfile::tempdir().unwrap();
        let pkg = site.path().join("pkg");
        assert_eq!(digest(&pkg), None, "no bundle");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(pkg.join("livedash.wasm"), b"one").unwrap();
        let first = digest(&pkg).unwrap();
        std::fs::write(pkg.join("livedash.wasm.br"), b"compressed").unwrap();
        assert_eq!(digest(&pkg).unwrap(), first);
        std::fs::write(pkg.join("livedash.wasm"), b"two").unwrap();
        assert_ne!(digest(&pkg).unwrap(), first);
    }
}
