//! Test support shared by the unit tests of several modules.

use proptest::prelude::*;

/// Text made of `pieces` (up to `most` of them, any order): fragments of a format's own words,
/// so that generated input gets past the first byte of a decoder and exercises its depths.
pub fn fragments(pieces: Vec<&'static str>, most: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..most).prop_map(|pieces| pieces.concat())
}
