//! Reading `#[namespace(...)]` and the handler attributes inside the `impl` block.
use proc_macro2::Span;
use syn::{
    Attribute, Expr, ImplItemFn, LitStr, Path, Token, Type,
    parse::{Parse, ParseStream},
    spanned::Spanned,
};

/// The handler attributes switchboard reads, by name.
pub(crate) const HANDLER_ATTRS: [&str; 4] = ["on", "on_connect", "on_disconnect", "on_any"];

/// `#[namespace("/path", adapter = Type, guard = layer, ..)]`.
pub(crate) struct NamespaceArgs {
    pub(crate) path: LitStr,
    pub(crate) adapter: Option<Type>,
    pub(crate) guards: Vec<Expr>,
    pub(crate) layers: Vec<Expr>,
    /// `disconnect_abusers = (max, per)`.
    pub(crate) abusers: Option<Expr>,
}

impl Parse for NamespaceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "#[namespace] needs the namespace path: #[namespace(\"/chat\")]",
            ));
        }
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "the first argument of #[namespace] is the path as a string literal, e.g. \"/chat\"")
        })?;
        let mut adapter = None;
        let mut guards = Vec::new();
        let mut layers = Vec::new();
        let mut abusers = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Path = input.parse()?;
            input.parse::<Token![=]>()?;
            if key.is_ident("adapter") {
                if adapter.is_some() {
                    return Err(syn::Error::new(key.span(), "`adapter` is given twice"));
                }
                adapter = Some(input.parse::<Type>()?);
            } else if key.is_ident("guard") {
                guards.push(input.parse::<Expr>()?);
            } else if key.is_ident("layer") {
                layers.push(input.parse::<Expr>()?);
            } else if key.is_ident("disconnect_abusers") {
                if abusers.is_some() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`disconnect_abusers` is given twice",
                    ));
                }
                abusers = Some(input.parse::<Expr>()?);
            } else {
                let _: Expr = input.parse()?;
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown #[namespace] option `{}`; the options are: adapter, guard, layer, disconnect_abusers",
                        quote::quote!(#key).to_string().replace(' ', "")
                    ),
                ));
            }
        }
        Ok(Self {
            path,
            adapter,
            guards,
            layers,
            abusers,
        })
    }
}

/// What a method of the impl block is for.
pub(crate) enum Role {
    /// Each event name, with the layer of that event alone (`#[on("e", layer = ..)]`).
    Event(Vec<(LitStr, Option<Expr>)>),
    Connect,
    Disconnect,
    Any,
}

/// Reads the handler attributes of one method, removing them from it (the compiler does not
/// know them). `Ok(None)`: an ordinary method.
pub(crate) fn take_role(method: &mut ImplItemFn) -> syn::Result<Option<(Role, Span)>> {
    let mut role: Option<(Role, Span)> = None;
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let attrs = std::mem::take(&mut method.attrs);
    for attr in attrs {
        let Some(name) = handler_attr_name(&attr) else {
            method.attrs.push(attr);
            continue;
        };
        let span = attr.path().span();
        let parsed = match name.as_str() {
            "on" => attr
                .parse_args::<OnArgs>()
                .map(|OnArgs(lit, layer)| Role::Event(vec![(lit, layer)])),
            "on_connect" => no_args(&attr, "on_connect").map(|()| Role::Connect),
            "on_disconnect" => no_args(&attr, "on_disconnect").map(|()| Role::Disconnect),
            "on_any" => no_args(&attr, "on_any").map(|()| Role::Any),
            other => Err(syn::Error::new(
                attr.path().span(),
                format!(
                    "unknown switchboard attribute `#[{other}]`; the handler attributes are #[on(\"event\")], #[on_connect], #[on_disconnect] and #[on_any]"
                ),
            )),
        };
        match (parsed, &mut role) {
            (Err(e), _) => push(e),
            (Ok(new), None) => role = Some((new, span)),
            (Ok(Role::Event(mut more)), Some((Role::Event(events), _))) => events.append(&mut more),
            (Ok(_), Some(_)) => push(syn::Error::new(
                span,
                "a method has one switchboard role: #[on(..)] (possibly several times), #[on_connect], #[on_disconnect] or #[on_any]",
            )),
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(role),
    }
}

/// `#[on("event")]` or `#[on("event", layer = expr)]`.
struct OnArgs(LitStr, Option<Expr>);

impl Parse for OnArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lit: LitStr = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "#[on] takes the event name: #[on(\"chat\")]")
        })?;
        let mut layer = None;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Path = input.parse()?;
            if !key.is_ident("layer") {
                return Err(syn::Error::new(
                    key.span(),
                    "unknown #[on] option; the option is: layer",
                ));
            }
            input.parse::<Token![=]>()?;
            layer = Some(input.parse::<Expr>()?);
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error("#[on] takes the event name and an optional `layer = ..`"));
        }
        Ok(Self(lit, layer))
    }
}

/// The name of an attribute that is, or looks like, one of switchboard's handler attributes.
fn handler_attr_name(attr: &Attribute) -> Option<String> {
    let ident = attr.path().get_ident()?.to_string();
    let ours = HANDLER_ATTRS.contains(&ident.as_str());
    // A near miss (`#[on_conect]`, `#[on_message]`) is a mistake to report, not to pass through.
    (ours || ident.starts_with("on_")).then_some(ident)
}

fn no_args(attr: &Attribute, name: &str) -> syn::Result<()> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(()),
        _ => Err(syn::Error::new(
            attr.span(),
            format!("#[{name}] takes no arguments"),
        )),
    }
}
