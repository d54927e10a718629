//! Reads and checks `#[reducer(...)]` field attributes.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitStr, Path};

/// How a field merges writes, as written on the field.
pub(crate) enum Reducer {
    /// No attribute: one write per superstep.
    LastValue,
    /// A built-in reducer, named by the ident (`append`, `add`, ...) that errors point at.
    Builtin(Ident),
    /// `with = path`: a user function `fn(&mut T, T)`.
    With(Path),
}

impl Reducer {
    /// What a field with a faulty attribute becomes: `overwrite` accepts any type and any
    /// number of writes, so the mistake reports one error rather than a cascade.
    pub(crate) fn fallback() -> Self {
        Self::Builtin(Ident::new("overwrite", Span::call_site()))
    }
}

/// The built-in reducers, each a function of `graph_core::reducers`.
const BUILTINS: [&str; 7] = ["append", "add", "merge", "union", "max", "min", "overwrite"];

/// The expected form of `with`.
const WITH: &str = "expected `with = path::to::function`";

/// The field's reducer: no `#[reducer]` means last value; otherwise one attribute naming
/// exactly one reducer. Every mistake on the field is reported.
pub(crate) fn reducer(attrs: &[Attribute]) -> syn::Result<Reducer> {
    let mut found = None;
    let mut errors = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("reducer")) {
        if let Err(error) = parse(attr, &mut found) {
            combine(&mut errors, error);
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(found.unwrap_or(Reducer::LastValue)),
    }
}

/// Parses one `#[reducer(...)]` into `found`, rejecting a reducer when `found` has one.
fn parse(attr: &Attribute, found: &mut Option<Reducer>) -> syn::Result<()> {
    let mut empty = true;
    attr.parse_nested_meta(|meta| {
        empty = false;
        let reducer = if meta.path.is_ident("with") {
            let value = meta.value().map_err(|_| meta.error(WITH))?;
            if value.peek(LitStr) {
                let text: LitStr = value.parse()?;
                let message = format!("expected a path, not a string: `with = {}`", text.value());
                return Err(syn::Error::new_spanned(text, message));
            }
            Reducer::With(value.parse().map_err(|error| syn::Error::new(error.span(), WITH))?)
        } else {
            match meta.path.get_ident() {
                Some(ident) if BUILTINS.iter().any(|name| ident == name) => {
                    Reducer::Builtin(ident.clone())
                }
                _ => return Err(meta.error(unknown())),
            }
        };
        if found.is_some() {
            return Err(meta.error("duplicate reducer: a field takes one reducer"));
        }
        *found = Some(reducer);
        Ok(())
    })?;
    if empty {
        return Err(syn::Error::new_spanned(attr, "expected a reducer, e.g. `#[reducer(append)]`"));
    }
    Ok(())
}

/// The message for a name that is not a reducer.
fn unknown() -> String {
    let names: Vec<String> = BUILTINS.iter().map(|name| format!("`{name}`")).collect();
    format!("unknown reducer; expected one of {}, or `with = path::to::function`", names.join(", "))
}

/// Adds `error` to `errors`, so that one build reports every mistake.
pub(crate) fn combine(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}
