//! Parser: precedence, references, literals, errors with columns, limits, round trip.

use ultra_formula::ast::{BinaryOp, Expr, Target, UnaryOp};
use ultra_formula::{ExcelError, MAX_FORMULA_BYTES, parse_formula};

/// The tree as an S-expression, to state precedence plainly.
fn sexp(expr: &Expr) -> String {
    match expr {
        Expr::Number(x) => format!("{x}"),
        Expr::Text(t) => format!("{t:?}"),
        Expr::Bool(b) => format!("{b}"),
        Expr::Error(e) => e.to_string(),
        Expr::Missing => "_".into(),
        Expr::Array(rows) => format!("{rows:?}"),
        Expr::Ref { reference, .. } => reference.to_string(),
        Expr::Unary { op, operand } => {
            let name = match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Plus => "plus",
                UnaryOp::Percent => "%",
            };
            format!("({name} {})", sexp(operand))
        }
        Expr::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), sexp(lhs), sexp(rhs)),
        Expr::Call { name, args, .. } => {
            let args: Vec<String> = args.iter().map(sexp).collect();
            format!("({name} {})", args.join(" "))
        }
    }
}

fn parsed(text: &str) -> String {
    sexp(&parse_formula(text).unwrap_or_else(|e| panic!("{text}: {e}")))
}

#[test]
fn precedence_table() {
    let cases = [
        ("=1+2*3", "(+ 1 (* 2 3))"),
        ("=1*2+3", "(+ (* 1 2) 3)"),
        ("=1-2-3", "(- (- 1 2) 3)"),
        ("=2^3^2", "(^ (^ 2 3) 2)"),
        ("=-2^2", "(^ (neg 2) 2)"),
        ("=2^-2", "(^ 2 (neg 2))"),
        ("=-50%", "(% (neg 50))"),
        ("=2^50%", "(^ 2 (% 50))"),
        ("=2*3%", "(* 2 (% 3))"),
        ("=1+2&3", "(& (+ 1 2) 3)"),
        ("=1&2=\"12\"", "(= (& 1 2) \"12\")"),
        ("=a<b=c>=d", "(>= (= (< a b) c) d)"),
        ("=1<>2", "(<> 1 2)"),
        ("=(1+2)*3", "(* (+ 1 2) 3)"),
        ("=--1", "(neg (neg 1))"),
        ("=+A1", "(plus A1)"),
        ("=-A1:B2", "(neg A1:B2)"),
        ("=1/2/4", "(/ (/ 1 2) 4)"),
        ("= 1 + 2 ", "(+ 1 2)"),
        ("1+2", "(+ 1 2)"),
    ];
    for (text, expected) in cases {
        assert_eq!(parsed(text), expected, "{text}");
    }
}

#[test]
fn literals() {
    assert_eq!(parse_formula("=1e-3"), Ok(Expr::Number(1e-3)));
    assert_eq!(parse_formula("=.5"), Ok(Expr::Number(0.5)));
    assert_eq!(parse_formula("=2.5E+10"), Ok(Expr::Number(2.5e10)));
    assert_eq!(parse_formula("=\"a\"\"b\""), Ok(Expr::Text("a\"b".into())));
    assert_eq!(parse_formula("=\"\""), Ok(Expr::Text(String::new())));
    assert_eq!(parse_formula("=true"), Ok(Expr::Bool(true)));
    assert_eq!(parse_formula("=FALSE"), Ok(Expr::Bool(false)));
    for error in ExcelError::ALL {
        assert_eq!(parse_formula(&format!("={error}")), Ok(Expr::Error(error)));
    }
    assert_eq!(parse_formula("=#n/a"), Ok(Expr::Error(ExcelError::NA)));
    assert_eq!(
        parsed("={1,-2;\"x\",TRUE}"),
        "[[Number(1.0), Number(-2.0)], [Text(\"x\"), Bool(true)]]"
    );
}

fn target(text: &str) -> (Option<String>, Target) {
    match parse_formula(text) {
        Ok(Expr::Ref { reference, .. }) => (reference.sheet, reference.target),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn references() {
    let (_, t) = target("=$A$1");
    let Target::Cell(cell) = t else {
        panic!("{t:?}")
    };
    assert_eq!(
        (cell.col, cell.row, cell.col_absolute, cell.row_absolute),
        (0, 0, true, true)
    );
    assert_eq!(cell.as_name(), None);
    let (_, t) = target("=A$1");
    assert!(matches!(t, Target::Cell(c) if !c.col_absolute && c.row_absolute));
    assert!(
        matches!(target("=A1:B3").1, Target::Range(a, b) if a.row == 0 && b.row == 2 && b.col == 1)
    );
    assert!(matches!(
        target("=A:A").1,
        Target::Columns((0, false), (0, false))
    ));
    assert!(matches!(
        target("=$B:C").1,
        Target::Columns((1, true), (2, false))
    ));
    assert!(matches!(
        target("=3:3").1,
        Target::Rows((2, false), (2, false))
    ));
    assert!(matches!(
        target("=$3:$5").1,
        Target::Rows((2, true), (4, true))
    ));
    let (sheet, t) = target("='My Sheet'!B3");
    assert_eq!(sheet.as_deref(), Some("My Sheet"));
    assert!(matches!(t, Target::Cell(c) if c.col == 1 && c.row == 2));
    let (sheet, t) = target("=Sheet1!A1:A3");
    assert_eq!(sheet.as_deref(), Some("Sheet1"));
    assert!(matches!(t, Target::Range(..)));
    assert_eq!(target("='It''s'!A1").0.as_deref(), Some("It's"));
    assert_eq!(target("=Data!2:2").0.as_deref(), Some("Data"));
    // `cf1` reads as cell CF1; a JSON model with a cell named cf1 takes the name.
    let Target::Cell(cf1) = target("=cf1").1 else {
        panic!()
    };
    assert_eq!(cf1.as_name().as_deref(), Some("CF1"));
    assert_eq!(target("=revenue").1, Target::Name("revenue".into()));
    assert_eq!(target("=cost_ratio").1, Target::Name("cost_ratio".into()));
    assert!(matches!(target("=XFD1048576").1, Target::Cell(_)));
    assert_eq!(target("=XFE1").1, Target::Name("XFE1".into()));
    assert_eq!(target("=A1048577").1, Target::Name("A1048577".into()));
    assert_eq!(
        parse_formula("=$A$1").map(|e| e.to_string()),
        Ok("$A$1".into())
    );
}

#[test]
fn calls() {
    assert_eq!(parsed("=IF(a,,1)"), "(IF a _ 1)");
    assert_eq!(parsed("=PI()"), "(PI )");
    assert_eq!(parsed("=F(,)"), "(F _ _)");
    assert_eq!(parsed("=SUM(1,MAX(2,3),-4)"), "(SUM 1 (MAX 2 3) (neg 4))");
    assert_eq!(
        parsed("=_xlfn.XLOOKUP(1,A1:A3,B1:B3)"),
        "(XLOOKUP 1 A1:A3 B1:B3)"
    );
    assert_eq!(parsed("=NORM.S.DIST(1,TRUE)"), "(NORM.S.DIST 1 true)");
    assert_eq!(
        parsed("=RiskNormal(0,1,RiskTruncate(,2))"),
        "(RiskNormal 0 1 (RiskTruncate _ 2))"
    );
}

fn error_at(text: &str) -> (usize, String) {
    let error = parse_formula(text).expect_err(text);
    (error.column, error.message)
}

#[test]
fn errors_carry_columns() {
    assert_eq!(error_at("=1+").0, 4);
    assert_eq!(error_at("=(1+2").0, 6);
    assert_eq!(error_at("=1+)").0, 4);
    assert_eq!(error_at("=SUM(1;2)").0, 7);
    assert_eq!(error_at("=\"abc").0, 2);
    assert_eq!(error_at("=1 @").0, 4);
    assert_eq!(error_at("=#FOO!").0, 2);
    assert_eq!(error_at("=1 2").0, 4);
    assert_eq!(error_at("={1,A1}").0, 5);
    assert_eq!(error_at("={1,2;3}").1, "array rows have different lengths");
    assert_eq!(error_at("=1e").0, 2);
    assert_eq!(error_at("='Sheet1").0, 2);
    assert_eq!(error_at("").0, 1);
    assert!(error_at("=").1.contains("end of formula"));
}

#[test]
fn limits() {
    let long = format!("={}", "1+".repeat(MAX_FORMULA_BYTES));
    assert!(error_at(&long).1.contains("limit"));
    let ten_megabytes = "=".to_string() + &"9".repeat(10 << 20);
    assert_eq!(error_at(&ten_megabytes).0, 1);

    let nested = format!("={}1{}", "(".repeat(300), ")".repeat(300));
    assert!(error_at(&nested).1.contains("nesting"));
    let ok = format!("={}1{}", "(".repeat(200), ")".repeat(200));
    assert!(parse_formula(&ok).is_ok());
    let signs = format!("={}1", "-".repeat(10_000));
    assert!(error_at(&signs).1.contains("nesting"));
    let calls = format!("={}1{}", "ABS(".repeat(1000), ")".repeat(1000));
    assert!(error_at(&calls).1.contains("nesting"));

    // A long sum is fine up to the tree depth limit, then refused.
    let sum = |n: usize| format!("=1{}", "+1".repeat(n));
    assert!(parse_formula(&sum(1000)).is_ok());
    assert!(error_at(&sum(5000)).1.contains("deeper"));
}

/// A small deterministic generator (no external crate): random trees printed and parsed
/// back must give the same tree.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn random_expr(rng: &mut Lcg, depth: u32) -> Expr {
    let leaf = depth == 0 || rng.next(4) == 0;
    if leaf {
        return match rng.next(6) {
            0 => Expr::Number(rng.next(1000) as f64 / 8.0),
            1 => Expr::Text(["a", "b\"c", ""][rng.next(3) as usize].into()),
            2 => Expr::Bool(rng.next(2) == 0),
            3 => Expr::Error(ExcelError::ALL[rng.next(7) as usize]),
            4 => parse_formula(
                ["=x", "=cf1", "=$A$2:B$7", "='S p'!C3", "=A:B"][rng.next(5) as usize],
            )
            .expect("reference"),
            _ => Expr::Number(rng.next(10) as f64),
        };
    }
    let ops = [
        BinaryOp::Pow,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Concat,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
    ];
    match rng.next(4) {
        0 => Expr::Unary {
            op: [UnaryOp::Neg, UnaryOp::Plus, UnaryOp::Percent][rng.next(3) as usize],
            operand: Box::new(random_expr(rng, depth - 1)),
        },
        1 => Expr::Call {
            name: "F".into(),
            args: (0..rng.next(3))
                .map(|_| random_expr(rng, depth - 1))
                .collect(),
            column: 0,
        },
        _ => Expr::Binary {
            op: ops[rng.next(ops.len() as u64) as usize],
            lhs: Box::new(random_expr(rng, depth - 1)),
            rhs: Box::new(random_expr(rng, depth - 1)),
        },
    }
}

/// Columns differ between a generated tree and a parsed one; compare without them.
fn without_columns(text: &str) -> String {
    sexp(&parse_formula(text).unwrap_or_else(|e| panic!("{text}: {e}")))
}

#[test]
fn print_parse_round_trip() {
    let mut rng = Lcg(42);
    for _ in 0..2000 {
        let expr = random_expr(&mut rng, 5);
        let printed = format!("={expr}");
        assert_eq!(without_columns(&printed), sexp(&expr), "{printed}");
        let again = format!("={}", parse_formula(&printed).expect("parses"));
        assert_eq!(again, printed);
    }
}
