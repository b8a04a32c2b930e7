//! cargo-leptos wants a server target; the floor is weighed, never served (`--frontend-only`).
fn main() {}
