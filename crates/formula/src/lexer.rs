//! Splits formula text into tokens. Columns are 1-based character offsets, so that an
//! error can point at the character a user typed.

use crate::parser::ParseError;
use crate::value::ExcelError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Number(f64),
    Text(String),
    Error(ExcelError),
    /// A word: function name, name, cell address part (`A1`, `$B$2`, `CF1`, `TRUE`).
    Word(String),
    /// `Sheet1!` or `'My Sheet'!`: the sheet qualifying the reference that follows.
    Sheet(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
    Colon,
    Percent,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Amp,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub column: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '\\' || c == '$'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '$' || c == '\\'
}

/// Tokenises `chars`; the last token is always `Tok::End`.
pub fn tokenize(chars: &[char]) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    let error = |column: usize, message: &str| ParseError {
        column,
        message: message.into(),
    };
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, next) = match c {
            '(' => (Tok::LParen, i + 1),
            ')' => (Tok::RParen, i + 1),
            '{' => (Tok::LBrace, i + 1),
            '}' => (Tok::RBrace, i + 1),
            ',' => (Tok::Comma, i + 1),
            ';' => (Tok::Semicolon, i + 1),
            ':' => (Tok::Colon, i + 1),
            '%' => (Tok::Percent, i + 1),
            '+' => (Tok::Plus, i + 1),
            '-' => (Tok::Minus, i + 1),
            '*' => (Tok::Star, i + 1),
            '/' => (Tok::Slash, i + 1),
            '^' => (Tok::Caret, i + 1),
            '&' => (Tok::Amp, i + 1),
            '=' => (Tok::Eq, i + 1),
            '<' => match chars.get(i + 1) {
                Some('>') => (Tok::Ne, i + 2),
                Some('=') => (Tok::Le, i + 2),
                _ => (Tok::Lt, i + 1),
            },
            '>' => match chars.get(i + 1) {
                Some('=') => (Tok::Ge, i + 2),
                _ => (Tok::Gt, i + 1),
            },
            '"' => {
                let (text, next) = quoted(chars, i, '"')
                    .ok_or_else(|| error(column, "text is missing its closing quote"))?;
                (Tok::Text(text), next)
            }
            '\'' => {
                let (sheet, next) = quoted(chars, i, '\'')
                    .ok_or_else(|| error(column, "sheet name is missing its closing quote"))?;
                if chars.get(next) != Some(&'!') {
                    return Err(error(next + 1, "expected `!` after a quoted sheet name"));
                }
                (Tok::Sheet(sheet), next + 1)
            }
            '#' => {
                let rest: String = chars[i..chars.len().min(i + 8)].iter().collect();
                let upper = rest.to_ascii_uppercase();
                let found = ExcelError::ALL
                    .into_iter()
                    .find(|e| upper.starts_with(e.as_str()));
                let kind = found.ok_or_else(|| error(column, "unknown error literal"))?;
                (Tok::Error(kind), i + kind.as_str().chars().count())
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                number(chars, i).ok_or_else(|| error(column, "malformed number"))?
            }
            c if is_word_start(c) => {
                let mut end = i + 1;
                while end < chars.len() && is_word_char(chars[end]) {
                    end += 1;
                }
                let word: String = chars[i..end].iter().collect();
                if chars.get(end) == Some(&'!') {
                    (Tok::Sheet(word), end + 1)
                } else {
                    (Tok::Word(word), end)
                }
            }
            _ => return Err(error(column, &format!("unexpected character `{c}`"))),
        };
        tokens.push(Token { tok, column });
        i = next;
    }
    tokens.push(Token {
        tok: Tok::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

/// Reads a quoted string starting at `start` (the opening quote); a doubled quote is one
/// quote. Returns the text and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                text.push(quote);
                i += 2;
                continue;
            }
            return Some((text, i + 1));
        }
        text.push(chars[i]);
        i += 1;
    }
    None
}

/// Reads `12`, `1.5`, `.5`, `1e-3`, `2.5E+10`.
fn number(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > from
    };
    let whole = digits(&mut i);
    if chars.get(i) == Some(&'.') {
        i += 1;
        let fraction = digits(&mut i);
        if !whole && !fraction {
            return None;
        }
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if !digits(&mut j) {
            return None;
        }
        i = j;
    }
    if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
        return None;
    }
    let text: String = chars[start..i].iter().collect();
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some((Tok::Number(value), i))
}
