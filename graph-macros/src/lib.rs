//! placeholder
use proc_macro::TokenStream;
/// Derives `State`.
#[proc_macro_derive(State, attributes(reducer))]
pub fn derive_state(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
