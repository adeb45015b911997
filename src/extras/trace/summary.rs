//! Reading a trace back (`smalltorrent trace-summary`): pure, no I/O.
//!
//! [`parse_line`] reads one line of the transcript (a flat JSON object: strings, numbers,
//! booleans, null) into a [`Line`]; [`sequence`] picks one peer's messages and collapses
//! runs of the same message in the same direction ("request ×128"); [`render`] draws them
//! as a table.

use std::collections::BTreeMap;
use std::fmt;

/// A value in a trace line.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// One line of a trace: its keys and values.
pub type Line = BTreeMap<String, Value>;

/// Why a line is not a flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the line where reading failed.
    pub at: usize,
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

impl std::error::Error for ParseError {}

/// Parses one line: a JSON object whose values are not objects or arrays.
pub fn parse_line(text: &str) -> Result<Line, ParseError> {
    let mut reader = Reader {
        bytes: text.trim().as_bytes(),
        at: 0,
    };
    let mut line = Line::new();
    reader.expect(b'{', "'{'")?;
    if reader.peek() == Some(b'}') {
        reader.at += 1;
    } else {
        loop {
            let key = reader.string()?;
            reader.expect(b':', "':'")?;
            let value = reader.value()?;
            line.insert(key, value);
            match reader.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(reader.error("',' or '}'")),
            }
        }
    }
    if reader.at != reader.bytes.len() {
        return Err(reader.error("the end of the line"));
    }
    Ok(line)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, expected: &'static str) -> ParseError {
        ParseError {
            at: self.at,
            expected,
        }
    }

    fn peek(&mut self) -> Option<u8> {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), ParseError> {
        match self.next() {
            Some(b) if b == byte => Ok(()),
            _ => Err(self.error(expected)),
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'"') => Ok(Value::Text(self.string()?)),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b"+-.eE0123456789".contains(b))
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
                text.parse()
                    .map(Value::Number)
                    .map_err(|_| self.error("a number"))
            }
            _ => Err(self.error("a string, number, true, false or null")),
        }
    }

    fn word(&mut self, word: &'static str, value: Value) -> Result<Value, ParseError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error(word))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.expect(b'"', "'\"'")?;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("a closing '\"'"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self.bytes.get(self.at).copied();
                    self.at += 1;
                    match escaped {
                        Some(b'n') => out.push(b'\n'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b'u') => {
                            let hex = self.bytes.get(self.at..self.at + 4);
                            let code = hex
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.error("four hex digits"))?;
                            self.at += 4;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        Some(b @ (b'"' | b'\\' | b'/')) => out.push(b),
                        _ => return Err(self.error("an escape such as \\n or \\\"")),
                    }
                }
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("UTF-8 text"))
    }
}

/// Consecutive messages of one kind in one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Milliseconds since the trace started, of the first message of the run.
    pub t: f64,
    pub dir: String,
    pub msg: String,
    pub count: usize,
}

/// The peers that exchanged messages in the trace, in order of first appearance.
pub fn peers(lines: &[Line]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in lines.iter().filter(|line| line.contains_key("msg")) {
        if let Some(Value::Text(peer)) = line.get("peer")
            && !seen.contains(peer)
        {
            seen.push(peer.clone());
        }
    }
    seen
}

/// `peer`'s messages in order, runs of the same message and direction collapsed.
pub fn sequence(lines: &[Line], peer: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for line in lines {
        let text = |key: &str| match line.get(key) {
            Some(Value::Text(text)) => Some(text.as_str()),
            _ => None,
        };
        let (Some(p), Some(dir), Some(msg)) = (text("peer"), text("dir"), text("msg")) else {
            continue;
        };
        if p != peer {
            continue;
        }
        if let Some(last) = runs.last_mut()
            && last.dir == dir
            && last.msg == msg
        {
            last.count += 1;
            continue;
        }
        let t = match line.get("t") {
            Some(Value::Number(t)) => *t,
            _ => 0.0,
        };
        runs.push(Run {
            t,
            dir: dir.to_string(),
            msg: msg.to_string(),
            count: 1,
        });
    }
    runs
}

/// The runs as a table: time, direction (→ sent, ← received), message and count.
pub fn render(peer: &str, runs: &[Run]) -> String {
    let total: usize = runs.iter().map(|run| run.count).sum();
    let mut out = format!("peer {peer}: {total} messages\n  time (ms)  dir  message\n");
    for run in runs {
        let arrow = if run.dir == "out" {
            "→ out"
        } else {
            "← in "
        };
        let count = if run.count > 1 {
            format!(" ×{}", run.count)
        } else {
            String::new()
        };
        out.push_str(&format!("{:>11}  {arrow} {}{count}\n", run.t, run.msg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_parse_and_everything_else_is_refused() {
        let line =
            parse_line(r#"{"t":5,"peer":"1.2.3.4:5","value":true,"x":null,"s":"a\"\u00e9"}"#)
                .unwrap();
        assert_eq!(line["t"], Value::Number(5.0));
        assert_eq!(line["value"], Value::Bool(true));
        assert_eq!(line["x"], Value::Null);
        assert_eq!(line["s"], Value::Text("a\"é".into()));
        assert!(parse_line("{}").unwrap().is_empty());
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":[1]}",
            "{\"a\":1} x",
            "[]",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runs_of_one_message_collapse_per_peer() {
        let text = [
            r#"{"t":0,"event":"trace_start"}"#,
            r#"{"t":1,"peer":"a","dir":"in","msg":"bitfield","length":1}"#,
            r#"{"t":1,"peer":"b","dir":"in","msg":"bitfield","length":1}"#,
            r#"{"t":2,"peer":"a","state":"am_interested","value":true}"#,
            r#"{"t":2,"peer":"a","dir":"out","msg":"interested"}"#,
            r#"{"t":3,"peer":"a","dir":"out","msg":"request","piece":0}"#,
            r#"{"t":3,"peer":"a","dir":"out","msg":"request","piece":1}"#,
            r#"{"t":4,"peer":"a","dir":"in","msg":"piece","piece":0}"#,
        ];
        let lines: Vec<Line> = text.iter().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(peers(&lines), ["a", "b"]);
        let runs = sequence(&lines, "a");
        let names: Vec<(&str, &str, usize)> = runs
            .iter()
            .map(|r| (r.dir.as_str(), r.msg.as_str(), r.count))
            .collect();
        assert_eq!(
            names,
            [
                ("in", "bitfield", 1),
                ("out", "interested", 1),
                ("out", "request", 2),
                ("in", "piece", 1)
            ]
        );
        let table = render("a", &runs);
        assert!(table.contains("→ out request ×2"), "{table}");
        assert!(table.starts_with("peer a: 5 messages"), "{table}");
    }
}
