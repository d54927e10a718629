//! Emits the update type, its setters and the `State` impl.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{parse_quote, DeriveInput, Type, WhereClause};

use crate::ast::{self, Field};
use crate::attr::Reducer;

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Vec::new();
    let expanded = match ast::fields(input, &mut errors) {
        Ok(fields) => expand(input, &fields),
        Err(error) => return error.to_compile_error(),
    };
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! { #expanded #(#errors)* }
}

fn expand(input: &DeriveInput, fields: &[Field<'_>]) -> TokenStream {
    let state = &input.ident;
    let vis = &input.vis;
    let update = format_ident!("{}Update", state);
    let generics = &input.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let state_ty = quote!(#state #ty_generics);
    let update_ty = quote!(#update #ty_generics);

    let idents: Vec<_> = fields.iter().map(|f| f.ident).collect();
    let names: Vec<String> = fields.iter().map(|f| f.ident.unraw().to_string()).collect();
    let tys: Vec<&Type> = fields.iter().map(|f| f.ty).collect();
    let field_vis = fields.iter().map(|f| f.vis);
    let state_doc = format!("A partial update of [`{state}`]: every field optional. Build one with [`{state}::update`].");
    let field_docs =
        names.iter().map(|n| format!("The new value for `{n}`, if this update writes it."));

    let serde = quote!(::graph_core::__private::serde);
    let ser_bound = hrtb(&tys, "::graph_core::__private::serde::Serialize");
    let de_bound = hrtb(&tys, "::graph_core::__private::serde::de::DeserializeOwned");

    let debug_where = bounded(where_clause, &tys, quote!(::core::fmt::Debug));
    let eq_where = bounded(where_clause, &tys, quote!(::core::cmp::PartialEq));
    let default_where = bounded(where_clause, &[], quote!());
    let mut input_where = default_where.clone();
    input_where.predicates.push(parse_quote!(for<'__x> #state_ty: ::core::default::Default));

    let setters = fields.iter().zip(&names).map(|(field, name)| {
        let ident = field.ident;
        let ty = field.ty;
        let doc = format!("Sets `{name}`.");
        let (arg, value) = if is_string(ty) {
            (quote!(impl ::core::convert::Into<::std::string::String>), quote!(value.into()))
        } else {
            (quote!(#ty), quote!(value))
        };
        quote! {
            #[doc = #doc]
            #vis fn #ident(mut self, value: #arg) -> Self {
                self.#ident = ::core::option::Option::Some(#value);
                self
            }
        }
    });

    let schema = fields.iter().zip(&names).map(|(field, name)| {
        let kind = match &field.reducer {
            Reducer::LastValue => quote!(LastValue),
            Reducer::Builtin(ident) => {
                let variant = format_ident!("{}", capitalized(&ident.to_string()));
                quote!(#variant)
            }
            Reducer::With(path) => {
                let path = tidy(path.to_token_stream());
                quote!(With(#path))
            }
        };
        let ty = tidy(field.ty.to_token_stream());
        quote!(::graph_core::Field { name: #name, reducer: ::graph_core::ReducerKind::#kind, ty: #ty })
    });

    let trackers: Vec<_> = fields
        .iter()
        .zip(&names)
        .filter(|(f, _)| matches!(f.reducer, Reducer::LastValue))
        .map(|(_, name)| (format_ident!("__{}_writes", name), name))
        .collect();
    let tracker_idents = trackers.iter().map(|(ident, _)| ident);
    let tracker_inits = trackers.iter().map(
        |(ident, name)| quote!(let mut #ident = ::graph_core::__private::LastValue::new(#name);),
    );
    let writes = fields.iter().zip(&names).map(|(field, name)| {
        let ident = field.ident;
        let apply = match &field.reducer {
            Reducer::LastValue => {
                let tracker = format_ident!("__{}_writes", name);
                quote!(#tracker.write(__writer, &mut self.#ident, __value);)
            }
            Reducer::Builtin(reducer) => quote_spanned! {reducer.span()=>
                ::graph_core::__private::reducers::#reducer(&mut self.#ident, __value);
            },
            Reducer::With(path) => quote_spanned! {path.span()=>
                #path(&mut self.#ident, __value);
            },
        };
        quote! {
            if let ::core::option::Option::Some(__value) = __update.#ident {
                #apply
            }
        }
    });

    quote! {
        #[doc = #state_doc]
        #[derive(::core::clone::Clone, #serde::Serialize, #serde::Deserialize)]
        #[serde(crate = "::graph_core::__private::serde", default, bound(serialize = #ser_bound, deserialize = #de_bound))]
        #vis struct #update #generics #where_clause {
            #(
                #[doc = #field_docs]
                #[serde(skip_serializing_if = "::core::option::Option::is_none")]
                #field_vis #idents: ::core::option::Option<#tys>,
            )*
        }

        const _: () = {
            #[automatically_derived]
            impl #impl_generics #update_ty #where_clause {
                #(#setters)*
            }

            // Written out so a generic state's update needs no `T: Default`.
            #[automatically_derived]
            impl #impl_generics ::core::default::Default for #update_ty #where_clause {
                fn default() -> Self {
                    #update { #(#idents: ::core::option::Option::None),* }
                }
            }

            #[automatically_derived]
            impl #impl_generics #state_ty #where_clause {
                #[doc = concat!("An empty [`", stringify!(#update), "`]: chain its setters to write fields.")]
                #vis fn update() -> #update_ty {
                    ::core::default::Default::default()
                }
            }

            #[automatically_derived]
            impl #impl_generics ::core::fmt::Debug for #update_ty #debug_where {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let mut out = f.debug_struct(stringify!(#update));
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

                fn apply<'__w, __I>(&mut self, writes: __I) -> ::core::result::Result<(), ::graph_core::InvalidUpdate>
                where
                    __I: ::core::iter::IntoIterator<Item = (&'__w str, Self::Update)>,
                {
                    #(#tracker_inits)*
                    for (__writer, __update) in writes {
                        let _ = __writer;
                        #(#writes)*
                    }
                    #(#tracker_idents.finish()?;)*
                    ::core::result::Result::Ok(())
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
                fn into_command(self) -> ::core::result::Result<::graph_core::Command<#state_ty>, ::graph_core::BoxError> {
                    ::core::result::Result::Ok(::graph_core::Command::new().update(self))
                }
            }
        };
    }
}

/// The struct's where clause plus `for<'__x> T: bound` for every field type. The higher-ranked
/// form keeps a bound that does not hold from being an error: the impl just does not apply.
fn bounded(where_clause: Option<&WhereClause>, tys: &[&Type], bound: TokenStream) -> WhereClause {
    let mut clause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    for ty in tys {
        clause.predicates.push(parse_quote!(for<'__x> #ty: #bound));
    }
    clause
}

/// The same bounds as `bounded`, as the string serde's `bound` attribute takes.
fn hrtb(tys: &[&Type], bound: &str) -> String {
    tys.iter().map(|ty| format!("for<'__x> {}: {bound},", ty.to_token_stream())).collect()
}

fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("String"))
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Tokens as a compact string: `Vec<String>` rather than `Vec < String >`.
fn tidy(tokens: TokenStream) -> String {
    let text = tokens.to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let prev = out.chars().last();
        let glue = c == ' '
            && (matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']'))
                || matches!(prev, Some('<' | ':' | '(' | '[' | '&')));
        if !glue {
            out.push(c);
        }
    }
    out
}
