//! The derive's input, reduced to what the expansion needs.

use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{self, Reducer};

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) ty: &'a Type,
    pub(crate) reducer: Reducer,
}

/// The named fields of the struct, or the error explaining why there are none.
pub(crate) fn fields<'a>(
    input: &'a DeriveInput,
    errors: &mut Vec<syn::Error>,
) -> syn::Result<Vec<Field<'a>>> {
    let message = "`#[derive(State)]` needs a struct with named fields";
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            Fields::Unnamed(unnamed) => return Err(syn::Error::new_spanned(unnamed, message)),
            Fields::Unit => return Err(syn::Error::new_spanned(&input.ident, message)),
        },
        Data::Enum(data) => return Err(syn::Error::new_spanned(data.enum_token, message)),
        Data::Union(data) => return Err(syn::Error::new_spanned(data.union_token, message)),
    };
    Ok(fields
        .iter()
        .map(|field| Field {
            ident: field.ident.as_ref().expect("named fields have names"),
            vis: &field.vis,
            ty: &field.ty,
            reducer: attr::reducer(&field.attrs, errors),
        })
        .collect())
}
