//! `#[tool]`: turns a documented `async fn` into a unit struct implementing
//! `graph_agent::Tool`. Parse (`parse.rs`) then emit (`expand.rs`).

mod expand;
mod parse;

use proc_macro2::TokenStream;

/// The expansion of `#[tool(args)]` on `item`: the tool, or the collected errors followed by
/// the function as written (so its uses do not add errors of their own).
pub(crate) fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function: syn::ItemFn = match syn::parse2(item) {
        Ok(function) => function,
        Err(error) => return error.to_compile_error(),
    };
    match parse::ToolFn::from_syn(args, &function) {
        Ok(tool) => expand::expand(&tool),
        Err(error) => {
            for input in &mut function.sig.inputs {
                if let syn::FnArg::Typed(typed) = input {
                    typed.attrs.retain(|attr| !parse::is_field_attr(attr));
                }
            }
            let error = error.to_compile_error();
            quote::quote!(#error #function)
        }
    }
}
