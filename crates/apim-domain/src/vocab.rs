//! Words with a fixed meaning, each written once: an enum is its own string table, `as_str` and `FromStr` (and
//! serde, which goes through them) read the same list, so producer and consumer cannot disagree on a spelling.
//! The macros live here, beside the domain's own words ([`crate::api::ApiStatus`],
//! [`crate::api::SubscriptionStatus`]); `apim-wire` uses them for the words only the wire carries.
//!
//! Two kinds of vocabulary:
//!
//! - **Closed** (`closed_vocabulary!`: `apim_wire::hub::EventKind`): what this version writes. A string outside
//!   the table does not parse ([`UnknownWord`]); the reader handles that (the syncer counts it), never panics.
//! - **Open** (`open_vocabulary!`): a value outside the table is kept as `Unknown(text)` and written back
//!   unchanged, so a state from a newer control plane parses, is saved and reloaded byte for byte, and each
//!   reader decides, where it matches, what an unknown value means.

use std::fmt;

// The macros name serde through this crate, so a crate using them needs no `serde` of its own.
#[doc(hidden)]
pub use serde;

/// A string that names no word of a closed vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWord {
    /// Which vocabulary (`event kind`), for messages.
    pub vocabulary: &'static str,
    pub text: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a known {}", self.text, self.vocabulary)
    }
}

impl std::error::Error for UnknownWord {}

/// `Display` and serde's `Serialize` as the wire string (`as_str`), for both kinds of vocabulary.
#[doc(hidden)]
#[macro_export]
macro_rules! as_string {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::vocab::serde::Serialize for $name {
            fn serialize<S: $crate::vocab::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A closed vocabulary: a `Copy` enum, `ALL` its words in table order, `as_str`, `FromStr` (unknown: an
/// [`UnknownWord`]), `Display` and serde as the string.
#[macro_export]
macro_rules! closed_vocabulary {
    ($(#[$meta:meta])* $vis:vis enum $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every word, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::vocab::UnknownWord;
            fn from_str(s: &str) -> Result<$name, $crate::vocab::UnknownWord> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::vocab::UnknownWord { vocabulary: $what, text: s.to_string() }),
                }
            }
        }

        $crate::as_string!($name);

        impl<'de> $crate::vocab::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::vocab::serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                <String as $crate::vocab::serde::Deserialize>::deserialize(d)?.parse().map_err($crate::vocab::serde::de::Error::custom)
            }
        }
    };
}

/// An open vocabulary: the known words plus `Unknown(String)`, which keeps any other text as it came. `KNOWN`
/// lists the known words in table order; `as_str`, `From<&str>`/`From<String>`, infallible `FromStr`,
/// `Display` and serde as the string (an unknown value is written back as it was read).
#[macro_export]
macro_rules! open_vocabulary {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know (from a newer control plane), kept as it came.
            Unknown(String),
        }

        impl $name {
            /// The known words, in table order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)+];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(text) => text.as_str(),
                }
            }

            /// The wire string of a known word; `None` for an unknown one.
            pub fn known_str(&self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($text),)+
                    $name::Unknown(_) => None,
                }
            }

            /// Whether it is one of the known words.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }

            fn known(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::known(s).unwrap_or_else(|| $name::Unknown(s.to_string()))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name::known(&s).unwrap_or($name::Unknown(s))
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<$name, std::convert::Infallible> {
                Ok($name::from(s))
            }
        }

        $crate::as_string!($name);

        impl<'de> $crate::vocab::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::vocab::serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                <String as $crate::vocab::serde::Deserialize>::deserialize(d).map($name::from)
            }
        }
    };
}
