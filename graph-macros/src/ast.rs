//! The derive's input, reduced to what the expansion needs.

use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{self, Reducer};

/// A struct with named fields: the only shape `#[derive(State)]` accepts.
pub(crate) struct Input<'a> {
    /// The struct as written: name, visibility, generics.
    pub(crate) original: &'a DeriveInput,
    /// Its fields, in declaration order.
    pub(crate) fields: Vec<Field<'a>>,
}

/// One field of the state and its reducer.
pub(crate) struct Field<'a> {
    /// The field's name, possibly raw (`r#type`).
    pub(crate) ident: &'a Ident,
    /// The field's visibility, kept on the update type.
    pub(crate) vis: &'a Visibility,
    /// The field's type.
    pub(crate) ty: &'a Type,
    /// How the field merges writes.
    pub(crate) reducer: Reducer,
}

impl<'a> Input<'a> {
    /// Reads the struct, or fails if it has no named fields. A field whose `#[reducer]` is
    /// wrong adds its error to `errors` and becomes `overwrite`, so the rest still expands.
    pub(crate) fn from_syn(
        node: &'a DeriveInput,
        errors: &mut Option<syn::Error>,
    ) -> syn::Result<Self> {
        let message = "`#[derive(State)]` needs a struct with named fields";
        let fields = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(fields) => &fields.named,
                Fields::Unnamed(fields) => return Err(syn::Error::new_spanned(fields, message)),
                Fields::Unit => return Err(syn::Error::new_spanned(&node.ident, message)),
            },
            Data::Enum(data) => return Err(syn::Error::new_spanned(data.enum_token, message)),
            Data::Union(data) => return Err(syn::Error::new_spanned(data.union_token, message)),
        };
        let fields = fields
            .iter()
            .map(|field| Field {
                ident: field.ident.as_ref().expect("named fields have names"),
                vis: &field.vis,
                ty: &field.ty,
                reducer: attr::reducer(&field.attrs).unwrap_or_else(|error| {
                    attr::combine(errors, error);
                    Reducer::fallback()
                }),
            })
            .collect();
        Ok(Input { original: node, fields })
    }
}
