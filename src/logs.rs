//! The log format of `serve`: one JSON object a line, the event's fields at the top level beside
//! `span` (the innermost) and `spans` (the whole chain, outermost first), so that a line inside an
//! e签宝 exchange still names the RPC or callback, and the member, it belongs to.
//!
//! The same lines as `tracing_subscriber`'s JSON format with `flatten_event`, `with_current_span`
//! and `with_span_list`, written straight into one string: that format parsed every span's stored
//! fields back into JSON values for each line (twice, for `span` and `spans`) and for each field
//! recorded on a span, and passed every few bytes through a UTF-8 check; about 40,000
//! instructions a line, six lines a start. A span's fields are kept as the JSON object they are
//! written as, and a line copies them.
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer().event_format(JsonLine).fmt_fields(SpanFields).with_writer(writer)
}

/// Formats an event as one JSON line.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(512);
        line.push_str("{\"timestamp\":\"");
        SystemTime.format_time(&mut Writer::new(&mut line))?;
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        event.record(&mut Entries { out: &mut line, keys: None });
        line.push_str(",\"target\":");
        json_str(&mut line, meta.target());
        let current = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
        if let Some(span) = &current {
            line.push_str(",\"span\":");
            span_object::<_, N>(&mut line, span);
            line.push_str(",\"spans\":[");
            if let Some(leaf) = ctx.lookup_current() {
                for (i, span) in leaf.scope().from_root().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    span_object::<_, N>(&mut line, &span);
                }
            }
            line.push(']');
        }
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// `{<the span's fields>,"name":"<its name>"}`.
fn span_object<S, N>(out: &mut String, span: &SpanRef<'_, S>)
where
    S: for<'l> LookupSpan<'l>,
    N: for<'w> FormatFields<'w> + 'static,
{
    out.push('{');
    let ext = span.extensions();
    if let Some(fields) = ext.get::<FormattedFields<N>>() {
        let inner = members(&fields.fields);
        if !inner.is_empty() {
            out.push_str(inner);
            out.push(',');
        }
    }
    out.push_str("\"name\":");
    json_str(out, span.name());
    out.push('}');
}

/// The members of a span's stored JSON object, without its braces (empty when it has none).
fn members(object: &str) -> &str {
    object.strip_prefix('{').and_then(|f| f.strip_suffix('}')).unwrap_or_default()
}

/// Keeps a span's fields as a JSON object.
struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut entries = String::new();
        fields.record(&mut Entries { out: &mut entries, keys: None });
        writer.write_char('{')?;
        writer.write_str(entries.strip_prefix(',').unwrap_or_default())?;
        writer.write_char('}')
    }

    /// Fields recorded later (an RPC's code and latency) are added to the object; one recorded
    /// again replaces its earlier value, as the object is read back for that rare case.
    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let (mut entries, mut keys) = (String::new(), Vec::new());
        fields.record(&mut Entries { out: &mut entries, keys: Some(&mut keys) });
        let Some(added) = entries.strip_prefix(',') else { return Ok(()) };
        let kept = members(&current.fields);
        if kept.is_empty() {
            current.fields = format!("{{{added}}}");
        } else if !keys.iter().any(|k| has_key(kept, k)) {
            current.fields.pop();
            current.fields.push(',');
            current.fields.push_str(added);
            current.fields.push('}');
        } else {
            let mut map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&current.fields).map_err(|_| fmt::Error)?;
            let new: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&format!("{{{added}}}")).map_err(|_| fmt::Error)?;
            map.extend(new);
            current.fields = serde_json::Value::Object(map).to_string();
        }
        Ok(())
    }
}

/// Whether `"key":` occurs in the object's text; a match inside a value only sends the caller to
/// its slow, exact path.
fn has_key(object: &str, key: &str) -> bool {
    object.match_indices(key).any(|(i, _)| object[..i].ends_with('"') && object[i + key.len()..].starts_with("\":"))
}

/// Writes each field as `,"name":value`: strings and anything shown by `Debug` or `Display` as
/// JSON strings, numbers and booleans as themselves.
struct Entries<'a> {
    out: &'a mut String,
    /// The names written, when the caller needs them.
    keys: Option<&'a mut Vec<&'static str>>,
}

impl Entries<'_> {
    fn key(&mut self, field: &Field) {
        self.out.push(',');
        json_str(self.out, field.name());
        self.out.push(':');
        if let Some(keys) = self.keys.as_deref_mut() {
            keys.push(field.name());
        }
    }
}

impl Visit for Entries<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            // Debug keeps the fraction (`1.0`, `2.5e-7`): a JSON number either way.
            let _ = write!(self.out, "{value:?}");
        } else {
            self.out.push_str("null");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        json_str(self.out, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        json_str(self.out, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        json_str(self.out, &format!("{value:?}"));
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(run: impl FnOnce()) -> Vec<Value> {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, run);
        let bytes = sink.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    #[test]
    fn a_line_has_the_event_fields_at_the_top_the_innermost_span_and_the_chain_of_spans() {
        let lines = lines_of(|| {
            let rpc = tracing::info_span!(
                "rpc",
                method = "/x.Y/Z",
                member = tracing::field::Empty,
                code = tracing::field::Empty
            );
            let _rpc = rpc.enter();
            rpc.record("member", "ETC***801");
            let esign = tracing::info_span!("esign", endpoint = "/v3/persons");
            let _esign = esign.enter();
            tracing::info!(attempts = 2u64, ratio = 0.5, ok = true, who = ?Some("a"), "quoted \"text\"\n\u{1b}[31m");
            drop(_esign);
            rpc.record("code", "OK");
            rpc.record("code", "NOT_FOUND");
            tracing::info!(latency_ms = 1.0, "rpc finished");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["message"], "quoted \"text\"\n\u{1b}[31m");
        assert_eq!(first["attempts"], 2);
        assert_eq!(first["ratio"], 0.5);
        assert_eq!(first["ok"], true);
        assert_eq!(first["who"], "Some(\"a\")");
        assert_eq!(first["target"], module_path!());
        assert!(first["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{first}");
        assert_eq!(first["span"], json!({"endpoint": "/v3/persons", "name": "esign"}));
        assert_eq!(
            first["spans"],
            json!([{"method": "/x.Y/Z", "member": "ETC***801", "name": "rpc"}, {"endpoint": "/v3/persons", "name": "esign"}])
        );
        // A field recorded twice keeps its last value, once.
        let second = &lines[1];
        assert_eq!(
            second["span"],
            json!({"method": "/x.Y/Z", "member": "ETC***801", "code": "NOT_FOUND", "name": "rpc"})
        );
        assert_eq!(second["latency_ms"], 1.0);
    }

    #[test]
    fn a_line_outside_any_span_has_neither_span_nor_spans() {
        let lines = lines_of(|| tracing::warn!(error = %"boom", "no span"));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["error"], "boom");
        assert!(lines[0].get("span").is_none() && lines[0].get("spans").is_none(), "{}", lines[0]);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in ["plain", "\"q\"", "back\\slash", "\u{0}\u{7}\u{8}\u{c}\t\r\n\u{1f}", "中文 ü", "\u{7f}/"] {
            let mut ours = String::new();
            json_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_string(s).expect("a string serializes"), "for {s:?}");
        }
    }
}
