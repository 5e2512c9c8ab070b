//! Compile-time checks: the namespace path and the shape of handler methods.
use syn::{FnArg, GenericParam, ImplItemFn, LitStr, ReturnType, spanned::Spanned};

/// Events the Socket.IO client reserves: it never emits them, so a handler would never run.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The same rules as switchboard's runtime check of `NamespaceDef` paths.
pub(crate) fn path(lit: &LitStr) -> syn::Result<()> {
    let path = lit.value();
    let reason = if !path.starts_with('/') {
        Some("a namespace path starts with `/`")
    } else if path.len() > 1 && path.ends_with('/') {
        Some("a namespace path does not end with `/` (clients send `/sports`, not `/sports/`)")
    } else if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | ','))
    {
        Some(
            "a namespace path has no whitespace, `?`, `#` or `,` (the socket.io packet format reserves them)",
        )
    } else if path.contains("//") {
        Some("a namespace path has no empty segment (`//`)")
    } else if !braces_balanced(&path) {
        Some("a `{param}` segment is not closed or is nested")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(syn::Error::new(
            lit.span(),
            format!("invalid namespace path {:?}: {reason}", path),
        )),
        None => Ok(()),
    }
}

fn braces_balanced(path: &str) -> bool {
    let mut depth = 0i32;
    for c in path.chars() {
        depth += match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        };
        if !(0..=1).contains(&depth) {
            return false;
        }
    }
    depth == 0
}

pub(crate) fn event_name(lit: &LitStr) -> syn::Result<()> {
    let name = lit.value();
    if name.is_empty() {
        return Err(syn::Error::new(lit.span(), "an event name is not empty"));
    }
    if RESERVED_EVENTS.contains(&name.as_str()) {
        let hint = match name.as_str() {
            "connect" => "; use #[on_connect]",
            "disconnect" | "disconnecting" => "; use #[on_disconnect]",
            _ => "",
        };
        return Err(syn::Error::new(
            lit.span(),
            format!("event `{name}` is reserved by Socket.IO: clients never emit it{hint}"),
        ));
    }
    Ok(())
}

/// A handler is an `async fn` taking `&self` first, with at most one type parameter (the room
/// adapter). Returns that type parameter, if any.
pub(crate) fn signature(
    method: &ImplItemFn,
    returns_unit: Option<&str>,
) -> syn::Result<Option<syn::Ident>> {
    let sig = &method.sig;
    let mut errors = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            format!("handler `{}` must be an `async fn`", sig.ident),
        ));
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() => {}
        Some(FnArg::Receiver(r)) => errors.push(syn::Error::new(
            r.span(),
            "handlers take `&self`: one value of the namespace is shared by every socket, so it cannot be taken by value or by `&mut`",
        )),
        _ => errors.push(syn::Error::new(
            sig.ident.span(),
            format!("handler `{}` must take `&self` first (it is a method of the namespace)", sig.ident),
        )),
    }
    let mut adapter = None;
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(t) if adapter.is_none() => adapter = Some(t.ident.clone()),
            GenericParam::Lifetime(l) => errors.push(syn::Error::new(
                l.span(),
                "handlers cannot have lifetime parameters: every argument is an owned extractor",
            )),
            other => errors.push(syn::Error::new(
                other.span(),
                "handlers have at most one type parameter: the room adapter (`<A: Adapter>`)",
            )),
        }
    }
    for arg in sig.inputs.iter().skip(1) {
        if let FnArg::Typed(pat) = arg
            && let syn::Type::ImplTrait(_) = &*pat.ty
        {
            errors.push(syn::Error::new(
                pat.ty.span(),
                "handler arguments are extractor types, not `impl Trait`",
            ));
        }
    }
    if let (Some(kind), ReturnType::Type(_, ty)) = (returns_unit, &sig.output)
        && !matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty())
    {
        errors.push(syn::Error::new(
            ty.span(),
            format!("{kind} returns nothing: there is no acknowledgement to send"),
        ));
    }
    match errors.into_iter().reduce(|mut a, b| {
        a.combine(b);
        a
    }) {
        Some(e) => Err(e),
        None => Ok(adapter),
    }
}
