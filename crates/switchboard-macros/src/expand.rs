//! Generating the `Namespace` impl: one `NamespaceDef` call per handler method.
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{
    FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type, spanned::Spanned, visit::Visit,
    visit_mut::VisitMut,
};

use crate::{
    check,
    parse::{NamespaceArgs, Role, take_role},
};

/// Extractors whose type names the room adapter: a method that names one without a type
/// parameter ties the namespace to the in-memory adapter.
const ADAPTER_TYPES: [&str; 5] = [
    "SocketRef",
    "SocketIo",
    "AckSender",
    "BroadcastOperators",
    "RemoteSocket",
];

pub(crate) fn namespace(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item_impl: ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "#[namespace] goes on an `impl` block of your namespace type: `#[namespace(\"/chat\")] impl Chat { .. }`",
            );
            return with_item(e, item);
        }
    };
    let mut errors: Vec<syn::Error> = Vec::new();
    let args = match syn::parse2::<NamespaceArgs>(attr) {
        Ok(args) => Some(args),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if let Some(args) = &args
        && let Err(e) = check::path(&args.path)
    {
        errors.push(e);
    }
    if let Some((_, path, _)) = &item_impl.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "#[namespace] goes on an inherent `impl` block (`impl Chat { .. }`), not on a trait impl",
        ));
    }

    let mut handlers = Vec::new();
    for impl_item in &mut item_impl.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        match take_role(method) {
            Ok(Some((role, span))) => handlers.push((role, span, method.clone())),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let generated = match args {
        Some(args) => generate(&item_impl, &args, &handlers, &mut errors),
        None => TokenStream::new(),
    };
    match errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        // Keep the item (without switchboard's attributes) so the rest of the program and the
        // IDE still see the methods.
        Some(e) => with_item(e, quote!(#item_impl)),
        None => quote! { #item_impl #generated },
    }
}

fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote! { #error #item }
}

fn generate(
    item_impl: &ItemImpl,
    args: &NamespaceArgs,
    handlers: &[(Role, Span, ImplItemFn)],
    errors: &mut Vec<syn::Error>,
) -> TokenStream {
    let generic = args.adapter.is_none()
        && handlers
            .iter()
            .all(|(_, _, m)| m.sig.generics.type_params().next().is_some() || !names_adapter(m));
    let adapter: Type = match (&args.adapter, generic) {
        (Some(ty), _) => ty.clone(),
        (None, true) => syn::parse_quote!(__A),
        (None, false) => syn::parse_quote!(::switchboard::InMemory),
    };

    let mut calls = Vec::new();
    let mut asserts = Vec::new();
    let mut seen_events: Vec<LitStr> = Vec::new();
    let no_events: Vec<(LitStr, Option<syn::Expr>)> = Vec::new();
    /// Event names with their own layers.
    type EventList = [(LitStr, Option<syn::Expr>)];
    let mut seen_single: Vec<(&'static str, Span)> = Vec::new();
    for (role, span, method) in handlers {
        let (builder_fn, kind, events): (&'static str, Option<&str>, &EventList) = match role {
            Role::Event(events) => ("on", None, events),
            Role::Connect => ("on_connect", Some("a connect hook"), &no_events),
            Role::Disconnect => ("on_disconnect", Some("a disconnect handler"), &no_events),
            Role::Any => ("on_any", None, &no_events),
        };
        if !matches!(role, Role::Event(_)) {
            if let Some((_, first)) = seen_single.iter().find(|(f, _)| *f == builder_fn) {
                let mut e = syn::Error::new(
                    *span,
                    format!("a namespace has one #[{builder_fn}] handler"),
                );
                e.combine(syn::Error::new(*first, "the first one is here"));
                errors.push(e);
                continue;
            }
            seen_single.push((builder_fn, *span));
        }
        let type_param = match check::signature(method, kind) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for (event, _) in events {
            if let Err(e) = check::event_name(event) {
                errors.push(e);
            } else if let Some(first) = seen_events.iter().find(|f| f.value() == event.value()) {
                let mut e = syn::Error::new(
                    event.span(),
                    format!(
                        "event `{}` already has a handler in this namespace",
                        event.value()
                    ),
                );
                e.combine(syn::Error::new(first.span(), "the first handler is here"));
                errors.push(e);
            } else {
                seen_events.push(event.clone());
            }
        }
        let closure = handler_closure(method, type_param.as_ref(), &adapter);
        asserts.extend(type_asserts(method, role, type_param.as_ref(), &adapter));
        let builder_ident = format_ident!("{}", builder_fn);
        if events.is_empty() {
            calls.push(quote_spanned!(method.sig.ident.span()=> .#builder_ident(#closure)));
        }
        for (event, layer) in events {
            calls.push(match layer {
                Some(layer) => {
                    quote_spanned!(method.sig.ident.span()=> .on_layered(#event, #layer, #closure))
                }
                None => quote_spanned!(method.sig.ident.span()=> .#builder_ident(#event, #closure)),
            });
        }
    }

    let path = &args.path;
    let guards = &args.guards;
    let layers = &args.layers;
    let abusers = args.abusers.as_ref().map(|e| {
        quote_spanned! {e.span()=>
            let (__max, __per): (u32, ::core::time::Duration) = #e;
            let __def = __def.disconnect_abusers(__max, __per);
        }
    });
    let self_ty = &item_impl.self_ty;
    let (impl_generics, _, where_clause) = item_impl.generics.split_for_impl();
    let impl_params = &item_impl.generics.params;
    let preds = where_clause.map(|w| &w.predicates);
    let (head, adapter_bound) = if generic {
        let comma = (!impl_params.is_empty()).then(|| quote!(,));
        (
            quote!(impl<#impl_params #comma __A>),
            quote!(__A: ::switchboard::socketioxide::adapter::Adapter,),
        )
    } else {
        (quote!(impl #impl_generics), quote!())
    };
    quote! {
        #[automatically_derived]
        #head ::switchboard::Namespace<#adapter> for #self_ty
        where
            #adapter_bound
            Self: ::core::marker::Send + ::core::marker::Sync + 'static,
            #preds
        {
            fn into_def(self) -> ::switchboard::NamespaceDef<#adapter> {
                #(#asserts)*
                let __def = ::switchboard::NamespaceDef::<#adapter>::new(#path)
                    #(.guard(#guards))*
                    #(.layer(#layers))*;
                #abusers
                let __this = ::switchboard::__private::Arc::new(self);
                __def #(#calls)*
            }
        }
    }
}

/// `move |__arg0: T0, ..| async move { __this.method(__arg0, ..).await }`, with the method's
/// adapter type parameter replaced by the namespace's adapter.
fn handler_closure(
    method: &ImplItemFn,
    type_param: Option<&syn::Ident>,
    adapter: &Type,
) -> TokenStream {
    let name = &method.sig.ident;
    let mut params = Vec::new();
    let mut args = Vec::new();
    for (i, arg) in method.sig.inputs.iter().skip(1).enumerate() {
        let FnArg::Typed(pat) = arg else { continue };
        let mut ty = (*pat.ty).clone();
        if let Some(param) = type_param {
            Substitute {
                from: param,
                to: adapter,
            }
            .visit_type_mut(&mut ty);
        }
        let ident = format_ident!("__arg{}", i, span = pat.ty.span());
        params.push(quote_spanned!(pat.ty.span()=> #ident: #ty));
        args.push(ident);
    }
    quote_spanned! {method.sig.ident.span()=>
        {
            let __this = ::switchboard::__private::Arc::clone(&__this);
            move |#(#params),*| async move { __this.#name(#(#args),*).await }
        }
    }
}

/// One no-op call per argument (and per return type of an event handler), spanned at the
/// type, so a type that is not an extractor is reported where it is written.
fn type_asserts(
    method: &ImplItemFn,
    role: &Role,
    type_param: Option<&syn::Ident>,
    adapter: &Type,
) -> Vec<TokenStream> {
    let substitute = |ty: &Type| {
        let mut ty = ty.clone();
        if let Some(param) = type_param {
            Substitute {
                from: param,
                to: adapter,
            }
            .visit_type_mut(&mut ty);
        }
        ty
    };
    let mut out = Vec::new();
    for arg in method.sig.inputs.iter().skip(1) {
        let FnArg::Typed(pat) = arg else { continue };
        let ty = substitute(&pat.ty);
        out.push(match role {
            Role::Event(_) | Role::Any => quote_spanned!(pat.ty.span()=>
                ::switchboard::__private::assert_event_extractor::<#adapter, _, #ty>();),
            Role::Connect => quote_spanned!(pat.ty.span()=>
                ::switchboard::__private::assert_connect_extractor::<#adapter, #ty>();),
            Role::Disconnect => quote_spanned!(pat.ty.span()=>
                ::switchboard::__private::assert_disconnect_extractor::<#adapter, #ty>();),
        });
    }
    if let (Role::Event(_) | Role::Any, syn::ReturnType::Type(_, ret)) = (role, &method.sig.output)
    {
        let ty = substitute(ret);
        out.push(quote_spanned!(ret.span()=> ::switchboard::__private::assert_into_ack::<#ty>();));
    }
    out
}

/// Whether a method without a type parameter names an adapter-bound extractor.
fn names_adapter(method: &ImplItemFn) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_path_segment(&mut self, seg: &'ast syn::PathSegment) {
            if ADAPTER_TYPES.contains(&seg.ident.to_string().as_str()) && seg.arguments.is_none() {
                self.0 = true;
            }
            syn::visit::visit_path_segment(self, seg);
        }
    }
    let mut finder = Finder(false);
    for arg in method.sig.inputs.iter().skip(1) {
        if let FnArg::Typed(pat) = arg {
            finder.visit_type(&pat.ty);
        }
    }
    finder.0
}

struct Substitute<'a> {
    from: &'a syn::Ident,
    to: &'a Type,
}

impl VisitMut for Substitute<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(p) = ty
            && p.qself.is_none()
            && p.path.is_ident(self.from)
        {
            *ty = self.to.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
