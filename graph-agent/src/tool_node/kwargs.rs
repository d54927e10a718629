//! A call's arguments as LangGraph prints them in its error messages: a Python `repr` of the
//! parsed JSON (`{'city': 'Paris', 'days': 3, 'metric': True}`), so a model reads the same
//! text from either.

use std::fmt::Write;

use serde_json::Value;

/// `value` as Python's `repr` of the equal Python value.
pub(crate) fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(number) => match number.as_f64() {
            Some(float) if !number.is_i64() && !number.is_u64() => write_float(out, float),
            _ => out.push_str(&number.to_string()),
        },
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's float `repr`: the shortest text that reads back, with `.0` on whole numbers and
/// an exponent (`1e+16`, `1.5e-05`) outside `1e-4 <= |x| < 1e16`.
fn write_float(out: &mut String, float: f64) {
    let magnitude = float.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{float:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
    } else {
        let text = float.to_string();
        out.push_str(&text);
        if !text.contains('.') {
            out.push_str(".0");
        }
    }
}

/// Python's string `repr`: single quotes unless the text holds a single quote and no double
/// one; backslashes, the quote and control characters escaped.
fn write_str(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::python_repr;
    use serde_json::json;

    #[test]
    fn json_values_print_as_python_reprs() {
        let cases = [
            (json!({"city": "Paris", "days": 3}), "{'city': 'Paris', 'days': 3}"),
            (json!([true, false, null]), "[True, False, None]"),
            (json!({"a": [1.0, 2.5, -0.25]}), "{'a': [1.0, 2.5, -0.25]}"),
            (json!([1e16, 1.5e-5, 0.0001, 1e15]), "[1e+16, 1.5e-05, 0.0001, 1000000000000000.0]"),
            (json!("it's"), "\"it's\""),
            (json!("say \"hi\" it's"), "'say \"hi\" it\\'s'"),
            (json!("a\\b\nc\u{1}"), "'a\\\\b\\nc\\x01'"),
            (json!("café"), "'café'"),
            (json!({}), "{}"),
            (json!(-7), "-7"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_repr(&value), expected, "{value}");
        }
    }
}
