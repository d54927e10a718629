//! Parses `#[reducer(...)]` field attributes.

use proc_macro2::Span;
use syn::{Attribute, Ident, Path, Token};

/// How a field merges writes, as written on the field.
pub(crate) enum Reducer {
    /// No attribute: one write per superstep.
    LastValue,
    /// A built-in reducer, named by an ident (`append`, `add`, ...) whose span errors point at.
    Builtin(Ident),
    /// `with = path`: a user function `fn(&mut T, T)`.
    With(Path),
}

/// The built-in reducers, each a function of `graph_core::reducers`.
const BUILTINS: &[&str] = &["append", "add", "merge", "union", "max", "min", "overwrite"];

/// Reads the field's `#[reducer]` attributes: at most one, holding exactly one reducer.
/// Mistakes are pushed to `errors` and the field falls back to last value.
pub(crate) fn reducer(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Reducer {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("reducer")) {
        match parse(attr) {
            Ok(reducers) => {
                for (reducer, span) in reducers {
                    if found.is_some() {
                        errors.push(syn::Error::new(
                            span,
                            "duplicate reducer: a field takes one reducer",
                        ));
                    } else {
                        found = Some(reducer);
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    found.unwrap_or(Reducer::LastValue)
}

/// Parses one attribute, which may (wrongly) list several reducers.
fn parse(attr: &Attribute) -> syn::Result<Vec<(Reducer, Span)>> {
    let mut reducers = Vec::new();
    attr.parse_nested_meta(|meta| {
        let ident = meta.path.get_ident().ok_or_else(|| meta.error(unknown()))?;
        if ident == "with" {
            if !meta.input.peek(Token![=]) {
                return Err(meta.error("expected `with = path::to::function`"));
            }
            reducers.push((Reducer::With(meta.value()?.parse()?), ident.span()));
        } else if BUILTINS.iter().any(|name| ident == name) {
            reducers.push((Reducer::Builtin(ident.clone()), ident.span()));
        } else {
            return Err(syn::Error::new_spanned(ident, unknown()));
        }
        Ok(())
    })?;
    if reducers.is_empty() {
        return Err(syn::Error::new_spanned(attr, "expected a reducer, e.g. `#[reducer(append)]`"));
    }
    Ok(reducers)
}

fn unknown() -> String {
    format!("unknown reducer; expected one of {}, or `with = path`", BUILTINS.join(", "))
}
