//! The words nodes exchange: every string with a fixed meaning that crosses from the control plane to gateways
//! and traffic managers, written once. Each enum is its own string table: `as_str` and `FromStr` (and serde,
//! which goes through them) read the same list, so producer and consumer cannot disagree on a spelling.
//!
//! Two kinds of vocabulary:
//!
//! - **Closed** (`closed_vocabulary!`: [`crate::hub::EventKind`]): what this version writes. A string outside
//!   the table does not parse ([`UnknownWord`]); the reader handles that (the syncer counts it), never panics.
//! - **Open** (`open_vocabulary!`: the runtime state's values below): a value outside the table is kept as
//!   `Unknown(text)` and written back unchanged, so a state from a newer control plane parses, is saved and
//!   reloaded byte for byte, and each reader decides, where it matches, what an unknown value means.

use std::fmt;

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
macro_rules! as_string {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use as_string;

/// A closed vocabulary: a `Copy` enum, `ALL` its words in table order, `as_str`, `FromStr` (unknown: an
/// [`UnknownWord`]), `Display` and serde as the string.
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

        $crate::vocab::as_string!($name);

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                <String as serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An open vocabulary: the known words plus `Unknown(String)`, which keeps any other text as it came. `KNOWN`
/// lists the known words in table order; `as_str`, `From<&str>`/`From<String>`, infallible `FromStr`,
/// `Display` and serde as the string (an unknown value is written back as it was read).
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

        $crate::vocab::as_string!($name);

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                <String as serde::Deserialize>::deserialize(d).map($name::from)
            }
        }
    };
}

open_vocabulary! {
    /// A subscription's state (WSO2's `SubscriptionStatus`).
    pub enum SubscriptionStatus {
        /// Active.
        Unblocked = "UNBLOCKED",
        /// Refused for every key (900907).
        Blocked = "BLOCKED",
        /// Refused for production keys only (900907); sandbox keys pass.
        ProdOnlyBlocked = "PROD_ONLY_BLOCKED",
        /// Waiting for approval (900909).
        OnHold = "ON_HOLD",
        /// Approval refused (900909).
        Rejected = "REJECTED",
        /// A tier change waiting for approval (900909).
        TierUpdatePending = "TIER_UPDATE_PENDING",
    }
}

open_vocabulary! {
    /// Which of an application's two key sets a consumer key belongs to.
    pub enum KeyType {
        Production = "PRODUCTION",
        Sandbox = "SANDBOX",
    }
}

open_vocabulary! {
    /// What a block condition (the admin API's deny policy) matches.
    pub enum BlockConditionType {
        /// An API's `/{context}/{version}`.
        Api = "API",
        /// `{owner}:{application name}`.
        Application = "APPLICATION",
        /// `{"fixedIp", "invert"}`.
        Ip = "IP",
        /// `{"startingIp", "endingIp", "invert"}`.
        IpRange = "IPRANGE",
        /// A user name.
        User = "USER",
        /// `/{context}/{version}:{owner}-{application name}:{key type}`.
        Subscription = "SUBSCRIPTION",
    }
}

open_vocabulary! {
    /// A throttling policy's level as the control plane stores it (the admin API's `advanced` is `api`).
    pub enum PolicyLevel {
        Application = "application",
        Subscription = "subscription",
        /// Advanced (API and resource) policies.
        Api = "api",
        /// Custom rules (`apim_domain::custom`).
        Custom = "custom",
    }
}
