//! Conversions between protobuf numbers and portable SQL columns: PostgreSQL has no
//! unsigned integers, so counts are stored as BIGINT, and sums must not be poisoned by a
//! non-finite figure.

/// A u64 count as a BIGINT column, saturating at `i64::MAX`.
pub fn to_bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A BIGINT column back to a u64 count; a negative value (never written) reads as 0.
pub fn from_bigint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A NaN or infinite figure in an event is a producer bug; it is stored as 0 rather than
/// poisoning every sum it enters.
pub fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate() {
        assert_eq!(to_bigint(u64::MAX), i64::MAX);
        assert_eq!(to_bigint(7), 7);
        assert_eq!(from_bigint(-1), 0);
        assert_eq!(from_bigint(7), 7);
        assert_eq!(finite_or_zero(f64::NAN), 0.0);
        assert_eq!(finite_or_zero(f64::INFINITY), 0.0);
        assert_eq!(finite_or_zero(2.5), 2.5);
    }
}
