//! Unit enums written as one of a fixed list of names: on the wire, in the configuration and
//! in URLs. `named!` gives such an enum its `as_str`, `from_name`, serde impls and the
//! browser's reading (`read::FromJson`), all reading the one list of names.
//!
//! Why not serde's derive: its decoder of a unit enum goes through `deserialize_enum` with a
//! visitor per enum that matches strings, bytes and variant indexes, compiled for every enum
//! (about 1.3 KB of the browser's WASM each). Here every enum shares one decoder
//! (`name_index`), which reads a string and finds it in the enum's list; the error for an
//! unknown name is serde's own (`unknown variant ..., expected one of ...`).

use serde::de::{Deserializer, Error, Visitor};
use std::fmt;

/// Where the name `deserializer` holds is in `names` (the canonical names, then the aliases);
/// an error naming the `canonical` ones when it is none of them.
pub fn name_index<'de, D: Deserializer<'de>>(
    deserializer: D,
    names: &'static [&'static str],
    canonical: &'static [&'static str],
) -> Result<usize, D::Error> {
    deserializer.deserialize_str(NameIndex { names, canonical })
}

struct NameIndex {
    names: &'static [&'static str],
    canonical: &'static [&'static str],
}

impl<'de> Visitor<'de> for NameIndex {
    type Value = usize;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "one of {}", self.canonical.join(", "))
    }

    fn visit_str<E: Error>(self, name: &str) -> Result<usize, E> {
        self.names.iter().position(|known| *known == name).ok_or_else(|| E::unknown_variant(name, self.canonical))
    }
}

/// `named!(Kind { Variant = "name", ... } aliases { "other" = Variant })`: `Kind::as_str`,
/// `Kind::from_name`, and serde writing and reading the names (an alias is read, never
/// written).
macro_rules! named {
    ($kind:ident { $($variant:ident = $name:literal),+ $(,)? } $(aliases { $($alias:literal = $aliased:ident),+ $(,)? })?) => {
        impl $kind {
            /// Its name as written.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($kind::$variant => $name,)+
                }
            }

            /// The value written as `name` (a name or an alias), if there is one.
            #[allow(dead_code, reason = "not every enum is read from a bare name")]
            pub fn from_name(name: &str) -> Option<$kind> {
                Self::NAMES.iter().position(|known| *known == name).map(|at| Self::BY_NAME[at])
            }

            /// The names, then the aliases; `BY_NAME` holds what each stands for.
            const NAMES: &'static [&'static str] = &[$($name,)+ $($($alias,)+)?];
            const BY_NAME: &'static [$kind] = &[$($kind::$variant,)+ $($($kind::$aliased,)+)?];
            const CANONICAL: &'static [&'static str] = &[$($name,)+];
        }

        impl serde::Serialize for $kind {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl $crate::protocol::read::FromJson for $kind {
            fn from_json<J: $crate::protocol::read::Json>(json: &J) -> Result<Self, $crate::protocol::read::Misread> {
                let at = $crate::protocol::read::name_index(json, Self::NAMES, Self::CANONICAL)?;
                Ok(Self::BY_NAME[at])
            }
        }

        impl<'de> serde::Deserialize<'de> for $kind {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let at = $crate::protocol::named::name_index(deserializer, Self::NAMES, Self::CANONICAL)?;
                Ok(Self::BY_NAME[at])
            }
        }
    };
}

pub(crate) use named;

#[cfg(test)]
mod tests {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Shape {
        Round,
        Square,
    }

    named!(Shape { Round = "round", Square = "square" } aliases { "circle" = Round });

    #[test]
    fn a_value_is_written_by_its_name_and_read_by_its_name_or_an_alias() {
        assert_eq!(serde_json::to_string(&Shape::Square).unwrap(), "\"square\"");
        assert_eq!(serde_json::from_str::<Shape>("\"square\"").unwrap(), Shape::Square);
        assert_eq!(serde_json::from_str::<Shape>("\"circle\"").unwrap(), Shape::Round);
        assert_eq!(Shape::from_name("circle"), Some(Shape::Round));
        assert_eq!(Shape::Round.as_str(), "round");
        assert_eq!(Shape::from_name("oval"), None);
    }

    #[test]
    fn an_unknown_name_is_refused_naming_the_known_ones_as_serde_does() {
        let error = serde_json::from_str::<Shape>("\"oval\"").unwrap_err().to_string();
        assert!(error.starts_with("unknown variant `oval`, expected `round` or `square`"), "{error}");
        let error = serde_json::from_str::<Shape>("3").unwrap_err().to_string();
        assert!(error.starts_with("invalid type: integer `3`, expected one of round, square"), "{error}");
    }
}
