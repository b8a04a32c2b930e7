//! The store's byte layouts, apart from SQL: `bytes` (varints, zigzag, a checked reader),
//! `floats` (a minute of one metric's values, compressed losslessly). The per-second cells
//! (`seconds`) and replay rows (`replay`) are written with them.

pub mod bytes;
pub mod floats;
