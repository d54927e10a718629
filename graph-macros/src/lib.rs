//! `#[derive(State)]` for graph-core: a partial-update type, reducer-driven merging and a field
//! schema. Use it through `graph_core::State`, which re-exports it.

#![deny(missing_docs)]

mod ast;
mod attr;
mod expand;
mod tool;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/derive-state.md")]
#[proc_macro_derive(State, attributes(reducer))]
pub fn derive_state(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}

/// Turns a documented `async fn` into a tool: a unit struct of the same name implementing
/// `graph_agent::Tool`. Use it through `graph_agent::tool`, which documents it.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    tool::tool(args.into(), item.into()).into()
}
