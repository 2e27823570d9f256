//! The storage type a block is computed in, float32 or float64, and its parsing from the name
//! users pass.

use std::fmt;
use std::str::FromStr;

/// The float type H is built and factorised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// H, its Cholesky factor, α and diag(H⁻¹) in f64.
    #[default]
    Double,
    /// H (Gram, transform), its Cholesky factor and diag(H⁻¹) in f32, α solved in f64 from the
    /// f32 factor; a block f32 cannot factorise falls back to `Double`.
    Single,
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "double" => Ok(Precision::Double),
            "single" => Ok(Precision::Single),
            other => Err(format!(
                "precision must be 'single' or 'double', got {other:?}"
            )),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Double => "double",
            Precision::Single => "single",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for p in [Precision::Double, Precision::Single] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        let err = "half".parse::<Precision>().unwrap_err();
        assert!(
            err.contains("'single' or 'double'") && err.contains("half"),
            "{err}"
        );
    }
}
