//! What `cargo xtask sdk` does to the document before progenitor reads it, and to
//! progenitor's output after, so the SDK is pleasant to call:
//!
//! - string constraints (`minLength`, `maxLength`, `pattern`) are dropped: the server
//!   validates and answers `422` naming the field, so the client takes plain `String`s
//!   instead of a newtype per constrained field that must be `.parse()`d;
//! - the setters of the body builders (`types::builder::*`) take the value of an optional
//!   field rather than an `Option` of it, so `.first_name("Ada")` compiles;
//! - the empty `ClientHooks` impl is left out: `sdk/src/lib.rs` implements it, with the
//!   client's retry policy (the client's `inner` value, a `crate::ClientOptions`).

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

/// The type the generated `Client` carries for its hooks.
pub(crate) fn inner_type() -> TokenStream {
    quote!(crate::ClientOptions)
}

/// `spec` without the string constraints a client need not check.
pub(crate) fn unconstrained(mut spec: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("string") {
                    for key in ["minLength", "maxLength", "pattern"] {
                        map.remove(key);
                    }
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut spec);
    spec
}

/// Applies the output changes described in the module's docs to progenitor's file.
pub(crate) fn refine(file: &mut syn::File) {
    file.items.retain(|item| !is_empty_hooks_impl(item));
    for item in &mut file.items {
        if let syn::Item::Mod(types) = item {
            if types.ident == "types" {
                for item in content(types) {
                    if let syn::Item::Mod(builder) = item {
                        if builder.ident == "builder" {
                            content(builder).iter_mut().for_each(plain_setters);
                        }
                    }
                }
            }
        }
    }
}

fn content(module: &mut syn::ItemMod) -> &mut [syn::Item] {
    module
        .content
        .as_mut()
        .map(|(_, items)| items.as_mut_slice())
        .unwrap_or_default()
}

fn is_empty_hooks_impl(item: &syn::Item) -> bool {
    let syn::Item::Impl(imp) = item else {
        return false;
    };
    let hooks = imp
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "ClientHooks");
    hooks && imp.items.is_empty()
}

/// In an `impl` of a body builder, turns each setter bounded by
/// `T: TryInto<Option<X>>` into one bounded by `T: TryInto<X>` that stores `Some`.
fn plain_setters(item: &mut syn::Item) {
    let syn::Item::Impl(imp) = item else {
        return;
    };
    if imp.trait_.is_some() {
        return;
    }
    for item in &mut imp.items {
        let syn::ImplItem::Fn(setter) = item else {
            continue;
        };
        let Some(clause) = setter.sig.generics.where_clause.as_mut() else {
            continue;
        };
        let mut optional = false;
        for predicate in &mut clause.predicates {
            let syn::WherePredicate::Type(bound) = predicate else {
                continue;
            };
            for bound in &mut bound.bounds {
                let syn::TypeParamBound::Trait(bound) = bound else {
                    continue;
                };
                let Some(try_into) = bound.path.segments.last_mut() else {
                    continue;
                };
                if try_into.ident != "TryInto" {
                    continue;
                }
                if let Some(inner) = option_argument(&try_into.arguments) {
                    try_into.arguments =
                        syn::PathArguments::AngleBracketed(syn::parse_quote!(<#inner>));
                    optional = true;
                }
            }
        }
        if optional {
            let name = &setter.sig.ident;
            let message = format!("error converting supplied value for {name}: {{}}");
            setter.block = syn::parse_quote!({
                self.#name = value.try_into().map(Some).map_err(|e| format!(#message, e));
                self
            });
        }
    }
}

/// `X` of `<Option<X>>`.
fn option_argument(arguments: &syn::PathArguments) -> Option<syn::Type> {
    let syn::PathArguments::AngleBracketed(arguments) = arguments else {
        return None;
    };
    let Some(syn::GenericArgument::Type(syn::Type::Path(option))) = arguments.args.first() else {
        return None;
    };
    let last = option.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(inner) = &last.arguments else {
        return None;
    };
    match inner.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner.clone()),
        _ => None,
    }
}

const OPERATIONS_HEADER: &str =
    "// @generated by `cargo xtask sdk` from openapi/openapi.json: do not edit.\n\
//! Per-operation facts the hand-written helpers need: which reads take `If-None-Match`\n\
//! (they get [`send_conditional`](crate::conditional)) and which operations take an\n\
//! `Idempotency-Key` (the client's retry policy may repeat them).\n\n";

fn takes_header(op: &Value, name: &str) -> bool {
    op["parameters"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["in"] == "header"
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    })
}

/// `sdk/src/operations.rs`: one `Builder => Answer;` line per `GET` taking
/// `If-None-Match`, and the ids of the operations taking `Idempotency-Key`.
pub(crate) fn generate_operations(spec: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let spec: Value = serde_json::from_str(spec).context("the document is not JSON")?;
    let mut out = OPERATIONS_HEADER.to_owned();
    out.push_str("/// The operations that take an `Idempotency-Key`.\n");
    out.push_str("pub(crate) const KEYED: &[&str] = &[\n");
    for (_, path) in spec["paths"].as_object().into_iter().flatten() {
        for (_, op) in path.as_object().into_iter().flatten() {
            if takes_header(op, "idempotency-key") {
                let id = op["operationId"]
                    .as_str()
                    .context("an operation without an id")?;
                out.push_str(&format!("    \"{id}\",\n"));
            }
        }
    }
    out.push_str("];\n\ncrate::conditional::conditional_reads! {\n");
    for (_, path) in spec["paths"].as_object().into_iter().flatten() {
        let op = &path["get"];
        if !takes_header(op, "if-none-match") {
            continue;
        }
        let id = op["operationId"]
            .as_str()
            .context("an operation without an id")?;
        let answer = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .with_context(|| format!("{id} has no 200 schema"))?;
        out.push_str(&format!("    {} => {answer};\n", crate::camel(id)));
    }
    out.push_str("}\n");
    Ok(out)
}
