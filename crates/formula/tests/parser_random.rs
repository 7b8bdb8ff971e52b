//! A stable-Rust stand-in for the cargo-fuzz target (`crates/formula/fuzz`): random
//! formulas from a grammar-ish alphabet plus random characters. Every input must parse or
//! fail with an error (no panic), and what parses must print to text that parses to the same tree (columns aside).

use ultra_formula::parse_formula;

const PIECES: [&str; 48] = [
    "SUM(",
    "IF(",
    "RiskNormal(",
    "_xlfn.NORM.DIST(",
    "A1",
    "$B$2",
    "XFD1048576",
    "A:A",
    "3:5",
    "'My Sheet'!",
    "Sheet1!",
    "name",
    "cf1",
    ":",
    ",",
    ";",
    "(",
    ")",
    "{",
    "}",
    "1",
    "0.5",
    "1e308",
    "1E-5",
    "%",
    "^",
    "&",
    "+",
    "-",
    "*",
    "/",
    "=",
    "<>",
    "<=",
    ">",
    "\"t\"",
    "\"\"",
    "\"a\"\"b\"",
    "#DIV/0!",
    "#N/A",
    "TRUE",
    "FALSE",
    " ",
    "!",
    "'",
    "$",
    "é",
    "\u{1F600}",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, so a failure reproduces.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_formulas_parse_or_fail_cleanly_and_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let iterations = 200_000;
    let mut parsed = 0;
    for _ in 0..iterations {
        let mut text = String::from("=");
        for _ in 0..rng.below(24) {
            if rng.below(10) == 0 {
                text.push(char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'));
            } else {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        if let Ok(expr) = parse_formula(&text) {
            parsed += 1;
            let printed = expr.to_string();
            let again = parse_formula(&printed)
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
            // Trees carry source columns, so compare their printed forms.
            assert_eq!(again.to_string(), printed, "{text:?}");
        }
    }
    assert!(parsed > 1000, "only {parsed} of {iterations} parsed");
}
