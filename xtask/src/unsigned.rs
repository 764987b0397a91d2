//! What progenitor is given differs from the committed document in two marked ways,
//! so that the Rust SDK keeps its types.
//!
//! The committed document states unsigned integers as `int32`/`int64` with `minimum: 0`
//! and the extension `x-unsigned` (server `api::document_rules`), because `uint32` and
//! `uint64` are not OpenAPI formats and other languages' generators do not know them.
//! progenitor does, and maps them to `u32`/`u64`: [`restore`] gives it back those
//! formats on the marked schemas, so the Rust SDK keeps its unsigned fields and
//! parameters.
//!
//! The optional fields of a create body are `nullable` with `x-null-is-absent` (the
//! server reads `null` there as an omitted field): [`restore`] drops that `nullable`, so
//! typify keeps a list a `Vec` and a map a `Map` (omitted when empty) instead of an
//! `Option` whose `None` would mean the same.
//!
//! It works on the parsed document, whose maps keep the document's order.

use openapiv3::{
    AdditionalProperties, Components, Header, IntegerFormat, MediaType, OpenAPI, Operation,
    Parameter, ParameterSchemaOrContent, PathItem, ReferenceOr, RequestBody, Response, Schema,
    SchemaKind, Type, VariantOrUnknownOrEmpty,
};

/// The extension the server marks unsigned integers with.
const EXTENSION: &str = "x-unsigned";

/// The extension the server marks a create body's `null`-as-omitted fields with.
const NULL_IS_ABSENT: &str = "x-null-is-absent";

/// Turns every `int32`/`int64` marked [`EXTENSION`] back into `uint32`/`uint64`, and
/// drops `nullable` where [`NULL_IS_ABSENT`] marks it.
pub fn restore(spec: &mut OpenAPI) {
    for item in spec.paths.paths.values_mut() {
        if let ReferenceOr::Item(item) = item {
            path_item(item);
        }
    }
    if let Some(components) = &mut spec.components {
        self::components(components);
    }
}

fn components(components: &mut Components) {
    components.schemas.values_mut().for_each(schema_or_ref);
    for parameter in components.parameters.values_mut() {
        if let ReferenceOr::Item(parameter) = parameter {
            self::parameter(parameter);
        }
    }
    for body in components.request_bodies.values_mut() {
        if let ReferenceOr::Item(body) = body {
            request_body(body);
        }
    }
    for response in components.responses.values_mut() {
        if let ReferenceOr::Item(response) = response {
            self::response(response);
        }
    }
    for header in components.headers.values_mut() {
        if let ReferenceOr::Item(header) = header {
            self::header(header);
        }
    }
}

fn path_item(item: &mut PathItem) {
    for parameter in &mut item.parameters {
        if let ReferenceOr::Item(parameter) = parameter {
            self::parameter(parameter);
        }
    }
    for operation in [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
    {
        self::operation(operation);
    }
}

fn operation(operation: &mut Operation) {
    for parameter in &mut operation.parameters {
        if let ReferenceOr::Item(parameter) = parameter {
            self::parameter(parameter);
        }
    }
    if let Some(ReferenceOr::Item(body)) = &mut operation.request_body {
        request_body(body);
    }
    let responses = &mut operation.responses;
    for response in responses
        .default
        .iter_mut()
        .chain(responses.responses.values_mut())
    {
        if let ReferenceOr::Item(response) = response {
            self::response(response);
        }
    }
}

fn parameter(parameter: &mut Parameter) {
    let data = match parameter {
        Parameter::Query { parameter_data, .. }
        | Parameter::Header { parameter_data, .. }
        | Parameter::Path { parameter_data, .. }
        | Parameter::Cookie { parameter_data, .. } => parameter_data,
    };
    schema_or_content(&mut data.format);
}

fn header(header: &mut Header) {
    schema_or_content(&mut header.format);
}

fn schema_or_content(format: &mut ParameterSchemaOrContent) {
    match format {
        ParameterSchemaOrContent::Schema(schema) => schema_or_ref(schema),
        ParameterSchemaOrContent::Content(content) => content.values_mut().for_each(media_type),
    }
}

fn request_body(body: &mut RequestBody) {
    body.content.values_mut().for_each(media_type);
}

fn response(response: &mut Response) {
    for header in response.headers.values_mut() {
        if let ReferenceOr::Item(header) = header {
            self::header(header);
        }
    }
    response.content.values_mut().for_each(media_type);
}

fn media_type(media: &mut MediaType) {
    if let Some(schema) = &mut media.schema {
        schema_or_ref(schema);
    }
}

fn schema_or_ref(schema: &mut ReferenceOr<Schema>) {
    if let ReferenceOr::Item(schema) = schema {
        self::schema(schema);
    }
}

fn boxed(schema: &mut ReferenceOr<Box<Schema>>) {
    if let ReferenceOr::Item(schema) = schema {
        self::schema(schema);
    }
}

fn additional(properties: &mut Option<AdditionalProperties>) {
    if let Some(AdditionalProperties::Schema(schema)) = properties {
        schema_or_ref(schema);
    }
}

fn schema(schema: &mut Schema) {
    let marked = |name: &str| schema.schema_data.extensions.get(name) == Some(&true.into());
    let unsigned = marked(EXTENSION);
    if marked(NULL_IS_ABSENT) {
        schema.schema_data.nullable = false;
    }
    match &mut schema.schema_kind {
        SchemaKind::Type(Type::Integer(integer)) if unsigned => {
            let restored = match &integer.format {
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => "uint32",
                VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64) => "uint64",
                _ => return,
            };
            integer.format = VariantOrUnknownOrEmpty::Unknown(restored.into());
        }
        SchemaKind::Type(Type::Object(object)) => {
            object.properties.values_mut().for_each(boxed);
            additional(&mut object.additional_properties);
        }
        SchemaKind::Type(Type::Array(array)) => {
            if let Some(items) = &mut array.items {
                boxed(items);
            }
        }
        SchemaKind::OneOf { one_of: all }
        | SchemaKind::AllOf { all_of: all }
        | SchemaKind::AnyOf { any_of: all } => all.iter_mut().for_each(schema_or_ref),
        SchemaKind::Not { not } => schema_or_ref(not),
        SchemaKind::Any(any) => {
            // An integer whose bounds are written as decimals (`200.0`, as poem-openapi
            // writes them) is read as an untyped schema.
            if unsigned && any.typ.as_deref() == Some("integer") {
                match any.format.as_deref() {
                    Some("int32") => any.format = Some("uint32".into()),
                    Some("int64") => any.format = Some("uint64".into()),
                    _ => {}
                }
            }
            any.properties.values_mut().for_each(boxed);
            additional(&mut any.additional_properties);
            if let Some(items) = &mut any.items {
                boxed(items);
            }
            for all in [&mut any.one_of, &mut any.all_of, &mut any.any_of] {
                all.iter_mut().for_each(schema_or_ref);
            }
            if let Some(not) = &mut any.not {
                schema_or_ref(not);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restored(text: &str) -> serde_json::Value {
        let mut spec: OpenAPI = serde_json::from_str(text).expect("OpenAPI");
        restore(&mut spec);
        serde_json::to_value(&spec).expect("JSON")
    }

    #[test]
    fn only_marked_schemas_change_wherever_they_are() {
        let spec = restored(
            r##"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {
                "parameters": [{"name": "limit", "in": "query", "schema":
                    {"type": "integer", "format": "int32", "minimum": 1.0, "maximum": 200.0, "x-unsigned": true}}],
                "responses": {"200": {"description": "ok",
                    "headers": {"H": {"schema": {"type": "integer", "format": "int64", "minimum": 0, "x-unsigned": true}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/M"}}}}}}}},
            "components": {"schemas": {"M": {"type": "object", "properties": {
                "n": {"type": "integer", "format": "int32", "minimum": 0, "x-unsigned": true},
                "signed": {"type": "integer", "format": "int32"},
                "tags": {"type": "array", "items": {"type": "string"}, "nullable": true, "x-null-is-absent": true},
                "note": {"type": "string", "nullable": true},
                "list": {"type": "array", "items": {"type": "integer", "format": "int64", "minimum": 0, "x-unsigned": true}}}}}}}"##,
        );
        let op = &spec["paths"]["/a"]["get"];
        assert_eq!(op["parameters"][0]["schema"]["format"], "uint32");
        assert_eq!(
            op["responses"]["200"]["headers"]["H"]["schema"]["format"],
            "uint64"
        );
        let m = &spec["components"]["schemas"]["M"]["properties"];
        assert_eq!(m["tags"].get("nullable"), None);
        assert_eq!(m["note"]["nullable"], true);
        assert_eq!(m["n"]["format"], "uint32");
        assert_eq!(m["signed"]["format"], "int32");
        assert_eq!(m["list"]["items"]["format"], "uint64");
    }
}
