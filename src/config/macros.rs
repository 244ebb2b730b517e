//! The one macro that declares a raw config struct.

/// Declares a raw config struct: every field carries its schema default next to its type, the
/// struct rejects unknown keys, and missing keys take the default (`#[serde(default)]` reads the
/// generated `Default` impl, so the default written here is the one serde uses). Every field is
/// serialized, `None` as `null`, because handler-config merging and the env-override key list are
/// both derived from the serialized defaults.
macro_rules! config_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $vis:vis $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* $vis $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }
    };
}
