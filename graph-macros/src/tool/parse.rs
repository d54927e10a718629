//! Reads the attribute's options and the function, collecting every mistake.

use proc_macro2::TokenStream;
use syn::{Attribute, FnArg, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType, Type};

/// The options of `#[tool(...)]`.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: the name the model calls the tool by.
    pub(crate) name: Option<LitStr>,
    /// `return_direct`: the agent answers with this tool's result.
    pub(crate) return_direct: bool,
}

/// One argument of the tool, a field of its arguments struct.
pub(crate) struct Arg<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// `#[doc]`, `#[serde]` and `#[schemars]` attributes, moved to the field.
    pub(crate) attrs: Vec<&'a Attribute>,
}

/// How the function takes the tool context, as its last parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContextParam {
    None,
    Ref,
    Owned,
}

/// A function the attribute accepted.
pub(crate) struct ToolFn<'a> {
    pub(crate) function: &'a ItemFn,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) return_direct: bool,
    pub(crate) args: Vec<Arg<'a>>,
    pub(crate) context: ContextParam,
    /// `Some(T)` when the function returns `Result<T, E>`.
    pub(crate) ok_type: Option<&'a Type>,
}

/// Attributes that describe an argument and move to its field.
pub(crate) fn is_field_attr(attr: &Attribute) -> bool {
    ["doc", "serde", "schemars"].iter().any(|name| attr.path().is_ident(name))
}

/// Adds `error` to the collected errors.
fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

impl<'a> ToolFn<'a> {
    pub(crate) fn from_syn(args: TokenStream, function: &'a ItemFn) -> syn::Result<Self> {
        let mut errors = None;
        let options = parse_options(args, &mut errors);
        let sig = &function.sig;

        if sig.asyncness.is_none() {
            push(
                &mut errors,
                syn::Error::new_spanned(sig.fn_token, "a tool must be an `async fn`"),
            );
        }
        if let Some(token) = &sig.unsafety {
            push(&mut errors, syn::Error::new_spanned(token, "a tool cannot be an `unsafe fn`"));
        }
        if let Some(variadic) = &sig.variadic {
            push(&mut errors, syn::Error::new_spanned(variadic, "a tool cannot be variadic"));
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &sig.generics,
                    "a tool cannot be generic: its arguments' schema must be known",
                ),
            );
        }

        let description = describe(&function.attrs);
        if description.is_empty() {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &sig.ident,
                    "a tool needs a doc comment: it is the description the model reads",
                ),
            );
        }

        let name = match &options.name {
            Some(lit) => {
                let name = lit.value();
                if !valid_name(&name) {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(
                            lit,
                            "a tool name is 1 to 64 ASCII letters, digits, `_` or `-`",
                        ),
                    );
                }
                name
            }
            None => {
                let name = sig.ident.to_string();
                name.strip_prefix("r#").unwrap_or(&name).to_owned()
            }
        };

        let mut args = Vec::new();
        let mut context = ContextParam::None;
        let count = sig.inputs.len();
        for (index, input) in sig.inputs.iter().enumerate() {
            let typed = match input {
                FnArg::Receiver(receiver) => {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(
                            receiver,
                            "a tool cannot take `self`: write a free `async fn`, or implement `Tool` for your type",
                        ),
                    );
                    continue;
                }
                FnArg::Typed(typed) => typed,
            };
            if let Some(kind) = context_param(&typed.ty) {
                if index + 1 == count {
                    context = kind;
                } else {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(
                            &typed.ty,
                            "the `ToolContext` parameter must come last, after the tool's arguments",
                        ),
                    );
                }
                continue;
            }
            match &*typed.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                    args.push(Arg {
                        ident: &pat.ident,
                        ty: &typed.ty,
                        attrs: typed.attrs.iter().filter(|a| is_field_attr(a)).collect(),
                    });
                }
                other => push(
                    &mut errors,
                    syn::Error::new_spanned(
                        other,
                        "a tool argument must be a plain name: the model passes arguments by name",
                    ),
                ),
            }
        }

        let ok_type = match &sig.output {
            ReturnType::Type(_, ty) => result_ok_type(ty),
            ReturnType::Default => None,
        };

        match errors {
            Some(errors) => Err(errors),
            None => Ok(ToolFn {
                function,
                name,
                description,
                return_direct: options.return_direct,
                args,
                context,
                ok_type,
            }),
        }
    }
}

/// Parses `name = "..."` and `return_direct`, collecting unknown options.
fn parse_options(args: TokenStream, errors: &mut Option<syn::Error>) -> Options {
    let mut options = Options::default();
    if args.is_empty() {
        return options;
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            if options.name.is_some() {
                return Err(meta.error("`name` is given twice"));
            }
            options.name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("return_direct") {
            if options.return_direct {
                return Err(meta.error("`return_direct` is given twice"));
            }
            options.return_direct = true;
            Ok(())
        } else {
            Err(meta.error("unknown `tool` option: expected `name = \"...\"` or `return_direct`"))
        }
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        push(errors, error);
    }
    options
}

/// Whether `name` is a name every provider accepts: `^[a-zA-Z0-9_-]{1,64}$`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The doc comment as one text: lines trimmed, lines of a paragraph joined by a space,
/// paragraphs by a blank line.
pub(crate) fn describe(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("doc")) {
        if let syn::Meta::NameValue(meta) = &attr.meta {
            if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) = &meta.value {
                lines.extend(text.value().split('\n').map(|line| line.trim().to_owned()));
            }
        }
    }
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs.join("\n\n")
}

/// `ToolContext` or `&ToolContext` (by any path), as the last parameter.
fn context_param(ty: &Type) -> Option<ContextParam> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => {
            is_context(&reference.elem).then_some(ContextParam::Ref)
        }
        other => is_context(other).then_some(ContextParam::Owned),
    }
}

fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|segment| {
                segment.ident == "ToolContext" && segment.arguments.is_none()
            })
        }
        _ => false,
    }
}

/// `T` of a return type written `Result<T, E>` or `Result<T>` (by any path).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(ok) if (1..=2).contains(&args.args.len()) => Some(ok),
        _ => None,
    }
}
