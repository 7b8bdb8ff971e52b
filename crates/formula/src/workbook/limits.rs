//! Limits against hostile workbooks. Each bounds memory or work before it is spent; each
//! is tested in `tests/workbook_limits.rs`.

/// Largest workbook file accepted, in bytes (compressed, as uploaded).
pub const MAX_WORKBOOK_BYTES: usize = 64 * 1024 * 1024;
/// Largest total of the uncompressed sizes the zip central directory declares. The `zip`
/// crate refuses to inflate an entry past its declared size, so this caps all
/// decompression: a zip bomb is refused before anything is inflated.
pub const MAX_UNCOMPRESSED_BYTES: u64 = 512 * 1024 * 1024;
/// Most entries in the zip archive.
pub const MAX_ZIP_ENTRIES: usize = 10_000;
/// Most non-empty cells (values and formulas, all sheets). Reading stops at the first
/// cell past it, so memory stays bounded whatever the sheet XML claims.
pub const MAX_WORKBOOK_CELLS: usize = 1_000_000;
/// Most cells that all references together may cover (each `A1:C10` counts 30, each time
/// it is resolved). Bounds the work of ranges like `A1:XFD1048576`.
pub const MAX_REFERENCED_CELLS: u64 = 20_000_000;
/// Most defined names.
pub const MAX_DEFINED_NAMES: usize = 100_000;
