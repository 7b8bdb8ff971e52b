//! Any bytes, read as UTF-8 text, must parse or fail with a `ParseError`, never panic;
//! and what parses must print back to text that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = ultra_formula::parse_formula(text) {
        let printed = expr.to_string();
        let again = ultra_formula::parse_formula(&printed).expect("printed formula parses");
        // Trees carry source columns, so compare printed forms.
        assert_eq!(again.to_string(), printed, "round trip of {text:?}");
    }
});
