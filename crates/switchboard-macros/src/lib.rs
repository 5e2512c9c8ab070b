//! Procedural macros for [switchboard](https://docs.rs/switchboard). Use them through the
//! `switchboard` crate (`switchboard::namespace`), which documents them; the code they
//! generate calls only switchboard's public API.
#![forbid(unsafe_code)]

mod check;
mod expand;
mod parse;

use proc_macro::TokenStream;

/// Turns an `impl` block into a Socket.IO namespace; documented in `switchboard`.
#[proc_macro_attribute]
pub fn namespace(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::namespace(attr.into(), item.into()).into()
}
