//! Emits the update type, its setters and the trait impls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{parse_quote, DeriveInput, Generics, Type, WhereClause, WherePredicate};

use crate::ast::{Field, Input};
use crate::attr::Reducer;

/// The whole expansion, followed by any attribute errors; or just the error when the input is
/// not a struct with named fields.
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let mut errors = None;
    match Input::from_syn(node, &mut errors) {
        Ok(input) => {
            let expanded = expand(&input);
            let errors = errors.map(|error| error.to_compile_error());
            quote!(#expanded #errors)
        }
        Err(error) => error.to_compile_error(),
    }
}

/// The update type, then its impls and the state's inside `const _: () = { ... };`.
fn expand(input: &Input<'_>) -> TokenStream {
    let node = input.original;
    let vis = &node.vis;
    let state = &node.ident;
    let update = format_ident!("{}Update", state.unraw());
    let generics = &node.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let state_ty = quote!(#state #ty_generics);
    let update_ty = quote!(#update #ty_generics);

    let fields = &input.fields;
    let idents: Vec<_> = fields.iter().map(|field| field.ident).collect();
    let names: Vec<_> = fields.iter().map(|field| field.ident.unraw().to_string()).collect();
    let tys: Vec<_> = fields.iter().map(|field| field.ty).collect();
    let field_vis = fields.iter().map(|field| field.vis);

    let type_doc = format!(
        "Partial update of [`{state}`]: every field optional; build one with [`{state}::update`]."
    );
    let field_docs = names.iter().map(|name| format!("New value of `{name}`, if written."));
    let update_doc = format!("An empty [`{update}`]: chain its setters to write fields.");
    let update_name = update.to_string();

    let serde = quote!(::graph_core::__private::serde);
    let serialize = serde_bound(&tys, "::graph_core::__private::serde::Serialize");
    let deserialize = serde_bound(&tys, "::graph_core::__private::serde::de::DeserializeOwned");
    let debug_where = each_field(generics, &tys, quote!(::core::fmt::Debug));
    let eq_where = each_field(generics, &tys, quote!(::core::cmp::PartialEq));
    let input_where =
        bounded(generics, [parse_quote!(for<'__x> #state_ty: ::core::default::Default)]);

    let setters = fields.iter().map(|field| setter(vis, field));
    let schema = fields.iter().map(schema_entry);
    let trackers: Vec<_> = fields
        .iter()
        .filter(|field| matches!(field.reducer, Reducer::LastValue))
        .map(|field| (tracker(field), field.ident.unraw().to_string()))
        .collect();
    let tracker_idents = trackers.iter().map(|(tracker, _)| tracker);
    let tracker_inits = trackers.iter().map(|(tracker, name)| {
        quote!(let mut #tracker = ::graph_core::__private::LastValue::new(#name);)
    });
    let writes = fields.iter().map(write);
    let last_values: Vec<_> = fields
        .iter()
        .filter(|field| matches!(field.reducer, Reducer::LastValue))
        .map(|field| field.ident)
        .collect();
    let seen: Vec<_> =
        last_values.iter().map(|ident| format_ident!("__{}_seen", ident.unraw())).collect();

    quote! {
        #[doc = #type_doc]
        #[derive(::core::clone::Clone, #serde::Serialize, #serde::Deserialize)]
        #[serde(
            crate = "::graph_core::__private::serde",
            default,
            bound(serialize = #serialize, deserialize = #deserialize)
        )]
        #vis struct #update #generics #where_clause {
            #(
                #[doc = #field_docs]
                #[serde(
                    skip_serializing_if = "::core::option::Option::is_none",
                    with = "::graph_core::__private::written"
                )]
                #field_vis #idents: ::core::option::Option<#tys>,
            )*
        }

        const _: () = {
            #[automatically_derived]
            impl #impl_generics #update_ty #where_clause {
                #(#setters)*
            }

            // Written out rather than derived, so a generic state's update needs no `T: Default`.
            #[automatically_derived]
            impl #impl_generics ::core::default::Default for #update_ty #where_clause {
                fn default() -> Self {
                    #update { #(#idents: ::core::option::Option::None),* }
                }
            }

            #[automatically_derived]
            impl #impl_generics #state_ty #where_clause {
                #[doc = #update_doc]
                #vis fn update() -> #update_ty {
                    ::core::default::Default::default()
                }
            }

            #[automatically_derived]
            impl #impl_generics ::core::fmt::Debug for #update_ty #debug_where {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let mut out = f.debug_struct(#update_name);
                    #(
                        if let ::core::option::Option::Some(value) = &self.#idents {
                            out.field(#names, value);
                        }
                    )*
                    out.finish()
                }
            }

            #[automatically_derived]
            impl #impl_generics ::core::cmp::PartialEq for #update_ty #eq_where {
                fn eq(&self, other: &Self) -> bool {
                    true #(&& self.#idents == other.#idents)*
                }
            }

            #[automatically_derived]
            impl #impl_generics ::graph_core::State for #state_ty #where_clause {
                type Update = #update_ty;

                const FIELDS: &'static [::graph_core::Field] = &[#(#schema),*];

                fn reduce<'__w, __I, __R>(
                    &mut self,
                    __writes: __I,
                    __reduce: &mut __R,
                ) -> ::core::result::Result<(), ::graph_core::InvalidUpdate>
                where
                    __I: ::core::iter::IntoIterator<Item = (&'__w str, Self::Update)>,
                    __R: ::graph_core::__private::reducers::Reduce<Self>,
                {
                    #(#tracker_inits)*
                    for (__writer, __update) in __writes {
                        #(#writes)*
                    }
                    #(#tracker_idents.finish()?;)*
                    ::core::result::Result::Ok(())
                }

                fn keep_last_writes(__updates: &mut [Self::Update]) {
                    #(let mut #seen = false;)*
                    for __update in __updates.iter_mut().rev() {
                        #(
                            if __update.#last_values.is_some() {
                                if #seen {
                                    __update.#last_values = ::core::option::Option::None;
                                }
                                #seen = true;
                            }
                        )*
                    }
                }

                fn into_update(self) -> Self::Update {
                    #update { #(#idents: ::core::option::Option::Some(self.#idents)),* }
                }
            }

            #[automatically_derived]
            impl #impl_generics ::graph_core::GraphInput<#state_ty> for #update_ty #input_where {
                fn into_input(self) -> ::graph_core::__private::RunInput<#state_ty> {
                    ::graph_core::__private::RunInput::Update {
                        update: self,
                        default: <#state_ty as ::core::default::Default>::default,
                    }
                }
            }

            #[automatically_derived]
            impl #impl_generics ::graph_core::NodeOutput<#state_ty> for #update_ty #where_clause {
                fn into_command(
                    self,
                ) -> ::core::result::Result<::graph_core::Command<#state_ty>, ::graph_core::BoxError>
                {
                    ::core::result::Result::Ok(::graph_core::Command::new().update(self))
                }
            }
        };
    }
}

/// The chained setter of one field: `impl Into<String>` for a `String` field, so string
/// literals work, and the exact type otherwise, so integer literals infer.
fn setter(vis: &syn::Visibility, field: &Field<'_>) -> TokenStream {
    let ident = field.ident;
    let ty = field.ty;
    let doc = format!("Sets `{}`.", ident.unraw());
    let (param, value) = if is_string(ty) {
        (quote!(impl ::core::convert::Into<::std::string::String>), quote!(value.into()))
    } else {
        (quote!(#ty), quote!(value))
    };
    quote! {
        #[doc = #doc]
        #vis fn #ident(mut self, value: #param) -> Self {
            self.#ident = ::core::option::Option::Some(#value);
            self
        }
    }
}

/// The field's entry in `State::FIELDS`.
fn schema_entry(field: &Field<'_>) -> TokenStream {
    let name = field.ident.unraw().to_string();
    let kind = match &field.reducer {
        Reducer::LastValue => quote!(LastValue),
        Reducer::Builtin(ident) => variant(ident).into_token_stream(),
        Reducer::With(path) => {
            let path = source_text(path);
            quote!(With(#path))
        }
    };
    let ty = source_text(field.ty);
    quote! {
        ::graph_core::Field { name: #name, reducer: ::graph_core::ReducerKind::#kind, ty: #ty }
    }
}

/// The loop body of `reduce` for one field: merge the write, if any, through the reducer's
/// method of `Reduce`, which reaches the field through a closure so an undo can find it again.
/// Reducer calls carry the span of the reducer's name in the attribute, so a reducer that does
/// not suit the field's type is reported there.
fn write(field: &Field<'_>) -> TokenStream {
    let name = field.ident.unraw().to_string();
    let ident = field.ident;
    let ty = field.ty;
    let merge = match &field.reducer {
        Reducer::LastValue => {
            let tracker = tracker(field);
            quote! {
                #tracker.write(__writer);
                __reduce.last_value(self, |__state| &mut __state.#ident, __value);
            }
        }
        Reducer::Builtin(reducer) => quote_spanned! {reducer.span()=>
            __reduce.#reducer(self, |__state| &mut __state.#ident, __value);
        },
        // The coercion turns a wrong signature into one "expected fn pointer" error.
        Reducer::With(path) => quote_spanned! {path.span()=>
            let __with: fn(&mut #ty, #ty) -> _ = #path;
            __reduce
                .with(self, |__state| &mut __state.#ident, __value, __with)
                .map_err(|reason| ::graph_core::InvalidUpdate::Rejected {
                    field: #name,
                    writer: ::std::string::ToString::to_string(__writer),
                    reason,
                })?;
        },
    };
    quote! {
        if let ::core::option::Option::Some(__value) = __update.#ident {
            #merge
        }
    }
}

/// The local that tracks the writers of a last-value field during `reduce`.
fn tracker(field: &Field<'_>) -> syn::Ident {
    format_ident!("__{}_writers", field.ident.unraw())
}

/// The `ReducerKind` variant of a built-in reducer: `append` becomes `Append`.
fn variant(reducer: &syn::Ident) -> syn::Ident {
    let name = reducer.to_string();
    let (first, rest) = name.split_at(1);
    format_ident!("{}{}", first.to_ascii_uppercase(), rest)
}

/// The generics' where clause plus `predicates`.
fn bounded(
    generics: &Generics,
    predicates: impl IntoIterator<Item = WherePredicate>,
) -> WhereClause {
    let mut clause = generics.where_clause.clone().unwrap_or_else(|| parse_quote!(where));
    clause.predicates.extend(predicates);
    clause
}

/// The generics' where clause plus `for<'__x> T: bound` for every field type `T`. Being
/// higher-ranked, a bound that does not hold is not an error: the impl just does not apply.
fn each_field(generics: &Generics, tys: &[&Type], bound: TokenStream) -> WhereClause {
    bounded(generics, tys.iter().map(|ty| parse_quote!(for<'__x> #ty: #bound)))
}

/// The bounds of `each_field`, as the string serde's `bound` attribute takes.
fn serde_bound(tys: &[&Type], bound: &str) -> String {
    tys.iter().map(|ty| format!("for<'__x> {}: {bound},", ty.to_token_stream())).collect()
}

/// Whether the type is written as plain `String`.
fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("String"))
}

/// Tokens as they would be written: `Vec<String>` rather than `Vec < String >`.
fn source_text(tokens: impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let before = out.chars().last().unwrap_or(' ');
            let after = chars.peek().copied().unwrap_or(' ');
            let glued = matches!(after, '<' | '>' | ',' | ':' | ';' | ')' | ']')
                || matches!(before, '<' | ':' | '(' | '[' | '&' | '*')
                || (after == '(' && (before.is_alphanumeric() || before == '_'));
            if glued {
                continue;
            }
        }
        out.push(c);
    }
    out
}
