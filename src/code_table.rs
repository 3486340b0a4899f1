//! [`code_table!`]: one table between an enum of the domain and the codes an adapter spells it with
//! (e签宝's wire, a database column), written once and read both ways. Exhaustive from the enum, so
//! a new variant does not compile until each table gives it a code; partial back, because a code
//! comes from outside and may be one the table does not know.

/// `code_table! { /// doc  pub fn to_code / from_code: Enum => Code, from Arg { Variant = code, … } }`
/// defines `to_code(Enum) -> Code` and `from_code(Arg) -> Option<Enum>`. Each code is a literal or
/// a constant (usable as a pattern).
macro_rules! code_table {
    (
        $(#[$doc:meta])*
        $vis:vis fn $to:ident / $from:ident: $enum:ident => $code:ty, from $arg:ty {
            $($variant:ident = $value:tt),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        $vis fn $to(value: $enum) -> $code {
            match value {
                $($enum::$variant => $value),+
            }
        }

        $(#[$doc])*
        /// `None` for a code the table does not list.
        $vis fn $from(code: $arg) -> Option<$enum> {
            match code {
                $($value => Some($enum::$variant),)+
                _ => None,
            }
        }
    };
}

pub(crate) use code_table;
