//! Parses one formula into an [`Expr`]: a Pratt parser over the tokens of the lexer.
//!
//! Hostile input is bounded before any work that could blow up: the text length first,
//! then the parser's recursion ([`MAX_NESTING`]) and the depth of the tree it builds
//! ([`MAX_EXPRESSION_DEPTH`]), so that every later recursive walk (lowering, evaluation,
//! printing, drop) is bounded too.

use crate::address::{cell_part, column_part, format_row, row_part};
use crate::ast::{
    BinaryOp, Expr, PERCENT_PRECEDENCE, PREFIX_PRECEDENCE, Reference, Target, UnaryOp,
};
use crate::lexer::{Tok, Token, tokenize};

/// Longest formula accepted, in bytes. Excel itself stops at 8,192 characters; the margin
/// is for generated JSON models.
pub const MAX_FORMULA_BYTES: usize = 64 * 1024;
/// Deepest nesting of parentheses, function calls, arrays and prefix signs. Excel allows
/// 64 levels of nested functions.
pub const MAX_NESTING: usize = 256;
/// Deepest expression tree, counting chains of binary operators (`a+b+c+...` is a left
/// spine as deep as it is long). Bounds the recursion of everything that walks a tree.
pub const MAX_EXPRESSION_DEPTH: usize = 1024;

/// Why a formula does not parse; `column` is the 1-based character offset of the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

/// Parses a formula, with or without its leading `=`.
pub fn parse_formula(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_FORMULA_BYTES {
        return Err(ParseError {
            column: 1,
            message: format!(
                "formula is {} bytes long; the limit is {MAX_FORMULA_BYTES}",
                text.len()
            ),
        });
    }
    let mut chars: Vec<char> = text.chars().collect();
    // Replace the leading `=` with a space so that columns still count from the text start.
    if let Some(first) = chars.iter_mut().find(|c| !c.is_whitespace())
        && *first == '='
    {
        *first = ' ';
    }
    let tokens = tokenize(&chars)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        nesting: 0,
    };
    let (expr, _) = parser.expression(0)?;
    let token = parser.peek();
    if token.tok != Tok::End {
        return Err(parser.unexpected());
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    nesting: usize,
}

/// An expression with the depth of its tree.
type Parsed = (Expr, usize);

fn binary_op(tok: &Tok) -> Option<BinaryOp> {
    Some(match tok {
        Tok::Caret => BinaryOp::Pow,
        Tok::Star => BinaryOp::Mul,
        Tok::Slash => BinaryOp::Div,
        Tok::Plus => BinaryOp::Add,
        Tok::Minus => BinaryOp::Sub,
        Tok::Amp => BinaryOp::Concat,
        Tok::Eq => BinaryOp::Eq,
        Tok::Ne => BinaryOp::Ne,
        Tok::Lt => BinaryOp::Lt,
        Tok::Le => BinaryOp::Le,
        Tok::Gt => BinaryOp::Gt,
        Tok::Ge => BinaryOp::Ge,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `advance` never passes it.
        &self.tokens[self.position.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, offset: usize) -> &Tok {
        &self.tokens[(self.position + offset).min(self.tokens.len() - 1)].tok
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.position += 1;
        }
        token
    }

    fn error(&self, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            column,
            message: message.into(),
        }
    }

    fn unexpected(&self) -> ParseError {
        let token = self.peek();
        let message = match &token.tok {
            Tok::End => "unexpected end of formula".to_string(),
            tok => format!("unexpected {}", describe(tok)),
        };
        self.error(token.column, message)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if self.peek().tok == tok {
            self.advance();
            Ok(())
        } else {
            let found = self.peek().clone();
            Err(self.error(
                found.column,
                format!("expected {what}, found {}", describe(&found.tok)),
            ))
        }
    }

    fn enter(&mut self, column: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(column, format!("nesting deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn check_depth(&self, depth: usize, column: usize) -> Result<usize, ParseError> {
        if depth > MAX_EXPRESSION_DEPTH {
            Err(self.error(
                column,
                format!("expression deeper than {MAX_EXPRESSION_DEPTH} levels"),
            ))
        } else {
            Ok(depth)
        }
    }

    /// Parses operators binding at least as tightly as `min_precedence`.
    fn expression(&mut self, min_precedence: u8) -> Result<Parsed, ParseError> {
        let (mut lhs, mut depth) = self.prefix()?;
        loop {
            let token = self.peek().clone();
            if token.tok == Tok::Percent {
                if PERCENT_PRECEDENCE < min_precedence {
                    break;
                }
                self.advance();
                depth = self.check_depth(depth + 1, token.column)?;
                lhs = Expr::Unary {
                    op: UnaryOp::Percent,
                    operand: Box::new(lhs),
                };
                continue;
            }
            let Some(op) = binary_op(&token.tok) else {
                break;
            };
            if op.precedence() < min_precedence {
                break;
            }
            self.advance();
            let (rhs, rhs_depth) = self.expression(op.precedence() + 1)?;
            depth = self.check_depth(depth.max(rhs_depth) + 1, token.column)?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok((lhs, depth))
    }

    fn prefix(&mut self) -> Result<Parsed, ParseError> {
        let token = self.advance();
        match token.tok {
            Tok::Minus | Tok::Plus => {
                self.enter(token.column)?;
                let (operand, depth) = self.expression(PREFIX_PRECEDENCE)?;
                self.leave();
                let op = if token.tok == Tok::Minus {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Plus
                };
                let depth = self.check_depth(depth + 1, token.column)?;
                Ok((
                    Expr::Unary {
                        op,
                        operand: Box::new(operand),
                    },
                    depth,
                ))
            }
            Tok::LParen => {
                self.enter(token.column)?;
                let inner = self.expression(0)?;
                self.expect(Tok::RParen, "`)`")?;
                self.leave();
                Ok(inner)
            }
            Tok::Number(value) => {
                if self.peek().tok == Tok::Colon
                    && let Some(from) = row_part(&format_row(value))
                {
                    return self.row_range(None, from, token.column);
                }
                Ok((Expr::Number(value), 1))
            }
            Tok::Text(text) => Ok((Expr::Text(text), 1)),
            Tok::Error(kind) => Ok((Expr::Error(kind), 1)),
            Tok::LBrace => {
                self.enter(token.column)?;
                let array = self.array()?;
                self.leave();
                Ok((array, 2))
            }
            Tok::Sheet(sheet) => {
                let next = self.advance();
                match next.tok {
                    Tok::Word(word) => self.reference(Some(sheet), &word, token.column),
                    Tok::Number(value) => match row_part(&format_row(value)) {
                        Some(from) if self.peek().tok == Tok::Colon => {
                            self.row_range(Some(sheet), from, token.column)
                        }
                        _ => Err(self.error(next.column, "expected a reference after the sheet")),
                    },
                    _ => Err(self.error(next.column, "expected a reference after the sheet")),
                }
            }
            Tok::Word(word) => {
                if self.peek().tok == Tok::LParen {
                    return self.call(word, token.column);
                }
                if word.eq_ignore_ascii_case("TRUE") {
                    return Ok((Expr::Bool(true), 1));
                }
                if word.eq_ignore_ascii_case("FALSE") {
                    return Ok((Expr::Bool(false), 1));
                }
                self.reference(None, &word, token.column)
            }
            _ => {
                self.position -= usize::from(token.tok != Tok::End);
                Err(self.unexpected())
            }
        }
    }

    fn call(&mut self, written: String, column: usize) -> Result<Parsed, ParseError> {
        self.expect(Tok::LParen, "`(`")?;
        self.enter(column)?;
        let name = strip_future_prefix(&written).to_string();
        let mut args = Vec::new();
        let mut depth = 1;
        if self.peek().tok == Tok::RParen {
            self.advance();
        } else {
            loop {
                let (arg, arg_depth) = match self.peek().tok {
                    Tok::Comma | Tok::RParen => (Expr::Missing, 1),
                    _ => self.expression(0)?,
                };
                depth = depth.max(arg_depth + 1);
                args.push(arg);
                let next = self.advance();
                match next.tok {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => {
                        let message = format!(
                            "expected `,` or `)` in the arguments of {name}, found {}",
                            describe(&other)
                        );
                        return Err(self.error(next.column, message));
                    }
                }
            }
        }
        self.leave();
        let depth = self.check_depth(depth, column)?;
        Ok((Expr::Call { name, args, column }, depth))
    }

    /// `{1,2;3,4}`: constants only, as in Excel; a sign may precede a number.
    fn array(&mut self) -> Result<Expr, ParseError> {
        let mut rows = vec![Vec::new()];
        loop {
            let token = self.advance();
            let item = match token.tok {
                Tok::Number(x) => Expr::Number(x),
                Tok::Minus | Tok::Plus => match self.advance().tok {
                    Tok::Number(x) => Expr::Number(if token.tok == Tok::Minus { -x } else { x }),
                    _ => return Err(self.error(token.column, "expected a number after the sign")),
                },
                Tok::Text(text) => Expr::Text(text),
                Tok::Error(kind) => Expr::Error(kind),
                Tok::Word(word) if word.eq_ignore_ascii_case("TRUE") => Expr::Bool(true),
                Tok::Word(word) if word.eq_ignore_ascii_case("FALSE") => Expr::Bool(false),
                _ => return Err(self.error(token.column, "array constants hold only constants")),
            };
            if let Some(row) = rows.last_mut() {
                row.push(item);
            }
            let separator = self.advance();
            match separator.tok {
                Tok::Comma => {}
                Tok::Semicolon => rows.push(Vec::new()),
                Tok::RBrace => break,
                _ => return Err(self.error(separator.column, "expected `,`, `;` or `}`")),
            }
        }
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|row| row.len() != width) {
            return Err(self.error(self.peek().column, "array rows have different lengths"));
        }
        Ok(Expr::Array(rows))
    }

    /// A reference that starts with `word`: a cell, a range, whole columns, or a name.
    fn reference(
        &mut self,
        sheet: Option<String>,
        word: &str,
        column: usize,
    ) -> Result<Parsed, ParseError> {
        let range_follows = self.peek().tok == Tok::Colon;
        if range_follows {
            let second = match self.peek_at(1) {
                Tok::Word(second) => Some(second.clone()),
                Tok::Number(value) => Some(format_row(*value)),
                _ => None,
            };
            if let Some(second) = second {
                let target = if let (Some(a), Some(b)) = (cell_part(word), cell_part(&second)) {
                    Some(Target::Range(a, b))
                } else if let (Some(a), Some(b)) = (column_part(word), column_part(&second)) {
                    Some(Target::Columns(a, b))
                } else if let (Some(a), Some(b)) = (row_part(word), row_part(&second)) {
                    Some(Target::Rows(a, b))
                } else {
                    None
                };
                if let Some(target) = target {
                    self.advance();
                    self.advance();
                    return Ok((
                        Expr::Ref {
                            reference: Reference { sheet, target },
                            column,
                        },
                        1,
                    ));
                }
            }
            return Err(self.error(self.peek().column, "malformed range"));
        }
        let target = match cell_part(word) {
            Some(cell) => Target::Cell(cell),
            None if word.contains('$') => {
                return Err(self.error(column, format!("malformed reference `{word}`")));
            }
            None => Target::Name(word.to_string()),
        };
        Ok((
            Expr::Ref {
                reference: Reference { sheet, target },
                column,
            },
            1,
        ))
    }

    fn row_range(
        &mut self,
        sheet: Option<String>,
        from: (u32, bool),
        column: usize,
    ) -> Result<Parsed, ParseError> {
        self.advance(); // the colon
        let token = self.advance();
        let to = match &token.tok {
            Tok::Number(value) => row_part(&format_row(*value)),
            Tok::Word(word) => row_part(word),
            _ => None,
        };
        let to = to.ok_or_else(|| self.error(token.column, "malformed row range"))?;
        Ok((
            Expr::Ref {
                reference: Reference {
                    sheet,
                    target: Target::Rows(from, to),
                },
                column,
            },
            1,
        ))
    }
}

/// Excel writes newer functions as `_xlfn.XLOOKUP` in files.
fn strip_future_prefix(name: &str) -> &str {
    for prefix in ["_xlfn._xlws.", "_xlfn.", "_xlws."] {
        // `get`: a multi-byte character may straddle the prefix length (found by fuzzing).
        if name.len() > prefix.len()
            && let (Some(head), Some(rest)) = (name.get(..prefix.len()), name.get(prefix.len()..))
            && head.eq_ignore_ascii_case(prefix)
        {
            return rest;
        }
    }
    name
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Number(x) => format!("number {x}"),
        Tok::Text(_) => "text".into(),
        Tok::Error(e) => format!("error {e}"),
        Tok::Word(word) => format!("`{word}`"),
        Tok::Sheet(sheet) => format!("sheet `{sheet}`"),
        Tok::End => "end of formula".into(),
        other => format!("{other:?}"),
    }
}
