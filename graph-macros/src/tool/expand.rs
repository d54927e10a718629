//! Emits the unit struct, its `run` function and the `Tool` impl.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::FnArg;

use super::parse::{is_field_attr, ContextParam, ToolFn};

pub(crate) fn expand(tool: &ToolFn<'_>) -> TokenStream {
    let function = tool.function;
    let vis = &function.vis;
    let ident = &function.sig.ident;
    let span = ident.span();
    let private = quote_spanned!(span=> ::graph_agent::__private);
    let docs: Vec<_> = function.attrs.iter().filter(|attr| attr.path().is_ident("doc")).collect();
    let other_attrs: Vec<_> =
        function.attrs.iter().filter(|attr| !attr.path().is_ident("doc")).collect();

    // The function as written, as `<ident>::run`, without the argument attributes that
    // moved to the arguments struct.
    let mut sig = function.sig.clone();
    sig.ident = format_ident!("run", span = span);
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            typed.attrs.retain(|attr| !is_field_attr(attr));
        }
    }
    let block = &function.block;

    let args_ident = format_ident!("__{}_args", ident.to_string().trim_start_matches("r#"));
    let fields = tool.args.iter().map(|arg| {
        let (field, ty, attrs) = (arg.ident, arg.ty, &arg.attrs);
        quote!(#(#attrs)* pub #field: #ty)
    });
    let field_idents: Vec<_> = tool.args.iter().map(|arg| arg.ident).collect();
    let context = match tool.context {
        ContextParam::None => quote!(),
        ContextParam::Ref => quote!(__tool_ctx),
        ContextParam::Owned => quote!(::core::clone::Clone::clone(__tool_ctx)),
    };
    let call = quote!(#ident::run(#(#field_idents,)* #context).await);
    let (output, body) = match tool.ok_type {
        Some(ok) => (quote!(#ok), quote!(#call.map_err(::core::convert::Into::into))),
        None => {
            let output = match &function.sig.output {
                syn::ReturnType::Type(_, ty) => quote!(#ty),
                syn::ReturnType::Default => quote!(()),
            };
            (output, quote!(::core::result::Result::Ok(#call)))
        }
    };
    let name = &tool.name;
    let description = &tool.description;
    let return_direct = tool.return_direct.then(|| {
        quote! {
            fn return_direct(&self) -> bool {
                true
            }
        }
    });
    // Providers want `properties` even when a tool takes no arguments.
    let empty = tool.args.is_empty().then(|| quote!(#[schemars(extend("properties" = {}))]));
    let serde_crate = format!("{}", quote!(::graph_agent::__private::serde));
    let schemars_crate = format!("{}", quote!(::graph_agent::__private::schemars));

    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #ident;

        impl #ident {
            /// Runs the tool's function directly, with its arguments as written.
            #(#other_attrs)*
            #vis #sig #block
        }

        const _: () = {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[derive(#private::serde::Deserialize, #private::schemars::JsonSchema)]
            #[serde(crate = #serde_crate)]
            #[schemars(crate = #schemars_crate)]
            #empty
            pub struct #args_ident {
                #(#fields,)*
            }

            #[automatically_derived]
            #[#private::async_trait]
            impl #private::Tool for #ident {
                type Args = #args_ident;
                type Output = #output;

                fn name(&self) -> &str {
                    #name
                }

                fn description(&self) -> &str {
                    #description
                }

                #return_direct

                async fn call(
                    &self,
                    __tool_args: Self::Args,
                    __tool_ctx: &#private::ToolContext,
                ) -> ::core::result::Result<Self::Output, #private::BoxError> {
                    let #args_ident { #(#field_idents),* } = __tool_args;
                    let _ = __tool_ctx;
                    #body
                }
            }
        };
    }
}
